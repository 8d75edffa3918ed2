// Conversions between samples (sample/sample.h) and their wire
// form (proto/gpulse.proto). Absent optionals stay absent on the wire: an
// unknown figure never turns into 0 on the way.
#pragma once

#include "proto/gpulse.pb.h"  // generated into the build tree
#include "sample/sample.h"

namespace gpulse::proto {

// A GPU's identity as registered. The wire has no "unknown" for its total
// memory: an absent one travels as 0, and 0 comes back absent.
void ToProto(const GpuIdentity& gpu, gpulse::v1::GpuInfo* out);
GpuIdentity FromProto(const gpulse::v1::GpuInfo& in);

void ToProto(const GpuSample& gpu, gpulse::v1::GpuStats* out);
GpuSample FromProto(const gpulse::v1::GpuStats& in);

// Host, NVML state, per-GPU figures and the mean; `seq`, timestamps and
// running tasks are the caller's to fill.
void FillHeartbeat(const Sample& sample, gpulse::v1::Heartbeat* out);

// The collector's health carried by a heartbeat (absent fields stay absent).
CollectorStats CollectorFromProto(const gpulse::v1::Heartbeat& in);

// The inverse of FillHeartbeat: host, NVML state, GPUs, mean and collector
// stats (host core count and memory total are registration's, not here).
Sample SampleFromHeartbeat(const gpulse::v1::Heartbeat& in);

}  // namespace gpulse::proto
