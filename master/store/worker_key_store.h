// WorkerKeyStore: which key each worker id is bound to — the durable half
// of per-worker identity (master/worker_identity_registry.h). A worker id
// is bound to the fingerprint of its certificate's public key
// ("sha256:<hex>", pki/certificate_info.h) when the master first signs a
// certificate for it, and stays bound until an operator forgets it
// (`gpulse workers forget ID`).
//
// Two implementations: the SQLite one shares the master's database
// (gpulse.db, table worker_keys, schema version 2 of sqlite_task_store.cc)
// over its own connection; the memory one is for tests. Every method
// returns only once its write is durable; implementations are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "master/model/model.h"

namespace gpulse::master {

struct WorkerKeyBinding {
  std::string worker_id;
  std::string key_fingerprint;
  WallTime bound_at{};

  bool operator==(const WorkerKeyBinding&) const = default;
};

class WorkerKeyStore {
 public:
  virtual ~WorkerKeyStore() = default;
  // Binds `worker_id` to `key_fingerprint` unless it is bound already, in
  // one step (two masters' threads racing for an id: the first wins).
  // Returns the binding that holds afterwards — the earlier one when the
  // id was bound, whatever its key. Unavailable / StorageFull when the
  // write fails (then nothing is bound).
  virtual Result<WorkerKeyBinding> BindIfUnbound(const WorkerKeyBinding& binding) = 0;
  // Removes the id's binding. Returns whether there was one.
  virtual Result<bool> Forget(const std::string& worker_id) = 0;
  // Every binding, ordered by worker id.
  virtual Result<std::vector<WorkerKeyBinding>> LoadAll() = 0;
};

std::unique_ptr<WorkerKeyStore> NewMemoryWorkerKeyStore();
// Opens the master's database at `path`, which OpenSqliteTaskStore has
// already brought to the current schema (FailedPrecondition when it has
// no worker_keys table: open the task store first).
Result<std::unique_ptr<WorkerKeyStore>> OpenSqliteWorkerKeyStore(const std::string& path);

}  // namespace gpulse::master
