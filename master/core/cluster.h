// Cluster: the master's single source of truth — registered workers with
// their capacity, allocation and live utilization, and every task.
//
// Thread-safe: every public method takes the one internal mutex, so gRPC
// stream handlers, HTTP handlers and the scheduler/liveness loop may call it
// from any thread. Methods never block on the network: messages to workers
// go through WorkerChannel, whose implementations must only enqueue.
//
// Durability: every task change is written to the TaskStore under the
// mutex, before the method returns. Submit, Cancel of a queued task, a
// cancel request and Schedule's assignments are undone if that write fails,
// so what is acknowledged (or sent to a worker) survives a crash of the
// master. What workers report (ApplyTaskEvent, the reconciliation in
// RegisterWorker), a Cancel while the worker is unreachable, and the
// requeues of CheckLiveness and Recover stand in memory even if the write
// fails (logged, counted in ClusterCounts::store_errors). Heartbeats are
// kept in memory only. ARCHITECTURE.md ("Durable and not") has the whole
// picture.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "link/messages.h"
#include "master/model/model.h"
#include "master/core/placement.h"
#include "master/core/worker_report_limits.h"
#include "master/store/task_store.h"

namespace gpulse::master {

// The downward half of one worker's stream. Implemented by the gRPC glue
// (master/link/worker_link_service.cc) and by fakes in tests. Calls must not
// block.
class WorkerChannel {
 public:
  virtual ~WorkerChannel() = default;
  virtual void SendAssign(const Task& task) = 0;
  virtual void SendCancel(const std::string& task_id, std::chrono::milliseconds grace) = 0;
};

struct ClusterConfig {
  // A worker is suspect once a heartbeat is this many intervals late...
  double suspect_after_intervals = 1.5;
  // ...and dead after this many intervals, unless heartbeat_timeout is set.
  uint32_t dead_after_intervals = 3;
  std::optional<std::chrono::milliseconds> heartbeat_timeout;
  // The task lease: a dead worker's tasks stay assigned to it (their GPUs
  // held) until this long after its last heartbeat, and are requeued only
  // then; the worker's supervisors kill them before (ARCHITECTURE.md,
  // "Fencing"). A worker whose dead timeout is longer gets that instead.
  // Sent to each worker in Registered.
  std::chrono::milliseconds task_lease{60000};
  // The heartbeat interval the master grants each worker (sent back in
  // Registered), whatever the worker asks for: liveness and history are
  // sized from it, so a worker cannot make itself immortal or the master's
  // rings huge.
  HeartbeatIntervalBounds heartbeat_interval_bounds;
  // Grace between SIGTERM and SIGKILL when a task is cancelled.
  std::chrono::milliseconds cancel_grace{10000};
  // Schedule() places at most this many tasks per call, so that the lock is
  // not held for long (10,000 placements take about 50 ms, or 150 ms with
  // the SQLite store).
  size_t max_placements_per_round = 10000;

  // Idle GPUs (docs/tasks.md, "Usage and idle GPUs"): a running task whose
  // GPUs all stay below idle_threshold_percent for idle_period is marked
  // idle; with IdleAction::kCancel it is then cancelled.
  double idle_threshold_percent = 5;
  std::chrono::milliseconds idle_period{30 * 60 * 1000};
  enum class IdleAction { kNone, kCancel };
  IdleAction idle_action = IdleAction::kNone;

  // A task that fails within this long of a critical XID or double-bit ECC
  // error on one of its GPUs (before or after its exit), or while one of
  // its GPUs is lost, failed because of the hardware: it is requeued
  // without spending an attempt.
  std::chrono::milliseconds hardware_fault_window{60000};
  // A GPU quarantined only for recoverable XIDs (IsRecoverableXid) is
  // cleared after this long without a new fault.
  std::chrono::milliseconds recoverable_xid_clean_period{10 * 60 * 1000};

