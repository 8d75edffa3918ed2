#include "master/core/worker_report_limits.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <set>
#include <type_traits>

namespace gpulse::master {
namespace {

constexpr double kMaxPowerW = 5000;
constexpr uint32_t kMaxClockMhz = 20000;
constexpr uint64_t kMaxPcieKbps = 1'000'000'000;
constexpr double kMaxSampleDurationMs = 3'600'000;

// Makes `value` absent unless it lies in [lo, hi] (and is a number), and
// notes `name` in `dropped` when it did.
template <typename T>
void Keep(std::optional<T>& value, long double lo, long double hi, const char* name,
          std::vector<std::string>& dropped) {
  if (!value) return;
  const auto v = static_cast<long double>(*value);  // exact for every uint64_t and double
  const bool ok = std::isfinite(v) && v >= lo && v <= hi;
  if (!ok) {
    value.reset();
    dropped.emplace_back(name);
  }
}

void DropImplausible(GpuSample& g, std::vector<std::string>& dropped) {
  Keep(g.identity.memory_total_bytes, 0, kMaxGpuMemoryBytes, "gpu.memory_total_bytes", dropped);
  Keep(g.utilization_gpu, 0, 100, "gpu.utilization_gpu", dropped);
  Keep(g.utilization_memory, 0, 100, "gpu.utilization_memory", dropped);
  Keep(g.memory_used_bytes, 0, kMaxGpuMemoryBytes, "gpu.memory_used_bytes", dropped);
  Keep(g.memory_free_bytes, 0, kMaxGpuMemoryBytes, "gpu.memory_free_bytes", dropped);
  Keep(g.temperature_c, -40, 200, "gpu.temperature_c", dropped);
  Keep(g.power_w, 0, kMaxPowerW, "gpu.power_w", dropped);
  Keep(g.power_limit_w, 0, kMaxPowerW, "gpu.power_limit_w", dropped);
  Keep(g.clock_sm_mhz, 0, kMaxClockMhz, "gpu.clock_sm_mhz", dropped);
  Keep(g.clock_mem_mhz, 0, kMaxClockMhz, "gpu.clock_mem_mhz", dropped);
  Keep(g.encoder_percent, 0, 100, "gpu.encoder_percent", dropped);
  Keep(g.decoder_percent, 0, 100, "gpu.decoder_percent", dropped);
  Keep(g.fan_percent, 0, 100, "gpu.fan_percent", dropped);
  Keep(g.pcie_tx_kbps, 0, kMaxPcieKbps, "gpu.pcie_tx_kbps", dropped);
  Keep(g.pcie_rx_kbps, 0, kMaxPcieKbps, "gpu.pcie_rx_kbps", dropped);
  Keep(g.gr_engine_active, 0, 1, "gpu.gr_engine_active", dropped);
  Keep(g.sm_active, 0, 1, "gpu.sm_active", dropped);
  Keep(g.sm_occupancy, 0, 1, "gpu.sm_occupancy", dropped);
  Keep(g.pipe_tensor_active, 0, 1, "gpu.pipe_tensor_active", dropped);
  if (g.processes && g.processes->size() > kMaxGpuProcessesReported) {
    g.processes->resize(kMaxGpuProcessesReported);
    dropped.emplace_back("gpu.processes");
  }
  if (g.events && g.events->xid_counts.size() > kMaxXidKindsReported) {
    auto& counts = g.events->xid_counts;
    counts.erase(std::next(counts.begin(), static_cast<std::ptrdiff_t>(kMaxXidKindsReported)), counts.end());
    dropped.emplace_back("gpu.xid_counts");
  }
  if (g.processes) {
    for (GpuProcess& p : *g.processes) {
      Keep(p.used_memory_bytes, 0, kMaxGpuMemoryBytes, "gpu.process_memory_bytes", dropped);
    }
  }
}

bool PrintableId(const std::string& id) {
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

std::chrono::milliseconds GrantHeartbeatInterval(std::chrono::milliseconds requested,
                                                 const HeartbeatIntervalBounds& bounds) {
  std::chrono::milliseconds wanted = requested.count() > 0 ? requested : bounds.fallback;
  return std::clamp(wanted, bounds.min, std::max(bounds.min, bounds.max));
}

Status CheckRegistration(const link::Registration& r) {
  if (r.worker_id.empty()) return InvalidArgument("worker id is empty");
  if (r.worker_id.size() > kMaxWorkerIdLength || !PrintableId(r.worker_id)) {
    return InvalidArgument("a worker id is 1 to " + std::to_string(kMaxWorkerIdLength) +
                           " printable ASCII characters without spaces");
  }
  const std::string who = "worker " + r.worker_id;
  if (r.gpus.size() > kMaxGpusPerWorker) {
    return InvalidArgument(who + " registers " + std::to_string(r.gpus.size()) + " GPUs; the master accepts at most " +
                           std::to_string(kMaxGpusPerWorker) + " per worker");
  }
  std::set<uint32_t> indices;
  std::set<std::string> uuids;
  for (const GpuIdentity& g : r.gpus) {
    if (!indices.insert(g.index).second) {
      return InvalidArgument(who + " registers GPU index " + std::to_string(g.index) + " twice");
    }
    if (!g.uuid.empty() && !uuids.insert(g.uuid).second) {
      return InvalidArgument(who + " registers GPU " + g.uuid + " twice");
    }
  }
  if (r.capacity.cpu_cores > kMaxWorkerCpuCores) {
    return InvalidArgument(who + " claims " + std::to_string(r.capacity.cpu_cores) +
                           " CPU cores; the master believes at most " + std::to_string(kMaxWorkerCpuCores));
  }
  if (r.capacity.memory_bytes > kMaxWorkerMemoryBytes) {
    return InvalidArgument(who + " claims " + std::to_string(r.capacity.memory_bytes) +
                           " bytes of memory; the master believes at most 64 TiB");
  }
  if (r.running_tasks.size() > kMaxRunningTasksReported) {
    return InvalidArgument(who + " reports " + std::to_string(r.running_tasks.size()) +
                           " running tasks; at most " + std::to_string(kMaxRunningTasksReported));
  }
  if (r.task_updates.size() > kMaxTaskUpdatesPerRegister) {
    return InvalidArgument(who + " sends " + std::to_string(r.task_updates.size()) +
                           " task updates in one registration; at most " +
                           std::to_string(kMaxTaskUpdatesPerRegister) + " (send the rest after they are acknowledged)");
  }
  return Status::Ok();
}

std::vector<std::string> DropImplausibleFigures(Sample& sample) {
  std::vector<std::string> dropped;
  if (sample.gpus.size() > kMaxGpusPerWorker) {
    dropped.insert(dropped.end(), sample.gpus.size() - kMaxGpusPerWorker, "gpus");
    sample.gpus.resize(kMaxGpusPerWorker);
  }
  Keep(sample.host.cpu_percent, 0, 100, "host.cpu_percent", dropped);
  Keep(sample.host.memory_percent, 0, 100, "host.memory_percent", dropped);
  Keep(sample.gpu_percent, 0, 100, "gpu_percent", dropped);
  Keep(sample.collector.sample_duration_ms, 0, kMaxSampleDurationMs, "collector.sample_duration_ms", dropped);
  auto& errors = sample.collector.nvml_errors_total;
  if (errors.size() > kMaxNvmlErrorKindsReported) {
    errors.erase(std::next(errors.begin(), static_cast<std::ptrdiff_t>(kMaxNvmlErrorKindsReported)), errors.end());
    dropped.emplace_back("collector.nvml_errors_total");
  }
  for (GpuSample& g : sample.gpus) DropImplausible(g, dropped);
  return dropped;
}

size_t BoundRunningTasks(std::vector<link::RunningTask>& running_tasks) {
  if (running_tasks.size() <= kMaxRunningTasksReported) return 0;
  const size_t dropped = running_tasks.size() - kMaxRunningTasksReported;
  running_tasks.resize(kMaxRunningTasksReported);
  return dropped;
}

std::vector<std::string> DropImplausibleIdentities(std::vector<GpuIdentity>& gpus) {
  std::vector<std::string> dropped;
  for (GpuIdentity& g : gpus) Keep(g.memory_total_bytes, 0, kMaxGpuMemoryBytes, "gpu.memory_total_bytes", dropped);
  return dropped;
}

}  // namespace gpulse::master
