// GpuStaticInfo: what does not change about a GPU while NVML stays
// initialised — what a worker registers with the master.
// Plain value; no synchronisation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace gpulse {

struct GpuStaticInfo {
  uint32_t index = 0;        // NVML index
  std::string uuid;          // "GPU-…"; empty when NVML could not say
  std::string name;          // "NVIDIA H100 80GB HBM3"; empty when unknown
  std::string pci_bus_id;    // "00000000:3B:00.0"; empty when unknown
  std::optional<uint64_t> memory_total_bytes;  // absent when unknown
};

}  // namespace gpulse
