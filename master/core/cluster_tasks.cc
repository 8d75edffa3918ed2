// Cluster: submitting and cancelling tasks, and what workers say about them.
#include "master/core/cluster.h"
#include "master/core/cluster_impl.h"
#include "master/core/task_validation.h"
#include "common/size.h"

#include <algorithm>

namespace gpulse::master {

Result<Task> Cluster::Submit(TaskSpec spec, SubmitOptions options) {
  RETURN_IF_ERROR(ValidateTaskSpec(spec));
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  if (!I.recovered) return Unavailable("the master has not recovered its state yet; try again");
  FleetView fleet = I.MakeFleetView();
  if (!options.allow_unfit) {
    if (std::optional<std::string> unfit = fleet.Unfit(spec)) {
      return ResourceExhausted(*unfit + "; submit it with allow_unfit (gpulse submit --allow-unfit) to wait for "
                               "such a worker");
    }
  }

  Task task;
  task.id = FormatTaskId(I.next_task_number);
  task.pending_reason = fleet.PendingReason(spec);
  task.spec = std::move(spec);
  task.submitted_at = I.clock.WallNow();
  TaskStoreBatch batch;
  I.Record(task, "submitted", batch);
  RETURN_IF_ERROR(I.Persist(batch, "a submitted task"));
  I.AddTask(task, I.next_task_number++);
  I.Changed();
  return task;
}

Result<Task> Cluster::Cancel(const std::string& task_id) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  TaskEntry* entry = I.FindTask(task_id);
  if (entry == nullptr) {
    // Finished long enough ago to have left memory, or unknown.
    ASSIGN_OR_RETURN(std::optional<Task> stored, I.store.LoadTask(task_id));
    if (!stored) return NotFound("no task '" + task_id + "'");
    return FailedPrecondition("task " + task_id + " has already finished (" + TaskStateName(stored->state) + ")");
  }
  Task& t = entry->task;
  if (IsTerminal(t.state)) {
    return FailedPrecondition("task " + task_id + " has already " +
                              (t.state == TaskState::kSucceeded ? std::string("succeeded")
                               : t.state == TaskState::kFailed  ? std::string("failed")
                                                                : std::string("been cancelled")));
  }

  TaskStoreBatch batch;
  if (t.state == TaskState::kQueued) {
    Task before = t;
    I.Finish(*entry, TaskState::kCancelled, "cancelled while queued", batch);
    if (Status s = I.Persist(batch, "a cancel"); !s.ok()) {
      I.SetState(*entry, TaskState::kQueued);
      t = std::move(before);
      return s;
    }
    I.Changed();
    return t;
  }

  WorkerEntry* w = I.FindWorker(t.worker_id);
  bool reachable = w != nullptr && w->channel != nullptr && w->worker.state != WorkerState::kDead;
  if (!reachable) {
    // Nobody to ask; when the worker comes back it is told to stop it.
    I.Finish(*entry, TaskState::kCancelled, "cancelled while its worker " + t.worker_id + " was unreachable",
             batch);
    Status s = I.Persist(batch, "a cancel");
    I.Changed();
    RETURN_IF_ERROR(s);
    return t;
  }
  if (!t.cancel_requested) {
    t.cancel_requested = true;
    I.Record(t, "cancel requested", batch);
    if (Status s = I.Persist(batch, "a cancel request"); !s.ok()) {
      t.cancel_requested = false;
      return s;
    }
    I.Changed();
  }
  w->channel->SendCancel(task_id, I.config.cancel_grace);
  return TaskView(*entry);
}

Status Cluster::ApplyTaskEvent(const std::string& worker_id, const link::TaskUpdate& event) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  WorkerEntry* w = I.FindWorker(worker_id);
  if (w == nullptr) return NotFound("worker " + worker_id + " has not registered with this master");
  Status s = I.ApplyTaskUpdate(*w, event, w->channel);
  I.Changed();
  return s;
}

