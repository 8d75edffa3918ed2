// Cluster: registration, heartbeats, GPU health and liveness.
#include <gtest/gtest.h>

#include <thread>

#include "master/core/cluster_test_util.h"
#include "testkit/status_matchers.h"

namespace gpulse::master {
namespace {

using namespace std::chrono_literals;

using ClusterWorkersTest = ClusterFixture;

TEST_F(ClusterWorkersTest, RegistrationCreatesAHealthyConnectedWorker) {
  Register("w1", 4, 64);
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.state, WorkerState::kHealthy);
  EXPECT_TRUE(w.connected);
  EXPECT_EQ(w.capacity.cpu_cores, 64u);
  EXPECT_EQ(w.capacity.memory_bytes, 256 * kGiB);
  EXPECT_EQ(w.capacity.hostname, "w1.example");
  ASSERT_EQ(w.gpus.size(), 4u);
  EXPECT_EQ(w.gpus[2].identity.uuid, "GPU-w1-2");
  EXPECT_EQ(w.gpus[2].identity.memory_total_bytes, 80 * kGiB);
  EXPECT_EQ(w.gpus[2].live.identity.uuid, "GPU-w1-2");  // named before its first sample
  EXPECT_FALSE(w.gpus[2].live.identity.memory_total_bytes.has_value());  // but with no figure
  EXPECT_TRUE(w.gpus[2].healthy);
  EXPECT_TRUE(w.gpus[2].allocated_to.empty());
  EXPECT_EQ(w.gpus_allocated(), 0u);
  EXPECT_EQ(w.heartbeat_interval, 1000ms);
  EXPECT_FALSE(w.last_heartbeat.has_value());
}

TEST_F(ClusterWorkersTest, WorkerRecordIsStoredOnlyWhenNewOrChanged) {
  Register("w1", 2);
  EXPECT_EQ(store_.worker_writes, 1);
  Register("w1", 2);  // reconnect, same capacity
  Beat("w1", {10, 20});
  EXPECT_EQ(store_.worker_writes, 1);
  Register("w1", 3);  // a GPU was added
  EXPECT_EQ(store_.worker_writes, 2);
  auto records = store_.LoadWorkers();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].gpus.size(), 3u);
  EXPECT_EQ((*records)[0].heartbeat_interval, 1000ms);
}

