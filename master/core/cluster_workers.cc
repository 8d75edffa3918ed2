// Cluster: worker registration, heartbeats and liveness.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "master/core/allocation_ledger.h"
#include "master/core/cluster.h"
#include "master/core/cluster_impl.h"
#include "master/core/gpu_health.h"

namespace gpulse::master {
namespace {

constexpr size_t kNoGpu = static_cast<size_t>(-1);
// CheckLiveness does nothing when called again sooner than this.
constexpr auto kLivenessCheckEvery = std::chrono::milliseconds(100);

// The GPU a registration names, among those the worker had: by UUID, or
// by index where it has none.
bool SameGpu(const GpuIdentity& registered, const GpuIdentity& known) {
  return registered.uuid.empty() ? (known.uuid.empty() && known.index == registered.index)
                                 : known.uuid == registered.uuid;
}

// The worker's GPUs as registered. GPUs it had before (SameGpu) keep their
// health and latest sample; allocations are rebuilt by the caller.

std::vector<WorkerGpu> GpusFrom(const std::vector<GpuIdentity>& registered, std::vector<WorkerGpu>& old) {
  std::vector<WorkerGpu> gpus;
  gpus.reserve(registered.size());
  for (const GpuIdentity& id : registered) {
    auto it = std::find_if(old.begin(), old.end(), [&](const WorkerGpu& g) { return SameGpu(id, g.identity); });
    if (it == old.end()) {
      gpus.push_back(RegisteredGpu(id));
      continue;
    }
    WorkerGpu gpu = std::move(*it);
    gpu.identity = id;
    gpu.allocated_to.clear();
    gpus.push_back(std::move(gpu));
  }
  return gpus;
}

// The position in worker.gpus of the GPU a sample describes: by UUID, or by
// NVML index when the sample has none. `hint` is tried first.
size_t MatchGpu(const Worker& w, const GpuIdentity& s, size_t hint) {
  if (hint < w.gpus.size() && w.gpus[hint].identity.uuid == s.uuid &&
      (!s.uuid.empty() || w.gpus[hint].identity.index == s.index)) {
    return hint;
  }
  for (size_t i = 0; i < w.gpus.size(); ++i) {
    const GpuIdentity& g = w.gpus[i].identity;
    if (s.uuid.empty() ? g.index == s.index : g.uuid == s.uuid) return i;
  }
  return kNoGpu;
}

// Counts a good or bad sample towards the GPU's health. True when it has
// just become healthy again.
bool CountSample(WorkerGpu& g, bool good) {
  if (!good) {
    g.healthy = false;
    g.good_streak = 0;
    return false;
  }
  if (g.good_streak < kGoodSamplesToRecover) ++g.good_streak;
  if (!g.healthy && g.good_streak >= kGoodSamplesToRecover) {
    g.healthy = true;
    return true;
  }
  return false;
}

std::string Seconds(Clock::Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

std::vector<std::string> Cluster::Impl::Reconcile(const Worker& w, const std::vector<link::RunningTask>& reported,
                                                  TaskStoreBatch& batch) {
  std::vector<std::string> cancel;
  std::unordered_set<std::string> kept;
  for (const link::RunningTask& rt : reported) {
    TaskEntry* t = FindTask(rt.task_id);
    bool ours = t != nullptr && t->task.worker_id == w.id &&
                (t->task.state == TaskState::kAssigned || t->task.state == TaskState::kRunning);
    if (!ours || t->task.cancel_requested) {
      cancel.push_back(rt.task_id);
      if (ours) Finish(*t, TaskState::kCancelled, "stopped when its worker re-registered", batch);
      continue;
    }
    kept.insert(rt.task_id);
    if (t->task.state == TaskState::kAssigned) {
      SetState(*t, TaskState::kRunning);
      if (!t->task.started_at) t->task.started_at = clock.WallNow();
      Record(t->task, "running on " + w.id + " (reported at registration)", batch);
    }
  }
  std::vector<std::string> placed_here = w.task_ids;
  for (const std::string& id : placed_here) {
    TaskEntry* t = FindTask(id);
    if (t != nullptr && !kept.count(id)) Requeue(*t, "worker " + w.id + " restarted and no longer runs it", batch);
  }
  return cancel;
}

Result<link::Registered> Cluster::RegisterWorker(const link::Registration& r, WorkerChannel* channel) {
  RETURN_IF_ERROR(CheckRegistration(r));
  if (channel == nullptr) return InvalidArgument("a worker registers with a channel to send it tasks");
  std::vector<GpuIdentity> registered_gpus = r.gpus;
  const std::vector<std::string> rejected = DropImplausibleIdentities(registered_gpus);
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  if (!I.recovered) return Unavailable("the master has not recovered its state yet; try again");

  WorkerEntry* found = I.FindWorker(r.worker_id);
  if (found != nullptr && found->channel != nullptr && found->channel != channel) {
    // Another stream speaks for this id and is still open: taking the id
    // over would requeue its tasks onto whoever registered last.
    return AlreadyExists("worker " + r.worker_id +
                         " is already connected to this master on another stream; a second stream may "
                         "register this id only once the first has closed (two machines with the same "
                         "--id? give each its own)");
  }
  bool is_new = found == nullptr;
  WorkerEntry& e = is_new ? I.AddWorker(r.worker_id) : *found;
  Worker& w = e.worker;
  WorkerRecord before = RecordOf(w);
  if (is_new) w.registered_at = I.clock.WallNow();

  // What ended while the worker was away from this master goes first, so
  // that a task that exited is closed with its exit code, not requeued as
  // lost by the reconciliation. Repeats and stale reports are ignored (a
  // task the worker still runs is settled by the reconciliation).
  link::Registered reply;
  for (const link::TaskUpdate& update : r.task_updates) {
    if (Status s = I.ApplyTaskUpdate(e, update, nullptr); !s.ok()) {
      spdlog::info("worker {}: update of task {} (event {}) at registration ignored: {}", r.worker_id,
                   update.task_id, update.event_seq, s.message());
    }
    reply.acked_event_seq = std::max(reply.acked_event_seq, update.event_seq);
  }

  TaskStoreBatch batch;
  reply.heartbeat_interval = GrantHeartbeatInterval(r.heartbeat_interval, I.config.heartbeat_interval_bounds);
  reply.cancel_task_ids = I.Reconcile(w, r.running_tasks, batch);

  // Capacity may have changed; rebuild the allocation from what stays.
  w.address = r.address;
  w.capacity = r.capacity;
  w.unhealthy_reason = r.unhealthy_reason;
  w.heartbeat_interval = reply.heartbeat_interval;
  // The running tasks' accounts point at the GPUs' counters: folded first;
  // a GPU that stays keeps its counter.
  DetachAccounts(e);
  std::vector<GpuUsageCounter> counters(registered_gpus.size());
  for (size_t i = 0; i < registered_gpus.size(); ++i) {
    for (size_t j = 0; j < w.gpus.size() && j < e.gpu_counters.size(); ++j) {
      if (SameGpu(registered_gpus[i], w.gpus[j].identity)) counters[i] = e.gpu_counters[j];
    }
  }
  w.gpus = GpusFrom(registered_gpus, w.gpus);
  e.gpu_counters = std::move(counters);
  for (const std::string& field : rejected) ++w.values_rejected[field];
  e.gpu_reported_in.assign(w.gpus.size(), w.heartbeats);
  std::vector<const Task*> staying;
  for (const std::string& id : w.task_ids) {
    if (const TaskEntry* t = I.FindTask(id)) staying.push_back(&t->task);
  }
  AllocationLedger(w).Rebuild(staying);
  e.accounts_stale = true;  // its GPUs and tasks may have moved

  reply.reconnect_grace = std::chrono::duration_cast<std::chrono::milliseconds>(I.DeadAfter(w));
  reply.task_lease = std::chrono::duration_cast<std::chrono::milliseconds>(I.TaskLease(w));
  w.connected = true;
  e.channel = channel;
  w.state = WorkerState::kHealthy;
  w.last_seen = I.clock.Now();
  I.may_place = true;

  I.PersistOrWarn(batch, "the reconciliation of worker " + r.worker_id);
  if (is_new || RecordOf(w) != before) I.PutWorkerOrWarn(w);
  I.Changed();
  return reply;
}

Result<Worker> Cluster::SetDraining(const std::string& worker_id, bool draining) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  WorkerEntry* e = I.FindWorker(worker_id);
  if (e == nullptr) return NotFound("no worker '" + worker_id + "'");
  Worker& w = e->worker;
  if (w.draining == draining) return w;
  w.draining = draining;
  if (Status s = I.store.PutWorker(RecordOf(w)); !s.ok()) {
    w.draining = !draining;
    ++I.store_errors;
    return s;
  }
  spdlog::info("worker {} {}", worker_id, draining ? "drains: no new tasks" : "takes tasks again");
  if (!draining) I.may_place = true;
  I.Changed();
  return w;
}

void Cluster::DisconnectWorker(const std::string& worker_id, const WorkerChannel* channel) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  WorkerEntry* e = I.FindWorker(worker_id);
  if (e == nullptr || e->channel != channel) return;  // a newer stream took over
  e->channel = nullptr;
  e->worker.connected = false;
  I.Changed();
}

Status Cluster::IngestHeartbeat(const std::string& worker_id, link::Heartbeat heartbeat,
                                const std::vector<std::string>& rejected) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  WorkerEntry* e = I.FindWorker(worker_id);
  if (e == nullptr) return NotFound("worker " + worker_id + " has not registered with this master");
  Worker& w = e->worker;
  Sample& sample = heartbeat.sample;
  w.host = std::move(sample.host);
  w.nvml = std::move(sample.nvml);
  w.gpu_percent = sample.gpu_percent;
  w.collector = std::move(sample.collector);
  uint64_t beat = ++w.heartbeats;
  ++I.heartbeats_received;
  for (const std::string& field : rejected) ++w.values_rejected[field];

