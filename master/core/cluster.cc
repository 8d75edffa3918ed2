// Cluster: construction, recovery, snapshots, and the state helpers shared
// by cluster_workers.cc, cluster_tasks.cc and cluster_schedule.cc.
#include "master/core/cluster.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "master/core/allocation_ledger.h"
#include "master/core/cluster_impl.h"

namespace gpulse::master {

WorkerRecord RecordOf(const Worker& w) {
  WorkerRecord r;
  r.id = w.id;
  r.address = w.address;
  r.capacity = w.capacity;
  r.gpus.reserve(w.gpus.size());
  for (const WorkerGpu& g : w.gpus) r.gpus.push_back(g.identity);
  r.registered_at = w.registered_at;
  r.heartbeat_interval = w.heartbeat_interval;
  r.draining = w.draining;
  for (const WorkerGpu& g : w.gpus) {
    if (g.cleared_events.xid_counts.empty() && g.cleared_events.dbe_events == 0 && g.cleared_ecc_dbe == 0) continue;
    r.cleared_faults.push_back(
        {g.identity.uuid, g.cleared_events.xid_counts, g.cleared_events.dbe_events, g.cleared_ecc_dbe});
  }
  return r;
}

// ---- Impl helpers ----------------------------------------------------------

void Cluster::Impl::Changed() {
  ++version;
  if (waiters > 0) changed.notify_all();
}

WorkerEntry* Cluster::Impl::FindWorker(const std::string& id) {
  auto it = workers.find(id);
  return it == workers.end() ? nullptr : it->second.get();
}

TaskEntry* Cluster::Impl::FindTask(const std::string& id) {
  auto it = tasks.find(id);
  return it == tasks.end() ? nullptr : &it->second;
}

WorkerEntry& Cluster::Impl::AddWorker(const std::string& id) {
  auto entry = std::make_unique<WorkerEntry>();
  entry->worker.id = id;
  WorkerEntry* raw = entry.get();
  workers.emplace(id, std::move(entry));
  auto pos = std::lower_bound(workers_by_id.begin(), workers_by_id.end(), id,
                              [](const WorkerEntry* e, const std::string& key) { return e->worker.id < key; });
  workers_by_id.insert(pos, raw);
  return *raw;
}

TaskEntry& Cluster::Impl::AddTask(Task task, uint64_t order) {
  std::string id = task.id;
  TaskEntry& entry = tasks[id];
  entry.task = std::move(task);
  entry.order = order;
  tasks_by_order.emplace(order, &entry);
  ++task_counts[static_cast<int>(entry.task.state)];
  if (entry.task.state == TaskState::kQueued) {
    queue.emplace(order, &entry);
    may_place = true;
  }
  if (IsTerminal(entry.task.state)) {
    const WallTime wall_now = clock.WallNow();
    const WallTime finished = std::min(entry.task.finished_at.value_or(wall_now), wall_now);
    entry.finished_mono = clock.Now() - std::chrono::duration_cast<Clock::Duration>(wall_now - finished);
    finished_in_memory.emplace(entry.finished_mono, order);
  }
  return entry;
}

void Cluster::Impl::SetState(TaskEntry& entry, TaskState state) {
  TaskState old = entry.task.state;
  if (old == state) return;
  --task_counts[static_cast<int>(old)];
  ++task_counts[static_cast<int>(state)];
  entry.task.state = state;
  if (old == TaskState::kRunning && state != TaskState::kRunning) DetachAccount(entry);  // its usage is final
  if (old == TaskState::kRunning || state == TaskState::kRunning) MarkAccountsStale(entry.task.worker_id);
  if (old == TaskState::kQueued) {
    queue.erase(entry.order);
    entry.task.pending_reason.clear();
  }
  if (state == TaskState::kQueued) {
    queue.emplace(entry.order, &entry);
    may_place = true;
  }
  if (IsTerminal(old) && !IsTerminal(state)) finished_in_memory.erase({entry.finished_mono, entry.order});
  if (IsTerminal(state) && !IsTerminal(old)) {
    entry.finished_mono = clock.Now();
    finished_in_memory.emplace(entry.finished_mono, entry.order);
  }
}

void Cluster::Impl::MarkAccountsStale(const std::string& worker_id) {
  if (worker_id.empty()) return;
  if (WorkerEntry* w = FindWorker(worker_id)) w->accounts_stale = true;
}

void FoldUsage(TaskEntry& entry) {
  if (entry.account == nullptr) return;
  FoldUsage(entry.task.usage, entry.account->Gpus());
}

void DetachAccount(TaskEntry& entry) {
  RunningAccount* account = entry.account;
  if (account == nullptr) return;
  FoldUsage(entry);
  for (TaskGpu& g : account->Gpus()) EndTaskCount(g);
  account->entry = nullptr;
  entry.account = nullptr;
}

void DetachAccounts(WorkerEntry& worker) {
  for (RunningAccount& account : worker.running_accounts) {
    if (account.entry != nullptr) DetachAccount(*account.entry);
  }
  worker.running_accounts.clear();
  worker.account_gpus.clear();
  worker.accounts_stale = true;
}

Task TaskView(const TaskEntry& entry) {
  Task t = entry.task;
  if (entry.account != nullptr) MergeUsage(t.usage, UsageSinceMarks(entry.account->Gpus()));
  return t;
}

void StopAccounting(TaskEntry& entry) {
  DetachAccount(entry);
  entry.task.idle_since.reset();
}

void Cluster::Impl::Release(WorkerEntry& entry, const Task& task) {
  if (AllocationLedger(entry.worker).Release(task)) may_place = true;
  entry.accounts_stale = true;
}

void Cluster::Impl::Finish(TaskEntry& entry, TaskState state, std::string message, TaskStoreBatch& batch) {
  Task& t = entry.task;
  if (WorkerEntry* w = t.worker_id.empty() ? nullptr : FindWorker(t.worker_id)) Release(*w, t);
  SetState(entry, state);
  StopAccounting(entry);
  t.finished_at = clock.WallNow();
  t.message = std::move(message);
  // The event: the message if it already says what happened, else "<state>: <message>".
  std::string what = TaskStateName(state);
  if (t.message.rfind(what, 0) == 0) {
    what = t.message;
  } else if (!t.message.empty()) {
    what += ": " + t.message;
  }
  Record(t, std::move(what), batch);
}

void Cluster::Impl::Requeue(TaskEntry& entry, const std::string& why, TaskStoreBatch& batch) {
  Task& t = entry.task;
  if (t.cancel_requested) {
    Finish(entry, TaskState::kCancelled, "cancelled; meanwhile " + why, batch);
    return;
  }
  // Starts that failed because of their worker, and runs ended by a
  // hardware failure, are not the task's runs.
  const uint32_t runs = t.RunsSpent();
  std::string of = " (attempt " + std::to_string(runs) + " of " + std::to_string(t.spec.max_attempts) + ")";
  if (runs >= t.spec.max_attempts) {
    Finish(entry, TaskState::kFailed, why + of + "; no attempts left", batch);
    return;
  }
  if (WorkerEntry* w = FindWorker(t.worker_id)) Release(*w, t);
  SetState(entry, TaskState::kQueued);
  StopAccounting(entry);
  t.worker_id.clear();
  t.gpu_indices.clear();
  t.gpu_uuids.clear();
  t.started_at.reset();
  t.message = "requeued: " + why + of;
  Record(t, t.message, batch);
}

void Cluster::Impl::Record(const Task& task, std::string what, TaskStoreBatch& batch) {
  batch.tasks.push_back(task);
  if (task.state == TaskState::kRunning) {  // only running tasks have accounts: no lookup for the others
    if (const TaskEntry* entry = FindTask(task.id); entry != nullptr && entry->account != nullptr) {
      MergeUsage(batch.tasks.back().usage, UsageSinceMarks(entry->account->Gpus()));
    }
  }
  batch.events.push_back({task.id, clock.WallNow(), std::move(what)});
}

Status Cluster::Impl::Persist(const TaskStoreBatch& batch, std::string_view context) {
  if (batch.empty()) return Status::Ok();
  Status s = store.Write(batch);
  if (!s.ok()) {
    ++store_errors;
    spdlog::error("could not store {} ({} task change(s)): {}", context, batch.tasks.size(), s.ToString());
  }
  return s;
}

void Cluster::Impl::PersistOrWarn(const TaskStoreBatch& batch, std::string_view context) {
  if (batch.empty()) return;
  Status s = store.Write(batch);
  if (s.ok()) return;
  ++store_errors;
  spdlog::warn("could not store {} ({} task change(s)); kept in memory only: {}", context, batch.tasks.size(),
               s.ToString());
}

void Cluster::Impl::PutWorkerOrWarn(const Worker& worker) {
  Status s = store.PutWorker(RecordOf(worker));
  if (s.ok()) return;
  ++store_errors;
  spdlog::warn("could not store worker {}; kept in memory only: {}", worker.id, s.ToString());
}

Clock::Duration Cluster::Impl::SuspectAfter(const Worker& w) const {
  return std::chrono::duration_cast<Clock::Duration>(
      std::chrono::duration<double, std::milli>(w.heartbeat_interval) * config.suspect_after_intervals);
}

Clock::Duration Cluster::Impl::DeadAfter(const Worker& w) const {
  if (config.heartbeat_timeout) return *config.heartbeat_timeout;
  return w.heartbeat_interval * config.dead_after_intervals;
}

Clock::Duration Cluster::Impl::TaskLease(const Worker& w) const {
  return std::max<Clock::Duration>(config.task_lease, DeadAfter(w));
}

void Cluster::Impl::RestoreWorker(WorkerRecord r) {
  WorkerEntry& e = AddWorker(r.id);
  Worker& w = e.worker;
  w.address = std::move(r.address);
  w.capacity = std::move(r.capacity);
  w.registered_at = r.registered_at;
  w.heartbeat_interval = r.heartbeat_interval;
  w.draining = r.draining;
  w.gpus.reserve(r.gpus.size());
  for (const GpuIdentity& g : r.gpus) w.gpus.push_back(RegisteredGpu(g));
  for (ClearedGpuFaults& c : r.cleared_faults) {
    for (WorkerGpu& g : w.gpus) {
      if (g.identity.uuid != c.uuid) continue;
      g.cleared_events.xid_counts = std::move(c.xid_counts);
      g.cleared_events.dbe_events = c.dbe_events;
      g.cleared_ecc_dbe = c.ecc_dbe_volatile;
    }
  }
  e.gpu_reported_in.assign(w.gpus.size(), 0);
  e.gpu_counters.assign(w.gpus.size(), {});
  w.state = WorkerState::kSuspect;
  w.connected = false;
  w.last_seen = clock.Now();
}

void Cluster::Impl::RestoreTask(Task task, TaskStoreBatch& batch) {
  // The order is the task number; an id of another form (none that this
  // master made) goes after the tasks before it.
  const uint64_t last = tasks_by_order.empty() ? 0 : tasks_by_order.rbegin()->first;
  const uint64_t order = std::max(ParseTaskNumber(task.id), last + 1);
  next_task_number = std::max(next_task_number, order + 1);
  TaskEntry& entry = AddTask(std::move(task), order);
  if (entry.task.state != TaskState::kAssigned && entry.task.state != TaskState::kRunning) return;
  if (WorkerEntry* w = FindWorker(entry.task.worker_id)) {
    AllocationLedger(w->worker).Adopt(entry.task);
    w->accounts_stale = true;
  } else {
    Requeue(entry, "its worker " + entry.task.worker_id + " is unknown to this master", batch);
  }
}

// ---- Cluster -----------------------------------------------------------------

Cluster::Cluster(TaskStore& store, PlacementPolicy& policy, Clock& clock, ClusterConfig config)
    : impl_(std::make_unique<Impl>(store, policy, clock, config)) {}

Cluster::~Cluster() = default;

Status Cluster::Recover() {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  if (I.recovered) return FailedPrecondition("the cluster state was already recovered");
  ASSIGN_OR_RETURN(std::vector<WorkerRecord> records, I.store.LoadWorkers());
  ASSIGN_OR_RETURN(StoredTaskSummary stored, I.store.SummarizeTasks());
  ASSIGN_OR_RETURN(std::vector<Task> tasks, I.store.LoadLiveTasks(I.config.max_finished_tasks_in_memory));
  // Finished tasks past their retention stay in the store only.
  const WallTime wall_now = I.clock.WallNow();
  std::erase_if(tasks, [&](const Task& t) {
    return IsTerminal(t.state) && t.finished_at && *t.finished_at + I.config.finished_task_retention <= wall_now;
  });
  // Those not loaded stay counted (ClusterCounts::tasks_by_state).
  std::array<uint64_t, 6> not_loaded = stored.by_state;
  for (const Task& t : tasks) {
    uint64_t& n = not_loaded[static_cast<size_t>(t.state)];
    n -= std::min<uint64_t>(n, 1);
  }
  I.next_task_number = std::max(I.next_task_number, stored.max_number + 1);

  for (WorkerRecord& r : records) I.RestoreWorker(std::move(r));
  // Submission order: by task number, then submission time.
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) {
    uint64_t na = ParseTaskNumber(a.id), nb = ParseTaskNumber(b.id);
    if (na != nb) return na < nb;
    return a.submitted_at < b.submitted_at;
  });
  TaskStoreBatch batch;
  for (Task& t : tasks) I.RestoreTask(std::move(t), batch);
  I.PersistOrWarn(batch, "the requeues found at recovery");
  for (size_t s = 0; s < not_loaded.size(); ++s) I.task_counts[s] += not_loaded[s];

  I.recovered = true;
  I.may_place = true;
  I.Changed();
  uint64_t total = 0;
  for (uint64_t n : stored.by_state) total += n;
  spdlog::info("recovered {} task(s) into memory ({} queued; {} stored in all) and {} known worker(s)", tasks.size(),
               I.queue.size(), total, records.size());
  return Status::Ok();
}

