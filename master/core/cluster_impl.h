// Cluster::Impl: the state behind Cluster, and the helpers its parts share.
// Internal to the master core; the parts are
//   cluster.cc           construction, Recover, snapshots, counts, versions
//   cluster_workers.cc   registration, heartbeats, liveness
//   cluster_tasks.cc     submit, cancel, task events
//   cluster_schedule.cc  placement rounds
//   cluster_retention.cc finished tasks leaving memory; lookups and pages
//                        across memory and the store
//
// A worker's allocation changes only through AllocationLedger
// (allocation_ledger.h). Every member is guarded by `mu`; every helper
// expects it held.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "master/core/cluster.h"
#include "master/core/pending_reason.h"
#include "master/core/task_usage.h"

namespace gpulse::master {

struct TaskEntry;

// One running task of a worker, with what a heartbeat's idle judgement
// reads (WorkerEntry::running_accounts), so that a heartbeat touches only
// its worker's own memory: no task lookup, no UUID comparison, no
// allocation, no cold task entry. Its usage is the difference between its
// GPUs' counters and their marks (task_usage.h), added to the task's usage
// lazily: on a read of the task (TaskView), a write of it (Impl::Record),
// the end of its run, or the rebuild of the accounts (DetachAccounts).
struct RunningAccount {
  TaskEntry* entry = nullptr;  // null once detached (the task stopped running here)
  // Its GPUs, parallel to task.gpu_uuids: WorkerEntry::account_gpus[first_gpu
  // .. first_gpu + gpus), also at `gpu_slots` (valid until the next rebuild).
  TaskGpu* gpu_slots = nullptr;
  uint32_t first_gpu = 0;
  uint32_t gpus = 0;
  std::optional<WallTime> idle_since;  // mirrors entry->task.idle_since (written there on a change)

  std::span<TaskGpu> Gpus() const { return {gpu_slots, gpus}; }
};

struct WorkerEntry {
  Worker worker;
  WorkerChannel* channel = nullptr;  // the current stream's; null when disconnected
  // Per GPU (parallel to worker.gpus): the heartbeat number that last
  // reported it, to notice GPUs missing from a heartbeat.
  std::vector<uint64_t> gpu_reported_in;
  // Per GPU (parallel to worker.gpus): what it did, cumulatively
  // (task_usage.h). A running task's account points into it: reassigned
  // only after DetachAccounts.
  std::vector<GpuUsageCounter> gpu_counters;
  // The tasks running here, in task_ids order, and their GPUs
  // (RebuildRunningAccounts). Derived from task_ids, the tasks' states and
  // GPUs, and worker.gpus; whatever changes one of those sets
  // `accounts_stale` (Impl::MarkAccountsStale), and the next heartbeat
  // rebuilds them (after folding what they hold back into the tasks).
  // TaskEntry pointers stay valid while the task is unfinished: only
  // finished tasks, detached from every account, are erased
  // (ForgetFinishedTasks). A WorkerEntry must not go away while a task is
  // attached to one of its accounts (DetachAccounts first).
  std::vector<RunningAccount> running_accounts;
  std::vector<TaskGpu> account_gpus;
  bool accounts_stale = true;
  // The idle judgement runs on a heartbeat only while one of the accounts
  // is idle (to notice it busy again) or from `idle_check_at` on: the
  // earliest time one of them could become idle (JudgeIdle).
  uint32_t idle_accounts = 0;
  Clock::TimePoint idle_check_at{};
};

struct TaskEntry {
  Task task;
  // Submission order, unique: the task number (ParseTaskNumber), so that
  // memory and store order tasks alike.
  uint64_t order = 0;
  // When it finished (the injected clock), while it is finished.
  Clock::TimePoint finished_mono{};
  // The attempt whose output the log store could not take (a full disk):
  // its worker sends it again, and AcceptOutput takes that attempt's output
  // from its worker even after the task finished. 0: none. In memory only.
  uint32_t output_owed_attempt = 0;
  // The streams (bit 0 stdout, bit 1 stderr) of that attempt whose output
  // was refused and has not been stored since; the task says so while any.
  uint8_t output_unstored_streams = 0;
  // Its worker's account of it while one is attached: its GPUs' counters
  // and marks (what they gained since is not yet in task.usage).
  RunningAccount* account = nullptr;
};

// Folds what the task's account accumulated into task.usage (the account
// goes on from zero). Nothing when no account is attached.
void FoldUsage(TaskEntry& entry);
// Folds and detaches the two. Nothing when no account is attached.
void DetachAccount(TaskEntry& entry);
// DetachAccount for every task attached to the worker's accounts; leaves
// them empty and stale.
void DetachAccounts(WorkerEntry& worker);
// The task as readers see it: its usage with what its account holds added.
Task TaskView(const TaskEntry& entry);

struct Cluster::Impl {
  Impl(TaskStore& store, PlacementPolicy& policy, Clock& clock, ClusterConfig config)
      : store(store), policy(policy), clock(clock), config(config) {}

