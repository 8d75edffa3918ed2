#include "worker/tasks/containment/cgroup_layout.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <spdlog/spdlog.h>

#include "common/posix_error.h"
#include "worker/tasks/containment/cgroup_fs.h"
#include "worker/tasks/containment/device_filter.h"

namespace gpulse::worker {
namespace {

using Backend = ContainmentOptions::Backend;

// The v2 controllers a cell uses, and the capability each gives.
struct ControllerUse {
  const char* controller;
  const char* capability;
};
constexpr ControllerUse kLimitControllers[] = {
    {"cpuset", "cpuset"}, {"cpu", "cpu quota"}, {"memory", "memory limit"}};

Status MakeGroupDir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return PosixError("mkdir '" + dir.string() + "'", errno);
  }
  return Status::Ok();
}

// Creates `dir` if needed and takes an exclusive flock on it, held as long
// as the returned descriptor lives.
Result<UniqueFd> MakeAndLockGroupDir(const std::filesystem::path& dir) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    RETURN_IF_ERROR(MakeGroupDir(dir));
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) continue;
      return PosixError("open '" + dir.string() + "'", errno);
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return FailedPrecondition("another gpulse-worker uses " + dir.string() + " (the same --work-dir?)");
      }
      return PosixError("flock '" + dir.string() + "'", errno);
    }
    // Another worker may have removed it as stale between mkdir and flock.
    struct stat by_path, by_fd;
    if (::stat(dir.c_str(), &by_path) == 0 && ::fstat(fd.get(), &by_fd) == 0 && by_path.st_ino == by_fd.st_ino &&
        by_path.st_dev == by_fd.st_dev) {
      return fd;
    }
  }
  return Internal("'" + dir.string() + "' keeps disappearing while it is being created");
}

// Groups beside ours of workers that are gone: nobody holds their flock.
void RemoveGroupsOfGoneWorkers(const std::filesystem::path& parent, const std::string& own_group) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(parent, error)) {
    const std::string name = entry.path().filename().string();
    if (name == own_group || !IsCellGroupName(name) || !entry.is_directory(error)) continue;
    UniqueFd fd(::open(entry.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid() || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // its worker lives
    std::error_code inner;
    for (const auto& cell : std::filesystem::directory_iterator(entry.path(), inner)) {
      if (cell.is_directory(inner)) ::rmdir(cell.path().c_str());
    }
    if (::rmdir(entry.path().c_str()) == 0) {
      spdlog::info("removed {}, the cgroup of a worker that is gone", entry.path().string());
    }
  }
}

// Cells of an earlier run that are empty now; populated ones stay (rmdir
// refuses them).
void RemoveEmptyCells(const std::filesystem::path& group_dir) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(group_dir, error)) {
    if (!entry.is_directory(error)) continue;
    if (::rmdir(entry.path().c_str()) == 0) {
      spdlog::info("removed the empty cell {} left by an earlier run", entry.path().string());
    }
  }
}

