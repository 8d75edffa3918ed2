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

// Whether `xid` is the application's fault (13, 31, 43: a bad kernel, a
// page fault, a stopped kernel): recorded against its task, never the GPU.
bool IsApplicationXid(uint32_t xid);
// Whether a quarantine for critical XID `xid` lifts by itself after a
// clean period (92: high single-bit ECC rate, 94: contained ECC error);
// the others need an operator's clear (docs/telemetry.md, "GPU health").
bool IsRecoverableXid(uint32_t xid);
// How many of `count` occurrences of `xid` came after `cleared`.
uint64_t CountSince(const GpuEvents& cleared, uint32_t xid, uint64_t count);

// Judges the GPU from `live` (its latest sample) and `readable`, holding
// against it only the XIDs and double-bit ECC errors counted above
// `cleared` and `cleared_ecc_dbe` (what was cleared: WorkerGpu).
GpuHealthAssessment AssessGpuHealth(const GpuSample& live, bool readable, const GpuEvents& cleared,
                                    uint64_t cleared_ecc_dbe);
// Judges the GPU from `live` (its latest sample) and `readable`: whether its
// recent samples could be read (WorkerGpu::healthy).
GpuHealthAssessment AssessGpuHealth(const GpuSample& live, bool readable);

// Sets `gpu.health` and `gpu.health_reasons` from its latest sample and
// readability. Returns true when it has just stopped being unhealthy (so a
// scheduling round may place on it again).
bool UpdateGpuHealth(WorkerGpu& gpu);

}  // namespace gpulse::master