TEST_F(ClusterWorkersTest, RegistrationNeedsAnIdAChannelAndARecoveredCluster) {
  FakeWorkerChannel channel;
  auto empty = cluster_->RegisterWorker(MakeRegister("", 1), &channel);
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  auto no_channel = cluster_->RegisterWorker(MakeRegister("w1", 1), nullptr);
  EXPECT_EQ(no_channel.status().code(), StatusCode::kInvalidArgument);

  Cluster fresh(store_, *policy_, clock_);
  auto early = fresh.RegisterWorker(MakeRegister("w1", 1), &channel);
  EXPECT_EQ(early.status().code(), StatusCode::kUnavailable);  // retryable
  EXPECT_EQ(fresh.Submit(MakeSpec(0)).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(fresh.Recover().ok());
  EXPECT_EQ(fresh.Recover().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ClusterWorkersTest, HeartbeatUpdatesLiveFigures) {
  Register("w1", 2);
  clock_.Advance(500ms);
  link::Heartbeat report = MakeReport("w1", {35, 75}, 42);
  report.sample.collector.sample_duration_ms = 3.5;
  report.sample.collector.nvml_errors_total["NVML_ERROR_GPU_IS_LOST"] = 2;
  ASSERT_TRUE(cluster_->IngestHeartbeat("w1", report).ok());
  Worker w = GetWorker("w1");
  EXPECT_TRUE(w.collector == report.sample.collector);
  EXPECT_EQ(w.host.cpu_percent, 42);
  EXPECT_EQ(w.gpu_percent, 55);
  EXPECT_TRUE(w.nvml.available);
  EXPECT_EQ(w.nvml.driver_version, "580.65.06");
  EXPECT_EQ(w.gpus[0].live.utilization_gpu, 35);
  EXPECT_EQ(w.gpus[1].live.utilization_gpu, 75);
  EXPECT_EQ(w.gpus[1].live.memory_free_bytes, 80 * kGiB);
  EXPECT_EQ(w.heartbeats, 1u);
  EXPECT_EQ(w.last_heartbeat, clock_.WallNow());
  EXPECT_EQ(w.last_seen, clock_.Now());
  Beat("w1", {0, 0});
  EXPECT_EQ(cluster_->Counts().heartbeats_received, 2u);
}

TEST_F(ClusterWorkersTest, HeartbeatFromAnUnregisteredWorkerIsNotFound) {
  Status s = cluster_->IngestHeartbeat("ghost", MakeReport("ghost", {}));
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
}

TEST_F(ClusterWorkersTest, SamplesAreMatchedByUuidThenByIndex) {
  Register("w1", 3);
  link::Heartbeat r = MakeReport("w1", {10, 20, 30});
  std::swap(r.sample.gpus[0], r.sample.gpus[2]);  // order in the report does not matter
  r.sample.gpus[1].identity.uuid.clear();         // no UUID: matched by NVML index (1)
  ASSERT_TRUE(cluster_->IngestHeartbeat("w1", r).ok());
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.gpus[0].live.utilization_gpu, 10);
  EXPECT_EQ(w.gpus[1].live.utilization_gpu, 20);
  EXPECT_EQ(w.gpus[2].live.utilization_gpu, 30);
  for (const auto& g : w.gpus) EXPECT_TRUE(g.healthy);
}

TEST_F(ClusterWorkersTest, WorkerGoesSuspectThenDeadThenHealthyAgain) {
  Register("w1", 1);  // heartbeats every second: suspect after 1.5 s, dead after 3 s
  clock_.Advance(1400ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kHealthy);
  clock_.Advance(200ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kSuspect);
  Beat("w1", {0});
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kHealthy);

  clock_.Advance(3100ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kDead);
  EXPECT_EQ(cluster_->Counts().workers_dead, 1u);
  Beat("w1", {0});
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kHealthy);

  clock_.Advance(5s);
  cluster_->CheckLiveness();
  ASSERT_EQ(GetWorker("w1").state, WorkerState::kDead);
  Register("w1", 1);
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kHealthy);
}

// The default configuration pinned at its edges (both scale with the
// worker's own interval): suspect once a heartbeat is more than 1.5
// intervals late, dead after more than 3, never before.
TEST_F(ClusterWorkersTest, DefaultLivenessEdgesAreOneAndAHalfAndThreeIntervals) {
  const ClusterConfig defaults;
  EXPECT_EQ(defaults.suspect_after_intervals, 1.5);
  EXPECT_EQ(defaults.dead_after_intervals, 3u);
  EXPECT_FALSE(defaults.heartbeat_timeout.has_value());

  link::Registration r = MakeRegister("w1", 1);
  r.heartbeat_interval = 2000ms;  // suspect after 3 s, dead after 6 s
  Register(r);
  clock_.Advance(2900ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kHealthy);
  clock_.Advance(200ms);  // 3.1 s
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kSuspect);
  clock_.Advance(2800ms);  // 5.9 s
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kSuspect);
  clock_.Advance(200ms);  // 6.1 s
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kDead);
}

// Liveness counts from the latest heartbeat, not from registration: a
// worker that keeps heartbeating stays healthy however long it lives.
TEST_F(ClusterWorkersTest, RegularHeartbeatsKeepAWorkerHealthy) {
  Register("w1", 1);
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(1000ms);
    Beat("w1", {0});
    cluster_->CheckLiveness();
    ASSERT_EQ(GetWorker("w1").state, WorkerState::kHealthy) << "after " << i + 1 << " s";
  }
  clock_.Advance(1400ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kHealthy);
}

TEST_F(ClusterWorkersTest, ConfiguredHeartbeatTimeoutDecidesDeath) {
  ClusterConfig config = WithoutLease();
  config.heartbeat_timeout = 10s;
  Restart(config);
  Register("w1", 1);
  clock_.Advance(9s);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kSuspect);
  clock_.Advance(1001ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kDead);
}

