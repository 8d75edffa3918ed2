// TaskRunner: runs task attempts as child processes of the worker and reports
// what becomes of them through a TaskEventSink.
//
// Each attempt runs as a process group of its own (its pgid is its pid), in
// <work_dir>/tasks/<task_id>/ (created if missing), with stdin from
// /dev/null, stdout and stderr to stdout.log and stderr.log there (truncated
// when an attempt starts), and the environment described in
// task_environment.h, which confines the task to its GPUs.
//
// Each attempt also gets a cell of the runner's Containment
// (containment/containment.h), which its main process enters before exec:
// every process the task starts — a child that calls setsid included —
// belongs to the cell. The cell carries the attempt's limits: `cpus` cores
// from the runner's CpuAllocator (tasks get disjoint cores while there are
// enough), `memory_bytes`, and the device nodes of its GPUs only, as far as
// the containment enforces them (its Report() says how far).
//
// The task is its main process. When the main process exits — on its own or
// after Cancel() — the runner kills everything left in the cell and waits
// until the cell is empty before it reports the end, so no helper process
// lingers holding the task's GPUs when they are called free. A task that
// wants its children to shut down gracefully must wait for them itself. A
// cell whose processes cannot be killed (stuck in the kernel) keeps the
// attempt running, and logged, until they go.
//
// Threads. All public methods are thread-safe. The runner owns one internal
// thread that waits for children (one pidfd per child in one poll; it never
// waits on children it did not start, except orphans of its tasks that the
// process containment hands it), waits for cells to empty, enforces cancel
// grace periods and calls the sink. The sink is called only on that thread,
// one event at a time, in the order events happened, never with the
// runner's lock held: it may call Start, Cancel and Running, but not
// Shutdown or the destructor. A slow sink delays later events and SIGKILLs
// after grace periods.
//
// What the worker daemon can rely on:
//  - Start() returning OK means exactly one of
//      kStarted followed by kExited or kCancelled, or
//      kFailedToStart
//    will be delivered for that attempt (unless Shutdown() comes first).
//  - A task id is busy (Start answers kAlreadyExists) from Start() until the
//    sink has returned from the attempt's last event. Running() lists a task
//    from when it has a pid until then, so a heartbeat never loses a task
//    whose exit has not been reported yet, nor a GPU still in use.
//  - When kExited or kCancelled is delivered, the main process has exited
//    and its cell is empty and removed: all its output is in stdout.log and
//    stderr.log. A LogTailer read until it returns no bytes, during the sink
//    call or later, therefore ships the attempt's whole output; ship it, then
//    report the exit. An attempt whose cell hit its memory limit and lost a
//    process to the OOM killer says so (out_of_memory, and the message).
//
// The runner reaps its children itself: the rest of the worker must not set
// SIGCHLD to SIG_IGN or call waitpid(-1), or exit statuses are lost (such a
// task ends with exit_code -1 and a message saying so).
//
// Shutdown(kill_tasks=true), which the destructor does, kills every task's
// cell, reaps the main processes and removes the cells (waiting up to 5 s
// for them to empty): the daemon's clean stop. With kill_tasks=false the
// tasks keep running in their cells after the worker is gone, as they do
// when the worker crashes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "worker/tasks/child_process.h"
#include "worker/tasks/containment/containment.h"
#include "worker/tasks/containment/cpu_allocator.h"
#include "worker/tasks/task_environment.h"
#include "worker/tasks/task_event.h"
#include "worker/tasks/task_executor.h"
#include "worker/tasks/task_launch.h"
#include "worker/tasks/task_user.h"
#include "common/unique_fd.h"

namespace gpulse::worker {

struct TaskRunnerConfig {
  // Tasks run in <work_dir>/tasks/<task_id>/; created when needed.
  std::filesystem::path work_dir;
  // The environment tasks start from. Unset: CleanBaseEnvironment of the
  // worker's environment (read once when the runner is constructed) and the
  // task user's home. Either way an attempt without HOME gets its task
  // directory as HOME.
  std::optional<Environment> base_environment;
  // Whom tasks run as (task_user.h). Unset, or one that does not switch:
  // the worker's own user. One that switches: the child takes its
  // credentials before exec, and each attempt's directory and output files
  // are made its own.
  std::optional<TaskUser> task_user;
  // Where attempts' processes are kept, limited and killed; shared with the
  // daemon that reports it. Unset: the process backend (no cgroups).
  std::shared_ptr<Containment> containment;
  // The cores tasks are pinned to. Empty: the affinity of the thread that
  // constructs the runner.
  std::vector<int> cpus;
  // Where the NVIDIA driver lists GPUs, to find their device minors.
  std::filesystem::path nvidia_gpus_dir = "/proc/driver/nvidia/gpus";
};

class TaskRunner final : public TaskExecutor {
 public:
  // Makes a runner and starts its internal thread. `sink` must outlive the
  // runner. Without a containment in `config` it uses the process backend
  // (process group + child subreaper). Fails (nothing started) when the
  // kernel refuses the eventfd that wakes the internal thread, or that
  // backend cannot be set up.
  static Result<std::unique_ptr<TaskRunner>> Create(TaskRunnerConfig config, TaskEventSink& sink);
  // Shutdown(/*kill_tasks=*/true) unless Shutdown was called already.
  ~TaskRunner() override;

