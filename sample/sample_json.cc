#include "sample/sample_json.h"

#include <cstdio>
#include <ctime>

namespace gpulse {
namespace {

template <typename T>
nlohmann::json OrNull(const std::optional<T>& value) {
  if (!value) return nullptr;
  return *value;
}

nlohmann::json ProcessesToJson(const std::optional<std::vector<GpuProcess>>& processes) {
  if (!processes) return nullptr;
  nlohmann::json list = nlohmann::json::array();
  for (const GpuProcess& p : *processes) {
    list.push_back({{"pid", p.pid},
                    {"used_memory_bytes", OrNull(p.used_memory_bytes)},
                    {"outside_gpulse", OrNull(p.outside_gpulse)}});
  }
  return list;
}

nlohmann::json EventsToJson(const std::optional<GpuEvents>& events) {
  if (!events) return nullptr;
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [xid, count] : events->xid_counts) counts[std::to_string(xid)] = count;
  return {{"last_xid", OrNull(events->last_xid)}, {"xid_counts", std::move(counts)},
          {"dbe_events", events->dbe_events}};
}

}  // namespace

std::string FormatRfc3339Utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch());
  std::time_t seconds = static_cast<std::time_t>(duration_cast<std::chrono::seconds>(ms).count());
  int64_t millis = ms.count() % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  const size_t n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &tm);
  char result[48];
  std::snprintf(result, sizeof(result), "%.*s.%03dZ", static_cast<int>(n), buffer,
                static_cast<int>(millis));
  return result;
}

nlohmann::json GpuSampleToJson(const GpuSample& g) {
  return {
      {"index", g.identity.index},
      {"uuid", g.identity.uuid},
      {"name", g.identity.name},
      {"pci_bus_id", g.identity.pci_bus_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(g.identity.pci_bus_id)},
      {"utilization_gpu", OrNull(g.utilization_gpu)},
      {"utilization_memory", OrNull(g.utilization_memory)},
      {"memory_total_bytes", OrNull(g.identity.memory_total_bytes)},
      {"memory_used_bytes", OrNull(g.memory_used_bytes)},
      {"memory_free_bytes", OrNull(g.memory_free_bytes)},
      {"temperature_c", OrNull(g.temperature_c)},
      {"power_w", OrNull(g.power_w)},
      {"power_limit_w", OrNull(g.power_limit_w)},
      {"clock_sm_mhz", OrNull(g.clock_sm_mhz)},
      {"clock_mem_mhz", OrNull(g.clock_mem_mhz)},
      {"encoder_percent", OrNull(g.encoder_percent)},
      {"decoder_percent", OrNull(g.decoder_percent)},
      {"fan_percent", OrNull(g.fan_percent)},
      {"pcie_tx_kbps", OrNull(g.pcie_tx_kbps)},
      {"pcie_rx_kbps", OrNull(g.pcie_rx_kbps)},
      {"processes", ProcessesToJson(g.processes)},
      {"energy_mj", OrNull(g.energy_mj)},
      {"ecc_dbe_volatile", OrNull(g.ecc_dbe_volatile)},
      {"row_remap_pending", OrNull(g.row_remap_pending)},
      {"row_remap_failure", OrNull(g.row_remap_failure)},
      {"clock_event_reasons", OrNull(g.clock_event_reasons)},
      {"gr_engine_active", OrNull(g.gr_engine_active)},
      {"sm_active", OrNull(g.sm_active)},
      {"sm_occupancy", OrNull(g.sm_occupancy)},
      {"pipe_tensor_active", OrNull(g.pipe_tensor_active)},
      {"events", EventsToJson(g.events)},
      {"error", OrNull(g.error)},
  };
}

nlohmann::json NvmlStateToJson(const NvmlState& nvml) {
  return {
      {"available", nvml.available},
      {"driver_version", OrNull(nvml.driver_version)},
      {"error", OrNull(nvml.error)},
  };
}

nlohmann::json SampleToJson(const Sample& s) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const GpuSample& g : s.gpus) gpus.push_back(GpuSampleToJson(g));
  return {
      {"timestamp", FormatRfc3339Utc(s.taken_at)},
      {"cpu_percent", OrNull(s.host.cpu_percent)},
      {"memory_percent", OrNull(s.host.memory_percent)},
      {"cpu_cores", s.host.cpu_cores},
      {"memory_total_bytes", s.host.memory_total_bytes},
      {"gpu_percent", OrNull(s.gpu_percent)},
      {"nvml", NvmlStateToJson(s.nvml)},
      {"gpus", std::move(gpus)},
  };
}

}  // namespace gpulse