TEST_F(ClusterWorkersTest, ErroringGpuIsUnhealthyUntilThreeGoodSamples) {
  Register("w1", 2);
  link::Heartbeat bad = MakeReport("w1", {0, 0});
  bad.sample.gpus[0] = GpuSample{};
  bad.sample.gpus[0].identity.index = 0;
  bad.sample.gpus[0].identity.uuid = "GPU-w1-0";
  bad.sample.gpus[0].error = "GPU is lost: NVML_ERROR_GPU_IS_LOST";
  ASSERT_TRUE(cluster_->IngestHeartbeat("w1", bad).ok());
  Worker w = GetWorker("w1");
  EXPECT_FALSE(w.gpus[0].healthy);
  EXPECT_EQ(w.gpus[0].live.error, "GPU is lost: NVML_ERROR_GPU_IS_LOST");
  EXPECT_TRUE(w.gpus[1].healthy);
  EXPECT_EQ(cluster_->Counts().gpus_unhealthy, 1u);

  // Not scheduled while unhealthy: a 2-GPU task cannot fit, a 1-GPU one gets GPU 1.
  Task two = Submit(MakeSpec(2));
  Task one = Submit(MakeSpec(1));
  EXPECT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(one.id).gpu_indices, std::vector<uint32_t>{1});
  EXPECT_EQ(Get(two.id).state, TaskState::kQueued);

  Beat("w1", {0, 0});
  Beat("w1", {0, 0});
  EXPECT_FALSE(GetWorker("w1").gpus[0].healthy);
  ASSERT_TRUE(cluster_->IngestHeartbeat("w1", bad).ok());  // a relapse restarts the count
  Beat("w1", {0, 0});
  Beat("w1", {0, 0});
  EXPECT_FALSE(GetWorker("w1").gpus[0].healthy);
  Beat("w1", {0, 0});
  EXPECT_TRUE(GetWorker("w1").gpus[0].healthy);
  EXPECT_EQ(cluster_->Counts().gpus_unhealthy, 0u);

  ASSERT_EQ(Event("w1", one.id, link::TaskUpdate::Kind::kExited, 0).code(), StatusCode::kOk);
  EXPECT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(two.id).state, TaskState::kAssigned);
}

TEST_F(ClusterWorkersTest, GpuMissingFromAHeartbeatCountsAsBad) {
  Register("w1", 2);
  Beat("w1", {40, 40});
  Beat("w1", {40});  // GPU 1 is gone from the report
  Worker w = GetWorker("w1");
  EXPECT_TRUE(w.gpus[0].healthy);
  EXPECT_FALSE(w.gpus[1].healthy);
  EXPECT_TRUE(w.gpus[1].live.error.has_value());
  EXPECT_FALSE(w.gpus[1].live.utilization_gpu.has_value());  // no stale figures
  EXPECT_EQ(w.gpus[1].live.identity.uuid, "GPU-w1-1");
  for (int i = 0; i < 3; ++i) Beat("w1", {40, 40});
  EXPECT_TRUE(GetWorker("w1").gpus[1].healthy);
}

TEST_F(ClusterWorkersTest, DisconnectedWorkerKeepsItsTasksButGetsNoNewOnes) {
  Register("w1", 2);
  Task first = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  cluster_->DisconnectWorker("w1", &Channel("w1"));
  EXPECT_FALSE(GetWorker("w1").connected);
  Submit(MakeSpec(1));
  EXPECT_EQ(cluster_->Schedule(), 0u);
  EXPECT_EQ(Get(first.id).state, TaskState::kAssigned);

  clock_.Advance(3100ms);  // dead now: its task goes back to the queue
  cluster_->CheckLiveness();
  EXPECT_EQ(Get(first.id).state, TaskState::kQueued);
}

TEST_F(ClusterWorkersTest, ASecondStreamIsRefusedWhileTheFirstIsConnected) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  FakeWorkerChannel impostor;
  auto refused = cluster_->RegisterWorker(MakeRegister("w1", 1), &impostor);
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("w1"), std::string::npos);
  EXPECT_EQ(Get(t.id).state, TaskState::kAssigned);  // not requeued onto the impostor
  EXPECT_EQ(Get(t.id).worker_id, "w1");
  cluster_->DisconnectWorker("w1", &impostor);  // its stream ends: nothing changes
  EXPECT_TRUE(GetWorker("w1").connected);
  // The same stream may register again (e.g. when its GPUs changed).
  EXPECT_TRUE(cluster_->RegisterWorker(MakeRegister("w1", 1), &Channel("w1")).ok());
}

