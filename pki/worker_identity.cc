#include "pki/worker_identity.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/private_file.h"
#include "pki/certificate_info.h"
#include "pki/openssl_error.h"
#include "pki/openssl_util.h"

namespace gpulse::pki {
namespace {

// RFC 5280's upper bound for a commonName (ub-common-name).
constexpr size_t kMaxCommonName = 64;

}  // namespace

struct WorkerIdentity::State {
  const Clock* clock = nullptr;
  KeyPtr key;
  std::string key_path;
  std::string certificate_path;
  std::string fingerprint;
  std::optional<std::string> certificate_pem;
};

WorkerIdentity::WorkerIdentity(std::unique_ptr<State> state) : state_(std::move(state)) {}
WorkerIdentity::WorkerIdentity(WorkerIdentity&&) noexcept = default;
WorkerIdentity& WorkerIdentity::operator=(WorkerIdentity&&) noexcept = default;
WorkerIdentity::~WorkerIdentity() = default;

const std::string& WorkerIdentity::key_path() const { return state_->key_path; }
const std::string& WorkerIdentity::certificate_path() const { return state_->certificate_path; }
const std::string& WorkerIdentity::public_key_fingerprint() const { return state_->fingerprint; }
const std::optional<std::string>& WorkerIdentity::certificate_pem() const { return state_->certificate_pem; }

Result<WorkerIdentity> WorkerIdentity::LoadOrCreate(const std::string& dir, const Clock& clock) {
  auto state = std::make_unique<State>();
  state->clock = &clock;
  state->key_path = dir + "/worker.key";
  state->certificate_path = dir + "/worker.crt";
  RETURN_IF_ERROR(EnsurePrivateDir(dir));
  auto key = ReadPrivateKeyFile(state->key_path, "worker private key");
  if (key.ok()) {
    state->key = std::move(*key);
  } else if (key.status().code() == StatusCode::kNotFound) {
    ASSIGN_OR_RETURN(state->key, GenerateKey());
    RETURN_IF_ERROR(WritePrivateKeyFile(state->key_path, state->key.get()));
  } else {
    return key.status();
  }
  ASSIGN_OR_RETURN(state->fingerprint, SpkiFingerprint(state->key.get()));
  auto cert = ReadCertificateFile(state->certificate_path);
  if (cert.ok()) {
    auto fingerprint = PublicKeyFingerprint(*cert);
    if (fingerprint.ok() && *fingerprint == state->fingerprint) state->certificate_pem = std::move(*cert);
  }
  return WorkerIdentity(std::move(state));
}

Result<std::string> WorkerIdentity::MakeCsr(std::string_view worker_id) const {
  if (worker_id.empty() || worker_id.size() > kMaxCommonName) {
    return InvalidArgument("a worker id for a certificate must have 1 to 64 characters, not " +
                           std::to_string(worker_id.size()));
  }
  ERR_clear_error();
  CsrPtr csr(X509_REQ_new());
  std::string id(worker_id);
  const auto* cn = reinterpret_cast<const unsigned char*>(id.c_str());
  if (!csr || X509_REQ_set_version(csr.get(), X509_REQ_VERSION_1) != 1 ||
      X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(csr.get()), NID_commonName, MBSTRING_UTF8, cn, -1, -1,
                                 0) != 1 ||
      X509_REQ_set_pubkey(csr.get(), state_->key.get()) != 1 ||
      X509_REQ_sign(csr.get(), state_->key.get(), EVP_sha256()) <= 0) {
    return OpensslError("make a signing request for worker '" + Printable(worker_id) + "'");
  }
  return CsrPem(csr.get());
}

Status WorkerIdentity::StoreCertificate(std::string_view cert_pem, std::string_view worker_id,
                                        std::string_view ca_pem) {
  ASSIGN_OR_RETURN(std::string fingerprint, PublicKeyFingerprint(cert_pem));
  if (fingerprint != state_->fingerprint) {
    return FailedPrecondition("the certificate the master sent is for another key (" + fingerprint +
                              ") than this worker's (" + state_->fingerprint + ")");
  }
  ASSIGN_OR_RETURN(std::string common_name, CertificateCommonName(cert_pem));
  if (common_name != worker_id) {
    return PermissionDenied("the certificate the master sent is for worker '" + Printable(common_name) +
                            "', not '" + Printable(worker_id) + "'");
  }
  RETURN_IF_ERROR(VerifyCertificate(cert_pem, ca_pem, CertificatePurpose::kClient, state_->clock->WallNow()));
  RETURN_IF_ERROR(WriteFileAtomically(state_->certificate_path, cert_pem, 0600));
  state_->certificate_pem = std::string(cert_pem);
  return Status::Ok();
}

}  // namespace gpulse::pki
