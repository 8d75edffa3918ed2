// GpuModel: the fixed facts of a GPU product that a scenario need not repeat.
//
// A scenario GPU names its "model"; fields it leaves out (memory size, power
// limit, clocks, PCI device id) come from that model. Unknown model names get
// the generic defaults of GenericGpuModel(). Stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace gpulse::nvml_sim {

struct GpuModel {
  const char* name;  // as nvmlDeviceGetName reports it
  uint64_t memory_total_mib;
  double power_limit_w;
  double clock_sm_mhz;   // max SM clock
  double clock_mem_mhz;  // max memory clock
  uint32_t pci_device_id;     // device id << 16 | vendor id, as in nvmlPciInfo_t
  uint32_t pci_subsystem_id;
  bool gpm;  // supports GPM metrics (Hopper and later)
};

// The model called `name` (exact match), or GenericGpuModel() when none
// matches; a GPU of an unknown model keeps its own name.
const GpuModel& FindGpuModel(std::string_view name);

// The model used when a scenario names none: an H100 80GB HBM3.
const GpuModel& GenericGpuModel();

}  // namespace gpulse::nvml_sim
