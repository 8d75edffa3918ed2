#include "master/core/task_usage.h"

#include <algorithm>

namespace gpulse::master {

std::optional<uint32_t> OutsideGpulseProcesses(const GpuSample& sample) {
  if (!sample.processes) return std::nullopt;
  uint32_t outside = 0;
  bool all_known = true;
  for (const GpuProcess& p : *sample.processes) {
    if (!p.outside_gpulse) {
      all_known = false;
    } else if (*p.outside_gpulse) {
      ++outside;
    }
  }
  if (outside == 0 && !all_known) return std::nullopt;
  return outside;
}

namespace {

// One step of one GPU's counter, adding the GPU-seconds of a running one
// to `total`. Inline in both loops below: it runs for every GPU of every
// heartbeat.
inline void Step(GpuUsageCounter& counter, const GpuSample& sample, Clock::TimePoint now,
                 double idle_threshold_percent, GpuSecondsDelta& total) {
  const std::optional<double>& u = sample.utilization_gpu;
  if (u) {
    counter.peak_utilization_gpu = std::max(counter.peak_utilization_gpu.value_or(0), *u);
    if (*u >= idle_threshold_percent) {
      counter.below_since.reset();
    } else if (!counter.below_since) {
      counter.below_since = now;
    }
  }
  if (sample.memory_used_bytes) {
    counter.peak_memory_used_bytes = std::max(counter.peak_memory_used_bytes.value_or(0), *sample.memory_used_bytes);
  }
  if (sample.processes) {
    counter.max_gpu_processes =
        std::max(counter.max_gpu_processes.value_or(0), static_cast<uint32_t>(sample.processes->size()));
  }
  if (const std::optional<uint32_t> outside = OutsideGpulseProcesses(sample)) {
    counter.max_outside_processes = std::max(counter.max_outside_processes.value_or(0), *outside);
  }
  const bool had_last = counter.last.has_value();
  const Clock::TimePoint last = had_last ? *counter.last : now;
  const bool had_energy = counter.energy_mj.has_value();
  const uint64_t energy_before = had_energy ? *counter.energy_mj : 0;
  counter.last = now;
  counter.energy_mj = sample.energy_mj;
  if (!had_last || now <= last) return;

  const double dt = std::chrono::duration<double>(now - last).count();
  GpuUsageTotals& t = counter.totals;
  t.seconds += dt;
  double used = 0;
  if (u) {
    used = dt * *u;
    t.utilization_gpu_sum += used;
    t.utilization_gpu_seconds += dt;
  }
  if (sample.utilization_memory) {
    t.utilization_memory_sum += dt * *sample.utilization_memory;
    t.utilization_memory_seconds += dt;
  }
  if (had_energy && sample.energy_mj && *sample.energy_mj >= energy_before) {
    t.energy_joules += static_cast<double>(*sample.energy_mj - energy_before) / 1000.0;
    ++t.energy_intervals;
  } else if (sample.power_w) {
    t.energy_joules += *sample.power_w * dt;
    ++t.energy_intervals;
  }
  if (counter.running) {
    total.allocated += dt;
    total.used += used / 100.0;
  }
}

}  // namespace

GpuSecondsDelta CountGpuUsage(GpuUsageCounter& counter, const GpuSample& sample, Clock::TimePoint now,
                              double idle_threshold_percent) {
  GpuSecondsDelta total;
  Step(counter, sample, now, idle_threshold_percent, total);
  return total;
}

GpuSecondsDelta CountGpuUsage(std::span<GpuUsageCounter> counters, std::span<const WorkerGpu> gpus,
                              Clock::TimePoint now, double idle_threshold_percent) {
  GpuSecondsDelta total;
  const size_t n = std::min(counters.size(), gpus.size());
  for (size_t i = 0; i < n; ++i) Step(counters[i], gpus[i].live, now, idle_threshold_percent, total);
  return total;
}

namespace {
void ResetPeaks(GpuUsageCounter& counter) {
  counter.peak_utilization_gpu.reset();
  counter.peak_memory_used_bytes.reset();
  counter.max_gpu_processes.reset();
  counter.max_outside_processes.reset();
}

template <typename T>
void TakeMax(std::optional<T>& into, const std::optional<T>& part) {
  if (part) into = std::max(into.value_or(*part), *part);
}
}  // namespace

void RestartCount(GpuUsageCounter& counter, Clock::TimePoint now) {
  counter.last = now;
  counter.energy_mj.reset();
  ResetPeaks(counter);
  counter.below_since.reset();
}

TaskGpu BeginTaskCount(GpuUsageCounter& counter) {
  ResetPeaks(counter);
  counter.running = true;
  return {&counter, counter.totals};
}

void EndTaskCount(TaskGpu& gpu) {
  if (gpu.counter != nullptr) gpu.counter->running = false;
}

TaskUsage UsageSinceMarks(std::span<const TaskGpu> gpus) {
  TaskUsage usage;
  uint64_t energy_intervals = 0;
  double energy = 0;
  for (const TaskGpu& g : gpus) {
    if (g.counter == nullptr) continue;
    const GpuUsageTotals& now = g.counter->totals;
    const GpuUsageTotals& mark = g.mark;
    usage.gpu_seconds += now.seconds - mark.seconds;
    usage.utilization_gpu_sum += now.utilization_gpu_sum - mark.utilization_gpu_sum;
    usage.utilization_gpu_seconds += now.utilization_gpu_seconds - mark.utilization_gpu_seconds;
    usage.utilization_memory_sum += now.utilization_memory_sum - mark.utilization_memory_sum;
    usage.utilization_memory_seconds += now.utilization_memory_seconds - mark.utilization_memory_seconds;
    energy += now.energy_joules - mark.energy_joules;
    energy_intervals += now.energy_intervals - mark.energy_intervals;
    TakeMax(usage.peak_utilization_gpu, g.counter->peak_utilization_gpu);
    TakeMax(usage.peak_memory_used_bytes, g.counter->peak_memory_used_bytes);
    TakeMax(usage.max_gpu_processes, g.counter->max_gpu_processes);
    TakeMax(usage.max_outside_processes, g.counter->max_outside_processes);
  }
  usage.gpu_seconds_used = usage.utilization_gpu_sum / 100.0;
  if (energy_intervals > 0) usage.energy_joules = energy;
  return usage;
}

void FoldUsage(TaskUsage& usage, std::span<TaskGpu> gpus) {
  MergeUsage(usage, UsageSinceMarks(gpus));
  for (TaskGpu& g : gpus) {
    if (g.counter == nullptr) continue;
    g.mark = g.counter->totals;
    ResetPeaks(*g.counter);
  }
}

void MergeUsage(TaskUsage& into, const TaskUsage& part) {
  into.gpu_seconds += part.gpu_seconds;
  into.gpu_seconds_used += part.gpu_seconds_used;
  into.utilization_gpu_sum += part.utilization_gpu_sum;
  into.utilization_gpu_seconds += part.utilization_gpu_seconds;
  into.utilization_memory_sum += part.utilization_memory_sum;
  into.utilization_memory_seconds += part.utilization_memory_seconds;
  TakeMax(into.peak_utilization_gpu, part.peak_utilization_gpu);
  TakeMax(into.peak_memory_used_bytes, part.peak_memory_used_bytes);
  if (part.energy_joules) into.energy_joules = into.energy_joules.value_or(0) + *part.energy_joules;
  TakeMax(into.max_gpu_processes, part.max_gpu_processes);
  TakeMax(into.max_outside_processes, part.max_outside_processes);
}

IdleChange JudgeIdle(std::optional<WallTime>& idle_since, std::span<const TaskGpu> gpus, Clock::Duration period,
                     Clock::TimePoint now, WallTime wall_now, Clock::TimePoint& next_check) {
  // Below since the latest of its GPUs' below_since; not below while one
  // of them is not.
  std::optional<Clock::TimePoint> below;
  for (const TaskGpu& g : gpus) {
    if (g.counter == nullptr) continue;  // a GPU its worker does not have says nothing
    if (!g.counter->below_since) {
      below.reset();
      break;
    }
    below = std::max(below.value_or(*g.counter->below_since), *g.counter->below_since);
  }
  const bool idle = below && now - *below >= period;
  if (!idle) {
    // A GPU that is not below now goes below at a heartbeat after this one.
    next_check = std::min(next_check, below ? *below + period : now + period);
    if (!idle_since) return IdleChange::kNone;
    idle_since.reset();
    return IdleChange::kBusyAgain;
  }
  if (idle_since) return IdleChange::kNone;
  idle_since = wall_now - std::chrono::duration_cast<WallTime::duration>(now - *below);
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
