// Cluster::Schedule: capacity, order, least-loaded choice, and rounds.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "master/core/cluster_test_util.h"

namespace gpulse::master {
namespace {

using namespace std::chrono_literals;

using ClusterScheduleTest = ClusterFixture;

TEST_F(ClusterScheduleTest, NothingToPlaceOrNowhereToPlaceIt) {
  EXPECT_EQ(cluster_->Schedule(), 0u);
  Task t = Submit(MakeSpec(1));
  EXPECT_EQ(cluster_->Schedule(), 0u);
  Register("w1", 1);
  EXPECT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(t.id).worker_id, "w1");
}

TEST_F(ClusterScheduleTest, ThreeGpuTaskWaitsForAWorkerWithThreeGpus) {
  Register("small-a", 2);
  Register("small-b", 2);
  auto submitted = cluster_->Submit(MakeSpec(3), SubmitOptions{.allow_unfit = true});  // waits for a bigger one
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  Task big = *submitted;
  EXPECT_EQ(cluster_->Schedule(), 0u);
  clock_.Advance(2s);  // even a periodic round finds no room
  Beat("small-a", {0, 0});
  Beat("small-b", {0, 0});
  EXPECT_EQ(cluster_->Schedule(), 0u);
  EXPECT_EQ(Get(big.id).state, TaskState::kQueued);

  Register("big", 4);
  EXPECT_EQ(cluster_->Schedule(), 1u);
  Task placed = Get(big.id);
  EXPECT_EQ(placed.worker_id, "big");
  EXPECT_EQ(placed.gpu_indices.size(), 3u);
  EXPECT_EQ(std::set<uint32_t>(placed.gpu_indices.begin(), placed.gpu_indices.end()).size(), 3u);
}

TEST_F(ClusterScheduleTest, ATaskThatDoesNotFitDoesNotHoldBackSmallerOnes) {
  Register("w1", 2, 8);
  const SubmitOptions wait{.allow_unfit = true};  // neither fits any worker: asked to wait
  Task huge = cluster_->Submit(MakeSpec(4), wait).value();
  Task hungry = cluster_->Submit(MakeSpec(1, 64), wait).value();  // more CPUs than any worker has
  Task small = Submit(MakeSpec(1));
  Task tiny = Submit(MakeSpec(0));
  EXPECT_EQ(cluster_->Schedule(), 2u);
  EXPECT_EQ(Get(huge.id).state, TaskState::kQueued);
  EXPECT_EQ(Get(hungry.id).state, TaskState::kQueued);
  EXPECT_EQ(Get(small.id).state, TaskState::kAssigned);
  EXPECT_EQ(Get(tiny.id).state, TaskState::kAssigned);
}

TEST_F(ClusterScheduleTest, EarlierTasksAreServedFirst) {
  Register("w1", 2);
  Task first = Submit(MakeSpec(2));
  Task second = Submit(MakeSpec(1));
  EXPECT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(first.id).state, TaskState::kAssigned);
  EXPECT_EQ(Get(second.id).state, TaskState::kQueued);
}

TEST_F(ClusterScheduleTest, CpusAndMemoryAreRespected) {
  Register(MakeRegister("w1", 0, 8, 32 * kGiB));
  Task a = Submit(MakeSpec(0, 6, 8 * kGiB));
  Task b = Submit(MakeSpec(0, 4, 8 * kGiB));   // too many CPUs once a runs
  Task c = Submit(MakeSpec(0, 2, 30 * kGiB));  // too much memory once a runs
  Task d = Submit(MakeSpec(0, 2, 24 * kGiB));  // exactly what is left
  EXPECT_EQ(cluster_->Schedule(), 2u);
  EXPECT_EQ(Get(a.id).state, TaskState::kAssigned);
  EXPECT_EQ(Get(b.id).state, TaskState::kQueued);
  EXPECT_EQ(Get(c.id).state, TaskState::kQueued);
  EXPECT_EQ(Get(d.id).state, TaskState::kAssigned);
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.cpus_allocated, 8u);
  EXPECT_EQ(w.memory_allocated, 32 * kGiB);
}

