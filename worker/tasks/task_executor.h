// TaskExecutor: what the worker agent needs of whatever runs its tasks.
//
// Two implementations:
//   TaskRunner            (task_runner.h) runs attempts as children of the
//                         calling process; the supervisor uses it for its one
//                         attempt, and tests use it directly.
//   SupervisedTaskRunner  (supervised_task_runner.h) gives each attempt a
//                         supervisor process that outlives the worker; what
//                         gpulse-worker uses.
// Both keep the event contract of task_runner.h (each accepted Start ends in
// kStarted then kExited/kCancelled, or kFailedToStart; events on the
// executor's own thread, in order). Thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/tasks/task_launch.h"

namespace gpulse::worker {

struct RunningTaskInfo {
  std::string task_id;
  uint32_t attempt = 0;
  pid_t pid = 0;  // also its process group id
  std::vector<uint32_t> gpu_indices;
  std::vector<std::string> gpu_uuids;
};

class TaskExecutor {
 public:
  virtual ~TaskExecutor() = default;
  // See TaskRunner::Start, Cancel, Running and Shutdown.
  virtual Status Start(const TaskLaunch& launch) = 0;
  virtual Status Cancel(const std::string& task_id, std::chrono::milliseconds grace) = 0;
  virtual std::vector<RunningTaskInfo> Running() const = 0;
  virtual void Shutdown(bool kill_tasks) = 0;
  // The master has acknowledged the last event of this attempt: whatever the
  // executor kept to report it again after a restart may go. Default: nothing
  // is kept.
  virtual void Collected(const std::string& task_id, uint32_t attempt) {
    (void)task_id;
    (void)attempt;
  }
  // The master answered at `at_ns` (MonotonicNowNs) and grants tasks a lease
  // of `lease`: the executor's tasks must not outlive at_ns + lease - margin
  // without another renewal. Default: no fencing.
  virtual void RenewLease(int64_t at_ns, std::chrono::milliseconds lease) {
    (void)at_ns;
    (void)lease;
  }
};

// Checks a launch as every executor does before starting it:
// kInvalidArgument for a bad task id, empty argv, NUL bytes, a bad
// environment name or GPU index/UUID lists of different lengths.
Status ValidateTaskLaunch(const TaskLaunch& launch);

}  // namespace gpulse::worker
