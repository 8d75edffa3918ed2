// Cluster: the API's pages of tasks (newest first, filters, cursors) and
// of workers (by id).
#include <gtest/gtest.h>

#include "master/core/cluster_test_util.h"

namespace gpulse::master {
namespace {

using ClusterPagingTest = ClusterFixture;

Cluster::TaskQuery Query(size_t limit, uint64_t before = 0, std::optional<TaskState> state = std::nullopt,
                         std::string worker = "") {
  return Cluster::TaskQuery{.state = state, .worker = std::move(worker), .before = before, .limit = limit};
}

// The page; a store error fails the test.
Cluster::TaskPage PageOf(const Cluster& cluster, const Cluster::TaskQuery& query) {
  Result<Cluster::TaskPage> page = cluster.PageTasks(query);
  EXPECT_TRUE(page.ok()) << page.status().ToString();
  return page.ok() ? std::move(*page) : Cluster::TaskPage{};
}

std::vector<std::string> Ids(const std::vector<Task>& tasks) {
  std::vector<std::string> ids;
  for (const Task& t : tasks) ids.push_back(t.id);
  return ids;
}

TEST_F(ClusterPagingTest, PagesWalkEveryTaskOnceNewestFirst) {
  std::vector<std::string> submitted;
  for (int i = 0; i < 7; ++i) submitted.push_back(Submit(MakeSpec(0, 1, kGiB)).id);
  std::vector<std::string> seen;
  Cluster::TaskQuery q = Query(3);
  int pages = 0;
  do {
    Cluster::TaskPage page = PageOf(*cluster_, q);
    ASSERT_LE(page.tasks.size(), 3u);
    for (const auto& id : Ids(page.tasks)) seen.push_back(id);
    q.before = page.next_before;
    ++pages;
  } while (q.before != 0 && pages < 10);
  EXPECT_EQ(pages, 3);
  std::vector<std::string> newest_first(submitted.rbegin(), submitted.rend());
  EXPECT_EQ(seen, newest_first);
}

TEST_F(ClusterPagingTest, AFullLastPageSaysThereIsNoNextOne) {
  for (int i = 0; i < 4; ++i) Submit(MakeSpec(0, 1, kGiB));
  Cluster::TaskPage first = PageOf(*cluster_, Query(2));
  ASSERT_NE(first.next_before, 0u);
  Cluster::TaskPage second = PageOf(*cluster_, Query(2, first.next_before));
  EXPECT_EQ(second.tasks.size(), 2u);
  EXPECT_EQ(second.next_before, 0u);
}

TEST_F(ClusterPagingTest, FiltersByStateAndWorker) {
  Register("w1", 1);
  Task runs = Submit(MakeSpec(1, 1, kGiB));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  Task waits = Submit(MakeSpec(1, 1, kGiB));  // no GPU left
  cluster_->Schedule();

  EXPECT_EQ(Ids(PageOf(*cluster_, Query(100, 0, TaskState::kQueued)).tasks), std::vector<std::string>{waits.id});
  EXPECT_EQ(Ids(PageOf(*cluster_, Query(100, 0, TaskState::kAssigned)).tasks), std::vector<std::string>{runs.id});
  EXPECT_EQ(Ids(PageOf(*cluster_, Query(100, 0, std::nullopt, "w1")).tasks), std::vector<std::string>{runs.id});
  EXPECT_TRUE(PageOf(*cluster_, Query(100, 0, std::nullopt, "w2")).tasks.empty());
  EXPECT_EQ(Ids(PageOf(*cluster_, Query(100)).tasks), (std::vector<std::string>{waits.id, runs.id}));
}

TEST_F(ClusterPagingTest, WorkerPagesFollowTheIds) {
  for (const char* id : {"c", "a", "b"}) Register(id, 1);
  Cluster::WorkerPage first = cluster_->PageWorkers("", 2);
  ASSERT_EQ(first.workers.size(), 2u);
  EXPECT_EQ(first.workers[0].id, "a");
  EXPECT_EQ(first.workers[1].id, "b");
  EXPECT_TRUE(first.more);
  Cluster::WorkerPage rest = cluster_->PageWorkers("b", 2);
  ASSERT_EQ(rest.workers.size(), 1u);
  EXPECT_EQ(rest.workers[0].id, "c");
  EXPECT_FALSE(rest.more);
}

}  // namespace
}  // namespace gpulse::master
