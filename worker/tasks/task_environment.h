// The environment a task runs with.
//
// A task starts from a clean base (CleanBaseEnvironment), never from the
// worker's environment, which holds what a task must not see (the path of
// the cluster token, credentials of the worker's own service manager, ...):
//
//   PATH   kTaskPath, a fixed safe default
//   HOME   the task user's home if it has one, otherwise the task's own
//          directory (the runner fills that in per attempt)
//   LANG   the worker's, or C.UTF-8 when the worker has none
//
// overlaid with the task's own variables, overlaid with the variables gpulse
// sets so the task uses exactly its GPUs:
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

// The PATH a task starts with.
inline constexpr char kTaskPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The base described above from the worker's environment `worker_env` (only
// its LANG is read) and the task user's `home` ("" when it has none: HOME
// is then left for the runner to set to the task's directory).
Environment CleanBaseEnvironment(const Environment& worker_env, const std::string& home);

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
