// CgroupLayout: which cgroup folders a cgroup containment puts its cells in,
// and how it finds them on the host.
//
// FindCgroupLayout reads /proc/self/mountinfo and /proc/self/cgroup, creates
// the worker's group folder (ContainmentOptions::group) under the worker's
// own cgroup in each hierarchy it will use, enables the v2 controllers it
// can for that folder, and removes empty cells left there by an earlier
// run. Not thread-safe; called once at start-up.
//
// The worker holds an exclusive flock on each of its group folders for as
// long as the layout lives. A folder named like a worker's group
// (CellGroupNameFor) that nobody holds belongs to a worker that is gone:
// start-up removes it with its empty cells (cells whose tasks still run
// stay), so workers that were killed leave nothing behind for long.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "worker/tasks/containment/containment.h"

namespace gpulse::worker {

struct CgroupLayout {
  // cgroup v2: the folder holding the cells, and what it offers them.
  std::optional<std::filesystem::path> v2_parent;
  bool v2_kill = false;     // cgroup.kill (kernel 5.14+)
  bool v2_freeze = false;   // cgroup.freeze (kernel 5.2+)
  bool v2_cpuset = false;   // controllers enabled for the cells
  bool v2_cpu = false;
  bool v2_memory = false;
  bool v2_devices = false;  // BPF device filters can be attached (device_filter.h)
  // cgroup v1: controller ("cpuset", "cpu", "memory", "devices", "freezer",
  // "pids") -> the folder holding the cells in its hierarchy.
  std::map<std::string, std::filesystem::path> v1_parents;
  // Why a capability is missing, for the report: e.g. {"memory limit", "no
  // memory controller in the worker's cgroup v2 subtree"}.
  std::map<std::string, std::string> missing;
  // The flocked group folders (see above).
  std::vector<UniqueFd> group_locks;
};

// The layout for `options.backend` (kAuto, kCgroup2 or kCgroup1). kUnavailable
// with the reason when the host has no such hierarchy or this process cannot
// create groups in it.
Result<CgroupLayout> FindCgroupLayout(const ContainmentOptions& options);

// What a containment with `layout` enforces, with its one-line summary.
ContainmentReport ReportFor(const CgroupLayout& layout);

// Removes the layout's group folders if they hold no cells.
void RemoveEmptyGroups(const CgroupLayout& layout);

}  // namespace gpulse::worker
