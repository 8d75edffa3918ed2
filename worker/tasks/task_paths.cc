#include "worker/tasks/task_paths.h"

#include <unistd.h>

#include <fstream>

namespace gpulse::worker {

TaskPaths PathsForTask(const std::filesystem::path& work_dir, const std::string& task_id) {
  TaskPaths paths;
  paths.dir = work_dir / "tasks" / task_id;
  paths.stdout_log = paths.dir / "stdout.log";
  paths.stderr_log = paths.dir / "stderr.log";
  return paths;
}

Status CheckTaskDirectories(const std::filesystem::path& work_dir) {
  const TaskPaths probe = PathsForTask(work_dir, ".self-check-" + std::to_string(::getpid()));
  std::error_code error;
  std::filesystem::create_directories(probe.dir, error);
  std::string why = error ? error.message() : "";
  if (!error) {
    std::ofstream file(probe.stdout_log, std::ios::trunc);
    if (!file) why = "cannot create a file in " + probe.dir.string();
  }
  std::filesystem::remove_all(probe.dir, error);
  if (why.empty()) return Status::Ok();
  return Unavailable("cannot create task directories under '" + (work_dir / "tasks").string() + "': " + why);
}

}  // namespace gpulse::worker
