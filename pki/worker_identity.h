// WorkerIdentity: a worker's own key pair and, once the master has signed
// it, its client certificate — what it proves who it is with over mutual
// TLS (the kubelet TLS bootstrap flow: a token buys a certificate for a
// signing request, and the key never leaves the worker).
//
// Files, in the folder given to LoadOrCreate (the worker uses
// <work-dir>/identity; the folder is kept 0700):
//   worker.key  ECDSA P-256, PKCS#8 PEM, mode 0600, made once and kept
//   worker.crt  the certificate the master signed, mode 0600
//
// Not synchronised: one owner (the worker's start-up and its link) at a
// time; const methods may run concurrently.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace gpulse::pki {

class WorkerIdentity {
 public:
  // Loads worker.key from `dir`, or creates it (and `dir`, 0700) when
  // missing; loads worker.crt when present. PermissionDenied, with the
  // chmod that fixes it, when worker.key may be read by group or others;
  // InvalidArgument when it does not parse. A worker.crt that does not
  // parse or is not for this key is ignored (certificate_pem() empty): a
  // new join replaces it.
  static Result<WorkerIdentity> LoadOrCreate(const std::string& dir, const Clock& clock = SystemClock::Instance());

  WorkerIdentity(WorkerIdentity&&) noexcept;
  WorkerIdentity& operator=(WorkerIdentity&&) noexcept;
  ~WorkerIdentity();

  const std::string& key_path() const;
  const std::string& certificate_path() const;
  // The fingerprint of this worker's public key, "sha256:<hex>": what
  // PublicKeyFingerprint gives for any certificate of this key.
  const std::string& public_key_fingerprint() const;
  // The stored certificate (PEM), when there is one for this key.
  const std::optional<std::string>& certificate_pem() const;

  // A certificate signing request (PEM) with CN = `worker_id`, signed with
  // this worker's key. InvalidArgument when the id is empty or longer than
  // the 64 characters a common name can hold.
  Result<std::string> MakeCsr(std::string_view worker_id) const;

  // Keeps `cert_pem`, the master's answer to MakeCsr, after checking that
  // it is for this key, has CN = `worker_id`, and is a valid client
  // certificate issued by the CA in `ca_pem` (the one the worker verified
  // the master with). Writes worker.crt (0600, atomically). On failure
  // nothing changes: FailedPrecondition (another key), PermissionDenied
  // (wrong CN, untrusted, expired), InvalidArgument (malformed).
  Status StoreCertificate(std::string_view cert_pem, std::string_view worker_id, std::string_view ca_pem);

 private:
  struct State;
  explicit WorkerIdentity(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace gpulse::pki
