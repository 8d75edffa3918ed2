// Cluster: finished tasks leave memory after their retention (or beyond the
// cap), and are still found by id, in pages and after a restart.
#include <gtest/gtest.h>

#include "master/core/cluster_test_util.h"

namespace gpulse::master {
namespace {

using namespace std::chrono_literals;
using Kind = link::TaskUpdate::Kind;

Cluster::TaskQuery Query(size_t limit, std::optional<TaskState> state = std::nullopt) {
  return Cluster::TaskQuery{.state = state, .worker = "", .before = 0, .limit = limit};
}

class ClusterRetentionTest : public ClusterFixture {
 protected:
  static ClusterConfig Retaining(std::chrono::milliseconds retention, size_t cap = 10000) {
    ClusterConfig config = WithoutLease();
    config.finished_task_retention = retention;
    config.max_finished_tasks_in_memory = cap;
    return config;
  }

  // A task that ran on w1 and exited 0.
  Task RunToSuccess() {
    Task t = Submit(MakeSpec(1));
    EXPECT_EQ(cluster_->Schedule(), 1u);
    EXPECT_TRUE(Event("w1", t.id, Kind::kStarted).ok());
    EXPECT_TRUE(Event("w1", t.id, Kind::kExited, 0).ok());
    return Get(t.id);
  }

  // A queued task, cancelled at once.
  Task SubmitCancelled() {
    Task t = Submit(MakeSpec(0));
    EXPECT_TRUE(cluster_->Cancel(t.id).ok());
    return Get(t.id);
  }

  Cluster::TaskPage Page(Cluster::TaskQuery query) {
    Result<Cluster::TaskPage> page = cluster_->PageTasks(query);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? std::move(*page) : Cluster::TaskPage{};
  }

