// Cluster: per-task usage, idle GPUs, hardware failures and the clear of a
// GPU's quarantine, driven by heartbeats with a manual clock.
#include <gtest/gtest.h>

#include "master/core/cluster_test_util.h"

namespace gpulse::master {
namespace {

using std::chrono::seconds;
using Kind = link::TaskUpdate::Kind;

class ClusterUsageTest : public ClusterFixture {
 protected:
  // A heartbeat of `worker` with `xids` (XID -> count since the worker
  // started) on GPU 0 and none on the others.
  void BeatWithXids(const std::string& worker, const std::vector<double>& utilizations,
                    std::map<uint32_t, uint64_t> xids) {
    link::Heartbeat h = MakeReport(worker, utilizations);
    for (GpuSample& g : h.sample.gpus) g.events = GpuEvents{};
    h.sample.gpus[0].events->xid_counts = std::move(xids);
    ASSERT_TRUE(cluster_->IngestHeartbeat(worker, std::move(h)).ok());
  }

  // Submits a task for `gpus` GPUs, places it and reports it started.
  Task StartTask(uint32_t gpus) {
    Task t = Submit(MakeSpec(gpus));
    EXPECT_EQ(cluster_->Schedule(), 1u);
    t = Get(t.id);
    EXPECT_TRUE(Event(t.worker_id, t.id, Kind::kStarted).ok());
    return Get(t.id);
  }

  bool HasEventContaining(const std::string& task, const std::string& text) {
    for (const std::string& e : EventsOf(task)) {
      if (e.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

TEST_F(ClusterUsageTest, EightyPercentForTenSecondsOnTwoGpusIsAboutTwentyGpuSeconds) {
  Register("w1", 2);
  Task t = StartTask(2);
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(seconds(1));
    Beat("w1", {80, 80});
  }
  Task live = Get(t.id);
  EXPECT_NEAR(live.usage.gpu_seconds, 20, 1e-6);
  EXPECT_NEAR(*live.usage.MeanUtilizationGpu(), 80, 1e-6);
  ClusterCounts c = cluster_->Counts();
  EXPECT_NEAR(c.gpu_seconds_allocated, 20, 1e-6);
  EXPECT_NEAR(c.gpu_seconds_used, 16, 1e-6);
  EXPECT_NEAR(c.gpu_seconds_used_hour, 16, 1e-6);

  // Final at exit, and stored with the task.
  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 0).ok());
  clock_.Advance(seconds(1));
  Beat("w1", {80, 80});
  EXPECT_NEAR(Get(t.id).usage.gpu_seconds, 20, 1e-6);
  auto stored = store_.LoadTasks();
  ASSERT_TRUE(stored.ok());
  EXPECT_NEAR(stored->back().usage.gpu_seconds, 20, 1e-6);
}

// A GPU's counters advance with every heartbeat, held or not; a task
// counts from its start, not from the heartbeat before it, and its peaks
// are its own.
TEST_F(ClusterUsageTest, ATaskCountsFromItsStartNotFromTheHeartbeatBefore) {
  Register("w1", 1);
  Beat("w1", {0});
  clock_.Advance(seconds(1));
  Beat("w1", {95});  // before the task: not its figures
  clock_.Advance(seconds(3));
  Task t = StartTask(1);
  clock_.Advance(seconds(1));
  Beat("w1", {40});
  const TaskUsage usage = Get(t.id).usage;
  EXPECT_NEAR(usage.gpu_seconds, 1, 1e-6);
  EXPECT_NEAR(*usage.MeanUtilizationGpu(), 40, 1e-6);
  EXPECT_EQ(usage.peak_utilization_gpu, 40);
  EXPECT_NEAR(cluster_->Counts().gpu_seconds_allocated, 1, 1e-6);
}

// The worker marks each GPU process outside gpulse or not; a task's usage
// keeps the most outside processes seen at once on its own GPUs.
TEST_F(ClusterUsageTest, ProcessesOutsideGpulseOnATasksGpusAreItsPeakAndUnknownStaysAbsent) {
  Register("w1", 2);
  Task t = StartTask(1);
  ASSERT_EQ(t.gpu_indices.size(), 1u);
  const uint32_t mine = t.gpu_indices[0];
  const uint32_t other = 1 - mine;
  auto beat = [&](std::vector<std::optional<bool>> on_mine, std::vector<std::optional<bool>> on_other) {
    clock_.Advance(seconds(1));
    link::Heartbeat h = MakeReport("w1", {50, 50});
    uint32_t pid = 100;
    h.sample.gpus[mine].processes.emplace();
    for (const auto& o : on_mine) h.sample.gpus[mine].processes->push_back({pid++, std::nullopt, o});
    h.sample.gpus[other].processes.emplace();
    for (const auto& o : on_other) h.sample.gpus[other].processes->push_back({pid++, std::nullopt, o});
    ASSERT_TRUE(cluster_->IngestHeartbeat("w1", std::move(h)).ok());
  };
  beat({false, std::nullopt}, {true, true, true});
  EXPECT_FALSE(Get(t.id).usage.max_outside_processes);  // unknown on its GPU, not 0
  beat({false, true}, {true, true, true});              // the other GPU's are not its own
  EXPECT_EQ(Get(t.id).usage.max_outside_processes, 1u);
  beat({false}, {});
  EXPECT_EQ(Get(t.id).usage.max_outside_processes, 1u);

  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 0).ok());
  auto stored = store_.LoadTasks();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->back().usage.max_outside_processes, 1u);
}

