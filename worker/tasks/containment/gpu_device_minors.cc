#include "worker/tasks/containment/gpu_device_minors.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <string>

namespace gpulse::worker {
namespace {

std::optional<uint32_t> MinorIn(const std::filesystem::path& information) {
  std::ifstream in(information);
  std::string line;
  while (std::getline(in, line)) {
    const std::string key = "Device Minor:";
    if (line.rfind(key, 0) != 0) continue;
    try {
      return static_cast<uint32_t>(std::stoul(line.substr(key.size())));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<uint32_t> GpuDeviceMinors(const std::vector<uint32_t>& nvml_indices,
                                      const std::filesystem::path& gpus_dir) {
  std::vector<std::filesystem::path> buses;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(gpus_dir, error)) buses.push_back(entry.path());
  std::sort(buses.begin(), buses.end());
  std::vector<uint32_t> minors;
  for (uint32_t index : nvml_indices) {
    std::optional<uint32_t> minor;
    if (index < buses.size()) minor = MinorIn(buses[index] / "information");
    minors.push_back(minor.value_or(index));
  }
  return minors;
}

}  // namespace gpulse::worker
