#include "master/core/pending_reason.h"

#include <algorithm>

#include "common/size.h"
#include "master/core/placement.h"

namespace gpulse::master {
namespace {

std::string Plural(uint64_t n, const std::string& one) {
  return std::to_string(n) + " " + one + (n == 1 ? "" : "s");
}

}  // namespace

FleetView::FleetView(const std::vector<const Worker*>& workers, const std::vector<bool>& schedulable) {
  workers_.reserve(workers.size());
  for (size_t i = 0; i < workers.size(); ++i) {
    const Worker& w = *workers[i];
    FleetWorker f;
    f.gpus = static_cast<uint32_t>(w.gpus.size());
    f.cpu_cores = w.capacity.cpu_cores;
    f.memory_bytes = w.capacity.memory_bytes;
    f.schedulable = schedulable[i];
    f.draining = w.draining;
    f.usable_gpus = UsableGpuCount(w);
    f.free_cpus = w.capacity.cpu_cores > w.cpus_allocated ? w.capacity.cpu_cores - w.cpus_allocated : 0;
    f.free_memory = w.capacity.memory_bytes > w.memory_allocated ? w.capacity.memory_bytes - w.memory_allocated : 0;
    max_gpus_ = std::max(max_gpus_, f.gpus);
    max_cpus_ = std::max(max_cpus_, f.cpu_cores);
    max_memory_ = std::max(max_memory_, f.memory_bytes);
    some_cpus_unknown_ |= f.cpu_cores == 0;
    some_memory_unknown_ |= f.memory_bytes == 0;
    workers_.push_back(f);
  }
}

bool FleetView::Holds(const FleetWorker& w, const TaskSpec& spec) {
  return spec.gpus <= w.gpus && (w.cpu_cores == 0 || spec.cpus <= w.cpu_cores) &&
         (w.memory_bytes == 0 || spec.memory_bytes <= w.memory_bytes);
}

std::optional<std::string> FleetView::Unfit(const TaskSpec& spec) const {
  if (workers_.empty()) return std::nullopt;
  if (spec.gpus > max_gpus_) {
    return "no worker has " + Plural(spec.gpus, "GPU") + " (largest: " + std::to_string(max_gpus_) + ")";
  }
  if (!some_cpus_unknown_ && spec.cpus > max_cpus_) {
    return "no worker has " + Plural(spec.cpus, "CPU") + " (largest: " + std::to_string(max_cpus_) + ")";
  }
  if (!some_memory_unknown_ && spec.memory_bytes > max_memory_) {
    return "no worker has " + FormatBytes(spec.memory_bytes) + " of memory (largest: " + FormatBytes(max_memory_) +
           ")";
  }
  // Each figure fits somewhere; does one worker hold them all?
  if (std::any_of(workers_.begin(), workers_.end(), [&](const FleetWorker& w) { return Holds(w, spec); })) {
    return std::nullopt;
  }
  return "no worker has " + Plural(spec.gpus, "GPU") + ", " + Plural(spec.cpus, "CPU") + " and " +
         FormatBytes(spec.memory_bytes) + " of memory at once";
}

std::string FleetView::PendingReason(const TaskSpec& spec) const {
  if (workers_.empty()) return "no worker has registered yet";
  if (auto unfit = Unfit(spec)) return *unfit;
  bool any_schedulable = false, any_fitting_draining = false, any_fitting_schedulable = false;
  bool gpus_free = false, cpus_free = false, memory_free = false;
  for (const FleetWorker& w : workers_) {
    any_schedulable |= w.schedulable && !w.draining;
    if (!Holds(w, spec)) continue;
    if (w.schedulable && w.draining) any_fitting_draining = true;
    if (!w.schedulable || w.draining) continue;
    any_fitting_schedulable = true;
    const bool gpus = w.usable_gpus >= spec.gpus;
    const bool cpus = w.cpu_cores == 0 || w.free_cpus >= spec.cpus;
    const bool memory = w.memory_bytes == 0 || w.free_memory >= spec.memory_bytes;
    if (gpus && cpus && memory) return "waiting for the next scheduling round";
    gpus_free |= gpus;
    cpus_free |= cpus;
    memory_free |= memory;
  }
  if (!any_fitting_schedulable) {
    if (any_fitting_draining) return "all fitting workers are draining";
    if (!any_schedulable) return "no healthy worker";
    return "no healthy worker is large enough (the ones that are: dead, suspect or disconnected)";
  }
  if (!gpus_free) return "waiting for " + Plural(spec.gpus, "free GPU");
  if (!cpus_free) return "waiting for " + Plural(spec.cpus, "free CPU");
  if (!memory_free) return "waiting for " + FormatBytes(spec.memory_bytes) + " of free memory";
  return "waiting for a worker with " + Plural(spec.gpus, "free GPU") + ", " + Plural(spec.cpus, "free CPU") +
         " and " + FormatBytes(spec.memory_bytes) + " of free memory at once";
}

}  // namespace gpulse::master