TEST_F(ClusterScheduleTest, TheLeastLoadedGpuIsChosen) {
  Register("w1", 4);
  Beat("w1", {90, 60, 5, 30});
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(t.id).gpu_indices, std::vector<uint32_t>{2});
  EXPECT_EQ(Get(t.id).gpu_uuids, std::vector<std::string>{"GPU-w1-2"});
  Task u = Submit(MakeSpec(2));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(u.id).gpu_indices, (std::vector<uint32_t>{1, 3}));  // the two idlest, in index order
}

TEST_F(ClusterScheduleTest, TheWorkerWithTheIdlestGpusIsChosen) {
  Register("a", 2);
  Register("b", 2);
  Register("c", 2);
  Beat("a", {70, 80});
  Beat("b", {20, 10});
  Beat("c", {40, 40});
  Task first = Submit(MakeSpec(1));
  Task pair = Submit(MakeSpec(2));
  Task next = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 3u);
  EXPECT_EQ(Get(first.id).worker_id, "b");
  EXPECT_EQ(Get(first.id).gpu_indices, std::vector<uint32_t>{1});
  EXPECT_EQ(Get(pair.id).worker_id, "c");  // b has one GPU left
  EXPECT_EQ(Get(next.id).worker_id, "b");
}

TEST_F(ClusterScheduleTest, CpuOnlyTasksSpreadOverTheLeastCpuLoadedWorkers) {
  Register("a", 0, 16);
  Register("b", 0, 16);
  Beat("a", {}, 90);
  Beat("b", {}, 5);
  std::vector<Task> tasks;
  for (int i = 0; i < 4; ++i) tasks.push_back(Submit(MakeSpec(0, 4)));
  ASSERT_EQ(cluster_->Schedule(), 4u);
  EXPECT_EQ(GetWorker("b").cpus_allocated, 16u);  // a is 90 % busy: b until b is as loaded
  EXPECT_EQ(GetWorker("a").cpus_allocated, 0u);
  Task more = Submit(MakeSpec(0, 4));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Get(more.id).worker_id, "a");
}

TEST_F(ClusterScheduleTest, OnlyHealthyConnectedWorkersGetTasks) {
  Register("suspect", 1);
  clock_.Advance(1600ms);
  cluster_->CheckLiveness();
  Register("gone", 1);
  cluster_->DisconnectWorker("gone", &Channel("gone"));
  Submit(MakeSpec(1));
  EXPECT_EQ(cluster_->Schedule(), 0u);
  Beat("suspect", {0});
  EXPECT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Channel("suspect").assigns.size(), 1u);
}

TEST_F(ClusterScheduleTest, ARoundThatCannotBeStoredAssignsNothingAndIsRetried) {
  Register("w1", 2);
  Task t = Submit(MakeSpec(1));
  store_.fail_writes = true;
  EXPECT_EQ(cluster_->Schedule(), 0u);
  EXPECT_EQ(Get(t.id).state, TaskState::kQueued);
  EXPECT_TRUE(Channel("w1").assigns.empty());
  EXPECT_EQ(GetWorker("w1").gpus_allocated(), 0u);
  EXPECT_EQ(GetWorker("w1").cpus_allocated, 0u);
  store_.fail_writes = false;
  EXPECT_EQ(cluster_->Schedule(), 1u);
  EXPECT_EQ(Channel("w1").assigns.size(), 1u);
}

TEST_F(ClusterScheduleTest, ARoundPlacesAtMostItsCapAndTheNextCallGoesOn) {
  ClusterConfig config = WithoutLease();
  config.max_placements_per_round = 3;
  Restart(config);
  Register("w1", 8);
  for (int i = 0; i < 8; ++i) Submit(MakeSpec(1));
  EXPECT_EQ(cluster_->Schedule(), 3u);
  EXPECT_EQ(cluster_->Schedule(), 3u);  // no change in between, yet it goes on
  EXPECT_EQ(cluster_->Schedule(), 2u);
  EXPECT_EQ(cluster_->Schedule(), 0u);
  auto assigned = cluster_->Tasks(TaskState::kAssigned);
  ASSERT_EQ(assigned.size(), 8u);
  EXPECT_EQ(Channel("w1").assigns.front().id, "t-000001");  // still in submission order
  EXPECT_EQ(Channel("w1").assigns.back().id, "t-000008");
}