  TaskRunner(const TaskRunner&) = delete;
  TaskRunner& operator=(const TaskRunner&) = delete;

  // Starts an attempt of `launch.task_id`. Returns OK when the attempt was
  // accepted; whether the program actually runs is reported as kStarted or
  // kFailedToStart (whose message says why, e.g. "argv[0] 'foo': No such file
  // or directory"). Returns kInvalidArgument for a malformed launch (bad task
  // id, empty argv, NUL bytes, GPU index/UUID lists of different lengths),
  // kAlreadyExists when the id is busy, kFailedPrecondition after Shutdown.
  // Blocks until the program has been exec'd (or failed to be).
  Status Start(const TaskLaunch& launch) override;

  // Asks the task to stop: SIGTERM to every process of its cell now, SIGKILL
  // to the cell once `grace` has passed if the main process is still alive
  // (at once for a zero grace). The attempt then ends with kCancelled. Calling it
  // again may shorten the grace, never lengthen it. Returns OK (also when the
  // task has already ended but its last event is not delivered yet), or
  // kNotFound when the id is not busy.
  Status Cancel(const std::string& task_id, std::chrono::milliseconds grace) override;

  // The tasks that have a process, in task id order. See the class comment
  // for exactly when a task is listed.
  std::vector<RunningTaskInfo> Running() const override;

  // Stops the internal thread; no events are delivered once it returns, and
  // events not yet delivered are dropped. With `kill_tasks`, kills every
  // task's cell, reaps the main processes and removes the cells first. Later calls do
  // nothing; Start then fails with kFailedPrecondition.
  void Shutdown(bool kill_tasks) override;

 private:
  struct Task {
    // kDraining: the main process is reaped; waiting for the cell to empty.
    enum class State { kStarting, kRunning, kDraining, kFinished };
    State state = State::kStarting;
    uint32_t attempt = 0;
    std::vector<uint32_t> gpu_indices;
    std::vector<std::string> gpu_uuids;
    pid_t pid = 0;
    UniqueFd pidfd;  // valid while kRunning
    std::unique_ptr<TaskCell> cell;  // set from kRunning until the cell is empty
    std::vector<int> cores;          // from cpus_, given back when the cell is gone
    uint64_t memory_bytes = 0;
    std::optional<TaskEvent> last_event;  // kDraining: sent once the cell is empty
    std::optional<std::chrono::steady_clock::time_point> draining_since;
    bool cancel_requested = false;
    std::optional<std::chrono::steady_clock::time_point> kill_deadline;
    bool killed_after_grace = false;
    std::chrono::milliseconds grace{0};
  };

  // Create()'s second half: `wake_fd` is a valid eventfd and
  // `config.containment` is set.
  TaskRunner(TaskRunnerConfig config, TaskEventSink& sink, UniqueFd wake_fd);

  // Prepares the task's folder and runs its program in `cell`; returns the
  // child or why it could not be run.
  Result<SpawnedChild> Spawn(const TaskLaunch& launch, const TaskCell& cell) const;

  void ReaperLoop();
  void Wake();
  void RequestStopLocked(Task& task, std::chrono::milliseconds grace);
  // Reaps the task's main process if it has exited; queues its last event.
  void ReapLocked(const std::string& task_id, Task& task);
  // kDraining: kills what is left in the cell; once it is empty, removes it
  // and queues the attempt's last event.
  void DrainLocked(const std::string& task_id, Task& task);
  void KillOverdueLocked(std::chrono::steady_clock::time_point now);
  // Scans cells the kernel does not track, about once a second.
  void TrackCellsLocked(std::chrono::steady_clock::time_point now);
  std::optional<std::chrono::steady_clock::time_point> NextDeadlineLocked() const;

  const std::filesystem::path work_dir_;
  const std::optional<TaskUser> task_user_;
  const Environment base_environment_;
  const std::shared_ptr<Containment> containment_;
  const std::filesystem::path nvidia_gpus_dir_;
  TaskEventSink& sink_;
  UniqueFd wake_fd_;  // eventfd that interrupts the reaper's poll

  mutable std::mutex mu_;
  std::condition_variable starts_done_;       // signalled when starting_ drops
  std::map<std::string, Task> tasks_;          // guarded by mu_
  std::deque<TaskEvent> pending_events_;      // guarded by mu_
  int starting_ = 0;                           // Start calls past the id check; guarded by mu_
  CpuAllocator cpus_;                          // guarded by mu_
  std::chrono::steady_clock::time_point next_track_;  // guarded by mu_
  bool stopping_ = false;                      // guarded by mu_
  bool shut_down_ = false;                     // guarded by mu_

  std::thread reaper_;
};

}  // namespace gpulse::worker