// Each worker keeps which of its tasks run on which GPUs between
// heartbeats: tasks that start, end and take a freed GPU while heartbeats
// flow are accounted from their start to their end, each on its own GPU.
TEST_F(ClusterUsageTest, TasksThatStartAndEndBetweenHeartbeatsAreAccountedOnTheirOwnGpus) {
  Register("w1", 2);
  Beat("w1", {0, 0});  // the worker's heartbeats flow before any task runs
  Task first = StartTask(1);
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(seconds(1));
    Beat("w1", {90, 90});
  }
  Task second = StartTask(1);
  ASSERT_NE(second.gpu_uuids, first.gpu_uuids);
  clock_.Advance(seconds(1));
  Beat("w1", {90, 90});
  EXPECT_NEAR(Get(first.id).usage.gpu_seconds, 4, 1e-6);
  EXPECT_NEAR(Get(second.id).usage.gpu_seconds, 1, 1e-6);

  // The first ends and a third takes its GPU before the next heartbeat.
  ASSERT_TRUE(Event("w1", first.id, Kind::kExited, 0).ok());
  Task third = StartTask(1);
  ASSERT_EQ(third.gpu_uuids, first.gpu_uuids);
  const bool first_on_gpu0 = Get(first.id).gpu_indices.at(0) == 0;
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(seconds(1));
    Beat("w1", first_on_gpu0 ? std::vector<double>{20, 70} : std::vector<double>{70, 20});
  }
  EXPECT_NEAR(Get(first.id).usage.gpu_seconds, 4, 1e-6);
  EXPECT_NEAR(Get(second.id).usage.gpu_seconds, 3, 1e-6);
  EXPECT_NEAR(Get(third.id).usage.gpu_seconds, 2, 1e-6);
  EXPECT_NEAR(*Get(third.id).usage.MeanUtilizationGpu(), 20, 1e-6);
  EXPECT_NEAR(*Get(second.id).usage.MeanUtilizationGpu(), (90 + 70 + 70) / 3.0, 1e-6);
}

TEST_F(ClusterUsageTest, GpusBelowTheThresholdForThePeriodMarkTheTaskIdleUntilBusyAgain) {
  ClusterConfig config;
  config.idle_period = std::chrono::milliseconds(30000);
  Restart(config);
  Register("w1", 1);
  Task t = StartTask(1);
  Beat("w1", {1});  // below from now on
  for (int i = 0; i < 29; ++i) {
    clock_.Advance(seconds(1));
    Beat("w1", {1});
  }
  EXPECT_FALSE(Get(t.id).idle_since);
  clock_.Advance(seconds(1));
  Beat("w1", {1});
  EXPECT_TRUE(Get(t.id).idle_since);
  EXPECT_EQ(cluster_->Counts().tasks_idle, 1u);
  EXPECT_TRUE(HasEventContaining(t.id, "idle: GPUs idle for 30 s"));
  EXPECT_TRUE(Channel("w1").cancels.empty());  // the default action is none

  clock_.Advance(seconds(1));
  Beat("w1", {50});
  EXPECT_FALSE(Get(t.id).idle_since);
  EXPECT_TRUE(HasEventContaining(t.id, "GPUs busy again"));
}