TEST_F(ClusterWorkersTest, DisconnectOfAnOldStreamIsIgnored) {
  Register("w1", 1);
  cluster_->DisconnectWorker("w1", &Channel("w1"));
  FakeWorkerChannel newer;
  ASSERT_TRUE(cluster_->RegisterWorker(MakeRegister("w1", 1), &newer).ok());
  cluster_->DisconnectWorker("w1", &Channel("w1"));  // the first stream's close, repeated late
  EXPECT_TRUE(GetWorker("w1").connected);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_EQ(newer.assigns.size(), 1u);
  EXPECT_EQ(newer.assigns[0].id, t.id);
  EXPECT_TRUE(Channel("w1").assigns.empty());
}

// Fencing: a lost worker is declared dead at its heartbeat timeout, but its
// task stays assigned to it (GPUs held) until the task lease has passed
// since its last heartbeat; only then is it requeued and placed elsewhere.
TEST_F(ClusterWorkersTest, ALostWorkersTasksStayAssignedUntilTheirLeaseRunsOut) {
  ClusterConfig config = WithoutLease();
  config.task_lease = 10000ms;
  Restart(config);
  EXPECT_EQ(Register("w1", 1).task_lease, 10000ms);  // 1 s heartbeats: dead after 3 s
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, link::TaskUpdate::Kind::kStarted).ok());
  Register("w2", 1);

  clock_.Advance(3100ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kDead);
  EXPECT_EQ(Get(t.id).state, TaskState::kRunning);
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 1u);
  clock_.Advance(6800ms);  // 9.9 s
  cluster_->CheckLiveness();
  EXPECT_EQ(Get(t.id).state, TaskState::kRunning);
  EXPECT_EQ(Get(t.id).worker_id, "w1");

  clock_.Advance(200ms);  // 10.1 s: the lease has run out
  cluster_->CheckLiveness();
  Task requeued = Get(t.id);
  EXPECT_EQ(requeued.state, TaskState::kQueued);
  EXPECT_NE(requeued.message.find("task lease"), std::string::npos) << requeued.message;
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
}

// The lease is never shorter than the worker's dead timeout, whatever the
// setting: a worker cannot lose its tasks before it is declared dead.
TEST_F(ClusterWorkersTest, TheTaskLeaseIsAtLeastTheDeadTimeout) {
  ClusterConfig config = WithoutLease();
  config.task_lease = 1000ms;
  Restart(config);
  EXPECT_EQ(Register("w1", 1).task_lease, 3000ms);
  EXPECT_EQ(ClusterConfig{}.task_lease, 60000ms);  // the default
}

TEST_F(ClusterWorkersTest, DeadWorkersTasksAreRequeuedThenFailAfterMaxAttempts) {
  Register("w1", 1);
  TaskSpec spec = MakeSpec(1);
  spec.max_attempts = 2;
  Task t = Submit(spec);
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_EQ(Event("w1", t.id, link::TaskUpdate::Kind::kStarted).code(), StatusCode::kOk);

  clock_.Advance(3100ms);
  cluster_->CheckLiveness();
  Task requeued = Get(t.id);
  EXPECT_EQ(requeued.state, TaskState::kQueued);
  EXPECT_EQ(requeued.attempts, 1u);
  EXPECT_TRUE(requeued.worker_id.empty());
  EXPECT_NE(requeued.message.find("worker w1 was lost"), std::string::npos);
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
  EXPECT_EQ(GetWorker("w1").cpus_allocated, 0u);

  Register("w2", 1);
  ASSERT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(t.id).worker_id, "w2");
  EXPECT_EQ(Get(t.id).attempts, 2u);
  clock_.Advance(3100ms);
  cluster_->CheckLiveness();
  Task failed = Get(t.id);
  EXPECT_EQ(failed.state, TaskState::kFailed);
  EXPECT_NE(failed.message.find("worker w2 was lost"), std::string::npos);
  EXPECT_NE(failed.message.find("no attempts left"), std::string::npos);
  EXPECT_TRUE(failed.finished_at.has_value());

  auto events = EventsOf(t.id);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0], "submitted");
  EXPECT_EQ(events[1], "assigned to w1 (attempt 1)");
  EXPECT_EQ(events[2], "started on w1");
  EXPECT_EQ(events[3].rfind("requeued: worker w1 was lost", 0), 0u) << events[3];
  EXPECT_EQ(events[4], "assigned to w2 (attempt 2)");
  EXPECT_EQ(events[5].rfind("failed: worker w2 was lost", 0), 0u) << events[5];
}