  TaskStore& store;
  PlacementPolicy& policy;
  Clock& clock;
  const ClusterConfig config;

  mutable std::mutex mu;
  mutable std::condition_variable changed;
  mutable uint32_t waiters = 0;
  uint64_t version = 0;

  bool recovered = false;

  std::unordered_map<std::string, std::unique_ptr<WorkerEntry>> workers;
  std::vector<WorkerEntry*> workers_by_id;  // sorted by id

  std::unordered_map<std::string, TaskEntry> tasks;  // node-based: entries stay put
  std::map<uint64_t, TaskEntry*> tasks_by_order;
  std::map<uint64_t, TaskEntry*> queue;  // the queued ones, by submission order
  // The finished tasks in memory, by when they finished (then order): the
  // front leaves memory first.
  std::set<std::pair<Clock::TimePoint, uint64_t>> finished_in_memory;
  // By TaskState, stored tasks included (those that left memory stay
  // counted).
  uint64_t task_counts[6] = {};
  uint64_t next_task_number = 1;

  uint64_t heartbeats_received = 0;
  uint64_t store_errors = 0;  // failed store writes, returned or only logged
  double gpu_seconds_allocated = 0, gpu_seconds_used = 0;  // since the master started
  GpuSecondsWindow gpu_seconds_window;
  Clock::TimePoint last_liveness_check{};

  // Set by whatever could let a queued task fit (a new task, freed
  // resources, a worker or GPU back in service); Schedule skips the round
  // otherwise (see Schedule in cluster.h).
  bool may_place = true;
  Clock::TimePoint last_round{};

  // Bumps the version and wakes WaitForChange callers, if any.
  void Changed();

  WorkerEntry* FindWorker(const std::string& id);
  TaskEntry* FindTask(const std::string& id);
  WorkerEntry& AddWorker(const std::string& id);
  // A finished task's finished_mono comes from its finished_at.
  TaskEntry& AddTask(Task task, uint64_t order);

  // Moves the task to `state`, keeping the counts, the queue and
  // finished_in_memory in step
  // (and, when it starts or stops running, its worker's running_accounts).
  void SetState(TaskEntry& entry, TaskState state);
  // Makes the next heartbeat of worker `worker_id` (if known) rebuild its
  // running_accounts. Call after changing which tasks run there, their
  // GPUs, or the worker's GPUs.
  void MarkAccountsStale(const std::string& worker_id);

  // Frees what the task holds on `worker` (AllocationLedger::Release);
  // if that made room, the next Schedule round runs. Marks the worker's
  // running_accounts stale.
  void Release(WorkerEntry& worker, const Task& task);

  // Ends an assigned/running/queued task in a terminal `state`: frees its
  // allocation, records `message` (and an event) into `batch`.
  void Finish(TaskEntry& entry, TaskState state, std::string message, TaskStoreBatch& batch);
  // A placed task lost its worker (`why`): frees its allocation, then
  // queues it again, or fails it once attempts reach max_attempts, or
  // cancels it if a cancel was asked for.
  void Requeue(TaskEntry& entry, const std::string& why, TaskStoreBatch& batch);

  // Adds the task's current row (its usage with what its account holds
  // added) and an event saying `what` to `batch`.
  void Record(const Task& task, std::string what, TaskStoreBatch& batch);
  // Writes `batch`; a failure is counted (store_errors), logged naming
  // `context`, and returned.
  Status Persist(const TaskStoreBatch& batch, std::string_view context);
  // Writes `batch` for a change that stands in memory whether or not it is
  // stored (requeues at recovery, at re-registration and of dead workers'
  // tasks): a failure is counted and logged as a warning, not returned.
  void PersistOrWarn(const TaskStoreBatch& batch, std::string_view context);
  // Stores the worker's record; a failure is counted and logged as a
  // warning (the worker is served all the same).
  void PutWorkerOrWarn(const Worker& worker);

