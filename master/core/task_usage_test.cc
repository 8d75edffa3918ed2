#include "master/core/task_usage.h"

#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

using std::chrono::seconds;

GpuSample At(double utilization) {
  GpuSample s;
  s.utilization_gpu = utilization;
  s.utilization_memory = utilization / 2;
  s.memory_used_bytes = 1000;
  s.power_w = 300;
  return s;
}

TEST(TaskUsageTest, EightyPercentForTenSecondsOnTwoGpusIsTwentyGpuSecondsAtMeanEighty) {
  ManualClock clock;
  TaskUsage usage;
  GpuUsageCursor a{clock.Now(), std::nullopt}, b{clock.Now(), std::nullopt};
  double used = 0;
  for (int i = 0; i < 10; ++i) {
    clock.Advance(seconds(1));
    used += AccumulateGpuUsage(usage, a, At(80), clock.Now()).used;
    used += AccumulateGpuUsage(usage, b, At(80), clock.Now()).used;
  }
  EXPECT_NEAR(usage.gpu_seconds, 20, 1e-9);
  EXPECT_NEAR(usage.gpu_seconds_used, 16, 1e-9);
  EXPECT_NEAR(used, 16, 1e-9);
  EXPECT_NEAR(*usage.MeanUtilizationGpu(), 80, 1e-9);
  EXPECT_NEAR(*usage.MeanUtilizationMemory(), 40, 1e-9);
  EXPECT_EQ(usage.peak_utilization_gpu, 80);
  EXPECT_EQ(usage.peak_memory_used_bytes, 1000u);
  EXPECT_NEAR(*usage.energy_joules, 300 * 20, 1e-6);  // no counter: power × seconds
}

TEST(TaskUsageTest, MeanAndPeakFollowChangingLoadAndUnknownUtilizationCountsOnlyAsAllocated) {
  ManualClock clock;
  TaskUsage usage;
  GpuUsageCursor c{clock.Now(), std::nullopt};
  clock.Advance(seconds(2));
  AccumulateGpuUsage(usage, c, At(100), clock.Now());
  clock.Advance(seconds(2));
  AccumulateGpuUsage(usage, c, At(20), clock.Now());
  clock.Advance(seconds(6));
  GpuSample lost;
  lost.error = "GPU is lost";
  AccumulateGpuUsage(usage, c, lost, clock.Now());
  EXPECT_NEAR(usage.gpu_seconds, 10, 1e-9);
  EXPECT_NEAR(*usage.MeanUtilizationGpu(), 60, 1e-9);
  EXPECT_NEAR(usage.gpu_seconds_used, 2.4, 1e-9);
  EXPECT_EQ(usage.peak_utilization_gpu, 100);
}

TEST(TaskUsageTest, EnergyComesFromTheCounterWhereKnownAndPowerAfterAReset) {
  ManualClock clock;
  TaskUsage usage;
  GpuUsageCursor c;
  GpuSample s = At(50);
  s.energy_mj = 1'000'000;
  EXPECT_EQ(AccumulateGpuUsage(usage, c, s, clock.Now()).allocated, 0);  // only starts the cursor
  EXPECT_FALSE(usage.energy_joules);
  clock.Advance(seconds(10));
  s.energy_mj = 1'500'000;  // 500 J, whatever power says
  AccumulateGpuUsage(usage, c, s, clock.Now());
  EXPECT_NEAR(*usage.energy_joules, 500, 1e-9);
  clock.Advance(seconds(1));
  s.energy_mj = 10;  // the driver reloaded: power × seconds for this step
  AccumulateGpuUsage(usage, c, s, clock.Now());
  EXPECT_NEAR(*usage.energy_joules, 800, 1e-9);
}

TEST(TaskUsageTest, IdleAfterThePeriodBelowTheThresholdAndBusyAgainClearsIt) {
  ManualClock clock;
  Task task;
  IdleWatch watch;
  const auto period = std::chrono::duration_cast<Clock::Duration>(seconds(30));
  std::vector<std::optional<double>> low = {1.0, 4.9}, mixed = {1.0, 5.0}, unknown = {std::nullopt};
  EXPECT_EQ(UpdateIdle(task, watch, low, 5, period, clock.Now(), clock.WallNow()), IdleChange::kNone);
  const WallTime went_low = clock.WallNow();
  clock.Advance(seconds(29));
  EXPECT_EQ(UpdateIdle(task, watch, low, 5, period, clock.Now(), clock.WallNow()), IdleChange::kNone);
  EXPECT_EQ(UpdateIdle(task, watch, unknown, 5, period, clock.Now(), clock.WallNow()), IdleChange::kNone);
  clock.Advance(seconds(1));
  EXPECT_EQ(UpdateIdle(task, watch, low, 5, period, clock.Now(), clock.WallNow()), IdleChange::kBecameIdle);
  EXPECT_EQ(task.idle_since, went_low);
  EXPECT_EQ(UpdateIdle(task, watch, low, 5, period, clock.Now(), clock.WallNow()), IdleChange::kNone);
  EXPECT_EQ(UpdateIdle(task, watch, mixed, 5, period, clock.Now(), clock.WallNow()), IdleChange::kBusyAgain);
  EXPECT_FALSE(task.idle_since);
  // Busy restarted the period.
  clock.Advance(seconds(1));
  EXPECT_EQ(UpdateIdle(task, watch, low, 5, period, clock.Now(), clock.WallNow()), IdleChange::kNone);
  clock.Advance(seconds(29));
  EXPECT_EQ(UpdateIdle(task, watch, low, 5, period, clock.Now(), clock.WallNow()), IdleChange::kNone);
}

TEST(TaskUsageTest, WindowSumsTheLastHourAndDay) {
  ManualClock clock;
  GpuSecondsWindow window;
  window.Add(clock.Now(), {100, 50});
  clock.Advance(std::chrono::hours(2));
  window.Add(clock.Now(), {10, 1});
  GpuSecondsDelta hour = window.Sum(clock.Now(), std::chrono::hours(1));
  GpuSecondsDelta day = window.Sum(clock.Now(), std::chrono::hours(24));
  EXPECT_EQ(hour.allocated, 10);
  EXPECT_EQ(hour.used, 1);
  EXPECT_EQ(day.allocated, 110);
  EXPECT_EQ(day.used, 51);
  clock.Advance(std::chrono::hours(25));
  EXPECT_EQ(window.Sum(clock.Now(), std::chrono::hours(24)).allocated, 0);
}

}  // namespace
}  // namespace gpulse::master