  // The accounts first: a task that started since gets the step this
  // heartbeat adds (its GPUs' counters restarted at its start).
  if (e->accounts_stale) I.RebuildRunningAccounts(*e);

  TaskStoreBatch batch;
  bool healed = false;
  for (size_t i = 0; i < sample.gpus.size(); ++i) {
    size_t pos = MatchGpu(w, sample.gpus[i].identity, i);
    if (pos == kNoGpu) {  // not registered; ignored until it re-registers
      ++w.values_rejected["gpu.unregistered"];
      continue;
    }
    e->gpu_reported_in[pos] = beat;
    WorkerGpu& g = w.gpus[pos];
    bool good = sample.gpus[i].readable();
    I.NoteGpuFaults(*e, g, sample.gpus[i], batch);
    g.live = std::move(sample.gpus[i]);
    if (CountSample(g, good)) I.may_place = true;
    if (UpdateGpuHealth(g)) I.may_place = true;
    if (I.HealRecoverableXids(g)) {
      I.may_place = true;
      healed = true;
    }
  }
  if (healed) I.PutWorkerOrWarn(w);  // what healed stays cleared after a master restart
  for (size_t pos = 0; pos < w.gpus.size(); ++pos) {
    if (e->gpu_reported_in[pos] == beat) continue;
    WorkerGpu& g = w.gpus[pos];
    if (!g.live.error) {  // keep who it is; drop the figures we no longer have
      g.live = UnreadSample(g.identity);
      g.live.error = "missing from the worker's latest heartbeat";
    }
    CountSample(g, false);
    UpdateGpuHealth(g);
  }

