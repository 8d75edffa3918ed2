// The master's picture of the cluster: workers, their GPUs, and tasks.
//
// Plain values. The live copies are owned by Cluster (master/core/cluster.h) and
// guarded by its mutex; everything else sees copies (snapshots).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sample/gpu_identity.h"
#include "sample/sample.h"
#include "sample/worker_capacity.h"

namespace gpulse::master {

using WallTime = std::chrono::system_clock::time_point;

enum class WorkerState { kHealthy, kSuspect, kDead };
enum class TaskState { kQueued, kAssigned, kRunning, kSucceeded, kFailed, kCancelled };

const char* WorkerStateName(WorkerState s);  // "healthy", "suspect", "dead"
const char* TaskStateName(TaskState s);      // "queued", …, "cancelled"
std::optional<TaskState> ParseTaskState(const std::string& name);
// Whether a task in state `s` has finished for good (succeeded, failed,
// cancelled). The one list of finished states: clients read it as the task
// JSON's "finished" (master/api/api_json.cc) rather than keeping their own.
inline bool IsTerminal(TaskState s) {
  return s == TaskState::kSucceeded || s == TaskState::kFailed || s == TaskState::kCancelled;
}

// Task ids: "t-000042" is task number 42. Numbers are given in submission
// order and never reused, so they order tasks (newest first in pages) both
// in the master's memory and in its store.
std::string FormatTaskId(uint64_t number);
// 42 for "t-000042"; 0 for an id of another form.
uint64_t ParseTaskNumber(const std::string& id);

// What a submitter asks for.
struct TaskSpec {
  std::string name;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  uint32_t cpus = 1;
  uint64_t memory_bytes = 0;
  uint32_t gpus = 0;  // whole GPUs
  uint32_t max_attempts = 3;

  bool operator==(const TaskSpec&) const = default;
};

// What a task's GPUs did while it ran, summed over its attempts
// (master/core/task_usage.h accumulates it from its workers' heartbeats).
// Since gpulse gives whole GPUs, a GPU's device figures are its task's.
// Figures a GPU never reported stay absent (or their seconds 0), never a
// fake zero.
struct TaskUsage {
  double gpu_seconds = 0;       // allocated: each GPU's seconds between heartbeats while running
  double gpu_seconds_used = 0;  // the same weighted by utilization (80 % for 10 s is 8)
  // Sums behind the means: utilization × seconds, over the GPU-seconds
  // where utilization was known.
  double utilization_gpu_sum = 0, utilization_gpu_seconds = 0;
  double utilization_memory_sum = 0, utilization_memory_seconds = 0;
  std::optional<double> peak_utilization_gpu;     // %
  std::optional<uint64_t> peak_memory_used_bytes;  // on one GPU
  // From the energy counter's delta where the GPU has one, else power ×
  // seconds; absent while neither is known.
  std::optional<double> energy_joules;
  // The most compute processes seen at once on one of its GPUs (NVML's
  // list; it includes processes outside gpulse, if any).
  std::optional<uint32_t> max_gpu_processes;
  // Of those, the most outside gpulse seen at once on one of its GPUs (as
  // its worker judged them: GpuProcess::outside_gpulse). Absent while
  // unknown: no sample whose processes' owners were all known, or that
  // showed one outside.
  std::optional<uint32_t> max_outside_processes;

  std::optional<double> MeanUtilizationGpu() const {
    if (utilization_gpu_seconds <= 0) return std::nullopt;
    return utilization_gpu_sum / utilization_gpu_seconds;
  }
  std::optional<double> MeanUtilizationMemory() const {
    if (utilization_memory_seconds <= 0) return std::nullopt;
    return utilization_memory_sum / utilization_memory_seconds;
  }
  bool operator==(const TaskUsage&) const = default;
};

struct Task {
  std::string id;
  TaskSpec spec;
  TaskState state = TaskState::kQueued;
  std::string worker_id;                // set from assignment on
  std::vector<uint32_t> gpu_indices;    // NVML indices on that worker
  std::vector<std::string> gpu_uuids;   // the same GPUs by UUID
  uint32_t attempts = 0;                // times it was assigned
  // Of those, the ones that failed to start because of their worker (not
  // because of the task): they do not count towards max_attempts.
  uint32_t start_failures = 0;
  // Of those, the ones that ended in a hardware failure of one of its GPUs
  // (a critical XID, a double-bit ECC error, a lost GPU): they do not
  // count towards max_attempts either.
  uint32_t hardware_failures = 0;
  std::optional<int> exit_code;
  std::string message;                  // why it failed or was requeued
  // While queued: why it is not running yet, from the latest scheduling
  // round (master/core/pending_reason.h); empty otherwise. Derived, not
  // stored: a recovered master computes it afresh.
  std::string pending_reason;
  // A cancel was asked for while it was assigned or running; it becomes
  // kCancelled when its worker reports that it stopped.
  bool cancel_requested = false;
  WallTime submitted_at{};
  std::optional<WallTime> started_at;
  std::optional<WallTime> finished_at;
  // What its GPUs did (live while it runs; stored with its next write).
  TaskUsage usage;
  // Set while all its GPUs have stayed below the idle threshold for the
  // idle period: since when they were below it. Cleared when busy again.
  std::optional<WallTime> idle_since;
  // Why the master asked to cancel it (e.g. "GPUs idle for 30 min"); empty
  // for a user's cancel.
  std::string cancel_reason;

