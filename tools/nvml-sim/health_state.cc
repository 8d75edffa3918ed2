#include "tools/nvml-sim/health_state.h"

#include <algorithm>

#include "tools/nvml-sim/simulator.h"

// The object behind an nvmlEventSet_t: which event types each GPU is
// registered for.
struct nvmlEventSet_st {
  std::array<unsigned long long, gpulse::nvml_sim::kMaxGpus> types{};
};

namespace gpulse::nvml_sim {

void HealthState::Reset() {
  std::lock_guard lock(mu_);
  gpus_.fill(Gpu{});
}

unsigned long long HealthState::Energy(unsigned int index, const SimGpu& gpu, double power_w, double now_s) {
  std::lock_guard lock(mu_);
  Gpu& g = gpus_[index];
  if (!g.energy_started) {
    g.energy_started = true;
    g.energy_mj = static_cast<double>(gpu.energy_start_mj);
  } else if (now_s > g.energy_at_s) {
    g.energy_mj += std::max(0.0, power_w) * (now_s - g.energy_at_s) * 1000.0;  // W × s = J
  }
  g.energy_at_s = std::max(g.energy_at_s, now_s);
  return static_cast<unsigned long long>(g.energy_mj);
}

nvmlEventSet_t HealthState::CreateSet() {
  std::lock_guard lock(mu_);
  nvmlEventSet_t set = new nvmlEventSet_st();
  sets_.insert(set);
  return set;
}

bool HealthState::FreeSet(nvmlEventSet_t set) {
  std::lock_guard lock(mu_);
  if (sets_.erase(set) == 0) return false;
  delete set;
  return true;
}

bool HealthState::Register(nvmlEventSet_t set, unsigned int index, unsigned long long types) {
  std::lock_guard lock(mu_);
  if (!sets_.contains(set) || index >= kMaxGpus) return false;
  set->types[index] |= types;
  return true;
}

bool HealthState::IsLiveSet(nvmlEventSet_t set) {
  std::lock_guard lock(mu_);
  return sets_.contains(set);
}

bool HealthState::TakeEvent(nvmlEventSet_t set, const Scenario& scenario, nvmlEventData_t* out) {
  std::lock_guard lock(mu_);
  if (!sets_.contains(set)) return false;
  for (unsigned int i = 0; i < scenario.gpus.size(); ++i) {
    const SimGpu& gpu = scenario.gpus[i];
    Gpu& g = gpus_[i];
    // A shorter list or a lower count than delivered: the scenario cleared them.
    g.xids_delivered = std::min(g.xids_delivered, gpu.xids.size());
    g.dbe_delivered = std::min(g.dbe_delivered, gpu.ecc_uncorrected_volatile);
    if (gpu.lost) continue;
    const unsigned long long types = set->types[i];
    *out = nvmlEventData_t{};
    out->device = Simulator::HandleOf(i);
    out->gpuInstanceId = 0xFFFFFFFFu;
    out->computeInstanceId = 0xFFFFFFFFu;
    if ((types & nvmlEventTypeXidCriticalError) != 0 && g.xids_delivered < gpu.xids.size()) {
      out->eventType = nvmlEventTypeXidCriticalError;
      out->eventData = gpu.xids[g.xids_delivered++];
      return true;
    }
    if ((types & nvmlEventTypeDoubleBitEccError) != 0 && g.dbe_delivered < gpu.ecc_uncorrected_volatile) {
      ++g.dbe_delivered;
      out->eventType = nvmlEventTypeDoubleBitEccError;
      out->eventData = 0;
      return true;
    }
  }
  return false;
}

}  // namespace gpulse::nvml_sim
