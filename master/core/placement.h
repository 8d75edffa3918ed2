// PlacementPolicy: chooses where a task runs.
//
// The scheduler (Cluster::Schedule) hands a policy the candidate workers —
// healthy, connected ones — and the task's request; the policy returns the
// worker and the GPUs to use, or nothing if no candidate fits now. Policies
// hold no cluster state of their own and are called under Cluster's mutex,
// one call at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "master/model/model.h"

namespace gpulse::master {

struct Placement {
  const Worker* worker = nullptr;
  std::vector<size_t> gpu_positions;  // positions in worker->gpus (not NVML indices)
};

class PlacementPolicy {
 public:
  virtual ~PlacementPolicy() = default;
  // Returns where `spec` should run among `candidates`, or nullopt if none
  // fits now. Cluster::Schedule passes candidates sorted by worker id.
  virtual std::optional<Placement> Place(const TaskSpec& spec,
                                         std::span<const Worker* const> candidates) = 0;

  // Optional fast path for big clusters. A policy returning true promises
  // that Place(spec, candidates) chooses, among the candidates with
  // HasFreeCpuAndMemory(spec, w) and a RankCost(w, spec.gpus), the one with
  // the lowest cost (ties: the earlier candidate). Cluster::Schedule then
  // keeps the candidates in priority queues, re-ranks only the worker it
  // has just changed, and calls Place with that one worker to choose its
  // GPUs, instead of offering every candidate for every task.
  virtual bool RanksWorkers() const { return false; }
  // The cost of placing a task that needs `gpus` whole GPUs on `worker`
  // (lower is better), or nullopt when it has fewer usable GPUs. Must
  // depend only on the worker and `gpus`. Unused unless RanksWorkers().
  virtual std::optional<double> RankCost(const Worker& /*worker*/, uint32_t /*gpus*/) {
    return std::nullopt;
  }
};

// A GPU a new task may get: readable, not unhealthy, and not allocated.
inline bool IsUsable(const WorkerGpu& gpu) {
  return gpu.healthy && gpu.health != GpuHealth::kUnhealthy && gpu.allocated_to.empty();
}
uint32_t UsableGpuCount(const Worker& worker);
// Whether the worker's unallocated CPUs and memory cover the request.
bool HasFreeCpuAndMemory(const TaskSpec& spec, const Worker& worker);
// Whether the worker can take `spec` now: CPUs, memory and usable GPUs.
bool FitsNow(const TaskSpec& spec, const Worker& worker);

// The default: among workers whose free CPUs, memory and healthy,
// unallocated GPUs fit, pick GPUs with the lowest live utilization and the
// most free memory (telemetry, not allocation alone), and the worker whose
// chosen GPUs score best.
//
// A GPU's cost is its utilization (0..1) plus its used-memory share (0..1),
// from its latest sample; an unknown figure counts as 0.5, so a GPU we
// cannot see ranks after ones known to be idle and before ones known to be
// busy. A degraded GPU (throttled by heat or a power brake, see
// gpu_health.h) costs 4 more, so it is chosen only when no healthy one will
// do; an unhealthy one is not usable at all (IsUsable). A GPU task goes to the worker whose cheapest usable GPUs sum to the
// lowest cost, with its CPU load (below) as a small tie-breaker (weight
// 0.01); a CPU-only task goes to the worker with the lowest CPU load: the
// larger of its allocated CPU share and its live cpu_percent. Remaining
// ties go to the earlier candidate (the lower worker id), then the lower
// GPU position. Ranks workers (RanksWorkers() is true).
std::unique_ptr<PlacementPolicy> NewLeastLoadedPolicy();

}  // namespace gpulse::master
