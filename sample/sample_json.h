// JSON form of a Sample, as `gpulse sample --json` prints it and the HTTP API
// serves it. Unknown values are null, never 0. Pure functions; thread-safe.
//
// Keys: timestamp (RFC 3339 UTC), cpu_percent, memory_percent, cpu_cores,
// memory_total_bytes, gpu_percent, nvml {available, driver_version, error},
// gpus [{index, uuid, name, pci_bus_id, utilization_gpu, utilization_memory,
// memory_total_bytes, memory_used_bytes, memory_free_bytes, temperature_c,
// power_w, power_limit_w, clock_sm_mhz, clock_mem_mhz, encoder_percent,
// decoder_percent, fan_percent, pcie_tx_kbps, pcie_rx_kbps,
// processes [{pid, used_memory_bytes}], energy_mj, ecc_dbe_volatile,
// row_remap_pending, row_remap_failure, clock_event_reasons,
// gr_engine_active, sm_active, sm_occupancy, pipe_tensor_active (ratios 0–1),
// events {last_xid, xid_counts {"79": 1}, dbe_events}, error}].
// See docs/telemetry.md.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "sample/sample.h"

namespace gpulse {

nlohmann::json SampleToJson(const Sample& sample);
nlohmann::json GpuSampleToJson(const GpuSample& gpu);
nlohmann::json NvmlStateToJson(const NvmlState& nvml);

// "2025-01-31T12:34:56.789Z".
std::string FormatRfc3339Utc(std::chrono::system_clock::time_point t);

}  // namespace gpulse