TEST_F(ClusterWorkersTest, ReRegistrationReconcilesReportedTasks) {
  Register("w1", 4);
  Register("w2", 1);
  for (int i = 0; i < 5; ++i) Submit(MakeSpec(1));
  Beat("w1", {50, 50, 50, 50});
  Beat("w2", {0});  // idler: the first task goes there, the other four to w1
  ASSERT_EQ(cluster_->Schedule(), 5u);
  std::vector<std::string> on_w1 = GetWorker("w1").task_ids;
  ASSERT_EQ(on_w1.size(), 4u);
  std::string on_w2 = GetWorker("w2").task_ids.at(0);
  ASSERT_EQ(Event("w1", on_w1[0], link::TaskUpdate::Kind::kStarted).code(), StatusCode::kOk);
  ASSERT_EQ(Event("w1", on_w1[3], link::TaskUpdate::Kind::kExited, 0).code(), StatusCode::kOk);

  // w1 restarts: it still runs on_w1[0] and on_w1[1], lost on_w1[2], and
  // claims the finished one, w2's one and one nobody knows.
  link::Registration again = MakeRegister("w1", 4);
  for (const std::string& id : {on_w1[0], on_w1[1], on_w1[3], on_w2, std::string("t-999999")}) {
    again.running_tasks.push_back({id, 1, 0, {}});
  }
  link::Registered reply = Register(again);
  EXPECT_EQ(reply.cancel_task_ids, (std::vector<std::string>{on_w1[3], on_w2, "t-999999"}));
  EXPECT_EQ(reply.heartbeat_interval, 1000ms);  // as registered
  EXPECT_EQ(Get(on_w1[0]).state, TaskState::kRunning);
  EXPECT_EQ(Get(on_w1[1]).state, TaskState::kRunning);  // was assigned; it runs, says the worker
  EXPECT_TRUE(Get(on_w1[1]).started_at.has_value());
  EXPECT_EQ(Get(on_w1[2]).state, TaskState::kQueued);
  EXPECT_NE(Get(on_w1[2]).message.find("restarted"), std::string::npos);
  EXPECT_EQ(Get(on_w1[3]).state, TaskState::kSucceeded);
  EXPECT_EQ(Get(on_w2).state, TaskState::kAssigned);  // untouched on w2
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.gpus_allocated(), 2u);
  EXPECT_EQ(w.cpus_allocated, 2u);
  EXPECT_EQ(w.memory_allocated, 2 * kGiB);
  EXPECT_EQ(w.task_ids.size(), 2u);
}

TEST_F(ClusterWorkersTest, ReRegistrationWithNewCapacityKeepsRunningTasksOnTheirGpus) {
  Register("w1", 2);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  std::string uuid = Get(t.id).gpu_uuids.at(0);
  link::Registration bigger = MakeRegister("w1", 4, 96);
  bigger.running_tasks.push_back({t.id, 1, 0, {uuid}});
  Register(bigger);
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.capacity.cpu_cores, 96u);
  ASSERT_EQ(w.gpus.size(), 4u);
  EXPECT_EQ(w.gpus_allocated(), 1u);
  for (const auto& g : w.gpus) EXPECT_EQ(g.allocated_to.empty(), g.identity.uuid != uuid);
}

TEST_F(ClusterWorkersTest, HeartbeatNamingATaskNotPlacedThereCancelsIt) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  link::Heartbeat r = MakeReport("w1", {90});
  r.running_tasks = {{t.id, 1, 0, {}}, {"t-424242", 1, 0, {}}};
  ASSERT_TRUE(cluster_->IngestHeartbeat("w1", r).ok());
  const auto& cancels = Channel("w1").cancels;
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].first, "t-424242");
  EXPECT_EQ(cancels[0].second, 10000ms);
}

