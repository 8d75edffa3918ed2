// SqliteTaskStore: the master's TaskStore — one SQLite database file under
// the master's data directory.
//
// Durability: WAL journal with synchronous=NORMAL. A write is durable once
// its method returns against a crash of the master process, which is what
// gpulse promises; after a power loss or OS crash the last commits may be
// missing, but the database is never corrupt. (synchronous=FULL would add
// an fsync per commit for that case.)
//
// Layout: tasks and workers are rows holding a JSON record
// (store_records.h), with the columns queries need (state, worker_id, the
// task number) kept beside it and indexed for pages of tasks; task events are rows in append order. A schema_version table
// records the applied migrations; Open applies missing ones and refuses a
// database written by a newer gpulse.
//
// Thread-safe: one mutex serialises every call; statements are prepared
// once and reused.
#pragma once

#include <memory>
#include <string>

#include "master/store/task_store.h"

namespace gpulse::master {

class SqliteTaskStore final : public TaskStore {
 public:
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 3;

  // Opens (creating if needed) the database at `path`; its directory must
  // exist. Unavailable if it cannot be opened or is locked by another
  // process, PermissionDenied if read-only, FailedPrecondition if its schema
  // is newer than this build knows, Internal if it is not a database.
  static Result<std::unique_ptr<SqliteTaskStore>> Open(const std::string& path);
  ~SqliteTaskStore() override;

  Status Write(const TaskStoreBatch& batch) override;
  Result<std::vector<Task>> LoadTasks() override;
  Result<std::vector<Task>> LoadLiveTasks(size_t recent_finished) override;
  Result<std::optional<Task>> LoadTask(const std::string& id) override;
  Result<std::vector<Task>> PageTasks(const StoredTaskQuery& query) override;
  Result<StoredTaskSummary> SummarizeTasks() override;
  Result<std::vector<TaskEventRecord>> LoadEvents(const std::string& task_id) override;
  Status PutWorker(const WorkerRecord& worker) override;
  Result<std::vector<WorkerRecord>> LoadWorkers() override;

 private:
  struct Db;
  explicit SqliteTaskStore(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

}  // namespace gpulse::master
