#include "master/core/task_usage.h"

#include <gtest/gtest.h>

#include <vector>

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

constexpr double kThreshold = 5;

// A sample listing one process per entry, outside gpulse or not (nullopt:
// its owner unknown).
GpuSample WithProcesses(const std::vector<std::optional<bool>>& outside) {
  GpuSample s = At(50);
  s.processes.emplace();
  uint32_t pid = 100;
  for (const std::optional<bool>& o : outside) s.processes->push_back({pid++, std::nullopt, o});
  return s;
}

// A counter that has had its first step at the clock's time.
GpuUsageCounter Started(const ManualClock& clock) {
  GpuUsageCounter c;
  RestartCount(c, clock.Now());
  return c;
}

TEST(TaskUsageTest, EightyPercentForTenSecondsOnTwoGpusIsTwentyGpuSecondsAtMeanEighty) {
  ManualClock clock;
  GpuUsageCounter a = Started(clock), b = Started(clock);
  a.running = b.running = true;
  std::vector<TaskGpu> gpus = {{&a, a.totals}, {&b, b.totals}};
  double allocated = 0, used = 0;
  for (int i = 0; i < 10; ++i) {
    clock.Advance(seconds(1));
    for (GpuUsageCounter* c : {&a, &b}) {
      GpuSecondsDelta d = CountGpuUsage(*c, At(80), clock.Now(), kThreshold);
      allocated += d.allocated;
      used += d.used;
    }
  }
  const TaskUsage usage = UsageSinceMarks(gpus);
  EXPECT_NEAR(usage.gpu_seconds, 20, 1e-9);
  EXPECT_NEAR(usage.gpu_seconds_used, 16, 1e-9);
  EXPECT_NEAR(allocated, 20, 1e-9);
  EXPECT_NEAR(used, 16, 1e-9);
  EXPECT_NEAR(*usage.MeanUtilizationGpu(), 80, 1e-9);
  EXPECT_NEAR(*usage.MeanUtilizationMemory(), 40, 1e-9);
  EXPECT_EQ(usage.peak_utilization_gpu, 80);
  EXPECT_EQ(usage.peak_memory_used_bytes, 1000u);
  EXPECT_NEAR(*usage.energy_joules, 300 * 20, 1e-6);  // no counter: power × seconds
}

TEST(TaskUsageTest, AGpuNotHeldByARunningTaskCountsNoClusterGpuSeconds) {
  ManualClock clock;
  GpuUsageCounter c = Started(clock);
  clock.Advance(seconds(5));
  GpuSecondsDelta d = CountGpuUsage(c, At(80), clock.Now(), kThreshold);
  EXPECT_EQ(d.allocated, 0);
  EXPECT_EQ(d.used, 0);
  EXPECT_NEAR(c.totals.seconds, 5, 1e-9);  // its own counter advances all the same
}

TEST(TaskUsageTest, MeanAndPeakFollowChangingLoadAndUnknownUtilizationCountsOnlyAsAllocated) {
  ManualClock clock;
  GpuUsageCounter c = Started(clock);
  std::vector<TaskGpu> gpus = {{&c, c.totals}};
  clock.Advance(seconds(2));
  CountGpuUsage(c, At(100), clock.Now(), kThreshold);
  clock.Advance(seconds(2));
  CountGpuUsage(c, At(20), clock.Now(), kThreshold);
  clock.Advance(seconds(6));
  GpuSample lost;
  lost.error = "GPU is lost";
  CountGpuUsage(c, lost, clock.Now(), kThreshold);
  const TaskUsage usage = UsageSinceMarks(gpus);
  EXPECT_NEAR(usage.gpu_seconds, 10, 1e-9);
  EXPECT_NEAR(*usage.MeanUtilizationGpu(), 60, 1e-9);
  EXPECT_NEAR(usage.gpu_seconds_used, 2.4, 1e-9);
  EXPECT_EQ(usage.peak_utilization_gpu, 100);
}

TEST(TaskUsageTest, EnergyComesFromTheCounterWhereKnownAndPowerAfterAReset) {
  ManualClock clock;
  GpuUsageCounter c;
  std::vector<TaskGpu> gpus = {{&c, c.totals}};
  GpuSample s = At(50);
  s.energy_mj = 1'000'000;
  CountGpuUsage(c, s, clock.Now(), kThreshold);  // only starts the counter
  EXPECT_EQ(UsageSinceMarks(gpus).gpu_seconds, 0);
  EXPECT_FALSE(UsageSinceMarks(gpus).energy_joules);  // unknown, not 0 J
  clock.Advance(seconds(10));
  s.energy_mj = 1'500'000;  // 500 J, whatever power says
  CountGpuUsage(c, s, clock.Now(), kThreshold);
  EXPECT_NEAR(*UsageSinceMarks(gpus).energy_joules, 500, 1e-9);
  clock.Advance(seconds(1));
  s.energy_mj = 10;  // the driver reloaded: power × seconds for this step
  CountGpuUsage(c, s, clock.Now(), kThreshold);
  EXPECT_NEAR(*UsageSinceMarks(gpus).energy_joules, 800, 1e-9);
}