  // Finished tasks leave memory (ForgetFinishedTasks) this long after they
  // finished, and the oldest-finished ones sooner when more than
  // max_finished_tasks_in_memory are held; they stay in the store and are
  // served from it (GetTask, PageTasks). At start Recover loads the
  // unfinished tasks and only the recent finished ones.
  std::chrono::milliseconds finished_task_retention{60 * 60 * 1000};
  size_t max_finished_tasks_in_memory = 10000;
};

// A task that failed to start this many times because of its workers fails.
constexpr uint32_t kMaxStartFailures = 10;

struct SubmitOptions {
  // Queue a task that no registered worker could hold, to wait for one.
  bool allow_unfit = false;
};

// A GPU counts as busy when its latest utilization is at least this.
constexpr double kBusyGpuUtilizationPercent = 50.0;

// GPU figures cover the workers that are not dead. Busy: readable with
// utilization_gpu >= kBusyGpuUtilizationPercent (allocated or not).
struct ClusterCounts {
  uint32_t workers_healthy = 0, workers_suspect = 0, workers_dead = 0;
  uint32_t gpus_total = 0, gpus_allocated = 0, gpus_busy = 0, gpus_unhealthy = 0;
  uint64_t tasks_by_state[6] = {};  // indexed by TaskState
  uint64_t heartbeats_received = 0;
  // Writes to the TaskStore that failed since the master started: those
  // whose error went back to the caller and those the cluster carried on
  // past (requeues and worker records, kept in memory only).
  uint64_t store_errors = 0;
  // Usage: GPU-seconds allocated to running tasks and the same weighted by
  // utilization, since the master started; and over the last hour and day
  // (the efficiency figure is used / allocated).
  double gpu_seconds_allocated = 0, gpu_seconds_used = 0;
  double gpu_seconds_allocated_hour = 0, gpu_seconds_used_hour = 0;
  double gpu_seconds_allocated_day = 0, gpu_seconds_used_day = 0;
  uint32_t tasks_idle = 0;  // running tasks marked idle
  // Tasks held in memory (every unfinished one and the recently finished
  // ones; ClusterConfig::finished_task_retention), and of those the
  // finished ones. tasks_by_state counts stored tasks too.
  uint64_t tasks_in_memory = 0, finished_tasks_in_memory = 0;
};

class Cluster {
 public:
  Cluster(TaskStore& store, PlacementPolicy& policy, Clock& clock, ClusterConfig config = {});
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Loads known workers, the unfinished tasks and the recently finished
  // ones (within finished_task_retention, at most
  // max_finished_tasks_in_memory) from the store; the counts by state
  // cover every stored task. Call once, before serving:
  // until it has succeeded, RegisterWorker and Submit fail with Unavailable
  // (retryable: new task ids continue after the stored ones, and a worker's
  // running tasks can only be reconciled against the stored ones).
  // Known workers come back disconnected and suspect (not schedulable).
  // Tasks that were assigned or running stay so; if their worker does not
  // re-register and report them within the heartbeat timeout (measured
  // from Recover) they are requeued. Fails if the store cannot be read, or
  // if called twice.
  Status Recover();

  // A worker's stream opened (or reopened) and it registered. `channel`
  // stays valid until DisconnectWorker(id, channel). Checks the
  // registration (CheckRegistration: InvalidArgument when it cannot be
  // true), then takes the worker's capacity and GPUs as registered (a GPU
  // total memory above the limits is dropped and counted) with the
  // heartbeat interval GrantHeartbeatInterval grants it. First applies the
  // task updates the registration carries (as ApplyTaskEvent would; repeats
  // and stale ones are ignored), acknowledging them in the reply's
  // acked_event_seq. Then reconciles the tasks the worker reports:
  // ones this master has as assigned/running on it are kept (assigned ones
  // become running); unknown, finished, cancel-requested or elsewhere-placed
  // ones are returned in cancel_task_ids; ones the master had on it that it
  // no longer reports are requeued (or failed after max_attempts). The
  // reply carries the granted heartbeat interval and says how long the
  // master waits for the worker when it is gone (reconnect_grace: its dead
  // timeout, which is also its grace after a restart of the master).
  // InvalidArgument for an empty worker id or a null channel. AlreadyExists
  // while another stream (another channel) of the same worker id is
  // connected: an id is never taken over from a live stream, only
  // registered again once DisconnectWorker closed the first (the same
  // channel may register again, e.g. when its GPUs changed).
  Result<link::Registered> RegisterWorker(const link::Registration& registration, WorkerChannel* channel);
  // An operator drains a worker (no new placements; its running tasks go
  // on) or lets it take tasks again. Stored with the worker's record, so a
  // restarted master keeps it. Returns the worker; NotFound for an unknown
  // id; the store's error if it cannot be written (nothing changed).
  Result<Worker> SetDraining(const std::string& worker_id, bool draining);