bool Exists(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

// Enables `controller` for the children of `dir`. When `dir` holds processes
// (the worker itself, started by systemd with Delegate=yes), the kernel
// refuses (EBUSY: no internal processes); the worker then moves itself into
// a leaf `dir`/<daemon_leaf> and tries once more.
Status EnableController(const std::filesystem::path& dir, const std::string& controller,
                        const std::string& daemon_leaf) {
  Status status = WriteCgroupFile(dir / "cgroup.subtree_control", "+" + controller);
  if (status.ok() || daemon_leaf.empty()) return status;
  Result<std::string> procs = ReadKernelFile(dir / "cgroup.procs");
  if (!procs.ok() || Words(*procs).empty()) return status;
  const std::filesystem::path leaf = dir / daemon_leaf;
  RETURN_IF_ERROR(MakeGroupDir(leaf));
  RETURN_IF_ERROR(WriteCgroupFile(leaf / "cgroup.procs", "0"));
  spdlog::info("moved the worker into {} so that {} can hold task cells with controllers", leaf.string(),
               dir.string());
  return WriteCgroupFile(dir / "cgroup.subtree_control", "+" + controller);
}

Status SetUpV2(const std::vector<CgroupMount>& mounts, const std::vector<CgroupMembership>& memberships,
               const std::string& group, CgroupLayout& layout, std::map<std::string, std::string>& missing) {
  std::optional<CgroupMount> mount = FindMount(mounts, "");
  if (!mount) return Unavailable("no cgroup2 file system is mounted");
  ASSIGN_OR_RETURN(std::filesystem::path own, OwnGroupDir(*mount, memberships));
  const std::filesystem::path group_dir = own / group;
  ASSIGN_OR_RETURN(UniqueFd lock, MakeAndLockGroupDir(group_dir));
  layout.group_locks.push_back(std::move(lock));
  RemoveGroupsOfGoneWorkers(own, group);
  layout.v2_parent = group_dir;
  layout.v2_kill = Exists(group_dir / "cgroup.kill");
  layout.v2_freeze = Exists(group_dir / "cgroup.freeze");
  if (Status probe = ProbeDeviceFilter(group_dir); probe.ok()) {
    layout.v2_devices = true;
  } else {
    missing["device isolation"] = "cgroup v2 without BPF device filter: " + probe.message();
  }

  Result<std::string> available = ReadKernelFile(own / "cgroup.controllers");
  const std::vector<std::string> offered = available.ok() ? Words(*available) : std::vector<std::string>{};
  for (const ControllerUse& use : kLimitControllers) {
    const std::string controller = use.controller;
    if (std::find(offered.begin(), offered.end(), controller) == offered.end()) {
      missing[use.capability] = "no " + controller + " controller in the worker's cgroup v2 subtree";
      continue;
    }
    const std::string leaf = own == mount->mount_point ? "" : group + ".daemon";
    Status enabled = EnableController(own, controller, leaf);
    if (enabled.ok()) enabled = WriteCgroupFile(group_dir / "cgroup.subtree_control", "+" + controller);
    if (!enabled.ok()) {
      missing[use.capability] = "cgroup v2 " + controller + ": " + enabled.message();
      continue;
    }
    if (controller == "cpuset") layout.v2_cpuset = true;
    if (controller == "cpu") layout.v2_cpu = true;
    if (controller == "memory") layout.v2_memory = true;
  }
  RemoveEmptyCells(group_dir);
  return Status::Ok();
}

// Copies the parent's cpus and mems into a new v1 cpuset group, which starts
// empty and cannot hold processes until both are set.
Status InheritCpuset(const std::filesystem::path& group_dir) {
  ASSIGN_OR_RETURN(std::string cpus, ReadKernelFile(group_dir / "cpuset.cpus"));
  if (!Words(cpus).empty()) return Status::Ok();
  const std::filesystem::path parent = group_dir.parent_path();
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    ASSIGN_OR_RETURN(std::string value, ReadKernelFile(parent / file));
    std::vector<std::string> words = Words(value);
    RETURN_IF_ERROR(WriteCgroupFile(group_dir / file, words.empty() ? "" : words.front()));
  }
  return Status::Ok();
}

Status SetUpV1(const std::vector<CgroupMount>& mounts, const std::vector<CgroupMembership>& memberships,
               const std::string& group, const std::string& controller, CgroupLayout& layout) {
  std::optional<CgroupMount> mount = FindMount(mounts, controller);
  if (!mount) return Unavailable("no cgroup v1 " + controller + " hierarchy is mounted");
  ASSIGN_OR_RETURN(std::filesystem::path own, OwnGroupDir(*mount, memberships));
  const std::filesystem::path group_dir = own / group;
  ASSIGN_OR_RETURN(UniqueFd lock, MakeAndLockGroupDir(group_dir));
  if (controller == "cpuset") {
    if (Status s = InheritCpuset(group_dir); !s.ok()) {
      ::rmdir(group_dir.c_str());
      return s;
    }
  }
  layout.group_locks.push_back(std::move(lock));
  RemoveGroupsOfGoneWorkers(own, group);
  RemoveEmptyCells(group_dir);
  layout.v1_parents[controller] = group_dir;
  return Status::Ok();
}

const char* CapabilityOfV1(const std::string& controller) {
  if (controller == "cpuset") return "cpuset";
  if (controller == "cpu") return "cpu quota";
  if (controller == "memory") return "memory limit";
  if (controller == "devices") return "device isolation";
  return nullptr;
}

}  // namespace

