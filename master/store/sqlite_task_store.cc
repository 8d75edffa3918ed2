#include "master/store/sqlite_task_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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
    // 2: the key each worker id is bound to (worker_key_store.h).
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
         "INSERT INTO tasks (id, state, worker_id, record) VALUES (?1, ?2, ?3, ?4) "
         "ON CONFLICT(id) DO UPDATE SET state = excluded.state, worker_id = excluded.worker_id, "
         "record = excluded.record"},
        {&load_tasks, "SELECT record FROM tasks ORDER BY id"},
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
    return put_task.Run();
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
