// Cluster::Recover: a restarted master picks up where the last one stopped.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "master/core/cluster_test_util.h"
#include "master/store/sqlite_task_store.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

using namespace std::chrono_literals;

using ClusterRecoverTest = ClusterFixture;

std::string FormatTaskIdForTest(int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "t-%06d", n);
  return buf;
}

TEST_F(ClusterRecoverTest, KnownWorkersComeBackSuspectAndUnschedulable) {
  Register("w1", 2);
  Restart();
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.state, WorkerState::kSuspect);
  EXPECT_FALSE(w.connected);
  ASSERT_EQ(w.gpus.size(), 2u);
  EXPECT_EQ(w.gpus[1].identity.uuid, "GPU-w1-1");
  EXPECT_EQ(w.heartbeat_interval, 1000ms);
  Submit(MakeSpec(1));
  EXPECT_EQ(cluster_->Schedule(), 0u);
  Register("w1", 2);
  EXPECT_EQ(cluster_->Schedule(), 1u);
}

// Observation 2: a task exited while the master was down. The worker's
// registration carries the unacknowledged EXITED report and no longer lists
// the task as running; the report is applied first, so the task ends with
// its exit code instead of being requeued as lost. A repeat (the worker
// did not get the ack) is acknowledged again and changes nothing.
TEST_F(ClusterRecoverTest, ExitsReportedAtRegistrationAreAppliedBeforeReconciling) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, link::TaskUpdate::Kind::kStarted).ok());
  Restart();

  link::Registration again = MakeRegister("w1", 1);
  link::TaskUpdate exited{t.id, link::TaskUpdate::Kind::kExited, 3, "exited with code 3", 1, 4242};
  exited.event_seq = 7;
  again.task_updates = {exited};
  link::Registered reply = Register(again);
  EXPECT_EQ(reply.acked_event_seq, 7u);
  EXPECT_EQ(reply.reconnect_grace, 3000ms);  // 3 heartbeat intervals of 1 s
  Task done = Get(t.id);
  EXPECT_EQ(done.state, TaskState::kFailed);
  EXPECT_EQ(done.exit_code, 3);
  EXPECT_EQ(done.attempts, 1u);
  EXPECT_EQ(cluster_->Schedule(), 0u);  // nothing to run again

  reply = Register(again);
  EXPECT_EQ(reply.acked_event_seq, 7u);
  EXPECT_EQ(Get(t.id), done);
}

TEST_F(ClusterRecoverTest, TaskIdsContinueAfterARestart) {
  Submit(MakeSpec(0));
  Submit(MakeSpec(0));
  Restart();
  EXPECT_EQ(Submit(MakeSpec(0)).id, "t-000003");
  auto tasks = cluster_->Tasks();
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[2].id, "t-000003");
}

TEST_F(ClusterRecoverTest, PlacedTasksKeepTheirResourcesWhenTheWorkerReportsThem) {
  Register("w1", 2);
  Task running = Submit(MakeSpec(1, 2));
  Task assigned = Submit(MakeSpec(1, 3));
  ASSERT_EQ(cluster_->Schedule(), 2u);
  ASSERT_TRUE(Event("w1", running.id, link::TaskUpdate::Kind::kStarted).ok());
  Task queued = Submit(MakeSpec(1));

  Restart();
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.gpus_allocated(), 2u);  // rebuilt from the stored tasks
  EXPECT_EQ(w.cpus_allocated, 5u);
  EXPECT_EQ(Get(running.id).state, TaskState::kRunning);
  EXPECT_EQ(Get(assigned.id).state, TaskState::kAssigned);
  EXPECT_EQ(Get(queued.id).state, TaskState::kQueued);

  link::Registration again = MakeRegister("w1", 2);
  again.running_tasks = {{running.id, 1, 0, Get(running.id).gpu_uuids}, {assigned.id, 1, 0, Get(assigned.id).gpu_uuids}};
  EXPECT_TRUE(Register(again).cancel_task_ids.empty());
  clock_.Advance(10s);
  Beat("w1", {0, 0});
  cluster_->CheckLiveness();
  EXPECT_EQ(Get(running.id).state, TaskState::kRunning);
  EXPECT_EQ(Get(assigned.id).state, TaskState::kRunning);
  EXPECT_EQ(cluster_->Schedule(), 0u);  // both GPUs still taken
  EXPECT_EQ(Get(queued.id).state, TaskState::kQueued);
}

