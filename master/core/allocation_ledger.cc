#include "master/core/allocation_ledger.h"

#include <algorithm>
#include <vector>

#include "master/core/placement.h"

namespace gpulse::master {

Status AllocationLedger::Allocate(const Task& task, std::span<const size_t> gpu_positions) {
  const Worker& w = worker_;
  if (Holds(task.id)) return FailedPrecondition("task " + task.id + " already holds resources on " + w.id);
  if (gpu_positions.size() != task.spec.gpus) {
    return InvalidArgument("task " + task.id + " asks for " + std::to_string(task.spec.gpus) + " GPU(s), not " +
                           std::to_string(gpu_positions.size()));
  }
  for (size_t i = 0; i < gpu_positions.size(); ++i) {
    size_t p = gpu_positions[i];
    if (p >= w.gpus.size() || std::find(gpu_positions.begin(), gpu_positions.begin() + i, p) !=
                                  gpu_positions.begin() + i) {
      return InvalidArgument("task " + task.id + " was given GPU position " + std::to_string(p) + " of " + w.id +
                             ", which is out of range or given twice");
    }
    if (!w.gpus[p].allocated_to.empty()) {
      return ResourceExhausted("GPU " + std::to_string(w.gpus[p].identity.index) + " of " + w.id + " is held by " +
                               w.gpus[p].allocated_to);
    }
  }
  if (!HasFreeCpuAndMemory(task.spec, w)) {
    return ResourceExhausted(w.id + " has not the free CPUs and memory task " + task.id + " asks for");
  }
  Book(task, gpu_positions);
  return Status::Ok();
}

void AllocationLedger::Adopt(const Task& task) {
  if (Holds(task.id)) return;
  const Worker& w = worker_;
  std::vector<size_t> positions;
  for (size_t i = 0; i < task.gpu_uuids.size() || i < task.gpu_indices.size(); ++i) {
    if (positions.size() >= task.spec.gpus) break;
    auto it = w.gpus.end();
    if (i < task.gpu_uuids.size() && !task.gpu_uuids[i].empty()) {
      it = std::find_if(w.gpus.begin(), w.gpus.end(), [&](const WorkerGpu& g) { return g.identity.uuid == task.gpu_uuids[i]; });
    } else if (i < task.gpu_indices.size()) {
      it = std::find_if(w.gpus.begin(), w.gpus.end(),
                        [&](const WorkerGpu& g) { return g.identity.index == task.gpu_indices[i]; });
    }
    if (it == w.gpus.end() || !it->allocated_to.empty()) continue;
    size_t p = static_cast<size_t>(it - w.gpus.begin());
    if (std::find(positions.begin(), positions.end(), p) == positions.end()) positions.push_back(p);
  }
  Book(task, positions);
}

bool AllocationLedger::Release(const Task& task) {
  Worker& w = worker_;
  auto it = std::find(w.task_ids.begin(), w.task_ids.end(), task.id);
  if (it == w.task_ids.end()) return false;
  w.task_ids.erase(it);
  w.cpus_allocated -= std::min(w.cpus_allocated, task.spec.cpus);
  w.memory_allocated -= std::min(w.memory_allocated, task.spec.memory_bytes);
  for (WorkerGpu& g : w.gpus) {
    if (g.allocated_to == task.id) g.allocated_to.clear();
  }
  return true;
}

void AllocationLedger::Rebuild(std::span<const Task* const> tasks) {
  Worker& w = worker_;
  w.cpus_allocated = 0;
  w.memory_allocated = 0;
  w.task_ids.clear();
  for (WorkerGpu& g : w.gpus) g.allocated_to.clear();
  for (const Task* t : tasks) Adopt(*t);
}

bool AllocationLedger::Holds(const std::string& task_id) const {
  const auto& ids = worker_.task_ids;
  return std::find(ids.begin(), ids.end(), task_id) != ids.end();
}

void AllocationLedger::Book(const Task& task, std::span<const size_t> gpu_positions) {
  Worker& w = worker_;
  w.cpus_allocated += task.spec.cpus;
  w.memory_allocated += task.spec.memory_bytes;
  for (size_t p : gpu_positions) w.gpus[p].allocated_to = task.id;
  w.task_ids.push_back(task.id);
}

}  // namespace gpulse::master
