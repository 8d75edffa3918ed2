// AttemptFiles: the folder through which the worker and the supervisor of one
// task attempt (gpulse-task-supervisor, supervisor_main.cc) talk, and the
// small files in it. The folder outlives both processes, so a worker that
// restarts finds every attempt it started and what became of it.
//
//   <work_dir>/attempts/<task_id>.<attempt>/
//     launch          the TaskLaunch and how to contain it (worker writes, once)
//     state           supervisor pid + its start time + the task's pid (supervisor
//                     writes once the task runs; the start time guards against a
//                     reused pid when a restarted worker looks for the supervisor)
//     exit            how the attempt ended (supervisor writes, fsynced, last)
//     cancel          a cancel request: the grace in ms (worker writes, then
//                     sends SIGUSR1 to the supervisor)
//     lease           the fencing deadline on CLOCK_BOOTTIME, ns (worker writes
//                     whenever the master answers; see ARCHITECTURE.md)
//     supervisor.log  the supervisor's own log lines
//
// Every file is written whole with WriteFileAtomically (temporary, fsync,
// rename, fsync of the folder): a reader sees the old content or the new,
// and `exit` survives a power cut once written. The folder is removed by the
// worker once the master has acknowledged the attempt's last event.
//
// Plain functions; thread-safe (they touch only the files named).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/status.h"
#include "worker/tasks/task_event.h"
#include "worker/tasks/task_launch.h"

namespace gpulse::worker {

// Where the attempt folders of `work_dir` live.
std::filesystem::path AttemptsRoot(const std::filesystem::path& work_dir);
// <work_dir>/attempts/<task_id>.<attempt>
std::filesystem::path AttemptDirFor(const std::filesystem::path& work_dir, const std::string& task_id,
                                    uint32_t attempt);

// What a supervisor needs to run its attempt.
struct SupervisedLaunch {
  TaskLaunch launch;
  std::filesystem::path work_dir;  // the worker's; the task runs in <work_dir>/tasks/<id>/
  std::string containment;         // the worker's --containment ("auto", "cgroup2", ...)
  std::string task_user;           // the worker's --task-user (ResolveTaskUser); "": the supervisor's own user
};

std::string SerializeLaunch(const SupervisedLaunch& launch);
// InvalidArgument when `text` is not what SerializeLaunch writes.
Result<SupervisedLaunch> ParseLaunch(const std::string& text);

struct SupervisorState {
  pid_t supervisor_pid = 0;
  uint64_t supervisor_start_time = 0;  // field 22 of /proc/PID/stat (clock ticks since boot)
  pid_t task_pid = 0;
};
std::string SerializeState(const SupervisorState& state);
Result<SupervisorState> ParseState(const std::string& text);

// The attempt's last TaskEvent (kExited, kCancelled or kFailedToStart).
std::string SerializeExit(const TaskEvent& event);
Result<TaskEvent> ParseExit(const std::string& text);

// Start time of `pid` (field 22 of <proc>/<pid>/stat), or NotFound when it
// no longer exists.
Result<uint64_t> ProcessStartTime(pid_t pid, const std::filesystem::path& proc = "/proc");

// Reads a whole small file; NotFound when missing.
Result<std::string> ReadSmallFile(const std::filesystem::path& path);
// WriteFileAtomically with mode 0600.
Status WriteAttemptFile(const std::filesystem::path& path, const std::string& data);

// The fencing lease as the worker writes it: CLOCK_BOOTTIME nanoseconds.
// A monotonic clock, system-wide (the supervisor reads the same clock after
// the worker is gone), that unlike CLOCK_MONOTONIC also counts while the
// host is suspended: a host that sleeps past its lease fences its tasks the
// moment it wakes, as the master, whose clock ran on, has requeued them.
int64_t MonotonicNowNs();
std::string SerializeLease(int64_t deadline_ns);
Result<int64_t> ParseLease(const std::string& text);

}  // namespace gpulse::worker