TEST_F(ClusterUsageTest, IdleActionCancelCancelsTheTaskWithTheReason) {
  ClusterConfig config;
  config.idle_period = std::chrono::milliseconds(60000);
  config.idle_action = ClusterConfig::IdleAction::kCancel;
  Restart(config);
  Register("w1", 1);
  Task t = StartTask(1);
  for (int i = 0; i < 61; ++i) {
    clock_.Advance(seconds(1));
    Beat("w1", {0});
  }
  ASSERT_EQ(Channel("w1").cancels.size(), 1u);
  EXPECT_EQ(Channel("w1").cancels[0].first, t.id);
  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 143).ok());
  Task done = Get(t.id);
  EXPECT_EQ(done.state, TaskState::kCancelled);
  EXPECT_EQ(done.message, "cancelled: GPUs idle for 1 min (stopped with exit code 143)");
}

TEST_F(ClusterUsageTest, ATaskThatFailsAfterACriticalXidOnItsGpuIsRequeuedElsewhereKeepingItsAttempts) {
  Register("w1", 1);
  Task t = StartTask(1);
  ASSERT_EQ(t.worker_id, "w1");
  Beat("w1", {90});  // no events yet: the worker's watcher had not started
  BeatWithXids("w1", {90}, {{79, 1}});
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kUnhealthy);
  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 1).ok());
  Task requeued = Get(t.id);
  EXPECT_EQ(requeued.state, TaskState::kQueued);
  EXPECT_EQ(requeued.hardware_failures, 1u);
  EXPECT_EQ(requeued.RunsSpent(), 0u);
  EXPECT_TRUE(HasEventContaining(t.id, "hardware failure: GPU 0 (GPU-w1-0) of w1 had a critical XID 79"))
      << ::testing::PrintToString(EventsOf(t.id));

  EXPECT_EQ(cluster_->Schedule(), 0u);  // never back on the quarantined GPU
  Register("w2", 1);
  EXPECT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(t.id).worker_id, "w2");
}

TEST_F(ClusterUsageTest, AFaultReportedJustAfterTheFailureStillMakesItAHardwareFailure) {
  Register("w1", 1);
  Task t = StartTask(1);
  BeatWithXids("w1", {90}, {});
  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 1).ok());
  EXPECT_EQ(Get(t.id).state, TaskState::kFailed);
  clock_.Advance(seconds(2));
  BeatWithXids("w1", {0}, {{48, 1}});
  Task requeued = Get(t.id);
  EXPECT_EQ(requeued.state, TaskState::kQueued);
  EXPECT_EQ(requeued.hardware_failures, 1u);
}

TEST_F(ClusterUsageTest, ATaskThatFailsOnItsOwnIsNotAHardwareFailure) {
  Register("w1", 1);
  Task t = StartTask(1);
  BeatWithXids("w1", {90}, {});
  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 1).ok());
  clock_.Advance(std::chrono::minutes(5));
  BeatWithXids("w1", {0}, {{79, 1}});  // long after: not its fault
  EXPECT_EQ(Get(t.id).state, TaskState::kFailed);
  EXPECT_EQ(Get(t.id).hardware_failures, 0u);
}

TEST_F(ClusterUsageTest, AnApplicationXidIsRecordedAgainstTheTaskAndDoesNotQuarantineTheGpu) {
  Register("w1", 1);
  Task t = StartTask(1);
  BeatWithXids("w1", {90}, {});
  BeatWithXids("w1", {90}, {{13, 1}});
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kHealthy);
  EXPECT_TRUE(HasEventContaining(t.id, "application XID 13 on GPU 0"));
  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 1).ok());
  EXPECT_EQ(Get(t.id).state, TaskState::kFailed);
}

TEST_F(ClusterUsageTest, AnOperatorClearsTheQuarantineAndANewXidQuarantinesAgain) {
  Register("w1", 1);
  BeatWithXids("w1", {0}, {{79, 1}});
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kUnhealthy);
  EXPECT_EQ(cluster_->ClearGpuFaults("w1", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(cluster_->ClearGpuFaults("nobody", 0).status().code(), StatusCode::kNotFound);
  auto cleared = cluster_->ClearGpuFaults("w1", 0);
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->health, GpuHealth::kHealthy);
  BeatWithXids("w1", {0}, {{79, 1}});
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kHealthy);
  BeatWithXids("w1", {0}, {{79, 2}});
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kUnhealthy);
}

