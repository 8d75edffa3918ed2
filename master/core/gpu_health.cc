#include "master/core/gpu_health.h"

#include <algorithm>
#include <array>

namespace gpulse::master {
namespace {

// XIDs that NVIDIA's catalogue attributes to the GPU or its driver, not to the
// application: 48 (double-bit ECC), 63/64 (row remapping / page retirement
// events and failures), 74 (NVLink error), 79 (fallen off the bus),
// 92 (high single-bit ECC rate), 94/95 (contained / uncontained ECC error).
constexpr std::array<uint32_t, 8> kCriticalXids = {48, 63, 64, 74, 79, 92, 94, 95};

// NVML clocks event reasons that mean heat or power is holding the GPU back.
constexpr uint64_t kHwSlowdown = 0x08;
constexpr uint64_t kSwThermal = 0x20;
constexpr uint64_t kHwThermal = 0x40;
constexpr uint64_t kHwPowerBrake = 0x80;

}  // namespace

bool IsCriticalXid(uint32_t xid) {
  return std::find(kCriticalXids.begin(), kCriticalXids.end(), xid) != kCriticalXids.end();
}

GpuHealthAssessment AssessGpuHealth(const GpuSample& live, bool readable) {
  return AssessGpuHealth(live, readable, GpuEvents{}, 0);
}

bool IsApplicationXid(uint32_t xid) { return xid == 13 || xid == 31 || xid == 43; }

bool IsRecoverableXid(uint32_t xid) { return xid == 92 || xid == 94; }

uint64_t CountSince(const GpuEvents& cleared, uint32_t xid, uint64_t count) {
  auto it = cleared.xid_counts.find(xid);
  uint64_t base = it == cleared.xid_counts.end() ? 0 : it->second;
  return count > base ? count - base : 0;
}

GpuHealthAssessment AssessGpuHealth(const GpuSample& live, bool readable, const GpuEvents& cleared,
                                    uint64_t cleared_ecc_dbe) {
  GpuHealthAssessment out;
  std::vector<std::string> unhealthy;
  if (!readable) unhealthy.push_back("unreadable: " + live.error.value_or("its queries fail"));
  if (live.events) {
    for (const auto& [xid, count] : live.events->xid_counts) {
      if (CountSince(cleared, xid, count) > 0 && IsCriticalXid(xid)) unhealthy.push_back("critical XID " + std::to_string(xid));
    }
  }
  const bool dbe_event = live.events && live.events->dbe_events > cleared.dbe_events;
  if (dbe_event || live.ecc_dbe_volatile.value_or(0) > cleared_ecc_dbe) unhealthy.push_back("double-bit ECC error");
  if (live.row_remap_pending.value_or(false)) unhealthy.push_back("row remap pending");
  if (live.row_remap_failure.value_or(false)) unhealthy.push_back("row remap failure");
  if (!unhealthy.empty()) {
    out.state = GpuHealth::kUnhealthy;
    out.reasons = std::move(unhealthy);
    return out;
  }
  const uint64_t reasons = live.clock_event_reasons.value_or(0);
  if (reasons & kHwThermal) out.reasons.push_back("HW thermal slowdown");
  if (reasons & kSwThermal) out.reasons.push_back("SW thermal slowdown");
  if (reasons & kHwPowerBrake) out.reasons.push_back("HW power brake");
  if (reasons & kHwSlowdown) out.reasons.push_back("HW slowdown");
  if (!out.reasons.empty()) out.state = GpuHealth::kDegraded;
  return out;
}

bool UpdateGpuHealth(WorkerGpu& gpu) {
  GpuHealthAssessment a = AssessGpuHealth(gpu.live, gpu.healthy, gpu.cleared_events, gpu.cleared_ecc_dbe);
  const bool recovered = gpu.health == GpuHealth::kUnhealthy && a.state != GpuHealth::kUnhealthy;
  gpu.health = a.state;
  gpu.health_reasons = std::move(a.reasons);
  return recovered;
}

}  // namespace gpulse::master