TEST(TaskUsageTest, ATaskCountsFromItsMarkAndFoldingStartsItsPeaksOver) {
  ManualClock clock;
  GpuUsageCounter c = Started(clock);
  clock.Advance(seconds(100));
  CountGpuUsage(c, At(90), clock.Now(), kThreshold);  // the GPU's previous holder
  RestartCount(c, clock.Now());
  std::vector<TaskGpu> gpus = {{&c, c.totals}};
  clock.Advance(seconds(10));
  CountGpuUsage(c, At(30), clock.Now(), kThreshold);
  EXPECT_NEAR(UsageSinceMarks(gpus).gpu_seconds, 10, 1e-9);
  EXPECT_EQ(UsageSinceMarks(gpus).peak_utilization_gpu, 30);  // not the previous holder's 90

  TaskUsage usage;
  FoldUsage(usage, gpus);
  EXPECT_NEAR(usage.gpu_seconds, 10, 1e-9);
  EXPECT_NEAR(UsageSinceMarks(gpus).gpu_seconds, 0, 1e-9);
  EXPECT_FALSE(UsageSinceMarks(gpus).peak_utilization_gpu);
  clock.Advance(seconds(5));
  CountGpuUsage(c, At(10), clock.Now(), kThreshold);
  FoldUsage(usage, gpus);
  EXPECT_NEAR(usage.gpu_seconds, 15, 1e-9);
  EXPECT_NEAR(*usage.MeanUtilizationGpu(), (30.0 * 10 + 10 * 5) / 15, 1e-9);
  EXPECT_EQ(usage.peak_utilization_gpu, 30);
}

TEST(TaskUsageTest, ProcessesOutsideGpulseCountOnlyWhereTheirOwnersAreKnown) {
  EXPECT_EQ(OutsideGpulseProcesses(WithProcesses({false, true, true})), 2u);
  EXPECT_EQ(OutsideGpulseProcesses(WithProcesses({false})), 0u);
  EXPECT_EQ(OutsideGpulseProcesses(WithProcesses({})), 0u);
  EXPECT_EQ(OutsideGpulseProcesses(WithProcesses({true, std::nullopt})), 1u);  // at least one
  EXPECT_FALSE(OutsideGpulseProcesses(WithProcesses({false, std::nullopt})));  // unknown, not 0
  EXPECT_FALSE(OutsideGpulseProcesses(At(50)));                                // no process list
}

TEST(TaskUsageTest, TheMostOutsideProcessesAtOnceOnOneGpuIsAPeakAndUnknownStaysAbsent) {
  ManualClock clock;
  GpuUsageCounter a = Started(clock);
  GpuUsageCounter b = Started(clock);
  std::vector<TaskGpu> gpus = {BeginTaskCount(a), BeginTaskCount(b)};
  clock.Advance(seconds(1));
  CountGpuUsage(a, WithProcesses({false, std::nullopt}), clock.Now(), kThreshold);
  CountGpuUsage(b, WithProcesses({std::nullopt}), clock.Now(), kThreshold);
  EXPECT_EQ(UsageSinceMarks(gpus).max_gpu_processes, 2u);
  EXPECT_FALSE(UsageSinceMarks(gpus).max_outside_processes);  // unknown, not 0

  clock.Advance(seconds(1));
  CountGpuUsage(a, WithProcesses({false, true, true}), clock.Now(), kThreshold);
  CountGpuUsage(b, WithProcesses({false, true}), clock.Now(), kThreshold);
  clock.Advance(seconds(1));
  CountGpuUsage(a, WithProcesses({false}), clock.Now(), kThreshold);
  EXPECT_EQ(UsageSinceMarks(gpus).max_outside_processes, 2u);  // the most on one GPU, not the sum

  TaskUsage usage;
  FoldUsage(usage, gpus);
  EXPECT_EQ(usage.max_outside_processes, 2u);
  EXPECT_FALSE(UsageSinceMarks(gpus).max_outside_processes);  // the peaks start over
  clock.Advance(seconds(1));
  CountGpuUsage(a, WithProcesses({true}), clock.Now(), kThreshold);
  FoldUsage(usage, gpus);
  EXPECT_EQ(usage.max_outside_processes, 2u);  // merged: the larger

  TaskUsage none;
  MergeUsage(none, TaskUsage{});
  EXPECT_FALSE(none.max_outside_processes);
  MergeUsage(none, usage);
  EXPECT_EQ(none.max_outside_processes, 2u);
}

