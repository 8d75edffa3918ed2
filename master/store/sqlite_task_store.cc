#include "master/store/sqlite_task_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>

#include "common/posix_error.h"
#include "master/store/sqlite_statement.h"
#include "master/store/store_records.h"

namespace gpulse::master {
namespace {

// Migration N brings the schema from version N-1 to N. Append; never edit.
constexpr const char* kMigrations[] = {
    // 1: tasks, their events, and known workers.
    R"sql(
      CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        worker_id TEXT NOT NULL,
        record TEXT NOT NULL
      );
      CREATE INDEX tasks_by_state ON tasks(state);
      CREATE TABLE task_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        at_unix_ns INTEGER NOT NULL,
        what TEXT NOT NULL
      );
      CREATE INDEX task_events_by_task ON task_events(task_id, seq);
      CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL
      );
    )sql",
    // 2: the task number as a column, and indexes on it, so that a page of
    // tasks (newest first, by state or worker) is read from an index
    // rather than by sorting every row.
    R"sql(
      ALTER TABLE tasks ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
      UPDATE tasks SET number = CAST(substr(id, 3) AS INTEGER) WHERE id GLOB 't-[0-9]*';
      DROP INDEX tasks_by_state;
      CREATE INDEX tasks_by_number ON tasks(number);
      CREATE INDEX tasks_by_state_number ON tasks(state, number);
      CREATE INDEX tasks_by_worker_number ON tasks(worker_id, number);
    )sql",
    // 3: the key each worker id is bound to (worker_key_store.h).
    R"sql(
      CREATE TABLE worker_keys (
        worker_id TEXT PRIMARY KEY,
        key_fingerprint TEXT NOT NULL,
        bound_at_unix_ns INTEGER NOT NULL
      );
    )sql",
};
static_assert(std::size(kMigrations) == SqliteTaskStore::kSchemaVersion);

Status Exec(sqlite3* db, const char* sql, std::string_view doing) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : SqliteStatus(db, rc, doing);
}

Status Configure(sqlite3* db, const std::string& path) {
  sqlite3_busy_timeout(db, 5000);
  SqliteStatement mode;
  RETURN_IF_ERROR(mode.Prepare(db, "PRAGMA journal_mode=WAL"));
  Status status;
  std::string journal = mode.Step(status) ? std::string(mode.ColumnText(0)) : "";
  RETURN_IF_ERROR(status);
  if (journal != "wal" && path != ":memory:") {
    return Unavailable("database " + path + ": cannot use write-ahead logging (journal mode is '" + journal +
                       "'); is it on a network file system?");
  }
  return Exec(db, "PRAGMA synchronous=NORMAL", "setting synchronous=NORMAL");
}

Status Migrate(sqlite3* db, const std::string& path) {
  RETURN_IF_ERROR(Exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                       "creating the schema_version table"));
  SqliteStatement query;
  RETURN_IF_ERROR(query.Prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version"));
  Status status;
  int64_t version = query.Step(status) ? query.ColumnInt64(0) : 0;
  query.Reset();  // a statement still running would lock the tables a migration alters
  RETURN_IF_ERROR(status);
  if (version > SqliteTaskStore::kSchemaVersion) {
    return FailedPrecondition("database " + path + " has schema version " + std::to_string(version) +
                              ", newer than this gpulse understands (" +
                              std::to_string(SqliteTaskStore::kSchemaVersion) + "); upgrade gpulse");
  }
  for (int64_t next = version + 1; next <= SqliteTaskStore::kSchemaVersion; ++next) {
    std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[next - 1] +
                      "INSERT INTO schema_version VALUES (" + std::to_string(next) + "); COMMIT;";
    if (Status s = Exec(db, sql.c_str(), "migrating to schema version " + std::to_string(next)); !s.ok()) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return s;
    }
  }
  return Status::Ok();
}

}  // namespace

// Closes the connection when it goes (after the statements, which are
// declared after it in Db and so finalised first).
struct SqliteConnection {
  ~SqliteConnection() { sqlite3_close_v2(handle); }
  sqlite3* handle = nullptr;
};

