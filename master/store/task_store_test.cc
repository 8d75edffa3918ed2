// One suite, run against every TaskStore: MemoryTaskStore and
// SqliteTaskStore. Then what only the SQLite store does (reopening,
// refusing what it cannot use).
#include "master/store/task_store.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "master/store/sqlite_task_store.h"
#include "master/store/store_records.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

using testkit::TempDir;
using std::chrono::nanoseconds;

struct StoreKind {
  const char* name;
  bool durable;
  std::function<std::unique_ptr<TaskStore>(const std::string& dir)> open;
};

void PrintTo(const StoreKind& kind, std::ostream* os) { *os << kind.name; }

const StoreKind kStores[] = {
    {"memory", false, [](const std::string&) { return NewMemoryTaskStore(); }},
    {"sqlite", true,
     [](const std::string& dir) -> std::unique_ptr<TaskStore> {
       auto store = OpenSqliteTaskStore(dir + "/gpulse.db");
       EXPECT_TRUE(store.ok()) << store.status().ToString();
       return store.ok() ? std::move(*store) : nullptr;
     }},
};

// A batch of one task row, or of one event.
TaskStoreBatch Row(const Task& task) { return {{task}, {}}; }
TaskStoreBatch Row(const TaskEventRecord& event) { return {{}, {event}}; }

WallTime At(int64_t ns) { return WallTime(std::chrono::duration_cast<WallTime::duration>(nanoseconds(ns))); }

// A task with every field set to something other than its default.
Task FullTask(const std::string& id) {
  Task t;
  t.id = id;
  t.spec.name = "résumé training 🚀";
  t.spec.argv = {"python3", "-c", "print(\"hi\")\n", ""};
  t.spec.env = {{"A", "1"}, {"CUDA_VISIBLE_DEVICES", "0,1"}, {"EMPTY", ""}};
  t.spec.cpus = 12;
  t.spec.memory_bytes = (uint64_t{64} << 40) - 1;
  t.spec.gpus = 2;
  t.spec.max_attempts = 7;
  t.state = TaskState::kRunning;
  t.worker_id = "node-7";
  t.gpu_indices = {3, 1};
  t.gpu_uuids = {"GPU-aaaa", "GPU-bbbb"};
  t.attempts = 2;
  t.exit_code = -9;
  t.message = "requeued: worker node-3 was lost";
  t.cancel_requested = true;
  t.submitted_at = At(1'700'000'000'123'456'789);
  t.started_at = At(1'700'000'100'000'000'001);
  t.finished_at = At(1'700'000'200'000'000'002);
  t.usage.gpu_seconds = 20;
  t.usage.peak_utilization_gpu = 93;
  t.usage.max_gpu_processes = 3;
  t.usage.max_outside_processes = 2;
  return t;
}

WorkerRecord FullWorker(const std::string& id) {
  WorkerRecord w;
  w.id = id;
  w.address = "10.1.2.3:7071";
  w.capacity = {id + ".cluster.local", 128, uint64_t{2} << 40};
  w.gpus = {{0, "GPU-0", "NVIDIA H100 80GB HBM3", "00000000:3B:00.0", 85899345920},
            {1, "GPU-1", "NVIDIA H100 80GB HBM3", "00000000:3C:00.0", std::nullopt}};  // total unknown
  w.registered_at = At(1'690'000'000'000'000'007);
  w.heartbeat_interval = std::chrono::milliseconds(2500);
  w.cleared_faults = {{"GPU-1", {{79, 2}, {94, 1}}, 1, 3}};  // an operator's clear
  return w;
}

class TaskStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    store_ = GetParam().open(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  // Closes the store and opens it again on the same files.
  void Reopen() {
    store_.reset();
    store_ = GetParam().open(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  std::vector<Task> Tasks() {
    auto tasks = store_->LoadTasks();
    EXPECT_TRUE(tasks.ok()) << tasks.status().ToString();
    return tasks.ok() ? *tasks : std::vector<Task>{};
  }
  std::vector<TaskEventRecord> Events(const std::string& id) {
    auto events = store_->LoadEvents(id);
    EXPECT_TRUE(events.ok()) << events.status().ToString();
    return events.ok() ? *events : std::vector<TaskEventRecord>{};
  }
  std::vector<WorkerRecord> Workers() {
    auto workers = store_->LoadWorkers();
    EXPECT_TRUE(workers.ok()) << workers.status().ToString();
    return workers.ok() ? *workers : std::vector<WorkerRecord>{};
  }

  TempDir dir_;
  std::unique_ptr<TaskStore> store_;
};

TEST_P(TaskStoreTest, EmptyStoreHoldsNothing) {
  EXPECT_TRUE(Tasks().empty());
  EXPECT_TRUE(Events("t-000001").empty());
  EXPECT_TRUE(Workers().empty());
}

TEST_P(TaskStoreTest, TaskRoundTripsEveryField) {
  Task full = FullTask("t-000001");
  Task plain;  // every optional absent, every string empty
  plain.id = "t-000002";
  ASSERT_TRUE(store_->Write(Row(full)).ok());
  ASSERT_TRUE(store_->Write(Row(plain)).ok());
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_TRUE(tasks[0] == full);
  EXPECT_TRUE(tasks[1] == plain);
  EXPECT_EQ(tasks[0].spec.name, full.spec.name);
  EXPECT_EQ(tasks[0].finished_at, full.finished_at);
}

TEST_P(TaskStoreTest, WriteReplacesTheTaskWithTheSameId) {
  Task t = FullTask("t-000001");
  ASSERT_TRUE(store_->Write(Row(t)).ok());
  t.state = TaskState::kSucceeded;
  t.exit_code = 0;
  t.cancel_requested = false;
  t.started_at.reset();
  ASSERT_TRUE(store_->Write(Row(t)).ok());
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_TRUE(tasks[0] == t);
}

TEST_P(TaskStoreTest, TasksLoadOrderedById) {
  for (const char* id : {"t-000003", "t-000001", "t-000002"}) ASSERT_TRUE(store_->Write(Row(FullTask(id))).ok());
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].id, "t-000001");
  EXPECT_EQ(tasks[1].id, "t-000002");
  EXPECT_EQ(tasks[2].id, "t-000003");
}

TEST_P(TaskStoreTest, EventsComeBackPerTaskInAppendOrder) {
  ASSERT_TRUE(store_->Write(Row(TaskEventRecord{"t-000001", At(30), "submitted"})).ok());
  ASSERT_TRUE(store_->Write(Row(TaskEventRecord{"t-000002", At(10), "submitted"})).ok());
  ASSERT_TRUE(store_->Write(Row(TaskEventRecord{"t-000001", At(20), "assigned to w1 (attempt 1)"})).ok());
  ASSERT_TRUE(store_->Write(Row(TaskEventRecord{"t-000001", At(20), "assigned to w1 (attempt 1)"})).ok());
  auto events = Events("t-000001");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[0] == (TaskEventRecord{"t-000001", At(30), "submitted"}));
  EXPECT_TRUE(events[1] == (TaskEventRecord{"t-000001", At(20), "assigned to w1 (attempt 1)"}));
  EXPECT_TRUE(events[2] == events[1]);
  EXPECT_EQ(Events("t-000002").size(), 1u);
}

TEST_P(TaskStoreTest, WriteStoresABatchOfTasksAndEvents) {
  TaskStoreBatch batch;
  for (int i = 1; i <= 50; ++i) {
    Task t = FullTask("t-0000" + std::to_string(10 + i));
    batch.tasks.push_back(t);
    batch.events.push_back({t.id, At(i), "assigned to w1 (attempt 1)"});
  }
  batch.events.push_back({"t-000011", At(99), "started on w1"});
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Tasks().size(), 50u);
  auto events = Events("t-000011");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].what, "started on w1");
  EXPECT_TRUE(store_->Write(TaskStoreBatch{}).ok());
}

// Tasks t-000001 … t-000010: odd ones succeeded on w1, even ones failed on
// w2, except t-000004 (queued) and t-000008 (running on w1).
void WriteTen(TaskStore& store) {
  TaskStoreBatch batch;
  for (int n = 1; n <= 10; ++n) {
    Task t;
    t.id = FormatTaskId(n);
    t.state = n % 2 == 1 ? TaskState::kSucceeded : TaskState::kFailed;
    t.worker_id = n % 2 == 1 ? "w1" : "w2";
    if (n == 4) {
      t.state = TaskState::kQueued;
      t.worker_id.clear();
    }
    if (n == 8) {
      t.state = TaskState::kRunning;
      t.worker_id = "w1";
    }
    batch.tasks.push_back(t);
  }
  ASSERT_TRUE(store.Write(batch).ok());
}

