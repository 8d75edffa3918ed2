// The CLI's views of the fleet, as pure functions from the API's JSON
// (docs/api.md) to text: no HTTP, no clock, no terminal — the caller
// passes the time and the width — so golden tests pin the layouts.
//
//   RenderWorkers  `gpulse workers`: one line per worker
//   RenderGpus     `gpulse gpus`: one line per GPU across the fleet
//   RenderTasks    `gpulse tasks`: one line per task
//   RenderTask     `gpulse status`: one task in detail
//
// Unknown figures print as "n/a"; a dead worker's last figures are stale
// and print as "-". Thread-safe (no state).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

namespace gpulse::cli {

struct ViewOptions {
  double now = 0;        // seconds since the epoch, for ages and run times
  size_t width = 80;     // fit this many columns; 0: no limit
  bool wide = false;     // -o wide: more columns, never cut
  bool color = false;    // ANSI colours (only on a terminal, never with NO_COLOR)
};

// Columns WORKER, STATE, GPUS (free/total), UTIL (mean), CPU, MEM, SEEN
// (heartbeat age), HEALTH; wide adds MODEL and PER-GPU (index:util, "!"
// after an unhealthy one). `workers`: the /api/workers array.
std::string RenderWorkers(const nlohmann::json& workers, const ViewOptions& view);

struct GpuFilter {
  std::string worker;     // only this worker's GPUs; empty: all
  bool idle = false;      // only GPUs no task holds, on live workers
  bool unhealthy = false; // only GPUs not healthy (degraded, unhealthy, unreadable)
};
// Columns WORKER, GPU, MODEL, UTIL, MEMORY (used/total GiB), TEMP, POWER,
// HEALTH, TASK; wide adds UUID. `workers`: the /api/workers array.
std::string RenderGpus(const nlohmann::json& workers, const GpuFilter& filter, const ViewOptions& view);

// Columns ID, NAME (the command when unnamed), STATE, AGE, TIME (run
// time), GPUS (a count; wide: the indices), WORKER, and REASON (why a
// queued task waits, or how a finished one ended); wide adds ATTEMPTS.
// `tasks`: an array of task objects, printed in the order given.
std::string RenderTasks(const nlohmann::json& tasks, const ViewOptions& view);

// One task: times, run time, the command quoted for a shell, resources,
// GPUs (indices and UUIDs), pending reason, and its "usage" and
// "idle_since" objects when the task has them.
std::string RenderTask(const nlohmann::json& task, const ViewOptions& view);

// `argv` as one line a POSIX shell reads back as the same words.
std::string ShellQuote(const nlohmann::json& argv);
// 42 -> "42s", 300 -> "5m", 7200 -> "2h", 3 days -> "3d" (for ages).
std::string ShortDuration(double seconds);
// 252 -> "4m12s", 3720 -> "1h02m" (for run times).
std::string RunDuration(double seconds);

}  // namespace gpulse::cli
