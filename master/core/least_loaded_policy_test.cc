#include <gtest/gtest.h>

#include <vector>

#include "master/core/placement.h"

namespace gpulse::master {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

// A worker with one GPU per utilization given (nullopt: unknown), all
// 80 GiB with `free_gib` free.
Worker MakeWorker(const std::string& id, const std::vector<std::optional<double>>& utilizations,
                  uint64_t free_gib = 80) {
  Worker w;
  w.id = id;
  w.capacity = {id + ".example", 32, 256 * kGiB};
  w.state = WorkerState::kHealthy;
  w.connected = true;
  for (size_t i = 0; i < utilizations.size(); ++i) {
    WorkerGpu g;
    g.identity = {static_cast<uint32_t>(i), id + "-gpu" + std::to_string(i), "", "", 80 * kGiB};
    g.live.identity = g.identity;
    g.live.utilization_gpu = utilizations[i];
    g.live.memory_free_bytes = free_gib * kGiB;
    w.gpus.push_back(g);
  }
  return w;
}

TaskSpec Spec(uint32_t gpus, uint32_t cpus = 1, uint64_t memory = kGiB) {
  TaskSpec s;
  s.argv = {"x"};
  s.gpus = gpus;
  s.cpus = cpus;
  s.memory_bytes = memory;
  return s;
}

class LeastLoadedPolicyTest : public ::testing::Test {
 protected:
  std::optional<Placement> Place(const TaskSpec& spec, const std::vector<const Worker*>& candidates) {
    return policy_->Place(spec, candidates);
  }
  std::unique_ptr<PlacementPolicy> policy_ = NewLeastLoadedPolicy();
};

TEST_F(LeastLoadedPolicyTest, PicksTheLeastUtilizedGpu) {
  Worker w = MakeWorker("w1", {90, 10, 50, 70});
  auto p = Place(Spec(1), {&w});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->worker, &w);
  EXPECT_EQ(p->gpu_positions, std::vector<size_t>{1});
}

TEST_F(LeastLoadedPolicyTest, DegradedGpuIsChosenLastAndUnhealthyNever) {
  Worker w = MakeWorker("w1", {90, 10, 50});
  w.gpus[1].health = GpuHealth::kDegraded;  // idle, but throttled by heat
  w.gpus[2].health = GpuHealth::kUnhealthy;
  auto p = Place(Spec(1), {&w});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->gpu_positions, std::vector<size_t>{0});
  p = Place(Spec(2), {&w});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->gpu_positions, (std::vector<size_t>{0, 1}));
  EXPECT_FALSE(Place(Spec(3), {&w}));  // the unhealthy GPU is not usable
}

TEST_F(LeastLoadedPolicyTest, MultiGpuTaskGetsTheCheapestSetCheapestFirst) {
  Worker w = MakeWorker("w1", {90, 10, 50, 5});
  auto p = Place(Spec(3), {&w});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->gpu_positions, (std::vector<size_t>{3, 1, 2}));
}

TEST_F(LeastLoadedPolicyTest, PrefersMoreFreeMemoryAtEqualUtilization) {
  Worker w = MakeWorker("w1", {0, 0});
  w.gpus[0].live.memory_free_bytes = 10 * kGiB;  // someone holds 70 GiB of it
  auto p = Place(Spec(1), {&w});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->gpu_positions, std::vector<size_t>{1});
}

TEST_F(LeastLoadedPolicyTest, UnknownUtilizationRanksBetweenIdleAndBusy) {
  Worker w = MakeWorker("w1", {95, std::nullopt, 20});
  auto p = Place(Spec(2), {&w});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->gpu_positions, (std::vector<size_t>{2, 1}));
}

TEST_F(LeastLoadedPolicyTest, SkipsUnhealthyAndAllocatedGpus) {
  Worker w = MakeWorker("w1", {0, 0, 80});
  w.gpus[0].healthy = false;
  w.gpus[1].allocated_to = "t-000001";
  auto p = Place(Spec(1), {&w});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->gpu_positions, std::vector<size_t>{2});
  EXPECT_FALSE(Place(Spec(2), {&w}));
}