struct SqliteTaskStore::Db {

  Status Prepare() {
    const std::pair<SqliteStatement*, const char*> all[] = {
        {&put_task,
         "INSERT INTO tasks (id, state, worker_id, record, number) VALUES (?1, ?2, ?3, ?4, ?5) "
         "ON CONFLICT(id) DO UPDATE SET state = excluded.state, worker_id = excluded.worker_id, "
         "record = excluded.record, number = excluded.number"},
        {&load_tasks, "SELECT record FROM tasks ORDER BY id"},
        {&load_task, "SELECT record FROM tasks WHERE id = ?1"},
        {&load_unfinished,
         "SELECT record FROM tasks WHERE state IN ('queued', 'assigned', 'running') ORDER BY number"},
        // Down the number index from the newest, so that the finished rows
        // are not all read and sorted first (SQLite would pick the state
        // index: a sort of every finished task at each start).
        {&load_recent_finished,
         "SELECT record FROM tasks INDEXED BY tasks_by_number "
         "WHERE state IN ('succeeded', 'failed', 'cancelled') ORDER BY number DESC LIMIT ?1"},
        // One statement per filter, so that each uses its own index.
        {&page_any, "SELECT record FROM tasks WHERE number < ?1 AND number > ?2 ORDER BY number DESC LIMIT ?3"},
        {&page_by_state,
         "SELECT record FROM tasks WHERE state = ?4 AND number < ?1 AND number > ?2 "
         "ORDER BY number DESC LIMIT ?3"},
        {&page_by_worker,
         "SELECT record FROM tasks WHERE worker_id = ?5 AND number < ?1 AND number > ?2 "
         "ORDER BY number DESC LIMIT ?3"},
        {&page_by_state_and_worker,
         "SELECT record FROM tasks WHERE worker_id = ?5 AND state = ?4 AND number < ?1 AND number > ?2 "
         "ORDER BY number DESC LIMIT ?3"},
        {&count_by_state, "SELECT state, COUNT(*) FROM tasks GROUP BY state"},
        {&max_number, "SELECT COALESCE(MAX(number), 0) FROM tasks"},
        {&append_event, "INSERT INTO task_events (task_id, at_unix_ns, what) VALUES (?1, ?2, ?3)"},
        {&load_events, "SELECT at_unix_ns, what FROM task_events WHERE task_id = ?1 ORDER BY seq"},
        {&put_worker,
         "INSERT INTO workers (id, record) VALUES (?1, ?2) "
         "ON CONFLICT(id) DO UPDATE SET record = excluded.record"},
        {&load_workers, "SELECT record FROM workers ORDER BY id"},
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
    };
    for (const auto& [statement, sql] : all) {
      RETURN_IF_ERROR(statement->Prepare(connection.handle, sql));
    }
    return Status::Ok();
  }

  Status PutTaskLocked(const Task& task) {
    std::string record = EncodeTask(task);
    put_task.BindText(1, task.id);
    put_task.BindText(2, TaskStateName(task.state));
    put_task.BindText(3, task.worker_id);
    put_task.BindText(4, record);
    put_task.BindInt64(5, static_cast<int64_t>(ParseTaskNumber(task.id)));
    return put_task.Run();
  }

  // Decodes the record in column 0 of each row of `query` (bound by the
  // caller) into `out`, and resets it.
  Status ReadTasksLocked(SqliteStatement& query, std::vector<Task>& out) {
    Status status;
    while (query.Step(status)) {
      auto task = DecodeTask(query.ColumnText(0));
      if (!task.ok()) {
        query.Reset();
        return task.status();
      }
      out.push_back(std::move(*task));
    }
    query.Reset();
    return status;
  }

  Status AppendEventLocked(const TaskEventRecord& event) {
    append_event.BindText(1, event.task_id);
    append_event.BindInt64(2, ToUnixNanos(event.at));
    append_event.BindText(3, event.what);
    return append_event.Run();
  }

