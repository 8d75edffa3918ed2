// WorkerIdentityRegistry: the master's WorkerIdentities (master/core/
// worker_identities.h) — the cluster CA signs each worker's certificate,
// and a WorkerKeyStore (in gpulse.db) keeps the key each worker id is
// bound to. Bindings are loaded once at Open and kept in memory, so
// CheckRegistration reads no database; Issue and Forget write through
// the store first, then update memory.
//
// Thread-safe: one mutex guards the in-memory bindings; signing happens
// outside it.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "master/core/worker_identities.h"
#include "master/store/worker_key_store.h"
#include "pki/cluster_ca.h"

namespace gpulse::master {

class WorkerIdentityRegistry final : public WorkerIdentities {
 public:
  // Loads every binding from `store`, which must outlive the registry.
  // Fails with the store's error.
  static Result<std::unique_ptr<WorkerIdentityRegistry>> Open(pki::ClusterCa ca, WorkerKeyStore& store,
                                                              const Clock& clock);

  Result<std::string> Issue(std::string_view worker_id, std::string_view csr_pem) override;
  Status CheckRegistration(std::string_view worker_id, std::string_view peer_certificate_pem) const override;
  Status Forget(const std::string& worker_id) override;

  // How many ids are bound (for the start-up log).
  size_t bound_count() const;

 private:
  WorkerIdentityRegistry(pki::ClusterCa ca, WorkerKeyStore& store, const Clock& clock)
      : ca_(std::move(ca)), store_(store), clock_(clock) {}

  const pki::ClusterCa ca_;
  WorkerKeyStore& store_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> key_of_;  // worker id -> key fingerprint; guarded by mu_
};

}  // namespace gpulse::master