TEST_F(ClusterRecoverTest, TasksOfAWorkerThatDoesNotComeBackAreRequeuedAfterTheTimeout) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  clock_.Advance(1h);  // the master was down a long time

  Restart();
  cluster_->CheckLiveness();  // the timeout counts from Recover
  EXPECT_EQ(Get(t.id).state, TaskState::kAssigned);
  clock_.Advance(3100ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kDead);
  Task requeued = Get(t.id);
  EXPECT_EQ(requeued.state, TaskState::kQueued);
  EXPECT_EQ(requeued.attempts, 1u);
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
}

TEST_F(ClusterRecoverTest, ACancelAskedForBeforeTheRestartIsCarriedOut) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, link::TaskUpdate::Kind::kStarted).ok());
  ASSERT_TRUE(cluster_->Cancel(t.id).ok());

  Restart();
  EXPECT_TRUE(Get(t.id).cancel_requested);
  link::Registration again = MakeRegister("w1", 1);
  again.running_tasks = {{t.id, 1, 0, {}}};
  EXPECT_EQ(Register(again).cancel_task_ids, std::vector<std::string>{t.id});
  EXPECT_EQ(Get(t.id).state, TaskState::kCancelled);
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
}

TEST_F(ClusterRecoverTest, AStoreThatCannotBeReadFailsRecovery) {
  class Unreadable final : public TaskStore {
   public:
    Status Write(const TaskStoreBatch&) override { return Status::Ok(); }
    Result<std::vector<Task>> LoadTasks() override { return Internal("damaged"); }
    Result<std::vector<TaskEventRecord>> LoadEvents(const std::string&) override {
      return std::vector<TaskEventRecord>{};
    }
    Status PutWorker(const WorkerRecord&) override { return Status::Ok(); }
    Result<std::vector<WorkerRecord>> LoadWorkers() override { return std::vector<WorkerRecord>{}; }
  } unreadable;
  Cluster cluster(unreadable, *policy_, clock_);
  Status s = cluster.Recover();
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(cluster.Submit(MakeSpec(0)).status().code(), StatusCode::kUnavailable);
}

// A master process that dies without any cleanup (as on SIGKILL) loses no
// acknowledged task: the child runs a Cluster over SQLite and _exit()s
// mid-flight; the parent reopens the database.
TEST(ClusterCrashTest, EveryAcknowledgedTaskSurvivesAProcessCrash) {
  testkit::TempDir dir;
  const std::string db = dir.File("gpulse.db");
  constexpr int kTasks = 40;

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = OpenSqliteTaskStore(db);
    if (!store.ok()) _exit(10);
    auto policy = NewLeastLoadedPolicy();
    ManualClock clock;
    auto* cluster = new Cluster(**store, *policy, clock);  // never deleted: the process dies
    if (!cluster->Recover().ok()) _exit(11);
    auto* channel = new FakeWorkerChannel;
    if (!cluster->RegisterWorker(MakeRegister("w1", 4), channel).ok()) _exit(12);
    for (int i = 0; i < kTasks; ++i) {
      if (!cluster->Submit(MakeSpec(i % 2)).ok()) _exit(13);
    }
    if (cluster->Schedule() == 0) _exit(14);
    link::TaskUpdate started{channel->assigns.at(0).id, link::TaskUpdate::Kind::kStarted, 0, "", 0, 0};
    if (!cluster->ApplyTaskEvent("w1", started).ok()) _exit(15);
    store->release();  // not closed either
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  auto store = OpenSqliteTaskStore(db);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto policy = NewLeastLoadedPolicy();
  ManualClock clock;
  Cluster cluster(**store, *policy, clock);
  ASSERT_TRUE(cluster.Recover().ok());
  auto tasks = cluster.Tasks();
  ASSERT_EQ(tasks.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(tasks[i].id, FormatTaskIdForTest(i + 1));
  EXPECT_EQ(tasks[0].state, TaskState::kRunning);
  size_t placed = cluster.Tasks(TaskState::kAssigned).size() + cluster.Tasks(TaskState::kRunning).size();
  EXPECT_EQ(placed + cluster.Tasks(TaskState::kQueued).size(), static_cast<size_t>(kTasks));
  EXPECT_GT(placed, 4u);  // four 1-GPU tasks and the CPU-only ones that fit
  auto w = cluster.GetWorker("w1");
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->gpus_allocated(), 4u);
  auto more = cluster.Submit(MakeSpec(0));
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->id, FormatTaskIdForTest(kTasks + 1));
}

}  // namespace
}  // namespace gpulse::master
