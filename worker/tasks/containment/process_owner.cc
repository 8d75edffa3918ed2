#include "worker/tasks/containment/process_owner.h"

#include <string_view>

#include "worker/tasks/containment/cgroup_fs.h"
#include "worker/tasks/containment/containment.h"
#include "worker/tasks/containment/proc_scan.h"

namespace gpulse::worker {
namespace {

enum class Mark { kTask, kNone, kUnreadable };

bool PathHasCellGroup(std::string_view path) {
  size_t begin = 0;
  while (begin < path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    if (IsCellGroupName(path.substr(begin, end - begin))) return true;
    begin = end + 1;
  }
  return false;
}

Mark CgroupMark(const std::filesystem::path& proc, pid_t pid) {
  Result<std::string> text = ReadKernelFile(proc / std::to_string(pid) / "cgroup");
  if (!text.ok()) return Mark::kUnreadable;
  for (const CgroupMembership& m : ParseProcCgroup(*text)) {
    if (PathHasCellGroup(m.path)) return Mark::kTask;
  }
  return Mark::kNone;
}

Mark EnvironmentMark(const std::filesystem::path& proc, pid_t pid) {
  Result<bool> tagged = EnvironmentDefines(proc, pid, "GPULSE_TASK_ID");
  if (!tagged.ok()) return Mark::kUnreadable;
  return *tagged ? Mark::kTask : Mark::kNone;
}

}  // namespace

ProcessOwner FindProcessOwner(const std::filesystem::path& proc, pid_t pid) {
  bool self_unreadable = false;
  pid_t current = pid;
  for (int depth = 0; depth <= kMaxAncestorsWalked; ++depth) {
    const std::optional<ProcessInfo> info = ReadProcess(proc, current);
    if (!info) return ProcessOwner::kUnknown;  // gone, or never in this namespace
    const Mark cgroup = CgroupMark(proc, current);
    if (cgroup == Mark::kTask) return ProcessOwner::kGpulse;
    const Mark environment = EnvironmentMark(proc, current);
    if (environment == Mark::kTask) return ProcessOwner::kGpulse;
    if (depth == 0 && (cgroup == Mark::kUnreadable || environment == Mark::kUnreadable)) self_unreadable = true;
    if (info->ppid <= 0 || info->ppid == current) {
      return self_unreadable ? ProcessOwner::kUnknown : ProcessOwner::kOutside;
    }
    current = info->ppid;
  }
  return ProcessOwner::kUnknown;
}

}  // namespace gpulse::worker
