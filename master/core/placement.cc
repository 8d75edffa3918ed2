#include "master/core/placement.h"

namespace gpulse::master {

uint32_t UsableGpuCount(const Worker& worker) {
  uint32_t n = 0;
  for (const WorkerGpu& g : worker.gpus) n += IsUsable(g) ? 1 : 0;
  return n;
}

bool HasFreeCpuAndMemory(const TaskSpec& spec, const Worker& worker) {
  const WorkerCapacity& capacity = worker.capacity;
  uint32_t free_cpus = capacity.cpu_cores > worker.cpus_allocated ? capacity.cpu_cores - worker.cpus_allocated : 0;
  uint64_t free_memory =
      capacity.memory_bytes > worker.memory_allocated ? capacity.memory_bytes - worker.memory_allocated : 0;
  return spec.cpus <= free_cpus && spec.memory_bytes <= free_memory;
}

bool FitsNow(const TaskSpec& spec, const Worker& worker) {
  return HasFreeCpuAndMemory(spec, worker) && UsableGpuCount(worker) >= spec.gpus;
}

}  // namespace gpulse::master