  // Every page of `query` (limit `limit`), walked by cursor: the ids seen.
  std::vector<std::string> Walk(Cluster::TaskQuery query) {
    std::vector<std::string> ids;
    for (int pages = 0; pages < 100; ++pages) {
      Cluster::TaskPage page = Page(query);
      EXPECT_LE(page.tasks.size(), query.limit);
      for (const Task& t : page.tasks) ids.push_back(t.id);
      if (page.next_before == 0) break;
      query.before = page.next_before;
    }
    return ids;
  }
};

TEST_F(ClusterRetentionTest, AFinishedTaskLeavesMemoryAfterItsRetentionAndIsStillServed) {
  Restart(Retaining(10s));
  Register("w1", 1);
  Task done = RunToSuccess();
  ASSERT_EQ(done.state, TaskState::kSucceeded);
  EXPECT_EQ(cluster_->Counts().tasks_in_memory, 1u);

  clock_.Advance(9s);
  EXPECT_EQ(cluster_->ForgetFinishedTasks(), 0u);
  EXPECT_EQ(cluster_->Counts().finished_tasks_in_memory, 1u);
  clock_.Advance(2s);
  EXPECT_EQ(cluster_->ForgetFinishedTasks(), 1u);

  ClusterCounts counts = cluster_->Counts();
  EXPECT_EQ(counts.tasks_in_memory, 0u);
  EXPECT_EQ(counts.finished_tasks_in_memory, 0u);
  EXPECT_EQ(counts.tasks_by_state[static_cast<int>(TaskState::kSucceeded)], 1u);  // still counted
  EXPECT_TRUE(cluster_->Tasks().empty());
  // Served from the store, as it was.
  Task served = Get(done.id);
  EXPECT_TRUE(served == done);
  EXPECT_EQ(cluster_->Cancel(done.id).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(cluster_->Cancel("t-999999").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(cluster_->GetTask("t-999999").has_value());
}

TEST_F(ClusterRetentionTest, UnfinishedTasksNeverLeaveMemory) {
  Restart(Retaining(0s, 0));
  Register("w1", 1);
  Task running = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_TRUE(Event("w1", running.id, Kind::kStarted).ok());
  Task queued = Submit(MakeSpec(1));  // no GPU left
  clock_.Advance(24h);
  EXPECT_EQ(cluster_->ForgetFinishedTasks(), 0u);
  EXPECT_EQ(cluster_->Counts().tasks_in_memory, 2u);
  EXPECT_EQ(cluster_->Tasks().size(), 2u);
}

TEST_F(ClusterRetentionTest, BeyondTheCapTheOldestFinishedLeaveFirst) {
  Restart(Retaining(1h, 2));
  Task first = SubmitCancelled();
  clock_.Advance(1s);
  Task second = SubmitCancelled();
  clock_.Advance(1s);
  Task third = SubmitCancelled();
  EXPECT_EQ(cluster_->ForgetFinishedTasks(), 1u);
  std::vector<std::string> in_memory;
  for (const Task& t : cluster_->Tasks()) in_memory.push_back(t.id);
  EXPECT_EQ(in_memory, (std::vector<std::string>{second.id, third.id}));
  EXPECT_EQ(Get(first.id).state, TaskState::kCancelled);
}

TEST_F(ClusterRetentionTest, PagesWalkMemoryAndStoreAsOneNewestFirst) {
  Restart(Retaining(1h, 0));  // every finished task leaves memory at once
  // t-1 … t-7: 3 and 5 stay queued, the others are cancelled.
  std::vector<std::string> all;
  for (int i = 1; i <= 7; ++i) {
    Task t = Submit(MakeSpec(0));
    if (i != 3 && i != 5) {
      ASSERT_TRUE(cluster_->Cancel(t.id).ok());
    }
    all.push_back(t.id);
  }
  EXPECT_EQ(cluster_->ForgetFinishedTasks(), 5u);
  ASSERT_EQ(cluster_->Counts().tasks_in_memory, 2u);

  const std::vector<std::string> newest_first(all.rbegin(), all.rend());
  for (size_t limit : {1, 2, 3, 50}) {
    EXPECT_EQ(Walk(Query(limit, std::nullopt)), newest_first) << "limit " << limit;
  }
  EXPECT_EQ(Walk(Query(2, TaskState::kCancelled)),
            (std::vector<std::string>{all[6], all[5], all[3], all[1], all[0]}));
  EXPECT_EQ(Walk(Query(1, TaskState::kQueued)), (std::vector<std::string>{all[4], all[2]}));
  // The first page of three: two from the store around one in memory.
  Cluster::TaskPage first = Page(Query(3, std::nullopt));
  ASSERT_EQ(first.tasks.size(), 3u);
  EXPECT_EQ(first.tasks[2].id, all[4]);
  EXPECT_EQ(first.tasks[2].state, TaskState::kQueued);
}

TEST_F(ClusterRetentionTest, PagesShowTheMemoryCopyOfATaskOnce) {
  Restart(Retaining(1h));  // finished tasks stay in memory, and are stored too
  std::vector<std::string> all;
  for (int i = 0; i < 5; ++i) all.push_back(SubmitCancelled().id);
  EXPECT_EQ(Walk(Query(2, std::nullopt)), (std::vector<std::string>(all.rbegin(), all.rend())));
}

TEST_F(ClusterRetentionTest, ARestartLoadsTheUnfinishedAndTheRecentlyFinishedOnly) {
  Restart(Retaining(10s));
  Task old_done = SubmitCancelled();
  clock_.Advance(20s);
  Task recent_done = SubmitCancelled();
  Task waiting = Submit(MakeSpec(0));  // stays queued: nothing schedules here
  Task newest_done = SubmitCancelled();
  clock_.Advance(15s);  // newest_done and recent_done are past retention, too, by now...
  Restart(Retaining(10s));
  ClusterCounts counts = cluster_->Counts();
  EXPECT_EQ(counts.tasks_in_memory, 1u);  // ...so only the queued one comes back
  EXPECT_EQ(counts.tasks_by_state[static_cast<int>(TaskState::kCancelled)], 3u);
  EXPECT_EQ(counts.tasks_by_state[static_cast<int>(TaskState::kQueued)], 1u);
  EXPECT_EQ(Get(old_done.id).state, TaskState::kCancelled);
  EXPECT_EQ(Get(waiting.id).state, TaskState::kQueued);
  // New ids continue after the newest stored one, in memory or not.
  EXPECT_EQ(ParseTaskNumber(Submit(MakeSpec(0)).id), ParseTaskNumber(newest_done.id) + 1);

  // Within retention, finished tasks come back to memory.
  Task fresh = SubmitCancelled();
  Restart(Retaining(10s));
  EXPECT_EQ(cluster_->Counts().finished_tasks_in_memory, 1u);
  EXPECT_EQ(cluster_->Tasks().back().id, fresh.id);
}

}  // namespace
}  // namespace gpulse::master
