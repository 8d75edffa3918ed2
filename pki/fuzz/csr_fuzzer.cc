// libFuzzer target for ClusterCa::SignWorkerCsr, which reads a signing
// request a joining worker sends over the network. Input that does not
// start with "-----BEGIN" is taken as DER and wrapped in PEM first, so the
// fuzzer mutates the ASN.1 itself rather than base64 text. A certificate
// it signs must name the expected worker and verify for clientAuth.
#include <openssl/evp.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "pki/certificate_info.h"
#include "pki/cluster_ca.h"

namespace {

const gpulse::pki::ClusterCa& Ca() {
  static const gpulse::pki::ClusterCa* ca = [] {
    std::string dir = (std::filesystem::temp_directory_path() / "gpulse-csr-fuzz-XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) std::abort();
    auto loaded = gpulse::pki::ClusterCa::LoadOrCreate(dir + "/pki");
    if (!loaded.ok()) std::abort();
    std::filesystem::remove_all(dir);  // the CA stays in memory
    return new gpulse::pki::ClusterCa(std::move(loaded).value());
  }();
  return *ca;
}

std::string DerAsPem(std::string_view der) {
  std::string base64(4 * ((der.size() + 2) / 3) + 1, '\0');
  int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(base64.data()),
                               reinterpret_cast<const unsigned char*>(der.data()), static_cast<int>(der.size()));
  base64.resize(static_cast<size_t>(length));
  std::string pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
  for (size_t i = 0; i < base64.size(); i += 64) pem += base64.substr(i, 64) + "\n";
  return pem + "-----END CERTIFICATE REQUEST-----\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string pem = input.substr(0, 10) == "-----BEGIN" ? std::string(input) : DerAsPem(input);
  auto cert = Ca().SignWorkerCsr(pem, "worker-7");
  if (!cert.ok()) return 0;
  auto identity = gpulse::pki::ReadPeerIdentity(*cert);
  if (!identity.ok() || identity->common_name != "worker-7") std::abort();
  if (!gpulse::pki::VerifyCertificate(*cert, Ca().certificate_pem(), gpulse::pki::CertificatePurpose::kClient).ok()) {
    std::abort();
  }
  return 0;
}