std::vector<Worker> Cluster::Workers() const {
  std::lock_guard lock(impl_->mu);
  std::vector<Worker> out;
  out.reserve(impl_->workers_by_id.size());
  for (const WorkerEntry* e : impl_->workers_by_id) out.push_back(e->worker);
  return out;
}

std::optional<Worker> Cluster::GetWorker(const std::string& id) const {
  std::lock_guard lock(impl_->mu);
  const WorkerEntry* e = impl_->FindWorker(id);
  if (e == nullptr) return std::nullopt;
  return e->worker;
}

std::vector<Task> Cluster::Tasks(std::optional<TaskState> state) const {
  std::lock_guard lock(impl_->mu);
  std::vector<Task> out;
  const auto& source = state == TaskState::kQueued ? impl_->queue : impl_->tasks_by_order;
  out.reserve(state ? impl_->task_counts[static_cast<int>(*state)] : impl_->tasks.size());
  for (const auto& [order, entry] : source) {
    if (!state || entry->task.state == *state) out.push_back(TaskView(*entry));
  }
  return out;
}

Cluster::WorkerPage Cluster::PageWorkers(const std::string& after, size_t limit) const {
  std::lock_guard lock(impl_->mu);
  WorkerPage page;
  const auto& ids = impl_->workers_by_id;
  auto it = after.empty() ? ids.begin()
                          : std::upper_bound(ids.begin(), ids.end(), after,
                                             [](const std::string& id, const WorkerEntry* e) {
                                               return id < e->worker.id;
                                             });
  for (; it != ids.end() && page.workers.size() < limit; ++it) page.workers.push_back((*it)->worker);
  page.more = it != ids.end();
  return page;
}

