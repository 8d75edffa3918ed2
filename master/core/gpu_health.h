// GPU health as the master judges it from a GPU's latest sample: healthy,
// degraded (still schedulable, ranked last) or unhealthy (not schedulable),
// with the reasons. See docs/telemetry.md, "GPU health", for the table of
// reasons and how each one recovers.
//
//   unhealthy  the GPU cannot be read (lost, or its queries fail; it comes
//              back after kGoodSamplesToRecover good samples in a row),
//              a critical XID seen since the worker started (48, 63, 64,
//              74, 79, 92, 94, 95), a double-bit ECC error (an event, or a
//              volatile uncorrected count above 0), a row remap pending or
//              a row remap failure
//   degraded   clocks slowed by heat or power: HW slowdown, HW or SW
//              thermal slowdown, HW power brake
//   healthy    none of these
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "master/model/model.h"
#include "sample/sample.h"

namespace gpulse::master {

struct GpuHealthAssessment {
  GpuHealth state = GpuHealth::kHealthy;
  std::vector<std::string> reasons;  // e.g. "critical XID 79", "row remap pending"; empty when healthy
};

// Whether `xid` marks the GPU itself as failed (not the application).
bool IsCriticalXid(uint32_t xid);

// Judges the GPU from `live` (its latest sample) and `readable`: whether its
// recent samples could be read (WorkerGpu::healthy).
GpuHealthAssessment AssessGpuHealth(const GpuSample& live, bool readable);

// Sets `gpu.health` and `gpu.health_reasons` from its latest sample and
// readability. Returns true when it has just stopped being unhealthy (so a
// scheduling round may place on it again).
bool UpdateGpuHealth(WorkerGpu& gpu);

}  // namespace gpulse::master
