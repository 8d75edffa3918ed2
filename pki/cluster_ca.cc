#include "pki/cluster_ca.h"

#include <openssl/core_names.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>


#include "common/private_file.h"
#include "pki/certificate_builder.h"
#include "pki/openssl_error.h"
#include "pki/openssl_util.h"

namespace gpulse::pki {
namespace {

constexpr const char* kCaCommonName = "gpulse cluster CA";
constexpr size_t kMaxCsrBytes = 16 * 1024;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Whether a worker's key is one we are willing to certify.
Status CheckWorkerKey(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
      return Status::Ok();
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key) >= 2048) return Status::Ok();
      return InvalidArgument("the signing request's RSA key has " + std::to_string(EVP_PKEY_get_bits(key)) +
                             " bits; at least 2048 are needed");
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t length = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &length) == 1) {
        std::string name(group, length);
        if (name == "prime256v1" || name == "P-256" || name == "secp384r1" || name == "P-384") return Status::Ok();
      }
      return InvalidArgument("the signing request's EC key is not on curve P-256 or P-384");
    }
    default:
      return InvalidArgument("the signing request's key is not EC (P-256, P-384), Ed25519 or RSA");
  }
}

}  // namespace

struct ClusterCa::State {
  const Clock* clock = nullptr;
  KeyPtr key;
  CertPtr certificate;
  std::string certificate_pem;
  std::string certificate_path;
  std::string pin;
  bool created = false;
};

ClusterCa::ClusterCa(std::unique_ptr<State> state) : state_(std::move(state)) {}
ClusterCa::ClusterCa(ClusterCa&&) noexcept = default;
ClusterCa& ClusterCa::operator=(ClusterCa&&) noexcept = default;
ClusterCa::~ClusterCa() = default;

bool ClusterCa::created() const { return state_->created; }
const std::string& ClusterCa::certificate_pem() const { return state_->certificate_pem; }
const std::string& ClusterCa::certificate_path() const { return state_->certificate_path; }
const std::string& ClusterCa::pin() const { return state_->pin; }
const Clock& ClusterCa::clock() const { return *state_->clock; }

Result<ClusterCa> ClusterCa::LoadOrCreate(const std::string& dir, const Clock& clock) {
  const std::string key_path = dir + "/ca.key", cert_path = dir + "/ca.crt";
  auto state = std::make_unique<State>();
  state->clock = &clock;
  state->certificate_path = cert_path;
  RETURN_IF_ERROR(EnsurePrivateDir(dir));
  const bool have_key = Exists(key_path), have_cert = Exists(cert_path);
  if (have_cert && !have_key) {
    return FailedPrecondition(cert_path + " exists but its private key " + key_path +
                              " does not: restore the key, or remove " + cert_path +
                              " to create a new cluster CA (every worker must then join again)");
  }
  if (have_key) {
    ASSIGN_OR_RETURN(state->key, ReadPrivateKeyFile(key_path, "CA private key"));
  } else {
    ASSIGN_OR_RETURN(state->key, GenerateKey());
    RETURN_IF_ERROR(WritePrivateKeyFile(key_path, state->key.get()));
    state->created = true;
  }
  if (have_cert) {
    ASSIGN_OR_RETURN(std::string pem, ReadCertificateFile(cert_path));
    ASSIGN_OR_RETURN(state->certificate, ParseCertificate(pem, "CA certificate " + cert_path));
    if (X509_check_private_key(state->certificate.get(), state->key.get()) != 1) {
      return OpensslError(cert_path + " does not belong to " + key_path + " (restore the matching pair)",
                          StatusCode::kFailedPrecondition);
    }
    if (X509_check_ca(state->certificate.get()) < 1) {
      return FailedPrecondition(cert_path + " is not a CA certificate");
    }
    time_t now = std::chrono::system_clock::to_time_t(clock.WallNow());
    if (X509_cmp_time(X509_get0_notAfter(state->certificate.get()), &now) <= 0) {
      return FailedPrecondition("the cluster CA " + cert_path + " has expired: remove " + key_path + " and " +
                                cert_path + " to create a new one (every worker must then join again)");
    }
  } else {
    CertificateSpec spec{CertificateKind::kCa, kCaCommonName, {}, clock.WallNow(), kCaValidity};
    ASSIGN_OR_RETURN(state->certificate, BuildCertificate(spec, state->key.get(), nullptr, state->key.get()));
  }
  ASSIGN_OR_RETURN(state->certificate_pem, CertificatePem(state->certificate.get()));
  if (!have_cert) RETURN_IF_ERROR(WriteFileAtomically(cert_path, state->certificate_pem, 0644));
  ASSIGN_OR_RETURN(state->pin, SpkiFingerprint(state->certificate.get()));
  return ClusterCa(std::move(state));
}

Result<IssuedCertificate> ClusterCa::IssueServerCertificate(const std::vector<AltName>& names,
                                                            std::chrono::seconds validity) const {
  if (names.empty()) return InvalidArgument("a server certificate needs at least one name");
  ASSIGN_OR_RETURN(KeyPtr key, GenerateKey());
  CertificateSpec spec{CertificateKind::kServer, "gpulse master", names, clock().WallNow(), validity};
  ASSIGN_OR_RETURN(CertPtr cert, BuildCertificate(spec, key.get(), state_->certificate.get(), state_->key.get()));
  IssuedCertificate issued;
  ASSIGN_OR_RETURN(issued.certificate_pem, CertificatePem(cert.get()));
  ASSIGN_OR_RETURN(issued.private_key_pem, PrivateKeyPem(key.get()));
  return issued;
}

Result<std::string> ClusterCa::SignWorkerCsr(std::string_view csr_pem, std::string_view expected_worker_id,
                                             std::chrono::seconds validity) const {
  if (expected_worker_id.empty()) return InvalidArgument("no worker id to sign a certificate for");
  if (csr_pem.size() > kMaxCsrBytes) {
    return InvalidArgument("the signing request is " + std::to_string(csr_pem.size()) + " bytes; at most " +
                           std::to_string(kMaxCsrBytes) + " are accepted");
  }
  ASSIGN_OR_RETURN(CsrPtr csr, ParseCsr(csr_pem, "the signing request"));
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr.get());
  if (key == nullptr) return OpensslError("read the signing request's public key", StatusCode::kInvalidArgument);
  if (X509_REQ_verify(csr.get(), key) != 1) {
    return OpensslError("the signing request's signature does not verify (altered, or not made with its key)",
                        StatusCode::kInvalidArgument);
  }
  RETURN_IF_ERROR(CheckWorkerKey(key));
  auto common_name = CommonNameOf(X509_REQ_get_subject_name(csr.get()));
  if (!common_name.ok()) return InvalidArgument("the signing request is unusable: " + common_name.status().message());
  if (*common_name != expected_worker_id) {
    return PermissionDenied("the signing request is for worker '" + Printable(*common_name) +
                            "', but the worker authenticated as '" + Printable(expected_worker_id) + "'");
  }
  CertificateSpec spec{CertificateKind::kClient, std::string(expected_worker_id), {}, clock().WallNow(), validity};
  ASSIGN_OR_RETURN(CertPtr cert, BuildCertificate(spec, key, state_->certificate.get(), state_->key.get()));
  return CertificatePem(cert.get());
}

}  // namespace gpulse::pki
