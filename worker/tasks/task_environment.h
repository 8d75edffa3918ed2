// The environment a task runs with.
//
// A task sees the worker's environment, overlaid with the task's own
// variables, overlaid with the variables gpulse sets so the task uses exactly
// its GPUs:
//
//   CUDA_VISIBLE_DEVICES    its GPU UUIDs, comma-separated ("" when none)
//   NVIDIA_VISIBLE_DEVICES  its GPU UUIDs, comma-separated ("void" when none,
//                           which container runtimes read as "no GPUs")
//   CUDA_DEVICE_ORDER       PCI_BUS_ID
//   GPULSE_TASK_ID          the task id
//   GPULSE_TASK_ATTEMPT     the attempt number
//   GPULSE_GPU_INDICES      its NVML indices, comma-separated ("" when none)
//
// GPUs are named by UUID rather than index because CUDA's own numbering can
// differ from NVML's (CUDA_DEVICE_ORDER=FASTEST_FIRST); a UUID means the same
// device to both. The task cannot override these variables.
//
// Stateless functions; thread-safe except CurrentProcessEnvironment (see there).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "worker/tasks/task_launch.h"

namespace gpulse::worker {

using Environment = std::map<std::string, std::string>;

// Returns `base` with the task's variables and gpulse's variables applied.
Environment BuildTaskEnvironment(const Environment& base, const TaskLaunch& launch);

// Returns the calling process's environment. Racy against a concurrent
// setenv()/putenv() in another thread, as all readers of `environ` are.
Environment CurrentProcessEnvironment();

// Returns "NAME=value" strings, the form execve() takes.
std::vector<std::string> ToEnvStrings(const Environment& env);

// True when `name` can be an environment variable name: non-empty, and no
// '=' or NUL.
bool IsValidEnvName(const std::string& name);

}  // namespace gpulse::worker
