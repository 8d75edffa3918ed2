#include "worker/registered_gpus.h"

#include <algorithm>
#include <utility>

namespace gpulse::worker {

RegisteredGpus::RegisteredGpus(Inventory gpus, uint64_t nvml_generation, bool nvml_available)
    : gpus_(std::move(gpus)), nvml_generation_(nvml_generation), nvml_available_(nvml_available) {}

bool RegisteredGpus::Changed(uint64_t nvml_generation, bool nvml_available,
                             const std::function<Inventory()>& inventory) {
  if (nvml_generation == nvml_generation_ && nvml_available == nvml_available_) return false;
  nvml_generation_ = nvml_generation;
  nvml_available_ = nvml_available;
  const Inventory now = inventory();
  const bool same = std::equal(now.begin(), now.end(), gpus_.begin(), gpus_.end(),
                               [](const GpuIdentity& a, const GpuIdentity& b) {
                                 return a.index == b.index && a.uuid == b.uuid;
                               });
  return !same;
}

}  // namespace gpulse::worker
