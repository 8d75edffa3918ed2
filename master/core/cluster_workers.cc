// Cluster: worker registration, heartbeats and liveness.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "master/core/allocation_ledger.h"
#include "master/core/cluster.h"
#include "master/core/cluster_impl.h"

namespace gpulse::master {
namespace {

constexpr size_t kNoGpu = static_cast<size_t>(-1);
// CheckLiveness does nothing when called again sooner than this.
constexpr auto kLivenessCheckEvery = std::chrono::milliseconds(100);

// The worker's GPUs as described at registration. GPUs it had before (same
// UUID, or same index when there is no UUID) keep their health and latest
// sample; their allocations are stale until the caller rebuilds them
// (AllocationLedger::Rebuild).
std::vector<WorkerGpu> GpusFrom(const std::vector<GpuDescription>& described, std::vector<WorkerGpu>& old) {
  std::vector<WorkerGpu> gpus;
  gpus.reserve(described.size());
  for (const GpuDescription& d : described) {
    auto it = std::find_if(old.begin(), old.end(), [&](const WorkerGpu& g) {
      return d.uuid.empty() ? (g.uuid.empty() && g.index == d.index) : g.uuid == d.uuid;
    });
    WorkerGpu gpu;
    if (it != old.end()) gpu = std::move(*it);
    gpu.index = d.index;
    gpu.uuid = d.uuid;
    gpu.name = d.name;
    gpu.pci_bus_id = d.pci_bus_id;
    gpu.memory_total_bytes = d.memory_total_bytes;
    if (it == old.end()) {
      gpu.live.index = d.index;
      gpu.live.uuid = d.uuid;
      gpu.live.name = d.name;
      gpu.live.pci_bus_id = d.pci_bus_id;
    }
    gpus.push_back(std::move(gpu));
  }
  return gpus;
}

// The position in worker.gpus of the GPU a sample describes: by UUID, or by
// NVML index when the sample has none. `hint` is tried first.
size_t MatchGpu(const Worker& w, const GpuSample& s, size_t hint) {
  if (hint < w.gpus.size() && w.gpus[hint].uuid == s.uuid &&
      (!s.uuid.empty() || w.gpus[hint].index == s.index)) {
    return hint;
  }
  for (size_t i = 0; i < w.gpus.size(); ++i) {
    if (s.uuid.empty() ? w.gpus[i].index == s.index : w.gpus[i].uuid == s.uuid) return i;
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

std::vector<std::string> Cluster::Impl::Reconcile(const Worker& w, const std::vector<ReportedTask>& reported,
                                                  TaskStoreBatch& batch) {
  std::vector<std::string> cancel;
  std::unordered_set<std::string> kept;
  for (const ReportedTask& rt : reported) {
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

Result<RegisterReply> Cluster::RegisterWorker(const RegisterRequest& r, WorkerChannel* channel) {
  if (r.worker_id.empty()) return InvalidArgument("worker id is empty");
  if (channel == nullptr) return InvalidArgument("a worker registers with a channel to send it tasks");
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  if (!I.recovered) return FailedPrecondition("the master has not recovered its state yet; try again");

  WorkerEntry* found = I.FindWorker(r.worker_id);
  bool is_new = found == nullptr;
  WorkerEntry& e = is_new ? I.AddWorker(r.worker_id) : *found;
  Worker& w = e.worker;
  WorkerRecord before = RecordOf(w);
  if (is_new) w.registered_at = I.clock.WallNow();

  TaskStoreBatch batch;
  RegisterReply reply;
  reply.cancel_task_ids = I.Reconcile(w, r.running_tasks, batch);

  // Capacity may have changed; rebuild the allocation from what stays.
  w.hostname = r.hostname;
  w.address = r.address;
  w.cpu_cores = r.cpu_cores;
  w.memory_bytes = r.memory_bytes;
  if (r.heartbeat_interval.count() > 0) w.heartbeat_interval = r.heartbeat_interval;
  w.gpus = GpusFrom(r.gpus, w.gpus);
  e.gpu_reported_in.assign(w.gpus.size(), w.heartbeats);
  std::vector<const Task*> staying;
  for (const std::string& id : w.task_ids) {
    if (const TaskEntry* t = I.FindTask(id)) staying.push_back(&t->task);
  }
  AllocationLedger(w).Rebuild(staying);

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

void Cluster::DisconnectWorker(const std::string& worker_id, const WorkerChannel* channel) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  WorkerEntry* e = I.FindWorker(worker_id);
  if (e == nullptr || e->channel != channel) return;  // a newer stream took over
  e->channel = nullptr;
  e->worker.connected = false;
  I.Changed();
}

Status Cluster::IngestHeartbeat(const std::string& worker_id, HeartbeatReport report) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  WorkerEntry* e = I.FindWorker(worker_id);
  if (e == nullptr) return NotFound("worker " + worker_id + " has not registered with this master");
  Worker& w = e->worker;
  w.host = std::move(report.host);
  w.nvml = std::move(report.nvml);
  w.gpu_percent = report.gpu_percent;
  w.collector = std::move(report.collector);
  uint64_t beat = ++w.heartbeats;
  ++I.heartbeats_received;

  for (size_t i = 0; i < report.gpus.size(); ++i) {
    size_t pos = MatchGpu(w, report.gpus[i], i);
    if (pos == kNoGpu) continue;  // not registered; ignored until it re-registers
    e->gpu_reported_in[pos] = beat;
    WorkerGpu& g = w.gpus[pos];
    bool good = report.gpus[i].readable();
    g.live = std::move(report.gpus[i]);
    if (CountSample(g, good)) I.may_place = true;
  }
  for (size_t pos = 0; pos < w.gpus.size(); ++pos) {
    if (e->gpu_reported_in[pos] == beat) continue;
    WorkerGpu& g = w.gpus[pos];
    if (!g.live.error) {  // keep who it is; drop the figures we no longer have
      GpuSample missing;
      missing.index = g.index;
      missing.uuid = g.uuid;
      missing.name = g.name;
      missing.pci_bus_id = g.pci_bus_id;
      missing.error = "missing from the worker's latest heartbeat";
      g.live = std::move(missing);
    }
    CountSample(g, false);
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
    for (const std::string& id : report.running_task_ids) {
      const TaskEntry* t = I.FindTask(id);
      if (t == nullptr || t->task.worker_id != worker_id || IsTerminal(t->task.state) ||
          t->task.state == TaskState::kQueued) {
        e->channel->SendCancel(id, I.config.cancel_grace);
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
    if (w.state == WorkerState::kDead) continue;
    Clock::Duration age = now - w.last_seen;
    if (age > I.DeadAfter(w)) {
      w.state = WorkerState::kDead;
      changed = true;
      spdlog::warn("worker {} is dead: no heartbeat for {}", w.id, Seconds(age));
      std::string why = "worker " + w.id + " was lost (no heartbeat for " + Seconds(age) + ")";
      std::vector<std::string> placed_here = w.task_ids;
      for (const std::string& id : placed_here) {
        if (TaskEntry* t = I.FindTask(id)) I.Requeue(*t, why, batch);
      }
    } else if (age > I.SuspectAfter(w) && w.state == WorkerState::kHealthy) {
      w.state = WorkerState::kSuspect;
      changed = true;
    }
  }
  I.PersistOrWarn(batch, "the requeues of dead workers' tasks");
  if (changed) I.Changed();
}

}  // namespace gpulse::master