  I.CountGpuUsage(*e, batch);
  if (!batch.empty()) I.PersistOrWarn(batch, "what worker " + worker_id + "'s heartbeat says about its tasks");

  if (heartbeat.unhealthy_reason != w.unhealthy_reason) {
    if (heartbeat.unhealthy_reason.empty()) I.may_place = true;
    w.unhealthy_reason = std::move(heartbeat.unhealthy_reason);
  }
  w.last_seen = I.clock.Now();
  w.last_heartbeat = I.clock.WallNow();
  if (w.state != WorkerState::kHealthy) {
    w.state = WorkerState::kHealthy;
    I.may_place = true;
  }

  // Anything it runs that this master has not placed there (requeued after
  // the worker was declared dead, finished, or cancelled meanwhile) must stop.
  if (e->channel != nullptr) {
    for (const link::RunningTask& rt : heartbeat.running_tasks) {
      const TaskEntry* t = I.FindTask(rt.task_id);
      if (t == nullptr || t->task.worker_id != worker_id || IsTerminal(t->task.state) ||
          t->task.state == TaskState::kQueued) {
        e->channel->SendCancel(rt.task_id, I.config.cancel_grace);
      }
    }
  }
  I.Changed();
  return Status::Ok();
}

void Cluster::CheckLiveness() {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  Clock::TimePoint now = I.clock.Now();
  if (I.last_liveness_check != Clock::TimePoint{} && now - I.last_liveness_check < kLivenessCheckEvery) return;
  I.last_liveness_check = now;

  TaskStoreBatch batch;
  bool changed = false;
  for (WorkerEntry* e : I.workers_by_id) {
    Worker& w = e->worker;
    Clock::Duration age = now - w.last_seen;
    if (w.state != WorkerState::kDead && age > I.DeadAfter(w)) {
      w.state = WorkerState::kDead;
      changed = true;
      spdlog::warn("worker {} is dead: no heartbeat for {}{}", w.id, Seconds(age),
                   w.task_ids.empty() ? std::string()
                                      : "; its tasks are requeued when their lease runs out (" +
                                            Seconds(I.TaskLease(w)) + " after its last heartbeat)");
    } else if (w.state == WorkerState::kHealthy && age > I.SuspectAfter(w)) {
      w.state = WorkerState::kSuspect;
      changed = true;
    }
    // Fencing: until the lease runs out the worker's supervisors may still
    // run the tasks; they kill them before it does.
    if (w.state == WorkerState::kDead && !w.task_ids.empty() && age > I.TaskLease(w)) {
      changed = true;
      std::string why = "worker " + w.id + " was lost (no heartbeat for " + Seconds(age) + ", task lease " +
                        Seconds(I.TaskLease(w)) + ")";
      std::vector<std::string> placed_here = w.task_ids;
      for (const std::string& id : placed_here) {
        if (TaskEntry* t = I.FindTask(id)) I.Requeue(*t, why, batch);
      }
    }
  }
  I.PersistOrWarn(batch, "the requeues of dead workers' tasks");
  if (changed) I.Changed();
}

}  // namespace gpulse::master
