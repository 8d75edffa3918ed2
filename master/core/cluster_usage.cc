// Cluster: what each running task's GPUs do (usage, idleness), the faults
// of GPUs as they arrive in heartbeats, hardware failures of tasks, and an
// operator's clear of a GPU's quarantine.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "master/core/cluster.h"
#include "master/core/cluster_impl.h"
#include "master/core/gpu_health.h"

namespace gpulse::master {
namespace {

// "30 min", "1 h", "45 s".
std::string FormatPeriod(std::chrono::milliseconds d) {
  const int64_t s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s >= 3600 && s % 3600 == 0) return std::to_string(s / 3600) + " h";
  if (s >= 60 && s % 60 == 0) return std::to_string(s / 60) + " min";
  return std::to_string(s) + " s";
}

std::string GpuName(const WorkerGpu& g) {
  return "GPU " + std::to_string(g.identity.index) + " (" + g.identity.uuid + ")";
}

// `hint`: where it usually is (its NVML index).
WorkerGpu* FindGpu(Worker& w, const std::string& uuid, size_t hint) {
  if (hint < w.gpus.size() && w.gpus[hint].identity.uuid == uuid) return &w.gpus[hint];
  for (WorkerGpu& g : w.gpus) {
    if (g.identity.uuid == uuid) return &g;
  }
  return nullptr;
}

}  // namespace

void Cluster::Impl::NoteGpuFaults(WorkerEntry& worker, WorkerGpu& gpu, const GpuSample& incoming,
                                  TaskStoreBatch& batch) {
  if (!incoming.events) return;
  const GpuEvents& now = *incoming.events;
  const GpuEvents* before = gpu.live.events ? &*gpu.live.events : nullptr;
  // A worker that restarted counts from 0 again: what was cleared no longer applies.
  if (now.dbe_events < gpu.cleared_events.dbe_events) gpu.cleared_events.dbe_events = 0;
  for (auto& [xid, cleared] : gpu.cleared_events.xid_counts) {
    auto it = now.xid_counts.find(xid);
    if (it == now.xid_counts.end() || it->second < cleared) cleared = 0;
  }
  if (incoming.ecc_dbe_volatile.value_or(0) < gpu.cleared_ecc_dbe) gpu.cleared_ecc_dbe = 0;
  // Nothing to compare with when the GPU has had no sample yet (just
  // registered, or a restarted master): counts it reports then are old.
  // A GPU that had samples but no events before (its watcher had not
  // started) compares with none.
  if (before == nullptr && !gpu.live.utilization_gpu && !gpu.live.memory_used_bytes) return;

  std::vector<std::string> faults;
  const std::string& task_id = gpu.allocated_to;
  for (const auto& [xid, count] : now.xid_counts) {
    uint64_t seen = 0;
    if (before) {
      auto it = before->xid_counts.find(xid);
      if (it != before->xid_counts.end() && it->second <= count) seen = it->second;
    }
    if (count <= seen) continue;
    if (IsCriticalXid(xid)) {
      faults.push_back("critical XID " + std::to_string(xid));
    } else if (IsApplicationXid(xid) && !task_id.empty()) {
      if (TaskEntry* t = FindTask(task_id)) {
        Record(t->task, "application XID " + std::to_string(xid) + " on " + GpuName(gpu) + " of " +
                            worker.worker.id + " (the task's fault; the GPU stays in service)",
               batch);
      }
    }
  }
  const uint64_t dbe_before = before ? before->dbe_events : 0;
  if (now.dbe_events > dbe_before) faults.push_back("double-bit ECC error");
  if (faults.empty()) return;

  gpu.last_fault_at = clock.WallNow();
  gpu.last_fault = faults.front();
  spdlog::warn("worker {} {}: {}", worker.worker.id, GpuName(gpu), gpu.last_fault);
  // A task that failed on it just before the fault was reported failed because of it.
  if (gpu.last_failed_task.empty()) return;
  TaskEntry* failed = FindTask(gpu.last_failed_task);
  gpu.last_failed_task.clear();
  if (failed == nullptr || failed->task.state != TaskState::kFailed || !failed->task.finished_at) return;
  if (clock.WallNow() - *failed->task.finished_at > config.hardware_fault_window) return;
  RequeueAfterHardwareFault(*failed,
                            GpuName(gpu) + " of " + worker.worker.id + " had a " + gpu.last_fault +
                                " just after the task failed (" + failed->task.message + ")",
                            batch);
}

