// Cluster: submitting, running, finishing and cancelling tasks.
#include <gtest/gtest.h>

#include "master/core/cluster_test_util.h"

namespace gpulse::master {
namespace {

using namespace std::chrono_literals;
using Kind = link::TaskUpdate::Kind;

using ClusterTasksTest = ClusterFixture;

TEST_F(ClusterTasksTest, SubmitQueuesAndStoresTheTaskBeforeReturning) {
  TaskSpec spec = MakeSpec(2, 4, 8 * kGiB);
  spec.env = {{"SEED", "7"}};
  Task t = Submit(spec);
  EXPECT_EQ(t.id, "t-000001");
  EXPECT_EQ(t.state, TaskState::kQueued);
  EXPECT_EQ(t.attempts, 0u);
  EXPECT_TRUE(t.spec == spec);
  EXPECT_EQ(t.submitted_at, clock_.WallNow());
  auto stored = store_.LoadTasks();
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_TRUE((*stored)[0] == t);
  EXPECT_EQ(EventsOf(t.id), std::vector<std::string>{"submitted"});
  EXPECT_EQ(Submit(spec).id, "t-000002");
  EXPECT_EQ(cluster_->Tasks(TaskState::kQueued).size(), 2u);
}

TEST_F(ClusterTasksTest, SubmitRejectsInvalidSpecsWithAClearMessage) {
  TaskSpec no_argv = MakeSpec(0);
  no_argv.argv.clear();
  TaskSpec too_many_gpus = MakeSpec(300);
  TaskSpec bad_env = MakeSpec(0);
  bad_env.env["NOT-VALID"] = "x";
  for (const TaskSpec& spec : {no_argv, too_many_gpus, bad_env}) {
    auto t = cluster_->Submit(spec);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(t.status().message().empty());
  }
  EXPECT_TRUE(cluster_->Tasks().empty());
  EXPECT_EQ(Submit(MakeSpec(0)).id, "t-000001");  // rejected ones use no ids
}

TEST_F(ClusterTasksTest, SubmitThatCannotBeStoredQueuesNothing) {
  store_.fail_writes = true;
  auto t = cluster_->Submit(MakeSpec(1));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(cluster_->Tasks().empty());
  store_.fail_writes = false;
  EXPECT_EQ(Submit(MakeSpec(1)).id, "t-000001");
}

TEST_F(ClusterTasksTest, TaskRunsToSuccessAndFreesItsResources) {
  Register("w1", 2);
  Task t = Submit(MakeSpec(1, 4, 16 * kGiB));
  ASSERT_EQ(cluster_->Schedule(), 1u);

  Task assigned = Get(t.id);
  EXPECT_EQ(assigned.state, TaskState::kAssigned);
  EXPECT_EQ(assigned.worker_id, "w1");
  EXPECT_EQ(assigned.attempts, 1u);
  ASSERT_EQ(assigned.gpu_indices.size(), 1u);
  ASSERT_EQ(Channel("w1").assigns.size(), 1u);
  const Task& sent = Channel("w1").assigns[0];
  EXPECT_EQ(sent.id, t.id);
  EXPECT_EQ(sent.gpu_indices, assigned.gpu_indices);
  EXPECT_EQ(sent.gpu_uuids, assigned.gpu_uuids);
  EXPECT_EQ(sent.spec.argv, t.spec.argv);
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.cpus_allocated, 4u);
  EXPECT_EQ(w.memory_allocated, 16 * kGiB);
  EXPECT_EQ(w.gpus[assigned.gpu_indices[0]].allocated_to, t.id);

  clock_.Advance(1s);
  ASSERT_TRUE(Event("w1", t.id, Kind::kStarted).ok());
  EXPECT_EQ(Get(t.id).state, TaskState::kRunning);
  EXPECT_EQ(Get(t.id).started_at, clock_.WallNow());
  ASSERT_TRUE(Event("w1", t.id, Kind::kStarted).ok());  // a repeat changes nothing

  clock_.Advance(1s);
  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 0).ok());
  Task done = Get(t.id);
  EXPECT_EQ(done.state, TaskState::kSucceeded);
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_EQ(done.finished_at, clock_.WallNow());
  w = GetWorker("w1");
  EXPECT_EQ(w.cpus_allocated, 0u);
  EXPECT_EQ(w.memory_allocated, 0u);
  EXPECT_EQ(w.gpus_allocated(), 0u);
  EXPECT_TRUE(w.task_ids.empty());
  EXPECT_EQ(EventsOf(t.id), (std::vector<std::string>{"submitted", "assigned to w1 (attempt 1)", "started on w1",
                                                     "succeeded"}));
  auto stored = store_.LoadTasks();
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE((*stored)[0] == done);
}

