// Pending reasons and the refusal of the impossible: FleetView on its own,
// then through Cluster (Submit's 422 and each round's reasons).
#include "master/core/pending_reason.h"

#include <gtest/gtest.h>

#include "master/core/cluster_test_util.h"
#include "testkit/status_matchers.h"

namespace gpulse::master {
namespace {

class PendingReasonTest : public ClusterFixture {
 protected:
  std::string ReasonOf(const std::string& id) {
    cluster_->Schedule();
    return Get(id).pending_reason;
  }
};

TEST_F(PendingReasonTest, WithNoWorkerATaskIsAcceptedAndSaysSo) {
  Task t = Submit(MakeSpec(8, 64, 1024 * kGiB));
  EXPECT_EQ(t.state, TaskState::kQueued);
  EXPECT_EQ(t.pending_reason, "no worker has registered yet");
  EXPECT_EQ(ReasonOf(t.id), "no worker has registered yet");
}

TEST_F(PendingReasonTest, ASubmissionNoWorkerCouldHoldIsRefusedNamingTheLargest) {
  Register(MakeRegister("a", 4, 2, 64 * kGiB));
  Register(MakeRegister("b", 2, 16, 256 * kGiB));
  auto gpus = cluster_->Submit(MakeSpec(5));
  ASSERT_FALSE(gpus.ok());
  EXPECT_EQ(gpus.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(gpus.status().message().find("no worker has 5 GPUs (largest: 4)"), std::string::npos)
      << gpus.status().message();
  EXPECT_NE(gpus.status().message().find("--allow-unfit"), std::string::npos) << gpus.status().message();

  auto cpus = cluster_->Submit(MakeSpec(0, 64));
  ASSERT_FALSE(cpus.ok());
  EXPECT_NE(cpus.status().message().find("no worker has 64 CPUs (largest: 16)"), std::string::npos)
      << cpus.status().message();

  auto memory = cluster_->Submit(MakeSpec(0, 1, 1024 * kGiB));
  ASSERT_FALSE(memory.ok());
  EXPECT_NE(memory.status().message().find("no worker has 1.0 TiB of memory (largest: 256.0 GiB)"),
            std::string::npos)
      << memory.status().message();

  // 4 GPUs fit a, 16 CPUs fit b, but no one worker has both.
  auto together = cluster_->Submit(MakeSpec(4, 16));
  ASSERT_FALSE(together.ok());
  EXPECT_NE(together.status().message().find("at once"), std::string::npos) << together.status().message();

  EXPECT_TRUE(cluster_->Tasks().empty());  // nothing was queued
  EXPECT_OK(cluster_->Submit(MakeSpec(4, 2)));  // what fits is accepted
}

TEST_F(PendingReasonTest, AllowUnfitQueuesTheImpossibleWithItsReason) {
  Register("a", 4);
  auto t = cluster_->Submit(MakeSpec(5), SubmitOptions{.allow_unfit = true});
  ASSERT_OK(t);
  EXPECT_EQ(t->pending_reason, "no worker has 5 GPUs (largest: 4)");
  EXPECT_EQ(ReasonOf(t->id), "no worker has 5 GPUs (largest: 4)");
  // A bigger worker arrives: the task runs there.
  Register("big", 8);
  cluster_->Schedule();
  EXPECT_EQ(Get(t->id).state, TaskState::kAssigned);
  EXPECT_EQ(Get(t->id).pending_reason, "");
}

TEST_F(PendingReasonTest, AQueuedTaskSaysWhatItWaitsFor) {
  Register("a", 4);
  Task first = Submit(MakeSpec(3));
  cluster_->Schedule();
  ASSERT_EQ(Get(first.id).state, TaskState::kAssigned);
  Task second = Submit(MakeSpec(2));
  EXPECT_EQ(ReasonOf(second.id), "waiting for 2 free GPUs");
  Task cpus = Submit(MakeSpec(0, 32));  // a has 32 cores; the first task holds 1
  EXPECT_EQ(ReasonOf(cpus.id), "waiting for 32 free CPUs");
  const uint64_t version = cluster_->Version();
  cluster_->Schedule();  // nothing changed: no new version for the same reasons
  EXPECT_EQ(cluster_->Version(), version);

  // Its worker dies: the reason follows.
  clock_.Advance(std::chrono::seconds(10));
  cluster_->CheckLiveness();
  ASSERT_EQ(GetWorker("a").state, WorkerState::kDead);
  EXPECT_EQ(ReasonOf(second.id), "no healthy worker");
}

TEST(FleetViewTest, UnknownCapacityRulesNothingOut) {
  Worker w;
  w.id = "w";
  w.capacity = {"w", 0, 0};  // did not say
  FleetView view({&w}, {true});
  TaskSpec spec = MakeSpec(0, 512, 1024 * kGiB);
  EXPECT_EQ(view.Unfit(spec), std::nullopt);
  EXPECT_EQ(view.PendingReason(spec), "waiting for the next scheduling round");
}

TEST(FleetViewTest, FittingWorkersThatDrainAreNamedAsSuch) {
  Worker big, small;
  big.id = "big";
  big.capacity = {"big", 32, 256 * kGiB};
  for (uint32_t i = 0; i < 4; ++i) big.gpus.push_back(RegisteredGpu({i, "GPU-" + std::to_string(i), "", "", {}}));
  big.draining = true;
  small.id = "small";
  small.capacity = {"small", 32, 256 * kGiB};
  FleetView view({&big, &small}, {true, true});
  EXPECT_EQ(view.PendingReason(MakeSpec(2)), "all fitting workers are draining");
  EXPECT_EQ(view.PendingReason(MakeSpec(0)), "waiting for the next scheduling round");
}

}  // namespace
}  // namespace gpulse::master
