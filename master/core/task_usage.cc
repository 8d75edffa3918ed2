#include "master/core/task_usage.h"

#include <algorithm>

namespace gpulse::master {

GpuSecondsDelta AccumulateGpuUsage(TaskUsage& usage, GpuUsageCursor& cursor, const GpuSample& sample,
                                   Clock::TimePoint now) {
  if (sample.utilization_gpu) {
    usage.peak_utilization_gpu = std::max(usage.peak_utilization_gpu.value_or(0), *sample.utilization_gpu);
  }
  if (sample.memory_used_bytes) {
    usage.peak_memory_used_bytes = std::max(usage.peak_memory_used_bytes.value_or(0), *sample.memory_used_bytes);
  }
  if (sample.processes) {
    usage.max_gpu_processes =
        std::max(usage.max_gpu_processes.value_or(0), static_cast<uint32_t>(sample.processes->size()));
  }
  GpuSecondsDelta delta;
  const std::optional<uint64_t> energy_before = cursor.energy_mj;
  const std::optional<Clock::TimePoint> last = cursor.last;
  cursor.last = now;
  cursor.energy_mj = sample.energy_mj;
  if (!last || now <= *last) return delta;

  const double dt = std::chrono::duration<double>(now - *last).count();
  delta.allocated = dt;
  usage.gpu_seconds += dt;
  if (sample.utilization_gpu) {
    delta.used = dt * *sample.utilization_gpu / 100.0;
    usage.gpu_seconds_used += delta.used;
    usage.utilization_gpu_sum += dt * *sample.utilization_gpu;
    usage.utilization_gpu_seconds += dt;
  }
  if (sample.utilization_memory) {
    usage.utilization_memory_sum += dt * *sample.utilization_memory;
    usage.utilization_memory_seconds += dt;
  }
  if (energy_before && sample.energy_mj && *sample.energy_mj >= *energy_before) {
    usage.energy_joules = usage.energy_joules.value_or(0) + (*sample.energy_mj - *energy_before) / 1000.0;
  } else if (sample.power_w) {
    usage.energy_joules = usage.energy_joules.value_or(0) + *sample.power_w * dt;
  }
  return delta;
}

void MergeUsage(TaskUsage& into, const TaskUsage& part) {
  into.gpu_seconds += part.gpu_seconds;
  into.gpu_seconds_used += part.gpu_seconds_used;
  into.utilization_gpu_sum += part.utilization_gpu_sum;
  into.utilization_gpu_seconds += part.utilization_gpu_seconds;
  into.utilization_memory_sum += part.utilization_memory_sum;
  into.utilization_memory_seconds += part.utilization_memory_seconds;
  if (part.peak_utilization_gpu) {
    into.peak_utilization_gpu = std::max(into.peak_utilization_gpu.value_or(0), *part.peak_utilization_gpu);
  }
  if (part.peak_memory_used_bytes) {
    into.peak_memory_used_bytes = std::max(into.peak_memory_used_bytes.value_or(0), *part.peak_memory_used_bytes);
  }
  if (part.energy_joules) into.energy_joules = into.energy_joules.value_or(0) + *part.energy_joules;
  if (part.max_gpu_processes) {
    into.max_gpu_processes = std::max(into.max_gpu_processes.value_or(0), *part.max_gpu_processes);
  }
}

IdleChange UpdateIdle(Task& task, IdleWatch& watch, std::span<const std::optional<double>> utilizations,
                      double threshold_percent, Clock::Duration period, Clock::TimePoint now, WallTime wall_now) {
  return UpdateIdle(task.idle_since, watch, utilizations, threshold_percent, period, now, wall_now);
}

IdleChange UpdateIdle(std::optional<WallTime>& idle_since, IdleWatch& watch,
                      std::span<const std::optional<double>> utilizations, double threshold_percent,
                      Clock::Duration period, Clock::TimePoint now, WallTime wall_now) {
  bool known = false, busy = false;
  for (const std::optional<double>& u : utilizations) {
    if (!u) continue;
    known = true;
    if (*u >= threshold_percent) busy = true;
  }
  if (!known) return IdleChange::kNone;
  if (busy) {
    watch = {};
    if (!idle_since) return IdleChange::kNone;
    idle_since.reset();
    return IdleChange::kBusyAgain;
  }
  if (!watch.below_since) {
    watch.below_since = now;
    watch.below_since_wall = wall_now;
  }
  if (idle_since || now - *watch.below_since < period) return IdleChange::kNone;
  idle_since = watch.below_since_wall;
  return IdleChange::kBecameIdle;
}

namespace {
int64_t MinuteOf(Clock::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::minutes>(t.time_since_epoch()).count();
}
}  // namespace

void GpuSecondsWindow::Add(Clock::TimePoint now, GpuSecondsDelta delta) {
  const int64_t minute = MinuteOf(now);
  Bucket& b = buckets_[static_cast<size_t>(minute) % kBuckets];
  if (b.minute != minute) b = Bucket{minute, {}};
  b.sum.allocated += delta.allocated;
  b.sum.used += delta.used;
}

GpuSecondsDelta GpuSecondsWindow::Sum(Clock::TimePoint now, Clock::Duration span) const {
  const int64_t minute = MinuteOf(now);
  const int64_t minutes = std::clamp<int64_t>(
      std::chrono::duration_cast<std::chrono::minutes>(span).count(), 1, static_cast<int64_t>(kBuckets));
  GpuSecondsDelta out;
  for (const Bucket& b : buckets_) {
    if (b.minute > minute - minutes && b.minute <= minute) {
      out.allocated += b.sum.allocated;
      out.used += b.sum.used;
    }
  }
  return out;
}

}  // namespace gpulse::master