bool Cluster::Impl::HealRecoverableXids(WorkerGpu& gpu) {
  if (gpu.health != GpuHealth::kUnhealthy || !gpu.live.events || !gpu.last_fault_at) return false;
  if (clock.WallNow() - *gpu.last_fault_at < config.recoverable_xid_clean_period) return false;
  const GpuEvents& ev = *gpu.live.events;
  if (ev.dbe_events > gpu.cleared_events.dbe_events) return false;
  bool any = false;
  for (const auto& [xid, count] : ev.xid_counts) {
    if (!IsCriticalXid(xid) || CountSince(gpu.cleared_events, xid, count) == 0) continue;
    if (!IsRecoverableXid(xid)) return false;
    any = true;
  }
  if (!any) return false;
  for (const auto& [xid, count] : ev.xid_counts) {
    if (IsRecoverableXid(xid)) gpu.cleared_events.xid_counts[xid] = count;
  }
  spdlog::info("{}: recoverable XIDs cleared after {} without a new fault", GpuName(gpu),
               FormatPeriod(config.recoverable_xid_clean_period));
  return UpdateGpuHealth(gpu);
}

void Cluster::Impl::RebuildRunningAccounts(WorkerEntry& e) {
  DetachAccounts(e);
  Worker& w = e.worker;
  for (const std::string& id : w.task_ids) {
    TaskEntry* entry = FindTask(id);
    if (entry == nullptr || entry->task.state != TaskState::kRunning || entry->task.gpu_uuids.empty()) continue;
    const Task& t = entry->task;
    RunningAccount account;
    account.entry = entry;
    account.first_gpu = static_cast<uint32_t>(e.account_gpus.size());
    account.gpus = static_cast<uint32_t>(t.gpu_uuids.size());
    account.idle_since = t.idle_since;
    for (size_t k = 0; k < t.gpu_uuids.size(); ++k) {
      const size_t hint = k < t.gpu_indices.size() ? t.gpu_indices[k] : w.gpus.size();
      const WorkerGpu* g = FindGpu(w, t.gpu_uuids[k], hint);
      e.account_gpus.push_back(
          g == nullptr ? TaskGpu{} : BeginTaskCount(e.gpu_counters[static_cast<size_t>(g - w.gpus.data())]));
    }
    e.running_accounts.push_back(account);
  }
  // Both vectors are complete: pointers into them stay valid until the next rebuild.
  for (RunningAccount& account : e.running_accounts) {
    account.gpu_slots = e.account_gpus.data() + account.first_gpu;
    account.entry->account = &account;
  }
  e.accounts_stale = false;
  e.idle_check_at = {};  // judge the new set at once
}

void Cluster::Impl::StartUsageCount(const Task& task) {
  WorkerEntry* e = FindWorker(task.worker_id);
  if (e == nullptr) return;
  Worker& w = e->worker;
  for (size_t k = 0; k < task.gpu_uuids.size(); ++k) {
    const size_t hint = k < task.gpu_indices.size() ? task.gpu_indices[k] : w.gpus.size();
    if (const WorkerGpu* g = FindGpu(w, task.gpu_uuids[k], hint)) {
      RestartCount(e->gpu_counters[static_cast<size_t>(g - w.gpus.data())], clock.Now());
    }
  }
}

