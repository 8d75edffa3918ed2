#include "worker/tasks/containment/gpu_device_minors.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>

#include "worker/tasks/containment/cgroup_fs.h"

namespace gpulse::worker {
namespace {

std::optional<uint32_t> MinorIn(const std::filesystem::path& information) {
  Result<std::string> text = ReadKernelFile(information);
  if (!text.ok()) return std::nullopt;
  const std::string key = "Device Minor:";
  size_t at = text->find(key);
  if (at == std::string::npos) return std::nullopt;
  std::vector<std::string> words = Words(text->substr(at + key.size(), 32));
  uint32_t minor = 0;
  if (words.empty() || std::from_chars(words[0].data(), words[0].data() + words[0].size(), minor).ec != std::errc()) {
    return std::nullopt;
  }
  return minor;
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
