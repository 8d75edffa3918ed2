// WorkerCapacity: the host a worker offers the cluster — its name, CPU cores
// and memory — as the worker registers it, the master keeps it (Worker) and
// stores it (WorkerRecord). The one declaration of these fields.
//
// A worker's GPUs are listed beside it, one GpuIdentity each, rather than
// in it: the master keeps per-GPU state (health, allocation, the latest
// sample) with each GPU, which a list of identities here would duplicate.
// Plain value; no synchronisation.
#pragma once

#include <cstdint>
#include <string>

namespace gpulse {

struct WorkerCapacity {
  std::string hostname;
  uint32_t cpu_cores = 0;
  uint64_t memory_bytes = 0;

  bool operator==(const WorkerCapacity&) const = default;
};

}  // namespace gpulse
