// The worker's first join for its own identity (kubelet-style TLS
// bootstrap): the worker keeps an ECDSA key in <work-dir>/identity
// (pki::WorkerIdentity; the key is made there and never sent) and, while
// it has no certificate for it, asks the master to sign one for its id
// (WorkerLink.RequestCertificate) over TLS that verified the master by the
// cluster CA, with the cluster token. The certificate is kept 0600 beside
// the key; every later connection presents both (mutual TLS) and no new
// certificate is asked for — until a start finds it ending within 30 days
// (then the same key asks again; its id is bound to it). A worker id
// longer than the 64 characters a certificate can name goes on with the
// token alone.
//
// Called from the agent's thread before its first stream; not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/status.h"

namespace gpulse::worker {

struct IdentityJoinOptions {
  std::string master;    // HOST:PORT of the master's gRPC listener
  std::string worker_id;
  std::string token;
  std::string work_dir;  // the identity lives in <work_dir>/identity
  std::string ca_pem;    // the cluster CA the master was verified by
};

// What the worker presents in its TLS handshakes: its key and the
// certificate the master signed for it (both PEM). certificate_pem is
// empty when the master issues no certificates (an operator's CA, or a
// master older than per-worker identity): the worker then goes on with
// the token alone.
struct ClientCredentials {
  std::string key_pem;
  std::string certificate_pem;
  bool issued_now = false;  // this call joined (asked the master) rather than loading a kept certificate
};

// Loads the worker's identity, joining for a certificate when it has none.
// While the master cannot be reached it calls `wait_before_retry(backoff)`
// (which returns the next backoff and ends the wait early when the worker
// stops) as long as `stopping()` is false; stopping returns OK with no
// certificate. Fails, for the worker to give up (retrying cannot help):
// PermissionDenied when the master refuses the id (bound to another key:
// its message says how an operator releases it) or sends a certificate
// that is not for this key, id and CA; Unauthenticated for a wrong token;
// the identity folder's errors (a key others may read: PermissionDenied
// with the chmod that fixes it).
Result<ClientCredentials> LoadOrJoinIdentity(
    const IdentityJoinOptions& options, const std::function<bool()>& stopping,
    const std::function<std::chrono::milliseconds(std::chrono::milliseconds)>& wait_before_retry);

}  // namespace gpulse::worker
