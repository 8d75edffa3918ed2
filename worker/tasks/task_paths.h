// TaskPaths: where a task's files live under the worker's work directory.
//
//   <work_dir>/tasks/<task_id>/             the task's working directory
//   <work_dir>/tasks/<task_id>/stdout.log   its standard output
//   <work_dir>/tasks/<task_id>/stderr.log   its standard error
//
// Plain values; thread-safe to compute.
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace gpulse::worker {

struct TaskPaths {
  std::filesystem::path dir;
  std::filesystem::path stdout_log;
  std::filesystem::path stderr_log;
};

TaskPaths PathsForTask(const std::filesystem::path& work_dir, const std::string& task_id);

// The worker's self-check: creates and removes a task directory (and a file
// in it) as TaskRunner would. OK when that works; otherwise Unavailable
// "cannot create task directories under '<work_dir>/tasks': <why>" — a
// worker in that state can run no task and must not be given any.
// Thread-safe; touches only <work_dir>/tasks/.self-check-<pid>.
Status CheckTaskDirectories(const std::filesystem::path& work_dir);

}  // namespace gpulse::worker