StoredTaskQuery Q(size_t limit, uint64_t below = 0, uint64_t above = 0, std::optional<TaskState> state = {},
                  std::string worker = "") {
  return StoredTaskQuery{.state = state, .worker = std::move(worker), .below = below, .above = above, .limit = limit};
}

std::vector<std::string> IdsOf(const Result<std::vector<Task>>& tasks) {
  std::vector<std::string> ids;
  EXPECT_TRUE(tasks.ok()) << tasks.status().ToString();
  if (tasks.ok()) {
    for (const Task& t : *tasks) ids.push_back(t.id);
  }
  return ids;
}

TEST_P(TaskStoreTest, PagesComeNewestFirstBetweenTheirBounds) {
  WriteTen(*store_);
  using V = std::vector<std::string>;
  EXPECT_EQ(IdsOf(store_->PageTasks(Q(3, 0, 0, std::nullopt, ""))), (V{"t-000010", "t-000009", "t-000008"}));
  EXPECT_EQ(IdsOf(store_->PageTasks(Q(3, 8, 0, std::nullopt, ""))), (V{"t-000007", "t-000006", "t-000005"}));
  EXPECT_EQ(IdsOf(store_->PageTasks(Q(10, 8, 5, std::nullopt, ""))), (V{"t-000007", "t-000006"}));
  EXPECT_EQ(IdsOf(store_->PageTasks(Q(10, 2, 0, std::nullopt, ""))), (V{"t-000001"}));
  EXPECT_TRUE(IdsOf(store_->PageTasks(Q(10, 1, 0, std::nullopt, ""))).empty());
}

TEST_P(TaskStoreTest, PagesFilterByStateAndWorker) {
  WriteTen(*store_);
  using V = std::vector<std::string>;
  EXPECT_EQ(IdsOf(store_->PageTasks(Q(10, 0, 0, TaskState::kFailed, ""))),
            (V{"t-000010", "t-000006", "t-000002"}));
  EXPECT_EQ(IdsOf(store_->PageTasks(Q(3, 0, 0, std::nullopt, "w1"))), (V{"t-000009", "t-000008", "t-000007"}));
  EXPECT_EQ(IdsOf(store_->PageTasks(Q(10, 7, 0, TaskState::kSucceeded, "w1"))),
            (V{"t-000005", "t-000003", "t-000001"}));
  EXPECT_TRUE(IdsOf(store_->PageTasks(Q(10, 0, 0, TaskState::kSucceeded, "w2"))).empty());
}

TEST_P(TaskStoreTest, LiveTasksAreTheUnfinishedAndTheNewestFinishedByNumber) {
  WriteTen(*store_);
  using V = std::vector<std::string>;
  EXPECT_EQ(IdsOf(store_->LoadLiveTasks(2)), (V{"t-000004", "t-000008", "t-000009", "t-000010"}));
  EXPECT_EQ(IdsOf(store_->LoadLiveTasks(0)), (V{"t-000004", "t-000008"}));
  EXPECT_EQ(IdsOf(store_->LoadLiveTasks(100)).size(), 10u);
}

TEST_P(TaskStoreTest, OneTaskLoadsByIdAndAMissingOneIsNone) {
  Task full = FullTask("t-000042");
  ASSERT_TRUE(store_->Write(Row(full)).ok());
  auto found = store_->LoadTask("t-000042");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  EXPECT_TRUE(**found == full);
  auto missing = store_->LoadTask("t-000043");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_P(TaskStoreTest, SummaryCountsByStateAndKnowsTheHighestNumber) {
  auto empty = store_->SummarizeTasks();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->max_number, 0u);
  WriteTen(*store_);
  auto summary = store_->SummarizeTasks();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->max_number, 10u);
  EXPECT_EQ(summary->by_state[static_cast<int>(TaskState::kSucceeded)], 5u);
  EXPECT_EQ(summary->by_state[static_cast<int>(TaskState::kFailed)], 3u);
  EXPECT_EQ(summary->by_state[static_cast<int>(TaskState::kQueued)], 1u);
  EXPECT_EQ(summary->by_state[static_cast<int>(TaskState::kRunning)], 1u);
}

