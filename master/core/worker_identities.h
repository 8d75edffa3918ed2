// WorkerIdentities: who may speak for a worker id — the master's side of
// per-worker identity, as the worker link (master/link) and the HTTP API
// (master/api) see it. The master's implementation is
// WorkerIdentityRegistry (master/worker_identity_registry.h: the cluster
// CA signs, the store keeps each id's key); tests may bring their own.
//
// The rule: the first certificate the master signs for an id binds the id
// to that certificate's public key. From then on only a stream that
// presents a CA-signed certificate of that key (mutual TLS) may register
// the id; a token alone, or another key, is refused — until an operator
// forgets the binding. An id never bound may still register with the
// token alone (a worker that has not joined for a certificate yet, or a
// master whose CA key it does not hold).
//
// Thread-safe: called from the link's and the API's threads at once.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace gpulse::master {

class WorkerIdentities {
 public:
  virtual ~WorkerIdentities() = default;

  // Signs `csr_pem` (a certificate signing request for `worker_id`, sent by
  // a stream that presented the cluster token) and binds the id to its key
  // unless bound already. Returns the certificate (PEM). Refuses, binding
  // nothing: PermissionDenied when the id is bound to another key (the
  // message names `gpulse workers forget`); InvalidArgument /
  // PermissionDenied for a CSR the CA will not sign (ClusterCa::SignWorkerCsr);
  // Unavailable when the binding cannot be stored.
  virtual Result<std::string> Issue(std::string_view worker_id, std::string_view csr_pem) = 0;

  // Whether a stream may register `worker_id`, given the client certificate
  // it presented in its TLS handshake (PEM, already verified against the
  // cluster CA by the TLS layer; empty when none). OK, or PermissionDenied
  // with what is wrong and what fixes it.
  virtual Status CheckRegistration(std::string_view worker_id, std::string_view peer_certificate_pem) const = 0;

  // Releases `worker_id`'s binding (the next certificate signed for it
  // binds it anew). NotFound when it is not bound; Unavailable when the
  // store cannot be written (then it stays bound).
  virtual Status Forget(const std::string& worker_id) = 0;
};

}  // namespace gpulse::master