TEST_F(ClusterWorkersTest, CountsSummariseWorkersGpusAndTasks) {
  Register("a", 4);
  Register("b", 2);
  Register("c", 1);
  Beat("a", {80, 10, 50, 0});
  Beat("b", {100, 49.9});
  Submit(MakeSpec(1));
  Submit(MakeSpec(1));
  ASSERT_OK(cluster_->Submit(MakeSpec(8), SubmitOptions{.allow_unfit = true}));  // fits no worker
  ASSERT_EQ(cluster_->Schedule(), 2u);
  clock_.Advance(1600ms);
  Beat("a", {80, 10, 50, 0});
  Beat("b", {100, 49.9});
  cluster_->CheckLiveness();  // c is suspect
  ClusterCounts c = cluster_->Counts();
  EXPECT_EQ(c.workers_healthy, 2u);
  EXPECT_EQ(c.workers_suspect, 1u);
  EXPECT_EQ(c.workers_dead, 0u);
  EXPECT_EQ(c.gpus_total, 7u);
  EXPECT_EQ(c.gpus_allocated, 2u);
  EXPECT_EQ(c.gpus_busy, 3u);  // 80, 50 and 100 percent
  EXPECT_EQ(c.gpus_unhealthy, 0u);
  EXPECT_EQ(c.tasks_by_state[static_cast<int>(TaskState::kQueued)], 1u);
  EXPECT_EQ(c.tasks_by_state[static_cast<int>(TaskState::kAssigned)], 2u);
  EXPECT_EQ(c.heartbeats_received, 4u);

  clock_.Advance(2s);
  cluster_->CheckLiveness();  // c is dead: its GPU no longer counts
  EXPECT_EQ(cluster_->Counts().workers_dead, 1u);
  EXPECT_EQ(cluster_->Counts().gpus_total, 6u);
}

// Changes that stand whether or not they are stored (re-registration,
// liveness requeues) carry on past a failing store, and every failed write
// is counted, like one whose error goes back to the caller.
TEST_F(ClusterWorkersTest, FailedStoreWritesAreCountedEvenWhereTheChangeStands) {
  Register("w1", 2);
  Task first = Submit(MakeSpec(1));
  Task second = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 2u);
  EXPECT_EQ(cluster_->Counts().store_errors, 0u);

  store_.fail_writes = true;
  // w1 restarted with a third GPU and only `second` still running: the
  // requeue of `first` and the new worker record both fail to store.
  link::Registration again = MakeRegister("w1", 3);
  again.running_tasks = {{second.id, 1, 0, {}}};
  Register(again);
  EXPECT_EQ(Get(first.id).state, TaskState::kQueued);
  EXPECT_EQ(GetWorker("w1").gpus.size(), 3u);
  EXPECT_EQ(cluster_->Counts().store_errors, 2u);

  // w1 is lost: the requeue of `second` fails to store too.
  clock_.Advance(3100ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(Get(second.id).state, TaskState::kQueued);
  EXPECT_EQ(cluster_->Counts().store_errors, 3u);

  EXPECT_FALSE(cluster_->Submit(MakeSpec(0)).ok());  // returned, and counted
  EXPECT_EQ(cluster_->Counts().store_errors, 4u);
}

TEST_F(ClusterWorkersTest, WaitForChangeWakesOnAHeartbeatAndTimesOutOtherwise) {
  Register("w1", 1);
  uint64_t seen = cluster_->Version();
  EXPECT_EQ(cluster_->WaitForChange(seen, 1ms), seen);
  uint64_t woke_at = 0;
  std::thread waiter([&] { woke_at = cluster_->WaitForChange(seen, 30s); });
  Beat("w1", {0});
  waiter.join();
  EXPECT_GT(woke_at, seen);
  EXPECT_EQ(cluster_->WaitForChange(seen, 30s), cluster_->Version());  // already past: no wait
}

