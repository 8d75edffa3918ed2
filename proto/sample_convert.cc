#include "proto/sample_convert.h"

namespace gpulse::proto {
namespace {

// Copies an optional field across, in either direction, keeping "absent".
#define GPULSE_TO_PROTO(field) \
  if (gpu.field) out->set_##field(*gpu.field)
#define GPULSE_FROM_PROTO(field) \
  if (in.has_##field()) g.field = in.field()

}  // namespace

void ToProto(const GpuIdentity& gpu, gpulse::v1::GpuInfo* out) {
  out->set_index(gpu.index);
  out->set_uuid(gpu.uuid);
  out->set_name(gpu.name);
  out->set_pci_bus_id(gpu.pci_bus_id);
  out->set_memory_total_bytes(gpu.memory_total_bytes.value_or(0));
}

GpuIdentity FromProto(const gpulse::v1::GpuInfo& in) {
  GpuIdentity gpu{in.index(), in.uuid(), in.name(), in.pci_bus_id(), std::nullopt};
  if (in.memory_total_bytes() > 0) gpu.memory_total_bytes = in.memory_total_bytes();
  return gpu;
}

void ToProto(const GpuSample& gpu, gpulse::v1::GpuStats* out) {
  out->set_index(gpu.identity.index);
  out->set_uuid(gpu.identity.uuid);
  out->set_name(gpu.identity.name);
  out->set_pci_bus_id(gpu.identity.pci_bus_id);
  if (gpu.identity.memory_total_bytes) out->set_memory_total_bytes(*gpu.identity.memory_total_bytes);
  GPULSE_TO_PROTO(utilization_gpu);
  GPULSE_TO_PROTO(utilization_memory);
  GPULSE_TO_PROTO(memory_used_bytes);
  GPULSE_TO_PROTO(memory_free_bytes);
  GPULSE_TO_PROTO(temperature_c);
  GPULSE_TO_PROTO(power_w);
  GPULSE_TO_PROTO(power_limit_w);
  GPULSE_TO_PROTO(clock_sm_mhz);
  GPULSE_TO_PROTO(clock_mem_mhz);
  GPULSE_TO_PROTO(encoder_percent);
  GPULSE_TO_PROTO(decoder_percent);
  GPULSE_TO_PROTO(fan_percent);
  GPULSE_TO_PROTO(pcie_tx_kbps);
  GPULSE_TO_PROTO(pcie_rx_kbps);
  GPULSE_TO_PROTO(energy_mj);
  GPULSE_TO_PROTO(ecc_dbe_volatile);
  GPULSE_TO_PROTO(row_remap_pending);
  GPULSE_TO_PROTO(row_remap_failure);
  GPULSE_TO_PROTO(clock_event_reasons);
  GPULSE_TO_PROTO(gr_engine_active);
  GPULSE_TO_PROTO(sm_active);
  GPULSE_TO_PROTO(sm_occupancy);
  GPULSE_TO_PROTO(pipe_tensor_active);
  if (gpu.events) {
    auto* events = out->mutable_events();
    if (gpu.events->last_xid) events->set_last_xid(*gpu.events->last_xid);
    for (const auto& [xid, count] : gpu.events->xid_counts) (*events->mutable_xid_counts())[xid] = count;
    events->set_dbe_events(gpu.events->dbe_events);
  }
  GPULSE_TO_PROTO(error);
  out->set_processes_known(gpu.processes.has_value());
  if (gpu.processes) {
    for (const auto& p : *gpu.processes) {
      auto* pp = out->add_processes();
      pp->set_pid(p.pid);
      if (p.used_memory_bytes) pp->set_used_memory_bytes(*p.used_memory_bytes);
      if (p.outside_gpulse) pp->set_outside_gpulse(*p.outside_gpulse);
    }
  }
}

GpuSample FromProto(const gpulse::v1::GpuStats& in) {
  GpuSample g;
  g.identity.index = in.index();
  g.identity.uuid = in.uuid();
  g.identity.name = in.name();
  g.identity.pci_bus_id = in.pci_bus_id();
  if (in.has_memory_total_bytes()) g.identity.memory_total_bytes = in.memory_total_bytes();
  GPULSE_FROM_PROTO(utilization_gpu);
  GPULSE_FROM_PROTO(utilization_memory);
  GPULSE_FROM_PROTO(memory_used_bytes);
  GPULSE_FROM_PROTO(memory_free_bytes);
  GPULSE_FROM_PROTO(temperature_c);
  GPULSE_FROM_PROTO(power_w);
  GPULSE_FROM_PROTO(power_limit_w);
  GPULSE_FROM_PROTO(clock_sm_mhz);
  GPULSE_FROM_PROTO(clock_mem_mhz);
  GPULSE_FROM_PROTO(encoder_percent);
  GPULSE_FROM_PROTO(decoder_percent);
  GPULSE_FROM_PROTO(fan_percent);
  GPULSE_FROM_PROTO(pcie_tx_kbps);
  GPULSE_FROM_PROTO(pcie_rx_kbps);
  GPULSE_FROM_PROTO(energy_mj);
  GPULSE_FROM_PROTO(ecc_dbe_volatile);
  GPULSE_FROM_PROTO(row_remap_pending);
  GPULSE_FROM_PROTO(row_remap_failure);
  GPULSE_FROM_PROTO(clock_event_reasons);
  GPULSE_FROM_PROTO(gr_engine_active);
  GPULSE_FROM_PROTO(sm_active);
  GPULSE_FROM_PROTO(sm_occupancy);
  GPULSE_FROM_PROTO(pipe_tensor_active);
  if (in.has_events()) {
    GpuEvents events;
    if (in.events().has_last_xid()) events.last_xid = in.events().last_xid();
    for (const auto& [xid, count] : in.events().xid_counts()) events.xid_counts[xid] = count;
    events.dbe_events = in.events().dbe_events();
    g.events = std::move(events);
  }
  GPULSE_FROM_PROTO(error);
  if (in.processes_known()) {
    std::vector<GpuProcess> procs;
    procs.reserve(in.processes_size());
    for (const auto& p : in.processes()) {
      GpuProcess gp;
      gp.pid = p.pid();
      if (p.has_used_memory_bytes()) gp.used_memory_bytes = p.used_memory_bytes();
      if (p.has_outside_gpulse()) gp.outside_gpulse = p.outside_gpulse();
      procs.push_back(gp);
    }
    g.processes = std::move(procs);
  }
  return g;
}

#undef GPULSE_TO_PROTO
#undef GPULSE_FROM_PROTO

void FillHeartbeat(const Sample& sample, gpulse::v1::Heartbeat* out) {
  if (sample.host.cpu_percent) out->set_cpu_percent(*sample.host.cpu_percent);
  if (sample.host.memory_percent) out->set_memory_percent(*sample.host.memory_percent);
  if (sample.gpu_percent) out->set_gpu_percent(*sample.gpu_percent);
  out->set_nvml_available(sample.nvml.available);
  out->set_nvml_error(sample.nvml.error.value_or(""));
  out->set_driver_version(sample.nvml.driver_version.value_or(""));
  out->mutable_gpus()->Reserve(static_cast<int>(sample.gpus.size()));
  for (const auto& g : sample.gpus) ToProto(g, out->add_gpus());
  if (sample.collector.sample_duration_ms) out->set_sample_duration_ms(*sample.collector.sample_duration_ms);
  for (const auto& [code, count] : sample.collector.nvml_errors_total) {
    (*out->mutable_nvml_errors_total())[code] = count;
  }
}

CollectorStats CollectorFromProto(const gpulse::v1::Heartbeat& in) {
  CollectorStats stats;
  if (in.has_sample_duration_ms()) stats.sample_duration_ms = in.sample_duration_ms();
  for (const auto& [code, count] : in.nvml_errors_total()) stats.nvml_errors_total[code] = count;
  return stats;
}

Sample SampleFromHeartbeat(const gpulse::v1::Heartbeat& in) {
  Sample s;
  if (in.has_cpu_percent()) s.host.cpu_percent = in.cpu_percent();
  if (in.has_memory_percent()) s.host.memory_percent = in.memory_percent();
  if (in.has_gpu_percent()) s.gpu_percent = in.gpu_percent();
  s.nvml.available = in.nvml_available();
  if (!in.nvml_error().empty()) s.nvml.error = in.nvml_error();
  if (!in.driver_version().empty()) s.nvml.driver_version = in.driver_version();
  s.gpus.reserve(in.gpus_size());
  for (const auto& g : in.gpus()) s.gpus.push_back(FromProto(g));
  s.collector = CollectorFromProto(in);
  return s;
}

}  // namespace gpulse::proto
