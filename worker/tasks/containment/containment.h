// Containment: every process a task attempt starts lives in a cell of its
// own, which the worker can limit, signal as a whole, watch until it is empty
// and remove.
//
// A Containment is chosen once, at worker start-up, by OpenContainment():
//
//   cgroup2   a cgroup v2 group per cell under the worker's own cgroup.
//             Membership is kept by the kernel (setsid cannot leave it),
//             cgroup.kill kills the whole cell at once, cgroup.events says
//             when it is empty. Enforces cpuset, cpu.max and memory.max
//             where those controllers are available to the worker's
//             subtree, and GPU device nodes with an eBPF device filter
//             (device_filter.h) where the worker may attach one.
//   cgroup1   one group per cell in each v1 hierarchy the host mounts
//             (cpuset, cpu, memory, devices, freezer, pids). Membership is
//             kept by the kernel; a kill freezes the cell, SIGKILLs every
//             member and thaws it. Enforces cpuset, CFS quota,
//             memory.limit_in_bytes and GPU device nodes (devices.deny).
//   auto      cgroup v2 where it is writable, plus the v1 controllers for
//             what v2 lacks (the hybrid layout of many hosts); else
//             cgroup1; else process.
//   process   no cgroups: the worker becomes a child subreaper
//             (PR_SET_CHILD_SUBREAPER), so orphans of a task are re-parented
//             to it, and a cell is found as the task's process group, its
//             descendants (tracked by /proc scans) and orphans carrying the
//             task's marker in their environment. Still kills everything the
//             task started, setsid included, but enforces only CPU affinity.
//
// Whatever the backend, a child also gets sched_setaffinity to its cores, so
// `nproc` in a task prints the number of cores it was given.
//
// What a backend enforces is a value (ContainmentReport), logged at start-up
// and meant for the worker's registration; nothing is skipped silently.
//
// Threads: a Containment may be used from several threads at once (it only
// creates cells). A TaskCell is not synchronised: one owner (the task
// runner, under its lock) calls it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/tasks/containment/cell_entry.h"

namespace gpulse::worker {

// What the chosen backend can and cannot enforce.
struct ContainmentReport {
  std::string backend;             // "cgroup2", "cgroup2+cgroup1", "cgroup1" or "process"
  bool kernel_tracked = false;     // membership kept by cgroups: no process can leave its cell
  bool cpu_affinity = true;        // sched_setaffinity to the task's cores (always)
  bool cpuset = false;             // cpuset controller confines the cell to its cores
  bool cpu_quota = false;          // a CPU quota of N cores
  bool memory_limit = false;       // hard memory limit; OOM kills are reported
  bool device_isolation = false;   // GPU device nodes other than the task's cannot be opened
  // Where cells are created, one folder per hierarchy used (empty for process).
  std::vector<std::filesystem::path> cell_parents;
  // One line for logs and the registration, e.g. "cgroup v2 at … (membership,
  // cgroup.kill, BPF device filter) + cgroup v1 cpu, cpuset, memory;
  // enforced: …; not enforced: memory limit (no memory controller …)".
  std::string summary;
};

struct CellLimits {
  // CPU ids the cell may run on; empty: not pinned.
  std::vector<int> cpus;
  // Hard memory limit in bytes; 0: none.
  uint64_t memory_bytes = 0;
  // Minors of the NVIDIA device nodes (char major 195) the task may open;
  // every other GPU minor (0-253) is denied where device isolation is
  // enforced. nvidiactl (255), nvidia-modeset (254) and other majors stay open.
  std::vector<uint32_t> gpu_minors;
};

struct CellSpec {
  // Unique among the live cells of this containment; a single path
  // component (the runner uses "<task id>.<attempt>").
  std::string name;
  CellLimits limits;
  // A "NAME=value" entry of the environment every process of the task starts
  // with; the process backend uses it to recognise orphans (may be empty).
  std::string environment_marker;
};

class TaskCell {
 public:
  virtual ~TaskCell() = default;

  // What the child runs between fork and exec to enter the cell
  // (EnterCellInChild). Valid while the cell lives.
  virtual const CellEntry& Entry() const = 0;

  // Tells the cell the pid of the task's main process once it has exec'd.
  virtual void SetMainProcess(pid_t pid) = 0;

  // Sends `sig` to every live process of the cell. SIGKILL goes through
  // cgroup.kill or a frozen cell where the backend has them, so no process
  // can fork its way out. Safe to repeat. Fails only when the cell's
  // membership cannot be read (the message says which file).
  virtual Status Signal(int sig) = 0;

  // Records the cell's current processes. Needed only where the kernel does
  // not track membership (the process backend, about once a second while the
  // task runs); a no-op elsewhere. Also reaps exited orphans the worker
  // inherited.
  virtual void Track() = 0;

  // True once no live process is left in the cell (a zombie main process
  // that the runner has not reaped yet does not count). An error when the
  // membership cannot be read.
  virtual Result<bool> Empty() = 0;

  // A descriptor that polls POLLPRI when Empty() may have changed, or -1
  // when the caller must poll Empty() on a timer.
  virtual int EmptinessFd() const = 0;

  // True when the kernel killed a process of the cell because the cell hit
  // its memory limit.
  virtual bool OomKilled() = 0;

  // Removes the cell's groups. FailedPrecondition while processes remain;
  // the destructor does the same quietly (a populated cell is left, e.g.
  // when the worker stops without killing its tasks).
  virtual Status Destroy() = 0;
};

class Containment {
 public:
  virtual ~Containment() = default;
  virtual const ContainmentReport& Report() const = 0;
  // Creates an empty cell with `spec.limits` applied. Fails with the file
  // that could not be written, e.g. "cgroup v1 memory: write
  // '/sys/fs/cgroup/memory/gpulse-1/t.1/memory.limit_in_bytes': Invalid
  // argument"; nothing is left behind then.
  virtual Result<std::unique_ptr<TaskCell>> CreateCell(const CellSpec& spec) = 0;
};

struct ContainmentOptions {
  enum class Backend { kAuto, kCgroup2, kCgroup1, kProcess };
  Backend backend = Backend::kAuto;
  // The folder holding this worker's cells, created in each hierarchy under
  // the worker's own cgroup; a single path component unique per worker on
  // the host (CellGroupNameFor gives one).
  std::string group = "gpulse";
  // Where the kernel's views are read; tests may point them elsewhere.
  std::filesystem::path proc = "/proc";
};

// Chooses and prepares the backend: creates the group folders (removing
// empty cells left by an earlier run) and, for the process backend, makes
// this process a child subreaper. kAuto never fails (the process backend
// is always possible); a forced backend the host cannot offer fails with
// kUnavailable and the reason.
Result<std::shared_ptr<Containment>> OpenContainment(const ContainmentOptions& options);

// The worker's start-up in one call: parses `backend` ("auto", "cgroup2",
// "cgroup1", "process") and opens it with the group CellGroupNameFor(work_dir).
Result<std::shared_ptr<Containment>> OpenContainmentFor(std::string_view backend,
                                                        const std::filesystem::path& work_dir);

// "auto", "cgroup2", "cgroup1", "process"; InvalidArgument otherwise.
Result<ContainmentOptions::Backend> ParseContainmentBackend(std::string_view name);

// A group name that is stable for one work dir and differs between workers
// sharing a host: "gpulse-" and 16 hex digits of a hash of the absolute path.
std::string CellGroupNameFor(const std::filesystem::path& work_dir);

// True for a name CellGroupNameFor makes: "gpulse-" and 16 lower-case hex
// digits.
bool IsCellGroupName(std::string_view name);

}  // namespace gpulse::worker