TEST(TaskUsageTest, IdleAfterThePeriodBelowTheThresholdAndBusyAgainClearsIt) {
  ManualClock clock;
  GpuUsageCounter a = Started(clock), b = Started(clock);
  std::vector<TaskGpu> gpus = {{&a, a.totals}, {&b, b.totals}};
  std::optional<WallTime> idle_since;
  const auto period = std::chrono::duration_cast<Clock::Duration>(seconds(30));
  // One heartbeat of both GPUs, then the judgement.
  auto beat = [&](std::optional<double> ua, std::optional<double> ub) {
    GpuSample sa = At(ua.value_or(0)), sb = At(ub.value_or(0));
    if (!ua) sa.utilization_gpu.reset();
    if (!ub) sb.utilization_gpu.reset();
    CountGpuUsage(a, sa, clock.Now(), kThreshold);
    CountGpuUsage(b, sb, clock.Now(), kThreshold);
    Clock::TimePoint next = Clock::TimePoint::max();
    return JudgeIdle(idle_since, gpus, period, clock.Now(), clock.WallNow(), next);
  };
  EXPECT_EQ(beat(1.0, 4.9), IdleChange::kNone);
  const WallTime went_low = clock.WallNow();
  clock.Advance(seconds(29));
  EXPECT_EQ(beat(1.0, 4.9), IdleChange::kNone);
  EXPECT_EQ(beat(std::nullopt, std::nullopt), IdleChange::kNone);  // unknown changes nothing
  clock.Advance(seconds(1));
  EXPECT_EQ(beat(1.0, 4.9), IdleChange::kBecameIdle);
  EXPECT_EQ(idle_since, went_low);
  EXPECT_EQ(beat(1.0, 4.9), IdleChange::kNone);
  EXPECT_EQ(beat(1.0, 5.0), IdleChange::kBusyAgain);
  EXPECT_FALSE(idle_since);
  // Busy restarted the period.
  clock.Advance(seconds(1));
  EXPECT_EQ(beat(1.0, 4.9), IdleChange::kNone);
  clock.Advance(seconds(29));
  EXPECT_EQ(beat(1.0, 4.9), IdleChange::kNone);
}

TEST(TaskUsageTest, AGpuNeverKnownSinceTheStartKeepsTheTaskFromIdle) {
  ManualClock clock;
  GpuUsageCounter a = Started(clock), b = Started(clock);
  std::vector<TaskGpu> gpus = {{&a, a.totals}, {&b, b.totals}};
  std::optional<WallTime> idle_since;
  GpuSample unknown = At(0);
  unknown.utilization_gpu.reset();
  Clock::TimePoint next = Clock::TimePoint::max();
  for (int i = 0; i < 5; ++i) {
    CountGpuUsage(a, At(0), clock.Now(), kThreshold);
    CountGpuUsage(b, unknown, clock.Now(), kThreshold);
    EXPECT_EQ(JudgeIdle(idle_since, gpus, seconds(10), clock.Now(), clock.WallNow(), next), IdleChange::kNone);
    clock.Advance(seconds(10));
  }
}

TEST(TaskUsageTest, TheNextCheckIsWhenTheTaskCouldFirstBecomeIdle) {
  ManualClock clock;
  GpuUsageCounter a = Started(clock);
  std::vector<TaskGpu> gpus = {{&a, a.totals}};
  std::optional<WallTime> idle_since;
  const Clock::Duration period = seconds(60);
  Clock::TimePoint next = Clock::TimePoint::max();
  CountGpuUsage(a, At(50), clock.Now(), kThreshold);  // busy: a period after a later heartbeat at the soonest
  JudgeIdle(idle_since, gpus, period, clock.Now(), clock.WallNow(), next);
  EXPECT_EQ(next, clock.Now() + period);
  clock.Advance(seconds(10));
  const Clock::TimePoint went_low = clock.Now();
  CountGpuUsage(a, At(1), clock.Now(), kThreshold);
  next = Clock::TimePoint::max();
  JudgeIdle(idle_since, gpus, period, clock.Now(), clock.WallNow(), next);
  EXPECT_EQ(next, went_low + period);
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