TEST_P(TaskStoreTest, WorkersRoundTripAndReplace) {
  WorkerRecord b = FullWorker("b");
  WorkerRecord a = FullWorker("a");
  a.gpus.clear();
  ASSERT_TRUE(store_->PutWorker(b).ok());
  ASSERT_TRUE(store_->PutWorker(a).ok());
  auto workers = Workers();
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_TRUE(workers[0] == a);
  EXPECT_TRUE(workers[1] == b);

  b.capacity.cpu_cores = 64;
  b.gpus.pop_back();
  ASSERT_TRUE(store_->PutWorker(b).ok());
  workers = Workers();
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_TRUE(workers[1] == b);
}

// What only a durable store promises; instantiated for those alone, so no
// run reports a skipped test.
class DurableTaskStoreTest : public TaskStoreTest {};

TEST_P(DurableTaskStoreTest, EverythingSurvivesReopening) {
  ASSERT_TRUE(GetParam().durable);
  Task t = FullTask("t-000001");
  ASSERT_TRUE(store_->Write(Row(t)).ok());
  ASSERT_TRUE(store_->Write(Row(TaskEventRecord{t.id, At(5), "submitted"})).ok());
  ASSERT_TRUE(store_->Write({{FullTask("t-000002")}, {{"t-000002", At(6), "submitted"}}}).ok());
  ASSERT_TRUE(store_->PutWorker(FullWorker("w1")).ok());
  Reopen();
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_TRUE(tasks[0] == t);
  EXPECT_EQ(Events(t.id).size(), 1u);
  EXPECT_EQ(Events("t-000002").size(), 1u);
  ASSERT_EQ(Workers().size(), 1u);
  EXPECT_TRUE(Workers()[0] == FullWorker("w1"));
}

std::string StoreName(const ::testing::TestParamInfo<StoreKind>& info) { return info.param.name; }

std::vector<StoreKind> DurableStores() {
  std::vector<StoreKind> durable;
  for (const StoreKind& kind : kStores) {
    if (kind.durable) durable.push_back(kind);
  }
  return durable;
}

INSTANTIATE_TEST_SUITE_P(AllStores, TaskStoreTest, ::testing::ValuesIn(kStores), StoreName);
INSTANTIATE_TEST_SUITE_P(DurableStores, DurableTaskStoreTest, ::testing::ValuesIn(DurableStores()), StoreName);

// ---- SQLite only -----------------------------------------------------------

TEST(SqliteTaskStoreTest, UsesWriteAheadLogging) {
  TempDir dir;
  auto store = OpenSqliteTaskStore(dir.File("gpulse.db"));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Write(Row(FullTask("t-000001"))).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.File("gpulse.db-wal")));
}

