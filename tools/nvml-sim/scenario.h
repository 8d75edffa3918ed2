// Scenario: the simulated machine that the NVML simulator reports — driver
// version, how nvmlInit behaves, and each GPU with its metrics and faults.
//
// A Scenario is built once (scenario_parser.h) and then shared read-only
// between query threads through a std::shared_ptr<const Scenario>; it is
// never modified after publication, so reading it needs no lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "telemetry/nvml_abi.h"
#include "tools/nvml-sim/sim_calls.h"
#include "tools/nvml-sim/value_model.h"

namespace gpulse::nvml_sim {

// The most GPUs a scenario may describe.
inline constexpr size_t kMaxGpus = 64;

struct SimProcess {
  unsigned int pid = 0;
  std::optional<uint64_t> used_memory_mib;  // absent: NVML reports "not available"
};

struct SimGpu {
  std::string name;
  std::string uuid;        // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  std::string pci_bus_id;  // "00000000:18:00.0"
  unsigned int pci_domain = 0;
  unsigned int pci_bus = 0;
  unsigned int pci_device = 0;
  unsigned int pci_device_id = 0;
  unsigned int pci_subsystem_id = 0;

  uint64_t memory_total_mib = 0;
  uint64_t memory_reserved_mib = 0;
  ValueModel memory_used_mib;
  ValueModel utilization_gpu;     // %
  ValueModel utilization_memory;  // %
  ValueModel temperature_c;
  ValueModel power_w;
  ValueModel power_limit_w;
  ValueModel clock_graphics_mhz;
  ValueModel clock_sm_mhz;
  ValueModel clock_mem_mhz;
  ValueModel clock_video_mhz;
  ValueModel encoder_percent;
  ValueModel decoder_percent;
  unsigned int codec_sampling_period_us = 0;
  ValueModel fan_percent;
  ValueModel pcie_tx_kbps;
  ValueModel pcie_rx_kbps;
  unsigned int pcie_delay_ms = 0;  // how long nvmlDeviceGetPcieThroughput blocks

  std::vector<SimProcess> processes;

  // Health (see README.md, "Health and events").
  uint64_t energy_start_mj = 0;  // nvmlDeviceGetTotalEnergyConsumption at the first query; then grows with power
  uint64_t ecc_corrected_volatile = 0;    // nvmlDeviceGetTotalEccErrors(CORRECTED, *)
  uint64_t ecc_uncorrected_volatile = 0;  // (UNCORRECTED, *); each one is also a double-bit ECC event
  unsigned int remapped_rows_correctable = 0;
  unsigned int remapped_rows_uncorrectable = 0;
  bool remap_pending = false;
  bool remap_failure = false;
  unsigned long long clock_event_reasons = 0;  // nvmlDeviceGetCurrentClocksEventReasons bit mask
  std::vector<unsigned long long> xids;        // critical XID events, each delivered once

  // GPM (see README.md, "GPM"): percentages, as nvmlGpmMetricsGet reports them.
  bool gpm_supported = false;    // nvmlGpmQueryDeviceSupport; default: the model's
  ValueModel gpm_graphics_util;  // NVML_GPM_METRIC_GRAPHICS_UTIL
  ValueModel gpm_sm_util;        // NVML_GPM_METRIC_SM_UTIL
  ValueModel gpm_sm_occupancy;   // NVML_GPM_METRIC_SM_OCCUPANCY
  ValueModel gpm_tensor_util;    // NVML_GPM_METRIC_ANY_TENSOR_UTIL

  bool lost = false;  // every query on this GPU returns NVML_ERROR_GPU_IS_LOST
  CallErrors errors = NoCallErrors();  // per-device calls only
};

struct Scenario {
  std::string driver_version;
  nvmlReturn_t init_error = NVML_SUCCESS;  // what nvmlInit returns instead of success
  CallErrors errors = NoCallErrors();      // system-wide calls only
  std::vector<SimGpu> gpus;                // at most kMaxGpus
};

}  // namespace gpulse::nvml_sim
