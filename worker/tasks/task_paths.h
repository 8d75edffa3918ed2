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

namespace gpulse::worker {

struct TaskPaths {
  std::filesystem::path dir;
  std::filesystem::path stdout_log;
  std::filesystem::path stderr_log;
};

TaskPaths PathsForTask(const std::filesystem::path& work_dir, const std::string& task_id);

}  // namespace gpulse::worker
