// PlacementPolicy: chooses where a task runs.
//
// The scheduler (Cluster::Schedule) hands a policy the candidate workers —
// healthy, connected ones — and the task's request; the policy returns the
// worker and the GPUs to use, or nothing if no candidate fits now. Policies
// hold no cluster state of their own and are called under Cluster's mutex,
// one call at a time.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "master/model.h"

namespace gpulse::master {

struct Placement {
  const Worker* worker = nullptr;
  std::vector<size_t> gpu_positions;  // positions in worker->gpus (not NVML indices)
};

class PlacementPolicy {
 public:
  virtual ~PlacementPolicy() = default;
  virtual std::optional<Placement> Place(const TaskSpec& spec,
                                         std::span<const Worker* const> candidates) = 0;
};

// The default: among workers whose free CPUs, memory and healthy,
// unallocated GPUs fit, pick GPUs with the lowest live utilization and the
// most free memory (telemetry, not allocation alone), and the worker whose
// chosen GPUs score best.
std::unique_ptr<PlacementPolicy> NewLeastLoadedPolicy();

}  // namespace gpulse::master
