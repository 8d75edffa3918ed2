// CellEntry: what a freshly forked child does to enter its task's cell before
// it execs — join the cell's cgroups and take its CPU affinity.
//
// Prepared by a TaskCell before fork; EnterCellInChild runs in the child
// between fork and exec, where only async-signal-safe calls are allowed, so
// it only writes to descriptors opened beforehand and makes system calls.
#pragma once

#include <sched.h>

#include <vector>

namespace gpulse::worker {

struct CellEntry {
  // "cgroup.procs" files of the cell's groups, open for writing and
  // close-on-exec; owned by the cell.
  std::vector<int> cgroup_procs_fds;
  // Cores to run on; unset: keep the worker's affinity.
  bool pin = false;
  cpu_set_t cores{};
};

// The step of EnterCellInChild that failed, for the parent's message.
enum class CellEntryStep : int { kNone = 0, kJoinCgroup, kSetAffinity };

struct CellEntryFailure {
  CellEntryStep step = CellEntryStep::kNone;
  int err = 0;  // errno
};

// Moves the calling process into every group of `entry` (writes "0" to each
// cgroup.procs) and pins it. Async-signal-safe. Returns step kNone on success.
CellEntryFailure EnterCellInChild(const CellEntry& entry);

}  // namespace gpulse::worker