TEST_F(ClusterTasksTest, NonZeroExitFailsWithoutRetry) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, Kind::kStarted).ok());
  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 3).ok());
  Task failed = Get(t.id);
  EXPECT_EQ(failed.state, TaskState::kFailed);
  EXPECT_EQ(failed.exit_code, 3);
  EXPECT_EQ(failed.message, "exited with code 3");
  EXPECT_EQ(cluster_->Schedule(), 0u);
}

TEST_F(ClusterTasksTest, OomKilledTaskFailsSayingItExceededItsMemoryLimit) {
  Register("w1", 1);
  TaskSpec spec = MakeSpec(1);
  spec.memory_bytes = 32 << 20;
  Task t = Submit(spec);
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, Kind::kStarted).ok());
  link::TaskUpdate oom;
  oom.task_id = t.id;
  oom.kind = Kind::kExited;
  oom.exit_code = 137;
  oom.out_of_memory = true;
  ASSERT_TRUE(cluster_->ApplyTaskEvent("w1", oom).ok());
  Task failed = Get(t.id);
  EXPECT_EQ(failed.state, TaskState::kFailed);
  EXPECT_EQ(failed.message,
            "exited with code 137: it exceeded its memory limit of 32.0 MiB (the kernel's OOM killer killed a "
            "process of it)");
}

// A start that failed because of the worker (not the task) is requeued
// without spending one of the task's attempts; only after
// kMaxStartFailures such starts does the task fail.
TEST_F(ClusterTasksTest, AFailureToStartSpendsNoAttempt) {
  Register("w1", 1);
  TaskSpec spec = MakeSpec(1);
  spec.max_attempts = 2;
  Task t = Submit(spec);
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, Kind::kFailedToStart).ok());
  EXPECT_EQ(Get(t.id).state, TaskState::kQueued);
  EXPECT_NE(Get(t.id).message.find("could not start on w1: no such file"), std::string::npos);
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);

  for (uint32_t n = 2; n < kMaxStartFailures; ++n) {
    ASSERT_EQ(cluster_->Schedule(), 1u);
    ASSERT_TRUE(Event("w1", t.id, Kind::kFailedToStart).ok());
    ASSERT_EQ(Get(t.id).state, TaskState::kQueued) << "after " << n << " failed starts";
  }
  EXPECT_EQ(Get(t.id).start_failures, kMaxStartFailures - 1);
  EXPECT_NE(Get(t.id).message.find("(attempt 0 of 2)"), std::string::npos) << Get(t.id).message;

  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, Kind::kFailedToStart).ok());
  Task failed = Get(t.id);
  EXPECT_EQ(failed.state, TaskState::kFailed);
  EXPECT_NE(failed.message.find("could not be started 10 times"), std::string::npos) << failed.message;
}

// A task that ran and was lost still counts: after a failed start and two
// lost runs, a max_attempts = 2 task has no attempts left.
TEST_F(ClusterTasksTest, FailedStartsAndLostRunsAreCountedApart) {
  Register("w1", 1);
  TaskSpec spec = MakeSpec(1);
  spec.max_attempts = 2;
  Task t = Submit(spec);
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, Kind::kFailedToStart).ok());
  for (int run = 1; run <= 2; ++run) {
    ASSERT_EQ(cluster_->Schedule(), 1u);
    ASSERT_TRUE(Event("w1", t.id, Kind::kStarted).ok());
    Register(MakeRegister("w1", 1));  // restarted without it: lost
  }
  Task failed = Get(t.id);
  EXPECT_EQ(failed.state, TaskState::kFailed);
  EXPECT_EQ(failed.attempts, 3u);
  EXPECT_NE(failed.message.find("attempt 2 of 2"), std::string::npos) << failed.message;
}

// A program that could not be run at all (a report without a pid, as the
// worker sends for a missing binary) fails at once with the worker's words.
TEST_F(ClusterTasksTest, AProgramThatCannotRunFailsOnceWithItsExitCode) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  link::TaskUpdate missing{t.id, Kind::kExited, 127, "cannot run the program: argv[0] '/x': No such file or directory",
                           1, 0};
  ASSERT_TRUE(cluster_->ApplyTaskEvent("w1", missing).ok());
  Task failed = Get(t.id);
  EXPECT_EQ(failed.state, TaskState::kFailed);
  EXPECT_EQ(failed.exit_code, 127);
  EXPECT_EQ(failed.attempts, 1u);
  EXPECT_EQ(failed.message,
            "exited with code 127: cannot run the program: argv[0] '/x': No such file or directory");
}

