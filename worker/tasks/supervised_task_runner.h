// SupervisedTaskRunner: runs each task attempt under a supervisor process of
// its own (gpulse-task-supervisor, supervisor_main.cc) that outlives the
// worker — the pattern of Slurm's slurmstepd, Nomad's executor and
// containerd's shim.
//
// Start() writes the attempt's folder (attempt_files.h) and starts the
// supervisor through a double fork with setsid, so it is nobody's child here
// (the worker must not be a child subreaper: Create() clears that flag) and
// has no terminal. The supervisor opens the worker's kind of containment
// for itself (the process backend makes the supervisor the task's child
// subreaper), runs the task with a TaskRunner, records its pid in `state`,
// and when the task has ended and its cell is empty writes `exit` (fsynced)
// and exits. The worker watches each supervisor through a pidfd; a cancel is
// the `cancel` file plus SIGUSR1.
//
// A worker that stops or dies leaves supervisors and tasks running. The next
// Create() on the same work dir re-adopts them: an attempt whose supervisor
// still runs (pid and start time as recorded) is watched again and listed by
// Running(); an attempt that ended meanwhile is reported with its recorded
// event. Attempt folders stay until Collected() — the master has the last
// event — so a worker killed before the master acknowledged an exit reports
// it again after its restart.
//
// Fencing: RenewLease() writes each running attempt's `lease`, a deadline
// on CLOCK_BOOTTIME; a supervisor whose deadline passes unrenewed kills its
// task (with or without a worker). See ARCHITECTURE.md for the timing.
//
// Threads and the event contract as for TaskRunner (task_runner.h): events on
// the runner's own thread, in order, never under its lock. Events of adopted
// attempts are held until ReleaseEvents(), so the sink can be built after the
// runner.
//
// Not covered: an attempt whose worker died while its supervisor was still
// starting the task (no `state` yet) is forgotten by the next worker; its
// lease, written before the supervisor started, still fences it.
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
#include "common/unique_fd.h"
#include "worker/tasks/task_event.h"
#include "worker/tasks/task_executor.h"

namespace gpulse::worker {

struct SupervisedTaskRunnerConfig {
  std::filesystem::path work_dir;
  // The supervisor program. Empty: gpulse-task-supervisor beside the running
  // program (/proc/self/exe), where packages install both.
  std::filesystem::path supervisor_path;
  // Passed to each supervisor, which opens this kind of containment for its
  // attempt (OpenContainmentFor): "auto", "cgroup2", "cgroup1" or "process".
  std::string containment = "process";
  // Passed to each supervisor, which resolves it (ResolveTaskUser) and runs
  // its task as that user: the worker's --task-user.
  std::string task_user;
  // Where Shutdown(kill_tasks=true) waits for supervisors to end.
  std::chrono::milliseconds stop_wait{10000};
};

class SupervisedTaskRunner final : public TaskExecutor {
 public:
  // Re-adopts what an earlier worker left in <work_dir>/attempts and starts
  // the runner's thread. Fails when the eventfd cannot be made or the
  // supervisor program is missing (an attempts folder that cannot be made
  // is logged; each Start then ends in kFailedToStart).
  static Result<std::unique_ptr<SupervisedTaskRunner>> Create(SupervisedTaskRunnerConfig config,
                                                              TaskEventSink& sink);
  // Shutdown(/*kill_tasks=*/false): the tasks run on.
  ~SupervisedTaskRunner() override;

  // As TaskRunner::Start; blocks until the supervisor says the program runs
  // (or could not be run). kFailedToStart when the supervisor itself cannot
  // start (its log is named in the message).
  Status Start(const TaskLaunch& launch) override;
  Status Cancel(const std::string& task_id, std::chrono::milliseconds grace) override;
  std::vector<RunningTaskInfo> Running() const override;
  // Stops the runner's thread. With `kill_tasks`, each supervisor is told to
  // kill its task (grace 0) and waited for (up to stop_wait), and the
  // attempts' folders are removed, so the master requeues the tasks (as it
  // did before supervisors); without, supervisors and tasks run on.
  void Shutdown(bool kill_tasks) override;
  // Removes the attempt's folder.
  void Collected(const std::string& task_id, uint32_t attempt) override;
  void RenewLease(int64_t at_ns, std::chrono::milliseconds lease) override;

  // Lets the events of re-adopted attempts go to the sink.
  void ReleaseEvents();

  // How much earlier than the master's lease the supervisor fences: a fifth
  // of the lease, at least 2 s (covers the time a heartbeat's answer spends
  // on the wire and in queues, and the supervisor's timer slack).
  static std::chrono::milliseconds FenceMargin(std::chrono::milliseconds lease);
  // at_ns + lease - FenceMargin(lease).
  static int64_t FenceDeadlineNs(int64_t at_ns, std::chrono::milliseconds lease);

 private:
  struct Attempt {
    enum class State { kStarting, kRunning, kEnded };
    State state = State::kStarting;
    uint32_t attempt = 0;
    std::vector<uint32_t> gpu_indices;
    std::vector<std::string> gpu_uuids;
    pid_t task_pid = 0;
    pid_t supervisor_pid = 0;
    UniqueFd pidfd;  // the supervisor's, while kRunning
    bool cancel_requested = false;
    std::chrono::milliseconds grace{0};
  };

  SupervisedTaskRunner(SupervisedTaskRunnerConfig config, TaskEventSink& sink, UniqueFd wake_fd);
  void AdoptAll();
  void Adopt(const std::filesystem::path& dir);
  // Starts the supervisor for `dir` and waits for its word; the supervisor's
  // state, or why it did not start.
  Status SpawnSupervisor(const std::filesystem::path& dir);
  // Tells the supervisor of `a` to stop its task within `grace`.
  void SendCancel(const std::string& task_id, Attempt& a, std::chrono::milliseconds grace);
  // The supervisor of `task_id` has exited: its recorded event.
  TaskEvent EndedEvent(const std::string& task_id, const Attempt& a) const;
  std::filesystem::path DirOf(const std::string& task_id, uint32_t attempt) const;
  void Loop();
  void Wake();

  const SupervisedTaskRunnerConfig config_;
  TaskEventSink& sink_;
  UniqueFd wake_fd_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Attempt> tasks_;  // guarded by mu_
  std::deque<TaskEvent> pending_;         // guarded by mu_
  std::optional<int64_t> lease_deadline_ns_;  // guarded by mu_; the latest written
  bool hold_events_ = true;               // guarded by mu_
  bool stopping_ = false;                 // guarded by mu_
  bool shut_down_ = false;                // guarded by mu_
  std::thread thread_;
};

}  // namespace gpulse::worker