TEST_F(LeastLoadedPolicyTest, ChoosesTheWorkerWhoseChosenGpusScoreBest) {
  Worker busy = MakeWorker("a", {60, 70, 80, 90});
  Worker idle = MakeWorker("b", {5, 99, 99, 99});
  Worker pair = MakeWorker("c", {20, 20, 99, 99});
  auto one = Place(Spec(1), {&busy, &idle, &pair});
  ASSERT_TRUE(one);
  EXPECT_EQ(one->worker, &idle);
  auto two = Place(Spec(2), {&busy, &idle, &pair});
  ASSERT_TRUE(two);
  EXPECT_EQ(two->worker, &pair);
}

TEST_F(LeastLoadedPolicyTest, RespectsFreeCpusAndMemory) {
  Worker w = MakeWorker("w1", {0});
  w.cpus_allocated = 30;
  w.memory_allocated = 200 * kGiB;
  EXPECT_TRUE(Place(Spec(1, 2, 56 * kGiB), {&w}));
  EXPECT_FALSE(Place(Spec(1, 3, kGiB), {&w}));
  EXPECT_FALSE(Place(Spec(1, 1, 57 * kGiB), {&w}));
  EXPECT_FALSE(Place(Spec(2), {&w}));
  EXPECT_FALSE(Place(Spec(0), {}));
}

TEST_F(LeastLoadedPolicyTest, CpuOnlyTaskGoesToTheLeastCpuLoadedWorker) {
  Worker a = MakeWorker("a", {0});
  Worker b = MakeWorker("b", {});
  Worker c = MakeWorker("c", {});
  a.cpus_allocated = 16;        // half booked
  b.host.cpu_percent = 80;      // nothing booked, but busy
  c.cpus_allocated = 8;         // a quarter booked, live 10 %
  c.host.cpu_percent = 10;
  auto p = Place(Spec(0), {&a, &b, &c});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->worker, &c);
  EXPECT_TRUE(p->gpu_positions.empty());
}

TEST_F(LeastLoadedPolicyTest, TiesGoToTheEarlierCandidateAndLowerPosition) {
  Worker a = MakeWorker("a", {10, 10});
  Worker b = MakeWorker("b", {10, 10});
  auto p = Place(Spec(1), {&b, &a});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->worker, &b);
  EXPECT_EQ(p->gpu_positions, std::vector<size_t>{0});
}

TEST_F(LeastLoadedPolicyTest, RankCostAgreesWithPlace) {
  ASSERT_TRUE(policy_->RanksWorkers());
  Worker a = MakeWorker("a", {40, 40});
  Worker b = MakeWorker("b", {10, 90});
  auto ca = policy_->RankCost(a, 1), cb = policy_->RankCost(b, 1);
  ASSERT_TRUE(ca && cb);
  EXPECT_LT(*cb, *ca);
  EXPECT_EQ(Place(Spec(1), {&a, &b})->worker, &b);
  auto ca2 = policy_->RankCost(a, 2), cb2 = policy_->RankCost(b, 2);
  ASSERT_TRUE(ca2 && cb2);
  EXPECT_LT(*ca2, *cb2);
  EXPECT_EQ(Place(Spec(2), {&a, &b})->worker, &a);
  EXPECT_FALSE(policy_->RankCost(a, 3));
  EXPECT_TRUE(policy_->RankCost(a, 0));
}

TEST(PlacementHelpersTest, FitsNowCountsOnlyUsableGpus) {
  Worker w = MakeWorker("w", {0, 0, 0});
  w.gpus[0].healthy = false;
  w.gpus[1].allocated_to = "t-1";
  EXPECT_EQ(UsableGpuCount(w), 1u);
  EXPECT_TRUE(FitsNow(Spec(1), w));
  EXPECT_FALSE(FitsNow(Spec(2), w));
}

}  // namespace
}  // namespace gpulse::master
