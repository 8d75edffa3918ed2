// AllocationLedger: the one writer of a worker's allocation — the CPUs,
// memory and GPUs booked for the tasks placed on it (Worker::cpus_allocated,
// memory_allocated, gpus[].allocated_to and task_ids).
//
// Whatever the sequence of calls, it keeps:
//   - task_ids lists each task at most once;
//   - cpus_allocated and memory_allocated are the sums of the specs of the
//     tasks in task_ids;
//   - a GPU's allocated_to is empty or one of task_ids, and a task holds
//     no more GPUs than its spec asks for.
// A new allocation (Allocate) must also fit: free CPUs, memory and GPUs.
// A task placed earlier (Adopt, Rebuild) is booked as the worker runs it,
// even beyond a capacity that has shrunk since.
//
// A view over one Worker, cheap to make; it holds a reference and no state
// of its own. Not thread-safe: Cluster uses it under its mutex. The task's
// spec must not change between booking and Release (specs never do).
#pragma once

#include <span>
#include <string>

#include "common/status.h"
#include "master/model/model.h"

namespace gpulse::master {

class AllocationLedger {
 public:
  explicit AllocationLedger(Worker& worker) : worker_(worker) {}

  // Books `task`'s CPUs and memory and the GPUs at `gpu_positions`
  // (positions in worker.gpus, not NVML indices) for it. All or nothing:
  // FailedPrecondition if the task already holds something here;
  // InvalidArgument if the positions are not spec.gpus distinct positions
  // of the worker's GPUs; ResourceExhausted if the free CPUs or memory
  // (HasFreeCpuAndMemory) do not cover the spec or a GPU is held. GPU
  // health is the placement policy's concern, not checked here.
  Status Allocate(const Task& task, std::span<const size_t> gpu_positions);

  // Books a task placed earlier (recovery, re-registration), finding its
  // GPUs by UUID, else NVML index (Task::gpu_uuids, gpu_indices). GPUs the
  // worker no longer has, or that another task already holds, are skipped;
  // CPUs and memory are booked even beyond the worker's capacity (the task
  // runs there whatever the figures say). Does nothing if the task already
  // holds something here.
  void Adopt(const Task& task);

  // Frees what `task` holds here. Returns whether it held anything; a
  // second release (or one of a task never booked here) changes nothing.
  bool Release(const Task& task);

  // Forgets every allocation and adopts `tasks` in order, as after the
  // worker re-registered with new capacity or GPUs. Ends in the same state
  // as a fresh worker adopting them one by one.
  void Rebuild(std::span<const Task* const> tasks);

  bool Holds(const std::string& task_id) const;

 private:
  // Books `task` with the GPUs at `gpu_positions`, which the caller has
  // checked: in range, distinct and free.
  void Book(const Task& task, std::span<const size_t> gpu_positions);

  Worker& worker_;
};

}  // namespace gpulse::master