// A policy that does not rank: the first candidate that fits, lowest GPUs.
class FirstFitPolicy final : public PlacementPolicy {
 public:
  std::optional<Placement> Place(const TaskSpec& spec, std::span<const Worker* const> candidates) override {
    for (const Worker* w : candidates) {
      if (!FitsNow(spec, *w)) continue;
      Placement p{w, {}};
      for (size_t i = 0; i < w->gpus.size() && p.gpu_positions.size() < spec.gpus; ++i) {
        if (IsUsable(w->gpus[i])) p.gpu_positions.push_back(i);
      }
      return p;
    }
    return std::nullopt;
  }
};

TEST_F(ClusterScheduleTest, PoliciesThatDoNotRankAreOfferedEveryCandidate) {
  FirstFitPolicy first_fit;
  Cluster cluster(store_, first_fit, clock_);
  ASSERT_TRUE(cluster.Recover().ok());
  FakeWorkerChannel b, a;
  ASSERT_TRUE(cluster.RegisterWorker(MakeRegister("b", 2), &b).ok());
  ASSERT_TRUE(cluster.RegisterWorker(MakeRegister("a", 2), &a).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(cluster.Submit(MakeSpec(1)).ok());
  EXPECT_EQ(cluster.Schedule(), 4u);
  ASSERT_EQ(a.assigns.size(), 2u);  // candidates come sorted by id
  EXPECT_EQ(a.assigns[0].gpu_indices, std::vector<uint32_t>{0});
  EXPECT_EQ(a.assigns[1].gpu_indices, std::vector<uint32_t>{1});
  EXPECT_EQ(b.assigns.size(), 2u);
}

TEST_F(ClusterScheduleTest, ManyTasksNeverOverbookAWorker) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    std::string id = "w" + std::to_string(i);
    Register(MakeRegister(id, 1 + i % 8, 16, 64 * kGiB));
    std::vector<double> util;
    for (int g = 0; g < 1 + i % 8; ++g) util.push_back(std::uniform_real_distribution<double>(0, 100)(rng));
    Beat(id, util);
  }
  for (int i = 0; i < 300; ++i) {
    Submit(MakeSpec(static_cast<uint32_t>(rng() % 4), 1 + static_cast<uint32_t>(rng() % 6), (rng() % 16) * kGiB));
  }
  size_t placed = cluster_->Schedule();
  EXPECT_GT(placed, 20u);
  EXPECT_EQ(cluster_->Tasks(TaskState::kAssigned).size(), placed);

  std::map<std::string, std::vector<Task>> by_worker;
  for (const Task& t : cluster_->Tasks(TaskState::kAssigned)) by_worker[t.worker_id].push_back(t);
  for (const Worker& w : cluster_->Workers()) {
    uint32_t cpus = 0;
    uint64_t memory = 0;
    std::set<uint32_t> gpus;
    for (const Task& t : by_worker[w.id]) {
      cpus += t.spec.cpus;
      memory += t.spec.memory_bytes;
      ASSERT_EQ(t.gpu_indices.size(), t.spec.gpus);
      for (uint32_t g : t.gpu_indices) {
        EXPECT_TRUE(gpus.insert(g).second) << "GPU " << g << " of " << w.id << " given twice";
        EXPECT_EQ(w.gpus[g].allocated_to, t.id);
      }
    }
    EXPECT_LE(cpus, w.capacity.cpu_cores);
    EXPECT_LE(memory, w.capacity.memory_bytes);
    EXPECT_EQ(cpus, w.cpus_allocated);
    EXPECT_EQ(memory, w.memory_allocated);
    EXPECT_EQ(gpus.size(), w.gpus_allocated());
  }
  // Whatever is left does not fit anywhere now.
  for (const Task& t : cluster_->Tasks(TaskState::kQueued)) {
    for (const Worker& w : cluster_->Workers()) EXPECT_FALSE(FitsNow(t.spec, w)) << t.id << " fits " << w.id;
  }
}

}  // namespace
}  // namespace gpulse::master