// A dead worker's tasks are requeued in memory even when the store cannot
// write it (placement must not wait for the disk); the store keeps the
// last state it could write, and the error is logged.
TEST_F(ClusterWorkersTest, LivenessRequeuesEvenWhenTheStoreFails) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, link::TaskUpdate::Kind::kStarted).ok());
  store_.fail_writes = true;
  clock_.Advance(3100ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kDead);
  EXPECT_EQ(Get(t.id).state, TaskState::kQueued);
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
  auto stored = memory_->LoadTasks();
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].state, TaskState::kRunning);  // the write failed

  store_.fail_writes = false;
  Register("w2", 1);
  ASSERT_EQ(cluster_->Schedule(), 1u);
  stored = memory_->LoadTasks();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)[0].state, TaskState::kAssigned);
  EXPECT_EQ((*stored)[0].worker_id, "w2");
  EXPECT_EQ((*stored)[0].attempts, 2u);
}

// A worker that re-registers is served even when the store cannot write:
// the tasks it no longer runs are requeued, its new capacity counts.
TEST_F(ClusterWorkersTest, ReRegistrationWorksWhenTheStoreFails) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  store_.fail_writes = true;
  auto reply = cluster_->RegisterWorker(MakeRegister("w1", 2), &Channel("w1"));
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(Get(t.id).state, TaskState::kQueued);
  EXPECT_EQ(Get(t.id).attempts, 1u);
  EXPECT_NE(Get(t.id).message.find("restarted"), std::string::npos);
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.gpus.size(), 2u);
  EXPECT_EQ(w.gpus_allocated(), 0u);
  EXPECT_EQ(w.state, WorkerState::kHealthy);
}

// A dead worker that heartbeats again is healthy and schedulable at once;
// its old task went back to the queue and goes to it as a new attempt.
TEST_F(ClusterWorkersTest, ADeadWorkerThatComesBackGetsWorkAgain) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  clock_.Advance(3100ms);
  cluster_->CheckLiveness();
  ASSERT_EQ(Get(t.id).state, TaskState::kQueued);
  EXPECT_EQ(cluster_->Schedule(), 0u);  // nowhere to go: w1 is dead
  Beat("w1", {0});
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kHealthy);
  ASSERT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(t.id).attempts, 2u);
  ASSERT_EQ(Channel("w1").assigns.size(), 2u);
  EXPECT_EQ(Channel("w1").assigns[1].attempts, 2u);
}

// A drained worker keeps what it runs and gets nothing new; the drain is
// stored, so a restarted master keeps it; undrain lets it take tasks again.
TEST_F(ClusterWorkersTest, ADrainedWorkerGetsNoNewTasksUntilUndrained) {
  Register("w1", 2);
  Task running = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  auto drained = cluster_->SetDraining("w1", true);
  ASSERT_OK(drained);
  EXPECT_TRUE(drained->draining);
  EXPECT_EQ(cluster_->SetDraining("ghost", true).status().code(), StatusCode::kNotFound);

  Task waiting = Submit(MakeSpec(1));
  EXPECT_EQ(cluster_->Schedule(), 0u);
  EXPECT_EQ(Get(waiting.id).pending_reason, "all fitting workers are draining");
  EXPECT_EQ(Get(running.id).state, TaskState::kAssigned);  // untouched

  Restart();
  link::Registration again = MakeRegister("w1", 2);
  again.running_tasks = {{running.id, 1, 100, {}}};
  Register(again);
  EXPECT_TRUE(GetWorker("w1").draining);
  EXPECT_EQ(cluster_->Schedule(), 0u);

  ASSERT_OK(cluster_->SetDraining("w1", false));
  EXPECT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(waiting.id).state, TaskState::kAssigned);
}

// A worker whose self-check fails gets no task until a heartbeat says it
// can run tasks again.
TEST_F(ClusterWorkersTest, AWorkerThatSaysItCannotRunTasksGetsNone) {
  link::Registration r = MakeRegister("w1", 1);
  r.unhealthy_reason = "cannot create task directories under '/w/tasks': Not a directory";
  Register(r);
  EXPECT_EQ(GetWorker("w1").unhealthy_reason, r.unhealthy_reason);
  Task t = Submit(MakeSpec(1));
  EXPECT_EQ(cluster_->Schedule(), 0u);
  EXPECT_EQ(Get(t.id).pending_reason, "no healthy worker");
  Beat("w1", {0});  // a heartbeat without a reason: it can again
  EXPECT_EQ(GetWorker("w1").unhealthy_reason, "");
  EXPECT_EQ(cluster_->Schedule(), 1u);
}

}  // namespace
}  // namespace gpulse::master