  // The batch's rows and events, inside the caller's transaction.
  Status WriteRowsLocked(const TaskStoreBatch& batch) {
    for (const Task& t : batch.tasks) RETURN_IF_ERROR(PutTaskLocked(t));
    for (const TaskEventRecord& e : batch.events) RETURN_IF_ERROR(AppendEventLocked(e));
    return Status::Ok();
  }

  std::mutex mu;
  SqliteConnection connection;
  // Guarded by mu, like the connection.
  SqliteStatement put_task, load_tasks, append_event, load_events, put_worker, load_workers;
  SqliteStatement load_task, load_unfinished, load_recent_finished;
  SqliteStatement page_any, page_by_state, page_by_worker, page_by_state_and_worker;
  SqliteStatement count_by_state, max_number;
  SqliteStatement begin, commit, rollback;
};

namespace {

// The database holds every task's command line and environment: it and
// its -wal and -shm files are the master's alone (0600). SQLite creates the
// -wal and -shm files with the mode of the database file, so creating that
// one 0600 first is enough for a new store; an older store's files are
// tightened.
Status MakeDatabaseFilesPrivate(const std::string& path) {
  if (path == ":memory:" || path.empty()) return Status::Ok();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable("cannot open database " + path + ": " + ErrnoText(errno));
  ::close(fd);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string file = path + suffix;
    if (::chmod(file.c_str(), 0600) != 0 && errno != ENOENT) {
      return Unavailable("cannot make " + file + " private (chmod 600): " + ErrnoText(errno));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<SqliteTaskStore>> SqliteTaskStore::Open(const std::string& path) {
  RETURN_IF_ERROR(MakeDatabaseFilesPrivate(path));
  auto db = std::make_unique<Db>();
  int rc = sqlite3_open_v2(path.c_str(), &db->connection.handle,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db->connection.handle, rc, "opening " + path);
  RETURN_IF_ERROR(Configure(db->connection.handle, path));
  RETURN_IF_ERROR(Migrate(db->connection.handle, path));
  RETURN_IF_ERROR(db->Prepare());
  return std::unique_ptr<SqliteTaskStore>(new SqliteTaskStore(std::move(db)));
}

SqliteTaskStore::SqliteTaskStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}
SqliteTaskStore::~SqliteTaskStore() = default;

Status SqliteTaskStore::Write(const TaskStoreBatch& batch) {
  std::lock_guard lock(db_->mu);
  if (batch.empty()) return Status::Ok();
  RETURN_IF_ERROR(db_->begin.Run());
  Status status = db_->WriteRowsLocked(batch);
  if (status.ok()) status = db_->commit.Run();
  if (!status.ok()) db_->rollback.Run();  // best effort; the write failed either way
  return status;
}

Result<std::vector<Task>> SqliteTaskStore::LoadTasks() {
  std::lock_guard lock(db_->mu);
  std::vector<Task> tasks;
  Status status;
  while (db_->load_tasks.Step(status)) {
    auto task = DecodeTask(db_->load_tasks.ColumnText(0));
    if (!task.ok()) {
      db_->load_tasks.Reset();
      return task.status();
    }
    tasks.push_back(std::move(*task));
  }
  db_->load_tasks.Reset();
  RETURN_IF_ERROR(status);
  return tasks;
}

Result<std::vector<Task>> SqliteTaskStore::LoadLiveTasks(size_t recent_finished) {
  std::lock_guard lock(db_->mu);
  std::vector<Task> tasks;
  RETURN_IF_ERROR(db_->ReadTasksLocked(db_->load_unfinished, tasks));
  const size_t unfinished = tasks.size();
  db_->load_recent_finished.BindInt64(1, static_cast<int64_t>(std::min<size_t>(recent_finished, INT64_MAX)));
  RETURN_IF_ERROR(db_->ReadTasksLocked(db_->load_recent_finished, tasks));
  std::reverse(tasks.begin() + static_cast<ptrdiff_t>(unfinished), tasks.end());  // oldest first
  std::inplace_merge(tasks.begin(), tasks.begin() + static_cast<ptrdiff_t>(unfinished), tasks.end(),
                     [](const Task& a, const Task& b) { return ParseTaskNumber(a.id) < ParseTaskNumber(b.id); });
  return tasks;
}

Result<std::optional<Task>> SqliteTaskStore::LoadTask(const std::string& id) {
  std::lock_guard lock(db_->mu);
  std::vector<Task> found;
  db_->load_task.BindText(1, id);
  RETURN_IF_ERROR(db_->ReadTasksLocked(db_->load_task, found));
  if (found.empty()) return std::optional<Task>();
  return std::optional<Task>(std::move(found.front()));
}

Result<std::vector<Task>> SqliteTaskStore::PageTasks(const StoredTaskQuery& query) {
  std::lock_guard lock(db_->mu);
  SqliteStatement& statement = query.state ? (query.worker.empty() ? db_->page_by_state : db_->page_by_state_and_worker)
                                           : (query.worker.empty() ? db_->page_any : db_->page_by_worker);
  const auto below = query.below == 0 ? INT64_MAX : static_cast<int64_t>(std::min<uint64_t>(query.below, INT64_MAX));
  statement.BindInt64(1, below);
  statement.BindInt64(2, static_cast<int64_t>(std::min<uint64_t>(query.above, INT64_MAX)));
  statement.BindInt64(3, static_cast<int64_t>(std::min<size_t>(query.limit, INT64_MAX)));
  if (query.state) statement.BindText(4, TaskStateName(*query.state));
  if (!query.worker.empty()) statement.BindText(5, query.worker);
  std::vector<Task> tasks;
  RETURN_IF_ERROR(db_->ReadTasksLocked(statement, tasks));
  return tasks;
}

Result<StoredTaskSummary> SqliteTaskStore::SummarizeTasks() {
  std::lock_guard lock(db_->mu);
  StoredTaskSummary summary;
  Status status;
  while (db_->count_by_state.Step(status)) {
    std::optional<TaskState> state = ParseTaskState(std::string(db_->count_by_state.ColumnText(0)));
    if (state) summary.by_state[static_cast<size_t>(*state)] = static_cast<uint64_t>(db_->count_by_state.ColumnInt64(1));
  }
  db_->count_by_state.Reset();
  RETURN_IF_ERROR(status);
  if (db_->max_number.Step(status)) summary.max_number = static_cast<uint64_t>(db_->max_number.ColumnInt64(0));
  db_->max_number.Reset();
  RETURN_IF_ERROR(status);
  return summary;
}

Result<std::vector<TaskEventRecord>> SqliteTaskStore::LoadEvents(const std::string& task_id) {
  std::lock_guard lock(db_->mu);
  std::vector<TaskEventRecord> events;
  Status status;
  db_->load_events.BindText(1, task_id);
  while (db_->load_events.Step(status)) {
    events.push_back({task_id, FromUnixNanos(db_->load_events.ColumnInt64(0)),
                      std::string(db_->load_events.ColumnText(1))});
  }
  db_->load_events.Reset();
  RETURN_IF_ERROR(status);
  return events;
}

Status SqliteTaskStore::PutWorker(const WorkerRecord& worker) {
  std::lock_guard lock(db_->mu);
  std::string record = EncodeWorker(worker);
  db_->put_worker.BindText(1, worker.id);
  db_->put_worker.BindText(2, record);
  return db_->put_worker.Run();
}

Result<std::vector<WorkerRecord>> SqliteTaskStore::LoadWorkers() {
  std::lock_guard lock(db_->mu);
  std::vector<WorkerRecord> workers;
  Status status;
  while (db_->load_workers.Step(status)) {
    auto worker = DecodeWorker(db_->load_workers.ColumnText(0));
    if (!worker.ok()) {
      db_->load_workers.Reset();
      return worker.status();
    }
    workers.push_back(std::move(*worker));
  }
  db_->load_workers.Reset();
  RETURN_IF_ERROR(status);
  return workers;
}

Result<std::unique_ptr<TaskStore>> OpenSqliteTaskStore(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteTaskStore> store, SqliteTaskStore::Open(path));
  return std::unique_ptr<TaskStore>(std::move(store));
}

}  // namespace gpulse::master