  // The runs that count towards max_attempts.
  uint32_t RunsSpent() const { return attempts - std::min(attempts, start_failures + hardware_failures); }

  bool operator==(const Task&) const = default;
};

// A GPU's health as the master judges it (master/core/gpu_health.h).
enum class GpuHealth { kHealthy, kDegraded, kUnhealthy };
const char* GpuHealthName(GpuHealth h);  // "healthy", "degraded", "unhealthy"

struct WorkerGpu {
  GpuIdentity identity;  // as the worker registered it
  // Unhealthy while its queries fail; healthy again after
  // kGoodSamplesToRecover consecutive good samples.
  bool healthy = true;
  uint32_t good_streak = 0;
  // From `healthy` and the latest sample's health figures (XIDs, ECC, row
  // remapping, throttling): an unhealthy GPU gets no new task, a degraded
  // one is chosen last.
  GpuHealth health = GpuHealth::kHealthy;
  std::vector<std::string> health_reasons;
  std::string allocated_to;  // task id, or empty (see Worker::task_ids)
  GpuSample live;            // the latest sample of it
  // Faults no longer held against the GPU: the event counts (and volatile
  // double-bit ECC count) as they were when an operator cleared it, or when
  // recoverable XIDs healed after a clean period (master/core/gpu_faults.h).
  GpuEvents cleared_events;
  uint64_t cleared_ecc_dbe = 0;
  // When the master last saw a new critical XID or double-bit ECC error on
  // it (wall time of the master), and which.
  std::optional<WallTime> last_fault_at;
  std::string last_fault;
  // The latest task that failed on it, for a fault reported just after the
  // failure (master/core/gpu_faults.h).
  std::string last_failed_task;
};

constexpr uint32_t kGoodSamplesToRecover = 3;

// A GPU as registered, before any sample of it: healthy, unallocated, and
// its live sample naming it with no figure.
inline WorkerGpu RegisteredGpu(const GpuIdentity& identity) {
  WorkerGpu gpu;
  gpu.identity = identity;
  gpu.live = UnreadSample(identity);
  return gpu;
}

struct Worker {
  std::string id;
  std::string address;
  WorkerCapacity capacity;  // as registered: hostname, CPU cores, memory
  std::vector<WorkerGpu> gpus;
  std::chrono::milliseconds heartbeat_interval{5000};

  WorkerState state = WorkerState::kHealthy;
  bool connected = false;
  // Drained by an operator: keeps its running tasks, gets no new ones.
  bool draining = false;
  // Why the worker says it cannot run tasks (its self-check, from the
  // latest registration or heartbeat); empty when it can. Nothing is
  // placed on it meanwhile.
  std::string unhealthy_reason;
  WallTime registered_at{};
  std::optional<WallTime> last_heartbeat;         // wall time, for users
  std::chrono::steady_clock::time_point last_seen{};  // monotonic, for liveness
  uint64_t heartbeats = 0;

  HostSample host;             // live host figures
  std::optional<double> gpu_percent;
  NvmlState nvml;
  CollectorStats collector;    // from the latest heartbeat

  // What the master did not believe or accept from this worker since it
  // started (master/core/worker_report_limits.h): values dropped as
  // implausible, by field ("gpu.utilization_gpu", "gpu.unregistered", ...),
  // and messages refused, by kind ("task_update", "log_chunk").
  std::map<std::string, uint64_t> values_rejected;
  std::map<std::string, uint64_t> messages_refused;

  // The allocation: what is booked for the tasks assigned to or running on
  // it. These, and gpus[].allocated_to, are written only through
  // AllocationLedger (master/core/allocation_ledger.h), which keeps them in
  // step; everyone else reads them.
  uint32_t cpus_allocated = 0;
  uint64_t memory_allocated = 0;
  std::vector<std::string> task_ids;  // tasks assigned to or running on it

  uint32_t gpus_allocated() const {
    uint32_t n = 0;
    for (const auto& g : gpus) n += g.allocated_to.empty() ? 0 : 1;
    return n;
  }
};

}  // namespace gpulse::master
