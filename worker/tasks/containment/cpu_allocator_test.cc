#include "worker/tasks/containment/cpu_allocator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpulse::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(CpuAllocatorTest, RunningTasksGetDisjointCoresWhileThereAreEnough) {
  CpuAllocator cpus({0, 1, 2, 3});
  EXPECT_THAT(cpus.Take(1), ElementsAre(0));
  EXPECT_THAT(cpus.Take(2), ElementsAre(1, 2));
  EXPECT_THAT(cpus.Take(1), ElementsAre(3));
  // All held once: sharing starts with the lowest ids.
  EXPECT_THAT(cpus.Take(2), ElementsAre(0, 1));
}

TEST(CpuAllocatorTest, GivenBackCoresAreReusedFirst) {
  CpuAllocator cpus({4, 5, 6});
  std::vector<int> first = cpus.Take(2);
  EXPECT_THAT(first, ElementsAre(4, 5));
  EXPECT_THAT(cpus.Take(1), ElementsAre(6));
  cpus.Give(first);
  EXPECT_THAT(cpus.Take(2), ElementsAre(4, 5));
}

TEST(CpuAllocatorTest, ZeroMeansUnpinnedAndTooManyMeansAll) {
  CpuAllocator cpus({0, 1});
  EXPECT_THAT(cpus.Take(0), IsEmpty());
  EXPECT_THAT(cpus.Take(8), ElementsAre(0, 1));
  cpus.Give({7});  // unknown: ignored
  EXPECT_EQ(cpus.size(), 2u);
}

TEST(CpuAllocatorTest, CurrentAffinityListsThisThreadsCores) {
  std::vector<int> cores = CurrentAffinity();
  EXPECT_FALSE(cores.empty());
  EXPECT_TRUE(std::is_sorted(cores.begin(), cores.end()));
}

}  // namespace
}  // namespace gpulse::worker