TEST_F(ClusterTasksTest, StaleReportsAreRefusedAndAStrayStartIsCancelled) {
  Register("w1", 1);
  Register("w2", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  std::string owner = Get(t.id).worker_id;
  std::string other = owner == "w1" ? "w2" : "w1";
  EXPECT_EQ(Event(other, t.id, Kind::kExited, 0).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Event(other, t.id, Kind::kStarted).code(), StatusCode::kFailedPrecondition);
  ASSERT_EQ(Channel(other).cancels.size(), 1u);
  EXPECT_EQ(Channel(other).cancels[0].first, t.id);
  EXPECT_EQ(Get(t.id).state, TaskState::kAssigned);
  EXPECT_EQ(Event(owner, "t-777777", Kind::kStarted).code(), StatusCode::kNotFound);
  EXPECT_EQ(Event("ghost", t.id, Kind::kStarted).code(), StatusCode::kNotFound);

  ASSERT_TRUE(Event(owner, t.id, Kind::kExited, 0).ok());
  EXPECT_EQ(Event(owner, t.id, Kind::kExited, 0).code(), StatusCode::kFailedPrecondition);
}

TEST_F(ClusterTasksTest, AReportAboutAnEarlierAttemptIsIgnored) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, Kind::kFailedToStart).ok());  // requeued...
  ASSERT_EQ(cluster_->Schedule(), 1u);                         // ...and placed on w1 again
  ASSERT_EQ(Get(t.id).attempts, 2u);

  link::TaskUpdate late{t.id, Kind::kExited, 1, "", 1, 0};
  EXPECT_EQ(cluster_->ApplyTaskEvent("w1", late).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Get(t.id).state, TaskState::kAssigned);
  EXPECT_TRUE(Channel("w1").cancels.empty());  // the current attempt must not be stopped

  link::TaskUpdate current{t.id, Kind::kStarted, 0, "", 2, 0};
  EXPECT_TRUE(cluster_->ApplyTaskEvent("w1", current).ok());
  EXPECT_EQ(Get(t.id).state, TaskState::kRunning);
}

TEST_F(ClusterTasksTest, CancellingAQueuedTaskIsImmediate) {
  Task t = Submit(MakeSpec(1));
  auto cancelled = cluster_->Cancel(t.id);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state, TaskState::kCancelled);
  EXPECT_TRUE(cancelled->finished_at.has_value());
  EXPECT_TRUE(cluster_->Tasks(TaskState::kQueued).empty());
  Register("w1", 1);
  EXPECT_EQ(cluster_->Schedule(), 0u);
  EXPECT_EQ(EventsOf(t.id).back(), "cancelled while queued");
}

TEST_F(ClusterTasksTest, CancellingARunningTaskAsksItsWorkerFirst) {
  ClusterConfig config = WithoutLease();
  config.cancel_grace = 2500ms;
  Restart(config);
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", t.id, Kind::kStarted).ok());

  auto asked = cluster_->Cancel(t.id);
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked->state, TaskState::kRunning);
  EXPECT_TRUE(asked->cancel_requested);
  ASSERT_EQ(Channel("w1").cancels.size(), 1u);
  EXPECT_EQ(Channel("w1").cancels[0], std::make_pair(t.id, 2500ms));
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 1u);  // still holds its GPU

  ASSERT_TRUE(cluster_->Cancel(t.id).ok());  // asking again resends
  EXPECT_EQ(Channel("w1").cancels.size(), 2u);

  ASSERT_TRUE(Event("w1", t.id, Kind::kExited, 143).ok());  // killed by SIGTERM
  Task done = Get(t.id);
  EXPECT_EQ(done.state, TaskState::kCancelled);
  EXPECT_EQ(done.exit_code, 143);
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
  EXPECT_EQ(cluster_->Cancel(t.id).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ClusterTasksTest, WorkerReportingCancelledEndsTheTask) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(cluster_->Cancel(t.id).ok());
  ASSERT_TRUE(Event("w1", t.id, Kind::kCancelled).ok());
  EXPECT_EQ(Get(t.id).state, TaskState::kCancelled);
}

TEST_F(ClusterTasksTest, CancellingOnADisconnectedWorkerIsImmediate) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  cluster_->DisconnectWorker("w1", &Channel("w1"));
  auto cancelled = cluster_->Cancel(t.id);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state, TaskState::kCancelled);
  EXPECT_NE(cancelled->message.find("unreachable"), std::string::npos);
  EXPECT_TRUE(Channel("w1").cancels.empty());
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);

  // When it comes back still running it, it is told to stop.
  link::Registration again = MakeRegister("w1", 1);
  again.running_tasks.push_back({t.id, 1, 0, {}});
  EXPECT_EQ(Register(again).cancel_task_ids, std::vector<std::string>{t.id});
}

