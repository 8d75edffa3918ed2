#include "master/dashboard/cluster_metrics_page.h"

#include <algorithm>
#include <chrono>

#include "metrics/sample_metrics.h"

namespace gpulse::master {
namespace {

using metrics::Labels;
using metrics::MetricFamily;
using metrics::MetricType;
using metrics::PrometheusWriter;

constexpr MetricFamily kWorkers{"gpulse_workers", "Workers known to the master, by liveness state.",
                                MetricType::kGauge};
constexpr MetricFamily kTasks{"gpulse_tasks", "Tasks known to the master, by state.", MetricType::kGauge};
constexpr MetricFamily kClusterGpus{
    "gpulse_cluster_gpus",
    "GPUs of the workers that are not dead: total, allocated to tasks, busy (utilization >= 50 %), unhealthy.",
    MetricType::kGauge};
constexpr MetricFamily kHeartbeats{"gpulse_heartbeats_received_total",
                                   "Heartbeats the master has received since it started.", MetricType::kCounter};
constexpr MetricFamily kStoreErrors{"gpulse_store_errors_total",
                                    "Writes to the master's task store that failed since it started.",
                                    MetricType::kCounter};
constexpr MetricFamily kTasksInMemory{
    "gpulse_tasks_in_memory",
    "Tasks the master holds in memory: all unfinished ones and the recently finished ones (the others are "
    "served from its database).",
    MetricType::kGauge};

constexpr MetricFamily kGpuHealthState{
    "gpulse_gpu_health_state",
    "The master's verdict on the GPU: 0 healthy, 1 degraded (chosen last), 2 unhealthy (not scheduled); "
    "reason lists why.",
    MetricType::kGauge};

constexpr MetricFamily kWorkerState{"gpulse_worker_state", "1 for the worker's current liveness state, else 0.",
                                    MetricType::kGauge};
constexpr MetricFamily kWorkerConnected{"gpulse_worker_connected",
                                        "1 while the worker's stream to the master is open.", MetricType::kGauge};
constexpr MetricFamily kHeartbeatAge{"gpulse_worker_last_heartbeat_age_seconds",
                                     "Seconds since the worker's latest heartbeat.", MetricType::kGauge};
constexpr MetricFamily kWorkerHeartbeats{"gpulse_worker_heartbeats_total",
                                         "Heartbeats received from the worker since the master started.",
                                         MetricType::kCounter};
constexpr MetricFamily kGpusCapacity{"gpulse_gpus_capacity", "GPUs the worker has.", MetricType::kGauge};
constexpr MetricFamily kGpusAllocated{"gpulse_gpus_allocated", "GPUs of the worker allocated to tasks.",
                                      MetricType::kGauge};
constexpr MetricFamily kCpuCores{"gpulse_worker_cpu_cores", "CPU cores the worker has.", MetricType::kGauge};
constexpr MetricFamily kCpusAllocated{"gpulse_worker_cpus_allocated", "CPU cores of the worker allocated to tasks.",
                                      MetricType::kGauge};
constexpr MetricFamily kMemoryBytes{"gpulse_worker_memory_bytes", "Host memory of the worker (bytes).",
                                    MetricType::kGauge};
constexpr MetricFamily kMemoryAllocated{"gpulse_worker_memory_allocated_bytes",
                                        "Host memory of the worker allocated to tasks (bytes).", MetricType::kGauge};
constexpr MetricFamily kValuesRejected{
    "gpulse_worker_values_rejected_total",
    "Values the worker reported that the master did not believe (out of range, or GPUs it did not register), "
    "by field; they were dropped, never stored.",
    MetricType::kCounter};
constexpr MetricFamily kMessagesRefused{
    "gpulse_worker_messages_refused_total",
    "Task updates and output the worker sent about tasks that are not its current attempts, by kind.",
    MetricType::kCounter};

constexpr MetricFamily kGpuSecondsAllocated{
    "gpulse_gpu_seconds_allocated_total",
    "GPU-seconds allocated to running tasks since the master started (from their GPUs' heartbeats).",
    MetricType::kCounter};
constexpr MetricFamily kGpuSecondsUsed{
    "gpulse_gpu_seconds_used_total",
    "GPU-seconds allocated to running tasks weighted by GPU utilization, since the master started.",
    MetricType::kCounter};
constexpr MetricFamily kGpuEfficiency{
    "gpulse_cluster_gpu_efficiency_ratio",
    "Utilization-weighted GPU-hours used over GPU-hours allocated, over the window (absent while nothing was "
    "allocated).",
    MetricType::kGauge};
constexpr MetricFamily kTaskGpuUtilization{"gpulse_task_gpu_utilization",
                                           "GPU utilization (%) of a GPU of a running task, from its latest sample.",
                                           MetricType::kGauge};
constexpr MetricFamily kTaskGpuMemoryUsed{"gpulse_task_gpu_memory_used_bytes",
                                          "Memory used on a GPU of a running task (bytes), from its latest sample.",
                                          MetricType::kGauge};
constexpr MetricFamily kTaskGpuSeconds{"gpulse_task_gpu_seconds_total",
                                       "GPU-seconds a running task has held, over its attempts.", MetricType::kCounter};
constexpr MetricFamily kTaskGpuSecondsUsed{"gpulse_task_gpu_seconds_used_total",
                                           "GPU-seconds a running task has held, weighted by utilization.",
                                           MetricType::kCounter};
constexpr MetricFamily kTaskEnergy{"gpulse_task_energy_joules_total",
                                   "Energy a running task's GPUs have used (joules; absent while unknown).",
                                   MetricType::kCounter};
constexpr MetricFamily kTaskIdle{"gpulse_task_idle",
                                 "1 while a running task's GPUs have all stayed below the idle threshold for the "
                                 "idle period, else 0.",
                                 MetricType::kGauge};

constexpr WorkerState kWorkerStates[] = {WorkerState::kHealthy, WorkerState::kSuspect, WorkerState::kDead};
constexpr TaskState kTaskStates[] = {TaskState::kQueued,    TaskState::kAssigned, TaskState::kRunning,
                                     TaskState::kSucceeded, TaskState::kFailed,   TaskState::kCancelled};

void AppendClusterSeries(PrometheusWriter& out, const ClusterCounts& c) {
  out.Add(kWorkers, {{"state", WorkerStateName(WorkerState::kHealthy)}}, c.workers_healthy);
  out.Add(kWorkers, {{"state", WorkerStateName(WorkerState::kSuspect)}}, c.workers_suspect);
  out.Add(kWorkers, {{"state", WorkerStateName(WorkerState::kDead)}}, c.workers_dead);
  for (TaskState s : kTaskStates) {
    out.Add(kTasks, {{"state", TaskStateName(s)}}, static_cast<double>(c.tasks_by_state[static_cast<int>(s)]));
  }
  out.Add(kClusterGpus, {{"state", "total"}}, c.gpus_total);
  out.Add(kClusterGpus, {{"state", "allocated"}}, c.gpus_allocated);
  out.Add(kClusterGpus, {{"state", "busy"}}, c.gpus_busy);
  out.Add(kClusterGpus, {{"state", "unhealthy"}}, c.gpus_unhealthy);
  out.Add(kHeartbeats, {}, static_cast<double>(c.heartbeats_received));
  out.Add(kStoreErrors, {}, static_cast<double>(c.store_errors));
  out.Add(kTasksInMemory, {}, static_cast<double>(c.tasks_in_memory));
  out.Add(kGpuSecondsAllocated, {}, c.gpu_seconds_allocated);
  out.Add(kGpuSecondsUsed, {}, c.gpu_seconds_used);
  if (c.gpu_seconds_allocated_hour > 0) {
    out.Add(kGpuEfficiency, {{"window", "1h"}}, c.gpu_seconds_used_hour / c.gpu_seconds_allocated_hour);
  }
  if (c.gpu_seconds_allocated_day > 0) {
    out.Add(kGpuEfficiency, {{"window", "24h"}}, c.gpu_seconds_used_day / c.gpu_seconds_allocated_day);
  }
}

// Per running task: its GPUs' live figures and its usage so far.
void AppendTaskSeries(PrometheusWriter& out, const std::vector<Worker>& workers, const Task& t) {
  Labels labels{{"task", t.id}, {"worker", t.worker_id}};
  out.Add(kTaskGpuSeconds, labels, t.usage.gpu_seconds);
  out.Add(kTaskGpuSecondsUsed, labels, t.usage.gpu_seconds_used);
  if (t.usage.energy_joules) out.Add(kTaskEnergy, labels, *t.usage.energy_joules);
  out.Add(kTaskIdle, labels, t.idle_since ? 1 : 0);
  auto worker = std::find_if(workers.begin(), workers.end(), [&](const Worker& w) { return w.id == t.worker_id; });
  if (worker == workers.end() || worker->state == WorkerState::kDead) return;
  for (const WorkerGpu& g : worker->gpus) {
    if (g.allocated_to != t.id) continue;
    Labels gpu = labels.With("gpu", std::to_string(g.identity.index));
    if (g.live.utilization_gpu) out.Add(kTaskGpuUtilization, gpu, *g.live.utilization_gpu);
    if (g.live.memory_used_bytes) out.Add(kTaskGpuMemoryUsed, gpu, static_cast<double>(*g.live.memory_used_bytes));
  }
}

void AppendWorkerSeries(PrometheusWriter& out, const Worker& w, WallTime now) {
  metrics::HostLabels host{w.id, w.capacity.hostname, w.nvml.driver_version};
  Labels labels{{"worker", w.id}};
  for (WorkerState s : kWorkerStates) {
    out.Add(kWorkerState, labels.With("state", WorkerStateName(s)), w.state == s ? 1 : 0);
  }
  out.Add(kWorkerConnected, labels, w.connected ? 1 : 0);
  if (w.last_heartbeat) {
    out.Add(kHeartbeatAge, labels, std::chrono::duration<double>(now - *w.last_heartbeat).count());
  }
  out.Add(kWorkerHeartbeats, labels, static_cast<double>(w.heartbeats));
  out.Add(kGpusCapacity, labels, static_cast<double>(w.gpus.size()));
  out.Add(kGpusAllocated, labels, w.gpus_allocated());
  out.Add(kCpuCores, labels, w.capacity.cpu_cores);
  out.Add(kCpusAllocated, labels, w.cpus_allocated);
  out.Add(kMemoryBytes, labels, static_cast<double>(w.capacity.memory_bytes));
  out.Add(kMemoryAllocated, labels, static_cast<double>(w.memory_allocated));
  for (const auto& [field, count] : w.values_rejected) {
    out.Add(kValuesRejected, labels.With("field", field), static_cast<double>(count));
  }
  for (const auto& [kind, count] : w.messages_refused) {
    out.Add(kMessagesRefused, labels.With("kind", kind), static_cast<double>(count));
  }
  // A dead worker's last figures are history, not the present: its live
  // series stop (so they go stale in Prometheus) while its state says dead.
  const bool live = w.state != WorkerState::kDead;
  if (live) metrics::AppendHostSeries(out, host, w.host, w.gpu_percent);
  metrics::AppendCollectorSeries(out, host, w.nvml, w.collector);

  for (const WorkerGpu& g : w.gpus) {
    // The registered identity is authoritative; the live sample may lack it
    // while the GPU cannot be read.
    GpuSample gpu = g.live;
    GpuIdentity& id = gpu.identity;
    id.index = g.identity.index;
    if (id.uuid.empty()) id.uuid = g.identity.uuid;
    if (id.name.empty()) id.name = g.identity.name;
    if (id.pci_bus_id.empty()) id.pci_bus_id = g.identity.pci_bus_id;
    if (live) metrics::AppendGpuSeries(out, host, gpu);
    metrics::AppendGpuHealth(out, host, gpu, g.healthy);
    std::string reason;
    for (const std::string& r : g.health_reasons) reason += (reason.empty() ? "" : "; ") + r;
    out.Add(kGpuHealthState,
            {{"worker", w.id}, {"gpu", std::to_string(g.identity.index)}, {"UUID", g.identity.uuid},
             {"state", GpuHealthName(g.health)}, {"reason", reason}},
            static_cast<double>(g.health));
  }
}

}  // namespace

std::string RenderClusterMetrics(const std::vector<Worker>& workers, const ClusterCounts& counts, WallTime now,
                                 const std::vector<Task>& running) {
  PrometheusWriter out;
  AppendClusterSeries(out, counts);
  for (const Worker& w : workers) AppendWorkerSeries(out, w, now);
  for (const Task& t : running) AppendTaskSeries(out, workers, t);
  return out.Finish();
}

std::string RenderClusterMetrics(const Cluster& cluster, WallTime now) {
  // Counts first: a worker registering in between shows up in the list, never
  // the other way round.
  ClusterCounts counts = cluster.Counts();
  std::vector<Worker> workers = cluster.Workers();
  return RenderClusterMetrics(workers, counts, now, cluster.Tasks(TaskState::kRunning));
}

}  // namespace gpulse::master