// A heartbeat adds to its worker's account of the task, not to the task:
// every read and every write of a running task must add what the account
// holds, once.
TEST_F(ClusterUsageTest, ARunningTasksReadsAndWritesCarryItsUsageSoFarOnce) {
  Register("w1", 2);
  Task t = StartTask(1);
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(seconds(1));
    Beat("w1", {50, 50});
  }
  auto cancelling = cluster_->Cancel(t.id);  // writes the running task's row
  ASSERT_TRUE(cancelling.ok());
  EXPECT_NEAR(cancelling->usage.gpu_seconds, 3, 1e-6);
  auto stored = store_.LoadTasks();
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->back().id, t.id);
  EXPECT_EQ(stored->back().state, TaskState::kRunning);
  EXPECT_NEAR(stored->back().usage.gpu_seconds, 3, 1e-6);
  EXPECT_NEAR(cluster_->Tasks(TaskState::kRunning).at(0).usage.gpu_seconds, 3, 1e-6);

  // A second task starting on the worker rebuilds its accounts: what the
  // first one's held is folded into it, not lost and not counted twice.
  Task second = StartTask(1);
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(seconds(1));
    Beat("w1", {50, 50});
  }
  EXPECT_NEAR(Get(t.id).usage.gpu_seconds, 5, 1e-6);
  EXPECT_NEAR(*Get(t.id).usage.MeanUtilizationGpu(), 50, 1e-6);
  EXPECT_NEAR(Get(second.id).usage.gpu_seconds, 2, 1e-6);
  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 0).ok());
  stored = store_.LoadTasks();
  ASSERT_TRUE(stored.ok());
  for (const Task& row : *stored) {
    if (row.id == t.id) {
      EXPECT_NEAR(row.usage.gpu_seconds, 5, 1e-6);
    }
  }
  EXPECT_NEAR(Get(t.id).usage.gpu_seconds, 5, 1e-6);
}

// The clear is stored with the worker: a restarted master holds only newer
// faults against the GPU. A clear that cannot be stored changes nothing.
TEST_F(ClusterUsageTest, AnOperatorsClearOutlivesAMasterRestartAndIsRefusedWhenItCannotBeStored) {
  Register("w1", 1);
  BeatWithXids("w1", {0}, {{79, 1}});
  ASSERT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kUnhealthy);
  store_.fail_writes = true;
  EXPECT_EQ(cluster_->ClearGpuFaults("w1", 0).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kUnhealthy);
  store_.fail_writes = false;
  ASSERT_TRUE(cluster_->ClearGpuFaults("w1", 0).ok());

  Restart();
  Register("w1", 1);
  BeatWithXids("w1", {0}, {{79, 1}});  // the same count as at the clear
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kHealthy);
  BeatWithXids("w1", {0}, {{79, 2}});  // a new one
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kUnhealthy);
}

TEST_F(ClusterUsageTest, RecoverableXidsClearAfterACleanPeriodAndOthersDoNot) {
  ClusterConfig config;
  config.recoverable_xid_clean_period = std::chrono::milliseconds(60000);
  Restart(config);
  Register("w1", 2);
  auto beat = [&](std::map<uint32_t, uint64_t> gpu0, std::map<uint32_t, uint64_t> gpu1) {
    link::Heartbeat h = MakeReport("w1", {0, 0});
    h.sample.gpus[0].events = GpuEvents{};
    h.sample.gpus[1].events = GpuEvents{};
    h.sample.gpus[0].events->xid_counts = gpu0;
    h.sample.gpus[1].events->xid_counts = gpu1;
    ASSERT_TRUE(cluster_->IngestHeartbeat("w1", std::move(h)).ok());
  };
  beat({}, {});
  beat({{94, 1}}, {{79, 1}});
  clock_.Advance(seconds(59));
  beat({{94, 1}}, {{79, 1}});
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kUnhealthy);
  clock_.Advance(seconds(2));
  beat({{94, 1}}, {{79, 1}});
  EXPECT_EQ(GetWorker("w1").gpus[0].health, GpuHealth::kHealthy);
  EXPECT_EQ(GetWorker("w1").gpus[1].health, GpuHealth::kUnhealthy);
}

}  // namespace
}  // namespace gpulse::master
