// TaskLaunch: everything the worker needs to start one attempt of a task.
//
// A plain value built by the worker daemon from the master's Assign message.
// Not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gpulse::worker {

struct TaskLaunch {
  // Names the task's folder under <work_dir>/tasks/, so it must be a single
  // path component: non-empty, no '/', no NUL, not "." or "..".
  std::string task_id;
  uint32_t attempt = 0;
  // argv[0] is looked up in the task's PATH when it holds no '/'.
  std::vector<std::string> argv;
  // Added to the worker's environment; overrides variables of the same name,
  // except the GPU and GPULSE_* variables the runner sets itself.
  std::map<std::string, std::string> env;
  // The task's GPUs: NVML indices and the matching UUIDs, in the same order.
  std::vector<uint32_t> gpu_indices;
  std::vector<std::string> gpu_uuids;
  // Cores to pin the task to (0: not pinned) and its hard memory limit in
  // bytes (0: none), enforced as far as the worker's containment can.
  uint32_t cpus = 0;
  uint64_t memory_bytes = 0;
};

}  // namespace gpulse::worker
