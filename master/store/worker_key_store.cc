#include "master/store/worker_key_store.h"

#include <sqlite3.h>

#include <map>
#include <mutex>

#include "master/store/sqlite_statement.h"
#include "master/store/store_records.h"

namespace gpulse::master {
namespace {

class MemoryWorkerKeyStore final : public WorkerKeyStore {
 public:
  Result<WorkerKeyBinding> BindIfUnbound(const WorkerKeyBinding& binding) override {
    std::lock_guard lock(mu_);
    return bindings_.try_emplace(binding.worker_id, binding).first->second;
  }
  Result<bool> Forget(const std::string& worker_id) override {
    std::lock_guard lock(mu_);
    return bindings_.erase(worker_id) > 0;
  }
  Result<std::vector<WorkerKeyBinding>> LoadAll() override {
    std::lock_guard lock(mu_);
    std::vector<WorkerKeyBinding> out;
    for (const auto& [id, binding] : bindings_) out.push_back(binding);
    return out;
  }

 private:
  std::mutex mu_;
  std::map<std::string, WorkerKeyBinding> bindings_;  // guarded by mu_
};

class SqliteWorkerKeyStore final : public WorkerKeyStore {
 public:
  Status Open(const std::string& path) {
    int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(db_, rc, "opening " + path);
    sqlite3_busy_timeout(db_, 5000);
    SqliteStatement probe;
    if (!probe.Prepare(db_, "SELECT 1 FROM worker_keys LIMIT 1").ok()) {
      return FailedPrecondition("database " + path + " has no worker_keys table: open the task store first");
    }
    RETURN_IF_ERROR(insert_.Prepare(db_,
                                    "INSERT INTO worker_keys (worker_id, key_fingerprint, bound_at_unix_ns) "
                                    "VALUES (?1, ?2, ?3) ON CONFLICT(worker_id) DO NOTHING"));
    RETURN_IF_ERROR(select_.Prepare(
        db_, "SELECT worker_id, key_fingerprint, bound_at_unix_ns FROM worker_keys WHERE worker_id = ?1"));
    RETURN_IF_ERROR(erase_.Prepare(db_, "DELETE FROM worker_keys WHERE worker_id = ?1"));
    RETURN_IF_ERROR(load_.Prepare(
        db_, "SELECT worker_id, key_fingerprint, bound_at_unix_ns FROM worker_keys ORDER BY worker_id"));
    return Status::Ok();
  }

  Result<WorkerKeyBinding> BindIfUnbound(const WorkerKeyBinding& binding) override {
    std::lock_guard lock(mu_);
    insert_.BindText(1, binding.worker_id);
    insert_.BindText(2, binding.key_fingerprint);
    insert_.BindInt64(3, ToUnixNanos(binding.bound_at));
    RETURN_IF_ERROR(insert_.Run());
    select_.BindText(1, binding.worker_id);
    std::vector<WorkerKeyBinding> rows;
    RETURN_IF_ERROR(ReadRows(select_, rows));
    if (rows.empty()) return Internal("worker " + binding.worker_id + "'s key binding vanished right after it was written");
    return rows.front();
  }

  Result<bool> Forget(const std::string& worker_id) override {
    std::lock_guard lock(mu_);
    erase_.BindText(1, worker_id);
    RETURN_IF_ERROR(erase_.Run());
    return sqlite3_changes(db_) > 0;
  }

  Result<std::vector<WorkerKeyBinding>> LoadAll() override {
    std::lock_guard lock(mu_);
    std::vector<WorkerKeyBinding> rows;
    RETURN_IF_ERROR(ReadRows(load_, rows));
    return rows;
  }

 private:
  static Status ReadRows(SqliteStatement& statement, std::vector<WorkerKeyBinding>& rows) {
    Status status;
    while (statement.Step(status)) {
      rows.push_back({std::string(statement.ColumnText(0)), std::string(statement.ColumnText(1)),
                      FromUnixNanos(statement.ColumnInt64(2))});
    }
    statement.Reset();
    return status;
  }

  // Closes the connection after the statements (declared later, destroyed first).
  struct Connection {
    ~Connection() { sqlite3_close_v2(handle); }
    sqlite3* handle = nullptr;
  };

  std::mutex mu_;  // guards the connection and its statements
  Connection connection_;
  sqlite3*& db_ = connection_.handle;
  SqliteStatement insert_, select_, erase_, load_;
};

}  // namespace

std::unique_ptr<WorkerKeyStore> NewMemoryWorkerKeyStore() { return std::make_unique<MemoryWorkerKeyStore>(); }

Result<std::unique_ptr<WorkerKeyStore>> OpenSqliteWorkerKeyStore(const std::string& path) {
  auto store = std::make_unique<SqliteWorkerKeyStore>();
  RETURN_IF_ERROR(store->Open(path));
  return std::unique_ptr<WorkerKeyStore>(std::move(store));
}

}  // namespace gpulse::master
