#include "worker/tasks/task_paths.h"

namespace gpulse::worker {

TaskPaths PathsForTask(const std::filesystem::path& work_dir, const std::string& task_id) {
  TaskPaths paths;
  paths.dir = work_dir / "tasks" / task_id;
  paths.stdout_log = paths.dir / "stdout.log";
  paths.stderr_log = paths.dir / "stderr.log";
  return paths;
}

}  // namespace gpulse::worker
