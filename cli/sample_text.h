// Human-readable rendering of a Sample for `gpulse sample`: a headline with
// the mean GPU utilization, a per-GPU table in the manner of nvidia-smi and
// gpustat, and a host line. Pure functions; thread-safe.
#pragma once

#include <string>

#include "sample/sample.h"

namespace gpulse::cli {

// "60.0%", or "n/a (<reason>)" — reasons: "NVML unavailable: <error>",
// "no GPU found", "no GPU readable", "no GPU reports utilization".
std::string DescribeGpuUtilization(const Sample& sample);

// The whole block for sample number `number` (1-based), ending in a newline:
//   Sample  1: GPU Utilization = 60.0%
//     GPU  NAME                   UTIL  MEM-UTIL  MEMORY (MiB)   TEMP   POWER (W)
//     [0]  NVIDIA H100 80GB HBM3   80%       30%  1024 / 81559   55°C   300 / 700
//     [1]  NVIDIA H100 80GB HBM3  error: GPU is lost: …
//     Host: CPU 12.5% of 16 cores, memory 45.0% of 15.5 GiB
std::string FormatSampleText(const Sample& sample, int number);

}  // namespace gpulse::cli