Status Cluster::Impl::ApplyTaskUpdate(WorkerEntry& worker, const link::TaskUpdate& event, WorkerChannel* cancel_via) {
  Impl& I = *this;
  const std::string& worker_id = worker.worker.id;
  TaskEntry* entry = I.FindTask(event.task_id);
  if (entry == nullptr) {
    ++worker.worker.messages_refused["task_update"];
    return NotFound("no task '" + event.task_id + "'");
  }
  Task& t = entry->task;
  bool placed_here = t.worker_id == worker_id &&
                     (t.state == TaskState::kAssigned || t.state == TaskState::kRunning);
  if (!placed_here) {
    ++worker.worker.messages_refused["task_update"];
    if (event.kind == link::TaskUpdate::Kind::kStarted && cancel_via != nullptr) {
      cancel_via->SendCancel(event.task_id, I.config.cancel_grace);
    }
    return FailedPrecondition("task " + event.task_id + " is " + TaskStateName(t.state) +
                              (t.worker_id.empty() ? std::string() : " on " + t.worker_id) + ", not placed on " +
                              worker_id + "; ignoring a stale report");
  }
  if (event.attempt != 0 && event.attempt != t.attempts) {
    ++worker.worker.messages_refused["task_update"];
    // Its current attempt runs here too; cancelling by id would stop that one.
    return FailedPrecondition("task " + event.task_id + " is on attempt " + std::to_string(t.attempts) +
                              "; ignoring a stale report about attempt " + std::to_string(event.attempt));
  }

  TaskStoreBatch batch;
  switch (event.kind) {
    case link::TaskUpdate::Kind::kStarted:
      if (t.state == TaskState::kRunning) return Status::Ok();
      I.SetState(*entry, TaskState::kRunning);
      t.started_at = I.clock.WallNow();
      I.StartUsageCount(t);
      I.Record(t, "started on " + worker_id, batch);
      break;
    case link::TaskUpdate::Kind::kExited:
      t.exit_code = event.exit_code;
      if (t.cancel_requested) {
        std::string stopped = "stopped with exit code " + std::to_string(event.exit_code);
        I.Finish(*entry, TaskState::kCancelled,
                 t.cancel_reason.empty() ? stopped : "cancelled: " + t.cancel_reason + " (" + stopped + ")", batch);
      } else if (event.exit_code == 0) {
        I.Finish(*entry, TaskState::kSucceeded, "", batch);
      } else if (std::optional<std::string> fault = I.HardwareFaultOf(worker, t)) {
        I.RequeueAfterHardwareFault(*entry, *fault + "; it exited with code " + std::to_string(event.exit_code),
                                    batch);
      } else {
        std::string message = "exited with code " + std::to_string(event.exit_code);
        if (event.pid == 0 && !event.message.empty()) message += ": " + event.message;  // never ran
        if (event.out_of_memory) {
          message += ": it exceeded its memory limit of " + FormatBytes(t.spec.memory_bytes) +
                     " (the kernel's OOM killer killed a process of it)";
        }
        I.Finish(*entry, TaskState::kFailed, message, batch);
        // A fault reported just after the exit still makes it a hardware failure.
        for (WorkerGpu& g : worker.worker.gpus) {
          if (std::find(t.gpu_uuids.begin(), t.gpu_uuids.end(), g.identity.uuid) != t.gpu_uuids.end()) {
            g.last_failed_task = t.id;
          }
        }
      }
      break;
    case link::TaskUpdate::Kind::kFailedToStart:
      if (t.cancel_requested) {
        I.Finish(*entry, TaskState::kCancelled, "never started: " + event.message, batch);
      } else if (++t.start_failures >= kMaxStartFailures) {
        I.Finish(*entry, TaskState::kFailed,
                 "could not be started " + std::to_string(t.start_failures) + " times; the last on " + worker_id +
                     ": " + event.message,
                 batch);
      } else {
        // The worker's fault, not the task's: it keeps its attempts.
        I.Requeue(*entry, "could not start on " + worker_id + ": " + event.message, batch);
      }
      break;
    case link::TaskUpdate::Kind::kCancelled:
      if (t.cancel_requested && !t.cancel_reason.empty()) {
        I.Finish(*entry, TaskState::kCancelled, "cancelled: " + t.cancel_reason + " (stopped by its worker)", batch);
      } else {
        I.Finish(*entry, TaskState::kCancelled,
                 t.cancel_requested ? "stopped by its worker" : "stopped by its worker unasked", batch);
      }
      break;
  }
  return I.Persist(batch, "a task update");
}

Status Cluster::AcceptOutput(const std::string& worker_id, const std::string& task_id, uint32_t attempt) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  WorkerEntry* w = I.FindWorker(worker_id);
  if (w == nullptr) return NotFound("worker " + worker_id + " has not registered with this master");
  const TaskEntry* entry = I.FindTask(task_id);
  Status refusal = Status::Ok();
  if (entry == nullptr) {
    refusal = NotFound("no task '" + task_id + "'");
  } else if (const Task& t = entry->task;
             t.worker_id != worker_id ||
             (t.state != TaskState::kAssigned && t.state != TaskState::kRunning &&
              !(IsTerminal(t.state) && entry->output_owed_attempt == attempt && attempt == t.attempts))) {
    refusal = FailedPrecondition("task " + task_id + " is " + TaskStateName(t.state) + ", not placed on " + worker_id);
  } else if (attempt != t.attempts) {
    refusal = FailedPrecondition("task " + task_id + " is on attempt " + std::to_string(t.attempts) +
                                 ", not attempt " + std::to_string(attempt));
  }
  if (!refusal.ok()) ++w->worker.messages_refused["log_chunk"];
  return refusal;
}

}  // namespace gpulse::master
