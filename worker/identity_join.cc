#include "worker/identity_join.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/private_file.h"
#include "pki/certificate_info.h"
#include "pki/worker_identity.h"
#include "proto/gpulse.grpc.pb.h"

namespace gpulse::worker {
namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(10);
// A kept certificate this close to its end (they last a year) is renewed
// at the worker's start.
constexpr std::chrono::hours kRenewBefore{24 * 30};

enum class Answer { kCertificate, kRetry, kNoCertificates };

// One RequestCertificate call. kCertificate with `cert_pem` set, kRetry
// when the master could not be reached (`cert_pem` then says why), kNoCertificates when it issues
// none; an error when it refused.
Result<Answer> AskForCertificate(v1::WorkerLink::Stub& stub, const IdentityJoinOptions& options,
                                 const std::string& csr_pem, std::string& cert_pem) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + options.token);
  context.set_deadline(std::chrono::system_clock::now() + kRequestTimeout);
  v1::CertificateRequest request;
  request.set_worker_id(options.worker_id);
  request.set_csr_pem(csr_pem);
  v1::CertificateReply reply;
  grpc::Status status = stub.RequestCertificate(&context, request, &reply);
  switch (status.error_code()) {
    case grpc::StatusCode::OK: cert_pem = reply.certificate_pem(); return Answer::kCertificate;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      cert_pem = status.error_message();  // why, for the caller's log line
      return Answer::kRetry;
    case grpc::StatusCode::UNIMPLEMENTED:
      spdlog::warn("the master at {} predates per-worker certificates; going on with the cluster token alone",
                   options.master);
      return Answer::kNoCertificates;
    case grpc::StatusCode::FAILED_PRECONDITION:
      spdlog::warn("the master at {} issues no worker certificates ({}); going on with the cluster token alone",
                   options.master, status.error_message());
      return Answer::kNoCertificates;
    case grpc::StatusCode::UNAUTHENTICATED: return Unauthenticated(status.error_message());
    case grpc::StatusCode::PERMISSION_DENIED:
      return PermissionDenied("the master refused a certificate for worker '" + options.worker_id +
                              "': " + status.error_message());
    default:
      return Unavailable("the master could not sign this worker's certificate: " + status.error_message());
  }
}

}  // namespace

Result<ClientCredentials> LoadOrJoinIdentity(
    const IdentityJoinOptions& options, const std::function<bool()>& stopping,
    const std::function<std::chrono::milliseconds(std::chrono::milliseconds)>& wait_before_retry) {
  ASSIGN_OR_RETURN(pki::WorkerIdentity identity, pki::WorkerIdentity::LoadOrCreate(options.work_dir + "/identity"));
  ClientCredentials credentials;
  ASSIGN_OR_RETURN(credentials.key_pem, ReadOwnerOnlyFile(identity.key_path(), "worker key"));
  if (identity.certificate_pem()) {
    auto not_after = pki::CertificateNotAfter(*identity.certificate_pem());
    if (not_after.ok() && *not_after > std::chrono::system_clock::now() + kRenewBefore) {
      credentials.certificate_pem = *identity.certificate_pem();
      spdlog::info("worker identity: key {}, certificate {}", identity.public_key_fingerprint(),
                   identity.certificate_path());
      return credentials;
    }
    // The same key asks again: its id is bound to it, so the master signs.
    spdlog::info("worker identity: the certificate {} expires within {} days; asking the master for a new one",
                 identity.certificate_path(), kRenewBefore.count() / 24);
  }
  const auto started = std::chrono::steady_clock::now();
  auto made = identity.MakeCsr(options.worker_id);
  if (!made.ok()) {  // an id a certificate cannot name (over 64 characters)
    spdlog::warn("worker identity: no certificate for this worker ({}); going on with the cluster token alone",
                 made.status().message());
    return credentials;
  }
  const std::string csr = std::move(*made);
  // Server-verified TLS only: this worker has no certificate to present yet.
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.ca_pem;
  auto stub = v1::WorkerLink::NewStub(grpc::CreateChannel(options.master, grpc::SslCredentials(ssl)));
  std::chrono::milliseconds backoff{500};
  while (!stopping()) {
    std::string cert_pem;
    ASSIGN_OR_RETURN(Answer answer, AskForCertificate(*stub, options, csr, cert_pem));
    if (answer == Answer::kNoCertificates) return credentials;
    if (answer == Answer::kCertificate) {
      if (Status kept = identity.StoreCertificate(cert_pem, options.worker_id, options.ca_pem); !kept.ok()) {
        return PermissionDenied("the certificate the master sent is not usable: " + kept.message());
      }
      credentials.certificate_pem = std::move(cert_pem);
      credentials.issued_now = true;
      spdlog::info("joined as worker '{}': the master signed a certificate for key {} in {} ms ({})",
                   options.worker_id, identity.public_key_fingerprint(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                       .count(),
                   identity.certificate_path());
      return credentials;
    }
    // "reconnecting", as the stream's retries say it.
    spdlog::warn("cannot ask the master at {} for this worker's certificate ({}); reconnecting in about {} ms",
                 options.master, cert_pem, backoff.count());
    backoff = wait_before_retry(backoff);
  }
  return credentials;
}

}  // namespace gpulse::worker