  // The stream carrying `channel` closed. A stream of the same worker that
  // is not the current one is ignored. The worker's tasks stay until
  // liveness declares it dead or it registers again.
  void DisconnectWorker(const std::string& worker_id, const WorkerChannel* channel);

  // Hot path: records a heartbeat's figures (no disk writes). Each GPU
  // sample is matched to a registered GPU by UUID, else NVML index; a GPU
  // whose sample has an error, or that is missing from the report, becomes
  // unhealthy until kGoodSamplesToRecover good samples in a row. The
  // worker is healthy again. Tasks in running_tasks that this master has
  // not placed on the worker are sent a Cancel. GPU samples that match no
  // registered GPU are ignored and counted in the worker's values_rejected
  // ("gpu.unregistered"), as is each name in `rejected` (figures the caller
  // dropped with DropImplausibleFigures). NotFound if the worker has not
  // registered on this master.
  Status IngestHeartbeat(const std::string& worker_id, link::Heartbeat heartbeat,
                         const std::vector<std::string>& rejected = {});

  // A worker says a task started, exited, or could not start (`update`'s
  // attempt is Task::attempts when it was assigned; 0 if the worker did not
  // say). Exit 0 ->
  // succeeded; another exit code -> failed (no retry: the program ran, or
  // could not be run at all: a report without pid, e.g. exit 127 for a
  // missing program, whose message is kept); could not start (the worker's
  // fault) -> requeued without spending an attempt (Task::start_failures),
  // failed after kMaxStartFailures such starts;
  // an exit or failure of a task with a cancel requested -> cancelled.
  // NotFound for an unknown worker or task; FailedPrecondition for a stale
  // report: the task is finished, not placed on this worker (if that worker
  // says it started it, it is told to cancel it), or the report is about an
  // earlier attempt. The new state is kept even if the store fails (that
  // error is returned). Every refused report is counted in the worker's
  // messages_refused ("task_update").
  Status ApplyTaskEvent(const std::string& worker_id, const link::TaskUpdate& update);

  // May `worker_id` send output of `task_id`'s attempt `attempt`? OK only
  // when the task is assigned to or running on that worker and `attempt` is
  // its current attempt. Otherwise NotFound (unknown worker or task) or
  // FailedPrecondition (someone else's task, a finished one, another
  // attempt), counted in the worker's messages_refused ("log_chunk").
  Status AcceptOutput(const std::string& worker_id, const std::string& task_id, uint32_t attempt);
  // The master could not store output of `attempt`'s `stream` (`reason`,
  // e.g. "no space left on the master's disk") and its worker will send it
  // again: the task's message ends in "output not stored: <reason>; the
  // worker will re-send" (after why it ended, for a finished task), one
  // event says so until output is stored again, and AcceptOutput takes that
  // attempt's output from its worker even after the task finished. Unknown
  // tasks and other attempts are ignored. A failed store write is logged
  // and kept in memory.
  void NoteOutputNotStored(const std::string& task_id, uint32_t attempt, link::OutputStream stream,
                           const std::string& reason);
  // Output of `attempt`'s `stream` was stored: once no stream of the task is
  // left unstored, the note leaves its message and an event says the output
  // is stored again. Cheap otherwise (a lookup under the mutex).
  void NoteOutputStored(const std::string& task_id, uint32_t attempt, link::OutputStream stream);

  // Validates (ValidateTaskSpec) and stores a new queued task; returns it
  // with its id ("t-000001", numbered in submission order, continuing
  // after the stored tasks) and its first pending_reason. InvalidArgument
  // for an empty argv or absurd resources; ResourceExhausted (HTTP 422)
  // when no registered worker, whatever its state, could ever hold it
  // (FleetView::Unfit: GPUs, CPUs, memory) unless options.allow_unfit —
  // with no worker registered at all it is accepted; the store's error if
  // it cannot be written (nothing queued).
  Result<Task> Submit(TaskSpec spec, SubmitOptions options = {});
  // Cancels a task: queued ones at once; assigned/running ones by sending
  // Cancel to their worker (it becomes cancelled when the worker reports it
  // stopped), or at once when that worker is disconnected or dead. Asking
  // again resends the Cancel. NotFound for an unknown id; FailedPrecondition
  // if finished.
  Result<Task> Cancel(const std::string& task_id);

