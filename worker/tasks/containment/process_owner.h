// Who a process on this host belongs to: gpulse (a task's process or a
// descendant of one) or something outside gpulse. The worker asks this of
// every compute process NVML lists on its GPUs, once per heartbeat.
//
// A process belongs to gpulse when it, or one of its ancestors (following
// the parent pid, at most kMaxAncestorsWalked steps up), either
//   - sits in a gpulse cell: a path of its /proc/<pid>/cgroup has a folder
//     named like a worker's cell group ("gpulse-" and 16 hex digits,
//     IsCellGroupName; each worker's and each task supervisor's group), or
//   - started with GPULSE_TASK_ID in its environment (/proc/<pid>/environ;
//     every task process gets it, task_environment.h), so a child that
//     cleaned its environment is found through its parent.
//
// The owner is unknown, never "outside", when the process cannot be looked
// at: /proc/<pid> does not exist (it exited, or the worker sees another pid
// namespace than the driver's host pids) or its own cgroup or environ
// cannot be read (another user's process, without the rights to trace it);
// also when an ancestor exits during the walk or the walk reaches its
// bound. An ancestor whose environ cannot be read (e.g. a root-owned init
// or sshd, for a worker that is not root) is judged by its cgroup alone.
// Limit: where the worker's pid namespace differs from the driver's, a
// pid that happens to exist in both is judged as the worker sees it.
//
// Stateless; thread-safe. Reads a few small /proc files per process walked.
#pragma once

#include <sys/types.h>

#include <filesystem>

namespace gpulse::worker {

enum class ProcessOwner { kGpulse, kOutside, kUnknown };

// Deeper than any real process tree; bounds the walk if /proc lies.
inline constexpr int kMaxAncestorsWalked = 64;

// The owner of `pid` as seen in `proc` (the host's /proc; tests give a fake
// tree with <pid>/stat, <pid>/environ and <pid>/cgroup files).
ProcessOwner FindProcessOwner(const std::filesystem::path& proc, pid_t pid);

}  // namespace gpulse::worker
