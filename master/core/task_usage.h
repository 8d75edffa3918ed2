// Per-task GPU usage and idleness, from the heartbeats of a running task's
// GPUs: the arithmetic, apart from Cluster so it is tested with an injected
// clock (master/core/task_usage_test.cc).
//
// Each GPU of a running task has a cursor: the time of its previous
// heartbeat (or of the task's start) and its energy counter then. A
// heartbeat adds the seconds since, weighted by the utilization it reports
// (NVML's utilization is the share of the recent past a kernel ran, so the
// newer sample describes the interval behind it).
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

struct GpuUsageCursor {
  std::optional<Clock::TimePoint> last;  // absent until the first heartbeat or the start
  std::optional<uint64_t> energy_mj;     // the energy counter at `last`, where known
};

// GPU-seconds one heartbeat added: allocated, and weighted by utilization.
struct GpuSecondsDelta {
  double allocated = 0;
  double used = 0;
};

// Adds to `usage` what `sample` of one of the task's GPUs says about the
// time since `cursor`, at monotonic `now`, and moves the cursor to `now`.
// Seconds count as allocated whatever the sample says; utilization, memory
// bandwidth and power only where it knows them (an unreadable GPU adds
// allocated seconds only). Energy is the counter's delta when both ends
// know it and it did not go back (a driver reload), else power × seconds.
// Peaks come from every sample, the first included. A cursor without
// `last` only starts (returns zeros).
GpuSecondsDelta AccumulateGpuUsage(TaskUsage& usage, GpuUsageCursor& cursor, const GpuSample& sample,
                                   Clock::TimePoint now);

// Adds `part` (usage accumulated apart, e.g. since the last fold) to
// `into`: seconds and sums add, peaks take the larger, energy adds where
// either knows it. Folding the usage of consecutive heartbeats in any
// grouping gives the same figures as accumulating them into one TaskUsage
// (up to floating-point rounding).
void MergeUsage(TaskUsage& into, const TaskUsage& part);

// Where the idleness of one running task stands.
struct IdleWatch {
  std::optional<Clock::TimePoint> below_since;  // monotonic, for the period
  std::optional<WallTime> below_since_wall;     // for users
};

enum class IdleChange { kNone, kBecameIdle, kBusyAgain };

// Judges one heartbeat of a task's GPUs (`utilizations`, absent where
// unknown): all known ones below `threshold_percent` (and at least one
// known) is idle; any at or above it is busy; none known changes nothing.
// Once idle for `period`, sets task.idle_since (to when it went below) and
// says kBecameIdle; busy again clears it and says kBusyAgain.
IdleChange UpdateIdle(Task& task, IdleWatch& watch, std::span<const std::optional<double>> utilizations,
                      double threshold_percent, Clock::Duration period, Clock::TimePoint now, WallTime wall_now);
// The same on a copy of the task's idle_since (the master keeps one beside
// each running task's per-heartbeat state and writes the task's only on a
// change).
IdleChange UpdateIdle(std::optional<WallTime>& idle_since, IdleWatch& watch,
                      std::span<const std::optional<double>> utilizations, double threshold_percent,
                      Clock::Duration period, Clock::TimePoint now, WallTime wall_now);

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