Result<CgroupLayout> FindCgroupLayout(const ContainmentOptions& options) {
  ASSIGN_OR_RETURN(std::string mountinfo, ReadKernelFile(options.proc / "self/mountinfo"));
  ASSIGN_OR_RETURN(std::string self_cgroup, ReadKernelFile(options.proc / "self/cgroup"));
  const std::vector<CgroupMount> mounts = ParseCgroupMounts(mountinfo);
  const std::vector<CgroupMembership> memberships = ParseProcCgroup(self_cgroup);

  CgroupLayout layout;
  std::map<std::string, std::string> v2_missing;
  std::string v2_problem;
  if (options.backend != Backend::kCgroup1) {
    Status v2 = SetUpV2(mounts, memberships, options.group, layout, v2_missing);
    if (!v2.ok()) {
      if (options.backend == Backend::kCgroup2) return Unavailable("cgroup v2: " + v2.message());
      v2_problem = "cgroup v2: " + v2.message();
      layout = CgroupLayout{};
      v2_missing.clear();
    }
  }

  std::vector<std::string> v1_wanted;
  if (options.backend == Backend::kCgroup1 || (options.backend == Backend::kAuto && !layout.v2_parent)) {
    v1_wanted = {"cpuset", "cpu", "memory", "devices", "freezer", "pids"};
  } else if (options.backend == Backend::kAuto) {
    if (!layout.v2_cpuset) v1_wanted.push_back("cpuset");
    if (!layout.v2_cpu) v1_wanted.push_back("cpu");
    if (!layout.v2_memory) v1_wanted.push_back("memory");
    if (!layout.v2_devices) v1_wanted.push_back("devices");
  }
  std::map<std::string, std::string> v1_missing;
  for (const std::string& controller : v1_wanted) {
    Status s = SetUpV1(mounts, memberships, options.group, controller, layout);
    if (!s.ok() && CapabilityOfV1(controller) != nullptr) v1_missing[CapabilityOfV1(controller)] = s.message();
  }
  if (!layout.v2_parent && layout.v1_parents.empty()) {
    std::string why = v2_problem;
    for (const auto& [capability, reason] : v1_missing) why += (why.empty() ? "" : "; ") + reason;
    return Unavailable(why.empty() ? "no usable cgroup hierarchy" : why);
  }

  // Why each capability the layout lacks is missing.
  auto note = [&](const std::string& capability, bool have) {
    if (have) return;
    std::string why;
    if (auto it = v2_missing.find(capability); it != v2_missing.end()) why = it->second;
    if (auto it = v1_missing.find(capability); it != v1_missing.end()) {
      why += (why.empty() ? "" : "; ") + it->second;
    }
    layout.missing[capability] = why.empty() ? "not available" : why;
  };
  note("cpuset", layout.v2_cpuset || layout.v1_parents.count("cpuset"));
  note("cpu quota", layout.v2_cpu || layout.v1_parents.count("cpu"));
  note("memory limit", layout.v2_memory || layout.v1_parents.count("memory"));
  note("device isolation", layout.v2_devices || layout.v1_parents.count("devices"));
  return layout;
}

ContainmentReport ReportFor(const CgroupLayout& layout) {
  ContainmentReport report;
  report.kernel_tracked = true;
  report.cpuset = layout.v2_cpuset || layout.v1_parents.count("cpuset");
  report.cpu_quota = layout.v2_cpu || layout.v1_parents.count("cpu");
  report.memory_limit = layout.v2_memory || layout.v1_parents.count("memory");
  report.device_isolation = layout.v2_devices || layout.v1_parents.count("devices");

  std::vector<std::string> parts;
  if (layout.v2_parent) {
    report.cell_parents.push_back(*layout.v2_parent);
    std::string part = "cgroup v2 at " + layout.v2_parent->string() + " (membership, " +
                       (layout.v2_kill ? "cgroup.kill" : layout.v2_freeze ? "freeze and kill" : "kill by pid");
    if (layout.v2_cpuset) part += ", cpuset";
    if (layout.v2_cpu) part += ", cpu";
    if (layout.v2_memory) part += ", memory";
    if (layout.v2_devices) part += ", BPF device filter";
    parts.push_back(part + ")");
  }
  if (!layout.v1_parents.empty()) {
    std::string part = "cgroup v1";
    bool first = true;
    for (const auto& [controller, dir] : layout.v1_parents) {
      report.cell_parents.push_back(dir);
      part += (first ? " " : ", ") + controller;
      first = false;
    }
    parts.push_back(part);
  }
  report.backend = layout.v2_parent ? (layout.v1_parents.empty() ? "cgroup2" : "cgroup2+cgroup1") : "cgroup1";

  std::string summary;
  for (const std::string& part : parts) summary += (summary.empty() ? "" : " + ") + part;
  summary += "; enforced: cpu affinity, whole-tree kill";
  const std::pair<const char*, bool> capabilities[] = {{"cpuset", report.cpuset},
                                                       {"cpu quota", report.cpu_quota},
                                                       {"memory limit", report.memory_limit},
                                                       {"device isolation", report.device_isolation}};
  for (const auto& [name, have] : capabilities) {
    if (have) summary += std::string(", ") + name;
  }
  std::string not_enforced;
  for (const auto& [name, have] : capabilities) {
    if (have) continue;
    auto it = layout.missing.find(name);
    not_enforced += (not_enforced.empty() ? "" : ", ") + std::string(name) + " (" +
                    (it != layout.missing.end() ? it->second : "not available") + ")";
  }
  if (!not_enforced.empty()) summary += "; not enforced: " + not_enforced;
  report.summary = summary;
  return report;
}

void RemoveEmptyGroups(const CgroupLayout& layout) {
  if (layout.v2_parent) ::rmdir(layout.v2_parent->c_str());
  for (const auto& [controller, dir] : layout.v1_parents) ::rmdir(dir.c_str());
}

}  // namespace gpulse::worker
