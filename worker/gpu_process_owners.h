// Marks each compute process NVML lists on a sample's GPUs as inside or
// outside gpulse (GpuProcess::outside_gpulse) before the heartbeat leaves,
// with FindProcessOwner (worker/tasks/containment/process_owner.h): a
// task's process or a descendant of one is inside, anything else the worker
// can see is outside, and a process it cannot see stays unknown (absent).
//
// Called on the agent's thread once per sample; not thread-safe for one
// sample. A pid listed on several GPUs is judged once.
#pragma once

#include <filesystem>

#include "sample/sample.h"

namespace gpulse::worker {

// Sets outside_gpulse of every process of `sample`'s GPUs from `proc` (the
// host's /proc). GPUs whose process list is unknown are left alone.
void MarkGpuProcessOwners(Sample& sample, const std::filesystem::path& proc = "/proc");

}  // namespace gpulse::worker