TEST_F(ClusterTasksTest, CancelOfUnknownOrFinishedTasks) {
  EXPECT_EQ(cluster_->Cancel("t-000404").status().code(), StatusCode::kNotFound);
  Task t = Submit(MakeSpec(0));
  ASSERT_TRUE(cluster_->Cancel(t.id).ok());
  auto again = cluster_->Cancel(t.id);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("cancelled"), std::string::npos);
}

TEST_F(ClusterTasksTest, CancelThatCannotBeStoredChangesNothing) {
  Task t = Submit(MakeSpec(1));
  store_.fail_writes = true;
  EXPECT_FALSE(cluster_->Cancel(t.id).ok());
  EXPECT_EQ(Get(t.id).state, TaskState::kQueued);
  EXPECT_EQ(cluster_->Tasks(TaskState::kQueued).size(), 1u);
  EXPECT_EQ(cluster_->Counts().tasks_by_state[static_cast<int>(TaskState::kCancelled)], 0u);
}

TEST_F(ClusterTasksTest, TasksListInSubmissionOrderAndFilterByState) {
  Register("w1", 1);
  Task a = Submit(MakeSpec(1));
  Task b = Submit(MakeSpec(1));
  Task c = Submit(MakeSpec(0));
  ASSERT_EQ(cluster_->Schedule(), 2u);  // a takes the GPU; c needs none
  auto all = cluster_->Tasks();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, a.id);
  EXPECT_EQ(all[1].id, b.id);
  EXPECT_EQ(all[2].id, c.id);
  auto queued = cluster_->Tasks(TaskState::kQueued);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].id, b.id);
  EXPECT_EQ(cluster_->Tasks(TaskState::kAssigned).size(), 2u);
  EXPECT_FALSE(cluster_->GetTask("t-9").has_value());
}

// A cancel that reaches an assigned task before its worker has started it:
// the worker is asked to stop it; if it then reports that it could not
// start, the task is cancelled, not requeued, and never placed again.
TEST_F(ClusterTasksTest, CancellingAnAssignedTaskBeforeItStarts) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  auto asked = cluster_->Cancel(t.id);
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked->state, TaskState::kAssigned);
  EXPECT_TRUE(asked->cancel_requested);
  ASSERT_EQ(Channel("w1").cancels.size(), 1u);
  EXPECT_EQ(Channel("w1").cancels[0].first, t.id);
  EXPECT_EQ(EventsOf(t.id).back(), "cancel requested");

  ASSERT_TRUE(Event("w1", t.id, Kind::kFailedToStart).ok());
  Task done = Get(t.id);
  EXPECT_EQ(done.state, TaskState::kCancelled);
  EXPECT_EQ(done.attempts, 1u);
  EXPECT_EQ(EventsOf(t.id).back(), "cancelled: never started: no such file");
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
  EXPECT_EQ(cluster_->Schedule(), 0u);
  EXPECT_EQ(Channel("w1").assigns.size(), 1u);
}

// What a worker reports takes effect even when the store cannot write it
// (the worker has moved on either way); the error is returned for the
// link to log, and the store keeps the last state it could write.
TEST_F(ClusterTasksTest, TaskEventsTakeEffectWhenTheStoreFailsAndTheErrorIsReturned) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  store_.fail_writes = true;
  EXPECT_EQ(Event("w1", t.id, Kind::kStarted).code(), StatusCode::kUnavailable);
  EXPECT_EQ(Get(t.id).state, TaskState::kRunning);
  EXPECT_EQ(Event("w1", t.id, Kind::kExited, 0).code(), StatusCode::kUnavailable);
  Task done = Get(t.id);
  EXPECT_EQ(done.state, TaskState::kSucceeded);
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
  EXPECT_EQ(GetWorker("w1").cpus_allocated, 0u);
  auto stored = memory_->LoadTasks();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)[0].state, TaskState::kAssigned);
  EXPECT_EQ(EventsOf(t.id).back(), "assigned to w1 (attempt 1)");
}

// Ending a task whose worker is unreachable cannot wait for the disk (there
// is nobody to ask): it is cancelled in memory, and the failed write is
// reported to the caller.
TEST_F(ClusterTasksTest, CancelOnAnUnreachableWorkerTakesEffectWhenTheStoreFails) {
  Register("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  cluster_->DisconnectWorker("w1", &Channel("w1"));
  store_.fail_writes = true;
  auto cancelled = cluster_->Cancel(t.id);
  EXPECT_EQ(cancelled.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Get(t.id).state, TaskState::kCancelled);
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
  auto stored = memory_->LoadTasks();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)[0].state, TaskState::kAssigned);
}

}  // namespace
}  // namespace gpulse::master
