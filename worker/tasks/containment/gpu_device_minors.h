// GpuDeviceMinors: which /dev/nvidia<minor> node belongs to a GPU that NVML
// names by index.
//
// NVML numbers GPUs in PCI bus order; the driver lists each GPU as
// <gpus_dir>/<PCI bus id>/information with a "Device Minor:" line. So the
// i-th bus id in sorted order is NVML index i. Where the driver does not say
// (no driver, the NVML simulator, an index past the list), an index maps to
// the minor of the same number, as it does on nearly every host.
//
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace gpulse::worker {

std::vector<uint32_t> GpuDeviceMinors(const std::vector<uint32_t>& nvml_indices,
                                      const std::filesystem::path& gpus_dir = "/proc/driver/nvidia/gpus");

}  // namespace gpulse::worker
