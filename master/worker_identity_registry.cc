#include "master/worker_identity_registry.h"

#include <spdlog/spdlog.h>

#include "pki/certificate_info.h"
#include "pki/openssl_util.h"

namespace gpulse::master {
namespace {

std::string ForgetHint(std::string_view raw_id) {
  const std::string worker_id = pki::Printable(raw_id);  // a worker's own words, into logs
  return "if this machine is now worker '" + std::string(worker_id) +
         "' (reinstalled, or a new work dir), an operator releases the id with `gpulse workers forget " +
         std::string(worker_id) + "`";
}

}  // namespace

Result<std::unique_ptr<WorkerIdentityRegistry>> WorkerIdentityRegistry::Open(pki::ClusterCa ca,
                                                                             WorkerKeyStore& store,
                                                                             const Clock& clock) {
  ASSIGN_OR_RETURN(std::vector<WorkerKeyBinding> bindings, store.LoadAll());
  std::unique_ptr<WorkerIdentityRegistry> registry(new WorkerIdentityRegistry(std::move(ca), store, clock));
  for (WorkerKeyBinding& b : bindings) registry->key_of_[b.worker_id] = std::move(b.key_fingerprint);
  return registry;
}

size_t WorkerIdentityRegistry::bound_count() const {
  std::lock_guard lock(mu_);
  return key_of_.size();
}

Result<std::string> WorkerIdentityRegistry::Issue(std::string_view worker_id, std::string_view csr_pem) {
  ASSIGN_OR_RETURN(std::string certificate, ca_.SignWorkerCsr(csr_pem, worker_id));
  ASSIGN_OR_RETURN(std::string key, pki::PublicKeyFingerprint(certificate));
  {
    std::lock_guard lock(mu_);
    auto it = key_of_.find(worker_id);
    if (it != key_of_.end() && it->second != key) {
      return PermissionDenied("worker id '" + pki::Printable(worker_id) + "' is bound to another key (" + it->second +
                              "), not this worker's (" + key + "): another machine holds this id; " +
                              ForgetHint(worker_id));
    }
  }
  ASSIGN_OR_RETURN(WorkerKeyBinding bound,
                   store_.BindIfUnbound({std::string(worker_id), key, clock_.WallNow()}));
  std::lock_guard lock(mu_);
  key_of_[bound.worker_id] = bound.key_fingerprint;
  if (bound.key_fingerprint == key) {
    spdlog::info("worker id {} is bound to key {}", pki::Printable(worker_id), key);
  } else {
    return PermissionDenied("worker id '" + pki::Printable(worker_id) + "' is bound to another key (" +
                            bound.key_fingerprint + "): " + ForgetHint(worker_id));
  }
  return certificate;
}

Status WorkerIdentityRegistry::CheckRegistration(std::string_view worker_id,
                                                 std::string_view peer_certificate_pem) const {
  std::string bound_key;
  {
    std::lock_guard lock(mu_);
    if (auto it = key_of_.find(worker_id); it != key_of_.end()) bound_key = it->second;
  }
  const std::string id = pki::Printable(worker_id);
  if (peer_certificate_pem.empty()) {
    if (bound_key.empty()) return Status::Ok();
    return PermissionDenied("worker id '" + id + "' has its own certificate (key " + bound_key +
                            "): a stream with only the cluster token cannot register it; the worker connects with "
                            "the key in its <work-dir>/identity. " +
                            ForgetHint(worker_id));
  }
  ASSIGN_OR_RETURN(pki::PeerIdentity peer, pki::ReadPeerIdentity(peer_certificate_pem));
  if (peer.common_name != worker_id) {
    return PermissionDenied("this stream's certificate is worker '" + pki::Printable(peer.common_name) + "''s, not '" + id +
                            "''s: a worker registers only under the id its certificate names");
  }
  if (bound_key.empty()) {
    return PermissionDenied("worker id '" + id + "' is not bound to a key any more (an operator ran `gpulse workers "
                            "forget " + id + "`), so its old certificate no longer counts: remove "
                            "<work-dir>/identity/worker.crt and start the worker again to join with the token");
  }
  if (peer.key_fingerprint != bound_key) {
    return PermissionDenied("worker id '" + id + "' is bound to key " + bound_key + ", not this certificate's (" +
                            peer.key_fingerprint + "); " + ForgetHint(worker_id));
  }
  return Status::Ok();
}

Status WorkerIdentityRegistry::Forget(const std::string& worker_id) {
  ASSIGN_OR_RETURN(bool was_bound, store_.Forget(worker_id));
  std::lock_guard lock(mu_);
  key_of_.erase(worker_id);
  if (!was_bound) return NotFound("worker id '" + pki::Printable(worker_id) + "' is not bound to any key");
  spdlog::warn("worker id {} was released from its key: the next worker that joins with the token and this id "
               "gets a certificate for its own key",
               pki::Printable(worker_id));
  return Status::Ok();
}

}  // namespace gpulse::master