  // Moves workers healthy -> suspect -> dead by heartbeat age; requeues the
  // tasks of dead workers (or fails them after max_attempts). Only a
  // heartbeat or registration makes a worker healthy again. Calls less than
  // 100 ms (of the injected clock) after the previous check return at once.
  void CheckLiveness();
  // Places queued tasks on workers that fit (policy decides), in submission
  // order, and sends the assignments. A task that does not fit stays queued
  // and does not hold back smaller ones behind it. The round's assignments
  // are stored in one batch before any is sent; if that write fails none is
  // made. Returns how many were placed: at most
  // config.max_placements_per_round; when it stops there, call again (the
  // next call does not wait for a change). Cheap when nothing that could
  // make room has happened since the last round (it then reruns at most
  // once a second, for policies that look at live figures). Rounds also
  // refresh the queued tasks' pending_reason, bumping the version only
  // when one changed.
  size_t Schedule();

  // An operator clears the XID and double-bit ECC quarantine of GPU
  // `index` (NVML index) of a worker: the faults counted so far are no
  // longer held against it (a lost GPU, a row remap or a volatile ECC
  // count that grows again still count). Returns the GPU after the clear;
  // NotFound for an unknown worker or index. The cleared counts are stored
  // with the worker's record first (a restarted master keeps them); when
  // that write fails nothing changes and its error is returned.
  Result<WorkerGpu> ClearGpuFaults(const std::string& worker_id, uint32_t index);

  // Drops from memory the finished tasks past finished_task_retention,
  // and the oldest-finished ones beyond max_finished_tasks_in_memory. They
  // stay in the store (GetTask and PageTasks find them there). Returns how
  // many were dropped. The master's control loop calls it.
  size_t ForgetFinishedTasks();

  // Snapshots. Workers() is ordered by id; Tasks() by submission and holds
  // the tasks in memory only (every unfinished one, the recently finished
  // ones): PageTasks reaches the others.
  std::vector<Worker> Workers() const;
  std::optional<Worker> GetWorker(const std::string& id) const;
  std::vector<Task> Tasks(std::optional<TaskState> state = std::nullopt) const;
  // The task from memory, or else from the store; nullopt when neither has
  // it, or when the store cannot be read (logged; LookupTask tells).
  std::optional<Task> GetTask(const std::string& id) const;
  // Like GetTask, with the store's error returned.
  Result<std::optional<Task>> LookupTask(const std::string& id) const;
  ClusterCounts Counts() const;

  // One page of tasks, newest first (by submission: the task number), for
  // the API's paging, across memory and store: the tasks in memory, and
  // from the store those that left memory. Only tasks matching both
  // filters count; `before` is the task number at which the previous page
  // stopped (0: start at the newest). Memory is walked from `before` down
  // until `limit` matches (O(limit) with no filter or with state=queued);
  // the store is asked, from its indexes, only for finished tasks newer
  // than the page's last one in memory, so a page costs about the same
  // deep in a million stored tasks as at the top. Runs under the cluster's
  // mutex (like every store write), so no task is seen twice or missed
  // while it leaves memory. The store's error if it cannot be read.
  struct TaskQuery {
    std::optional<TaskState> state;
    std::string worker;  // empty: any
    uint64_t before = 0;
    size_t limit = 100;
  };
  struct TaskPage {
    std::vector<Task> tasks;
    // The order to pass as `before` for the next page; 0 when this page
    // holds the oldest match.
    uint64_t next_before = 0;
  };
  Result<TaskPage> PageTasks(const TaskQuery& query) const;
  // Workers in id order after `after` (empty: from the first), at most
  // `limit`; `more` says whether others follow the last one.
  struct WorkerPage {
    std::vector<Worker> workers;
    bool more = false;
  };
  WorkerPage PageWorkers(const std::string& after, size_t limit) const;

  // Bumped on every change; WaitForChange blocks until it exceeds `seen` or
  // the deadline passes, and returns the current version.
  uint64_t Version() const;
  uint64_t WaitForChange(uint64_t seen, std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpulse::master