ClusterCounts Cluster::Counts() const {
  std::lock_guard lock(impl_->mu);
  ClusterCounts c;
  for (const WorkerEntry* e : impl_->workers_by_id) {
    const Worker& w = e->worker;
    switch (w.state) {
      case WorkerState::kHealthy: ++c.workers_healthy; break;
      case WorkerState::kSuspect: ++c.workers_suspect; break;
      case WorkerState::kDead: ++c.workers_dead; continue;  // its GPUs are not counted
    }
    for (const WorkerGpu& g : w.gpus) {
      ++c.gpus_total;
      if (!g.allocated_to.empty()) ++c.gpus_allocated;
      if (!g.healthy || g.health == GpuHealth::kUnhealthy) ++c.gpus_unhealthy;
      if (g.live.readable() && g.live.utilization_gpu && *g.live.utilization_gpu >= kBusyGpuUtilizationPercent) {
        ++c.gpus_busy;
      }
    }
  }
  std::copy(std::begin(impl_->task_counts), std::end(impl_->task_counts), c.tasks_by_state);
  c.heartbeats_received = impl_->heartbeats_received;
  c.store_errors = impl_->store_errors;
  c.gpu_seconds_allocated = impl_->gpu_seconds_allocated;
  c.gpu_seconds_used = impl_->gpu_seconds_used;
  const Clock::TimePoint now = impl_->clock.Now();
  GpuSecondsDelta hour = impl_->gpu_seconds_window.Sum(now, std::chrono::hours(1));
  GpuSecondsDelta day = impl_->gpu_seconds_window.Sum(now, std::chrono::hours(24));
  c.gpu_seconds_allocated_hour = hour.allocated;
  c.gpu_seconds_used_hour = hour.used;
  c.gpu_seconds_allocated_day = day.allocated;
  c.gpu_seconds_used_day = day.used;
  for (const auto& [order, entry] : impl_->tasks_by_order) {
    if (entry->task.state == TaskState::kRunning && entry->task.idle_since) ++c.tasks_idle;
  }
  c.tasks_in_memory = impl_->tasks.size();
  c.finished_tasks_in_memory = impl_->finished_in_memory.size();
  return c;
}

uint64_t Cluster::Version() const {
  std::lock_guard lock(impl_->mu);
  return impl_->version;
}

uint64_t Cluster::WaitForChange(uint64_t seen, std::chrono::milliseconds timeout) const {
  Impl& I = *impl_;
  std::unique_lock lock(I.mu);
  ++I.waiters;
  I.changed.wait_for(lock, timeout, [&] { return I.version > seen; });
  --I.waiters;
  return I.version;
}

}  // namespace gpulse::master
