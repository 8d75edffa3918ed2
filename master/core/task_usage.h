// Per-task GPU usage and idleness, from the heartbeats of a running task's
// GPUs: the arithmetic, apart from Cluster so it is tested with an injected
// clock (master/core/task_usage_test.cc).
//
// Counters, then differences. Each GPU of a worker has a counter that
// every heartbeat advances, whoever holds the GPU: seconds, utilization ×
// seconds, energy, all cumulative (NVML's utilization is the share of the
// recent past a kernel ran, so the newer sample describes the interval
// behind it). A running task keeps, per GPU, a copy of the counter's
// totals from when its count began (TaskGpu::mark); its usage is the
// difference, taken only when someone reads or stores the task. So a
// heartbeat costs the same with or without running tasks: one counter step
// per GPU, no per-task arithmetic. Peaks and the idle watch cannot be
// differenced; they restart on the GPU when a task's count begins there
// (whole GPUs: one task per GPU at a time).
//
// Pure functions on plain values; no synchronisation (Cluster calls them
// under its mutex).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

#include "common/clock.h"
#include "master/model/model.h"
#include "sample/sample.h"

namespace gpulse::master {

// The cumulative part of a GPU's counter: sums that only grow.
struct GpuUsageTotals {
  double seconds = 0;  // between heartbeats, whatever the samples said
  double utilization_gpu_sum = 0, utilization_gpu_seconds = 0;  // over the seconds utilization was known
  double utilization_memory_sum = 0, utilization_memory_seconds = 0;
  double energy_joules = 0;
  uint64_t energy_intervals = 0;  // intervals whose energy was known (0: energy unknown)
};

// One GPU's counter (one per GPU of each worker, beside worker.gpus).
struct GpuUsageCounter {
  std::optional<Clock::TimePoint> last;  // the previous step; absent until the first
  std::optional<uint64_t> energy_mj;     // the energy counter at `last`, where known
  GpuUsageTotals totals;
  // Since the last RestartCount or ResetPeaks.
  std::optional<double> peak_utilization_gpu;
  std::optional<uint64_t> peak_memory_used_bytes;
  std::optional<uint32_t> max_gpu_processes;
  std::optional<uint32_t> max_outside_processes;  // see OutsideGpulseProcesses
  // The idle watch: since when every known sample was below the threshold.
  // Cleared by a known sample at or above it; an unknown one (an unreadable
  // GPU) changes nothing. Absent when no known sample was below since.
  std::optional<Clock::TimePoint> below_since;
  bool running = false;  // held by a running task: its seconds count as allocated
};

// How many of the sample's GPU processes are outside gpulse: the number
// marked outside when at least one is, or when every process's owner is
// known (0 then means none); nullopt when the list is unknown, or some
// owners are unknown and none is known to be outside (a count where some are
// unknown is the least there are).
std::optional<uint32_t> OutsideGpulseProcesses(const GpuSample& sample);

// GPU-seconds one step added: allocated, and weighted by utilization.
struct GpuSecondsDelta {
  double allocated = 0;
  double used = 0;
};

// Advances `counter` by `sample` at monotonic `now`: the seconds since the
// previous step count whatever the sample says; utilization, memory
// bandwidth and power only where it knows them. Energy is the energy
// counter's delta when both ends know it and it did not go back (a driver
// reload), else power × seconds. Peaks and the idle watch
// (`idle_threshold_percent`) take every sample, the first included; the
// first step only starts the counter. Returns the step's GPU-seconds when
// the counter is `running`, else zeros.
GpuSecondsDelta CountGpuUsage(GpuUsageCounter& counter, const GpuSample& sample, Clock::TimePoint now,
                              double idle_threshold_percent);

// CountGpuUsage for every GPU of a worker (`counters` parallel to `gpus`,
// each with its latest sample), in one loop: the heartbeat's step. Returns
// the sum of the GPU-seconds of the `running` ones.
GpuSecondsDelta CountGpuUsage(std::span<GpuUsageCounter> counters, std::span<const WorkerGpu> gpus,
                              Clock::TimePoint now, double idle_threshold_percent);

// A task starts on the GPU at `now`: the next step counts from `now`
// (without the energy counter, unknown at that instant: power × seconds),
// and the peaks and idle watch start over.
void RestartCount(GpuUsageCounter& counter, Clock::TimePoint now);

// One GPU of a running task: its counter (null for a GPU its worker does
// not have) and the counter's totals when the task's count began or was
// last folded into the task.
struct TaskGpu {
  GpuUsageCounter* counter = nullptr;
  GpuUsageTotals mark;
};

// A running task's count begins on the counter (a task that started
// there, recovered after a master restart, or whose worker's accounts are
// rebuilt): marks its totals, starts the peaks over (what they held
// belongs to no task: a previous holder's was folded when it stopped) and
// sets it `running`.
TaskGpu BeginTaskCount(GpuUsageCounter& counter);
// The task's count on the GPU ends (after FoldUsage): no longer `running`.
void EndTaskCount(TaskGpu& gpu);

// What the task's GPUs did since their marks, as task usage: seconds and
// sums are the differences, peaks the counters'.
TaskUsage UsageSinceMarks(std::span<const TaskGpu> gpus);
// Adds UsageSinceMarks to `usage`, moves the marks to the totals and
// restarts the peaks: the GPUs count on from zero.
void FoldUsage(TaskUsage& usage, std::span<TaskGpu> gpus);

// Adds `part` (usage accumulated apart, e.g. since the last fold) to
// `into`: seconds and sums add, peaks take the larger, energy adds where
// either knows it.
void MergeUsage(TaskUsage& into, const TaskUsage& part);

enum class IdleChange { kNone, kBecameIdle, kBusyAgain };

// Judges a running task's idleness from its GPUs' idle watches at `now`:
// idle once every one of its GPUs (at least one) has been below the
// threshold for `period` (idle_since: when the last of them went below),
// busy again as soon as one is not. Sets or clears `idle_since` and says
// whether it changed. `next_check` is lowered to the earliest time the
// task could become idle, when it is not idle now.
IdleChange JudgeIdle(std::optional<WallTime>& idle_since, std::span<const TaskGpu> gpus, Clock::Duration period,
                     Clock::TimePoint now, WallTime wall_now, Clock::TimePoint& next_check);

// Allocated and used GPU-seconds of the whole cluster over a sliding
// window of up to a day, in one-minute buckets, for the efficiency figure.
class GpuSecondsWindow {
 public:
  void Add(Clock::TimePoint now, GpuSecondsDelta delta);
  // The sums over the last `span` (rounded to whole minutes, at most a day).
  GpuSecondsDelta Sum(Clock::TimePoint now, Clock::Duration span) const;

 private:
  static constexpr size_t kBuckets = 24 * 60;
  struct Bucket {
    int64_t minute = -1;
    GpuSecondsDelta sum;
  };
  std::array<Bucket, kBuckets> buckets_{};
};

}  // namespace gpulse::master