TEST(SqliteTaskStoreTest, MissingDirectoryIsUnavailable) {
  TempDir dir;
  auto store = OpenSqliteTaskStore(dir.File("no/such/dir/gpulse.db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find("no/such/dir/gpulse.db"), std::string::npos);
}

TEST(SqliteTaskStoreTest, FileThatIsNotADatabaseIsRefused) {
  TempDir dir;
  std::ofstream(dir.File("gpulse.db")) << std::string(8192, 'x');
  auto store = OpenSqliteTaskStore(dir.File("gpulse.db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInternal);
  EXPECT_NE(store.status().message().find("not a gpulse database"), std::string::npos);
}

TEST(SqliteTaskStoreTest, NewerSchemaIsRefused) {
  TempDir dir;
  { ASSERT_TRUE(OpenSqliteTaskStore(dir.File("gpulse.db")).ok()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("gpulse.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenSqliteTaskStore(dir.File("gpulse.db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("schema version 99"), std::string::npos);
}

TEST(SqliteTaskStoreTest, DamagedRecordIsReportedNotThrown) {
  TempDir dir;
  {
    auto store = OpenSqliteTaskStore(dir.File("gpulse.db"));
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Write(Row(FullTask("t-000001"))).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("gpulse.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE tasks SET record = '{\"id\": 5'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenSqliteTaskStore(dir.File("gpulse.db"));
  ASSERT_TRUE(store.ok());
  auto tasks = (*store)->LoadTasks();
  ASSERT_FALSE(tasks.ok());
  EXPECT_EQ(tasks.status().code(), StatusCode::kInternal);
  EXPECT_NE(tasks.status().message().find("damaged"), std::string::npos);
}

// What SQLite plans for a query: the EXPLAIN QUERY PLAN details, joined.
std::string QueryPlan(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr), SQLITE_OK);
  std::string plan;
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
    plan += "; ";
  }
  sqlite3_finalize(stmt);
  return plan;
}

// A page is read from the index that fits its filter, in number order: no
// sort of the matching rows and no walk past other workers' tasks (either
// would cost O(rows) at a million tasks).
TEST(SqliteTaskStoreTest, PagesAreReadFromTheIndexOfTheirFilterWithoutSorting) {
  TempDir dir;
  ASSERT_TRUE(OpenSqliteTaskStore(dir.File("gpulse.db")).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("gpulse.db").c_str(), &db), SQLITE_OK);
  const std::string tail = "number < 5 AND number > 0 ORDER BY number DESC LIMIT 51";
  const std::pair<std::string, std::string> filters[] = {
      {"", "tasks_by_number"},
      {"state = 'failed' AND ", "tasks_by_state_number"},
      {"worker_id = 'w1' AND ", "tasks_by_worker_number"},
      {"worker_id = 'w1' AND state = 'failed' AND ", "tasks_by_worker_number"},
  };
  for (const auto& [where, index] : filters) {
    std::string plan = QueryPlan(db, "SELECT record FROM tasks WHERE " + where + tail);
    EXPECT_NE(plan.find("USING INDEX " + index + " "), std::string::npos) << where << plan;
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << where << plan;
  }
  // At start: the newest finished tasks, without sorting all of them.
  std::string recent = QueryPlan(db,
                                 "SELECT record FROM tasks INDEXED BY tasks_by_number WHERE state IN ('succeeded', "
                                 "'failed', 'cancelled') ORDER BY number DESC LIMIT 10000");
  EXPECT_EQ(recent.find("TEMP B-TREE"), std::string::npos) << recent;
  sqlite3_close(db);
}

// A database written before tasks had a number column gets one, filled
// from the ids, and pages of it work.
TEST(SqliteTaskStoreTest, AVersionOneDatabaseIsMigratedAndItsTasksNumbered) {
  TempDir dir;
  {
    auto store = OpenSqliteTaskStore(dir.File("gpulse.db"));
    ASSERT_TRUE(store.ok());
    WriteTen(**store);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("gpulse.db").c_str(), &db), SQLITE_OK);
  // Back to how version 1 looked: numbers unknown (0), version 1.
  const char* downgrade =
      "UPDATE tasks SET number = 0; DROP INDEX tasks_by_number; DROP INDEX tasks_by_state_number; "
      "DROP INDEX tasks_by_worker_number; ALTER TABLE tasks DROP COLUMN number; "
      "CREATE INDEX tasks_by_state ON tasks(state); DROP TABLE worker_keys; "
      "DELETE FROM schema_version WHERE version >= 2;";
  ASSERT_EQ(sqlite3_exec(db, downgrade, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto store = OpenSqliteTaskStore(dir.File("gpulse.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  using V = std::vector<std::string>;
  EXPECT_EQ(IdsOf((*store)->PageTasks(Q(2, 10, 0, std::nullopt, ""))), (V{"t-000009", "t-000008"}));
  auto summary = (*store)->SummarizeTasks();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->max_number, 10u);
}

TEST(StoreRecordsTest, ATaskStoredBeforeOutsideProcessesWereKeptLoadsWithThemUnknown) {
  Task t = FullTask("t-000001");
  nlohmann::json record = nlohmann::json::parse(EncodeTask(t));
  ASSERT_TRUE(record["usage"].contains("max_outside_processes"));
  record["usage"].erase("max_outside_processes");
  Result<Task> old = DecodeTask(record.dump());
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_FALSE(old->usage.max_outside_processes.has_value());
  EXPECT_EQ(old->usage.max_gpu_processes, 3u);
}

}  // namespace
}  // namespace gpulse::master
