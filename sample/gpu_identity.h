// GpuIdentity: who a GPU is — what does not change about it while NVML stays
// initialised. The one declaration of these fields: a sample of a GPU
// (GpuSample), a worker's registration and the master's records of its GPUs
// each hold one, and copy it whole.
// Plain value; no synchronisation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace gpulse {

struct GpuIdentity {
  uint32_t index = 0;        // NVML index
  std::string uuid;          // "GPU-…"; empty when NVML could not say
  std::string name;          // "NVIDIA H100 80GB HBM3"; empty when unknown
  std::string pci_bus_id;    // "00000000:3B:00.0"; empty when unknown
  std::optional<uint64_t> memory_total_bytes;  // absent when unknown

  bool operator==(const GpuIdentity&) const = default;
};

}  // namespace gpulse