  // What Cluster::ApplyTaskEvent does for `worker`, without taking the
  // mutex or bumping the version. A STARTED report of a task not placed on
  // it is answered with a Cancel through `cancel_via` (when not null).
  Status ApplyTaskUpdate(WorkerEntry& worker, const link::TaskUpdate& update, WorkerChannel* cancel_via);

  // Registration (Cluster::RegisterWorker): matches the tasks the worker
  // reports running against those placed on it. Reported ones that are not
  // placed here, or have a cancel requested (those are finished as
  // cancelled), are returned for the worker to stop; assigned ones it runs
  // become running; placed ones it no longer runs are requeued. Changes go
  // into `batch`.
  std::vector<std::string> Reconcile(const Worker& worker, const std::vector<link::RunningTask>& reported,
                                     TaskStoreBatch& batch);

  // Recovery (Cluster::Recover). A known worker comes back from its record
  // disconnected and suspect, given one heartbeat timeout from now to
  // reconnect.
  void RestoreWorker(WorkerRecord record);
  // A stored task comes back, in submission order; an assigned or running
  // one keeps its worker's resources booked, or is requeued (into `batch`)
  // when that worker is unknown.
  void RestoreTask(Task task, TaskStoreBatch& batch);

  // Usage and health (cluster_usage.cc), for one heartbeat of `worker`.
  // Before GPU `gpu` takes its new sample `incoming`: notes new critical
  // XIDs and double-bit ECC errors (last_fault_at; a task that failed on it
  // within the window is requeued as a hardware failure) and records new
  // application XIDs against its task, into `batch`.
  void NoteGpuFaults(WorkerEntry& worker, WorkerGpu& gpu, const GpuSample& incoming, TaskStoreBatch& batch);
  // After: lifts a quarantine of recoverable XIDs only after a clean
  // period. True when that made the GPU schedulable again.
  bool HealRecoverableXids(WorkerGpu& gpu);
  // After the heartbeat's samples are in worker.gpus: advances every GPU's
  // usage counter, adds the running tasks' GPU-seconds to the cluster's,
  // and, when due, judges the running tasks idle or busy (cancelling idle
  // ones under IdleAction::kCancel).
  void CountGpuUsage(WorkerEntry& worker, TaskStoreBatch& batch);
  // Rebuilds worker.running_accounts from task_ids (the slow way: a lookup
  // per task, GPUs found by UUID, their NVML index tried first), after
  // DetachAccounts. Heartbeats call it first when they are stale.
  void RebuildRunningAccounts(WorkerEntry& worker);
  // The task starts running on its worker: its GPUs' counters start over
  // (RestartCount) at now.
  void StartUsageCount(const Task& task);
  // Why a task that exited with an error on `worker` failed because of the
  // hardware (a GPU lost, or a fault within the window), or nullopt.
  std::optional<std::string> HardwareFaultOf(const WorkerEntry& worker, const Task& task) const;
  // Requeues a task that failed because of the hardware (running or just
  // failed) without spending an attempt.
  void RequeueAfterHardwareFault(TaskEntry& entry, const std::string& fault, TaskStoreBatch& batch);

  // The registered workers as pending reasons see them.
  FleetView MakeFleetView() const;
  // Sets each queued task's pending_reason from the workers as they are
  // now; bumps the version only if some reason changed.
  void UpdatePendingReasons();

  Clock::Duration SuspectAfter(const Worker& worker) const;
  Clock::Duration DeadAfter(const Worker& worker) const;
  // config.task_lease, or DeadAfter when that is longer.
  Clock::Duration TaskLease(const Worker& worker) const;
};

// Ends the usage accounting and idleness of a task that stops running
// (folding what its account holds into its usage first).
void StopAccounting(TaskEntry& entry);

// Healthy, connected and passing its self-check: a worker a task could be
// placed on (unless it drains).
bool IsSchedulable(const WorkerEntry& e);

WorkerRecord RecordOf(const Worker& worker);

}  // namespace gpulse::master