void Cluster::Impl::CountGpuUsage(WorkerEntry& e, TaskStoreBatch& batch) {
  const Worker& w = e.worker;
  const Clock::TimePoint now = clock.Now();
  // Every GPU, held or not: a heartbeat costs the same with running tasks
  // as without (task_usage.h).
  const GpuSecondsDelta total = master::CountGpuUsage(e.gpu_counters, w.gpus, now, config.idle_threshold_percent);
  if (total.allocated > 0) {
    gpu_seconds_allocated += total.allocated;
    gpu_seconds_used += total.used;
    gpu_seconds_window.Add(now, total);
  }
  if (e.running_accounts.empty() || (e.idle_accounts == 0 && now < e.idle_check_at)) return;

  // The idle judgement: a task's entry is touched only when its idleness changes.
  const WallTime wall_now = clock.WallNow();
  e.idle_check_at = Clock::TimePoint::max();
  e.idle_accounts = 0;
  for (RunningAccount& account : e.running_accounts) {
    if (account.entry == nullptr) continue;  // stopped running; the accounts were marked stale
    const IdleChange change =
        JudgeIdle(account.idle_since, account.Gpus(), config.idle_period, now, wall_now, e.idle_check_at);
    if (account.idle_since) ++e.idle_accounts;
    if (change == IdleChange::kNone) continue;
    Task& t = account.entry->task;
    t.idle_since = account.idle_since;
    if (change == IdleChange::kBusyAgain) {
      Record(t, "GPUs busy again", batch);
    } else if (change == IdleChange::kBecameIdle) {
      const std::string idle_for = "GPUs idle for " + FormatPeriod(config.idle_period);
      Record(t, "idle: " + idle_for + " (all below " + std::to_string(static_cast<int>(config.idle_threshold_percent)) +
                    " %)",
             batch);
      if (config.idle_action == ClusterConfig::IdleAction::kCancel && !t.cancel_requested && e.channel != nullptr) {
        t.cancel_requested = true;
        t.cancel_reason = idle_for;
        Record(t, "cancel requested: " + idle_for, batch);
        e.channel->SendCancel(t.id, config.cancel_grace);
      }
    }
  }
}

std::optional<std::string> Cluster::Impl::HardwareFaultOf(const WorkerEntry& worker, const Task& task) const {
  const WallTime wall_now = clock.WallNow();
  for (const WorkerGpu& g : worker.worker.gpus) {
    if (std::find(task.gpu_uuids.begin(), task.gpu_uuids.end(), g.identity.uuid) == task.gpu_uuids.end()) continue;
    if (!g.healthy) {
      return GpuName(g) + " of " + worker.worker.id + " was lost (" + g.live.error.value_or("unreadable") + ")";
    }
    if (g.last_fault_at && wall_now - *g.last_fault_at <= config.hardware_fault_window) {
      return GpuName(g) + " of " + worker.worker.id + " had a " + g.last_fault;
    }
  }
  return std::nullopt;
}

void Cluster::Impl::RequeueAfterHardwareFault(TaskEntry& entry, const std::string& fault, TaskStoreBatch& batch) {
  Task& t = entry.task;
  ++t.hardware_failures;
  t.finished_at.reset();
  spdlog::warn("task {}: hardware failure: {}", t.id, fault);
  Requeue(entry, "hardware failure: " + fault + " (not counted as an attempt)", batch);
}

Result<WorkerGpu> Cluster::ClearGpuFaults(const std::string& worker_id, uint32_t index) {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  WorkerEntry* e = I.FindWorker(worker_id);
  if (e == nullptr) return NotFound("no worker '" + worker_id + "'");
  for (WorkerGpu& g : e->worker.gpus) {
    if (g.identity.index != index) continue;
    // Stored with the worker's record before it takes effect, so that a
    // restarted master does not hold the cleared faults against it again.
    const WorkerGpu before = g;
    if (g.live.events) g.cleared_events = *g.live.events;
    g.cleared_ecc_dbe = g.live.ecc_dbe_volatile.value_or(0);
    if (Status s = I.store.PutWorker(RecordOf(e->worker)); !s.ok()) {
      g = before;
      ++I.store_errors;
      return s;
    }
    g.last_fault_at.reset();
    g.last_fault.clear();
    if (UpdateGpuHealth(g)) I.may_place = true;
    spdlog::info("worker {} {}: faults cleared by an operator; now {}", worker_id, GpuName(g),
                 GpuHealthName(g.health));
    I.Changed();
    return g;
  }
  return NotFound("worker " + worker_id + " has no GPU " + std::to_string(index));
}

}  // namespace gpulse::master
