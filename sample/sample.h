// Sample: what one look at a host finds — host CPU and memory, NVML's state,
// and one GpuSample per GPU. This is what a worker's heartbeat carries.
//
// Every metric is optional. A value is absent when it is unknown: NVML says
// NOT_SUPPORTED, the symbol is missing from the driver, the GPU is lost, or
// there is no earlier reading to take a delta from. Absent is never 0.
// Plain values; no synchronisation.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sample/gpu_identity.h"

namespace gpulse {

struct GpuProcess {
  uint32_t pid = 0;                            // host PID
  std::optional<uint64_t> used_memory_bytes;   // absent when NVML cannot tell
  // Whether the process is outside gpulse (not a task's process nor a
  // descendant of one), as the worker judged it before the heartbeat left
  // (worker/tasks/containment/process_owner.h); absent when unknown: the
  // worker could not see the process (another pid namespace, another
  // user's), or the sample never went through a worker.
  std::optional<bool> outside_gpulse;
};

// What the worker's event watcher has seen on one GPU since the worker
// started: critical XID errors and double-bit ECC events.
struct GpuEvents {
  std::optional<uint32_t> last_xid;              // absent until the first XID
  std::map<uint32_t, uint64_t> xid_counts;       // XID -> times seen
  uint64_t dbe_events = 0;                       // double-bit ECC error events

  bool operator==(const GpuEvents&) const = default;
};

struct GpuSample {
  // Which GPU this is. Its memory_total_bytes is read with every sample, like
  // the figures below: absent when that read fails or the GPU cannot be read.
  GpuIdentity identity;

  std::optional<double> utilization_gpu;     // %
  std::optional<double> utilization_memory;  // % (memory bandwidth busy)
  std::optional<uint64_t> memory_used_bytes;
  std::optional<uint64_t> memory_free_bytes;
  std::optional<double> temperature_c;
  std::optional<double> power_w;
  std::optional<double> power_limit_w;
  std::optional<uint32_t> clock_sm_mhz;
  std::optional<uint32_t> clock_mem_mhz;
  std::optional<double> encoder_percent;
  std::optional<double> decoder_percent;
  std::optional<double> fan_percent;
  std::optional<uint64_t> pcie_tx_kbps;  // KB/s, from the slow poller
  std::optional<uint64_t> pcie_rx_kbps;
  std::optional<std::vector<GpuProcess>> processes;  // absent when unknown; empty when none

  // Health, from the slow poller (every few seconds; absent until its first
  // reading, and for good where NVML lacks the call or says NOT_SUPPORTED).
  std::optional<uint64_t> energy_mj;            // counter since the driver loaded (mJ)
  std::optional<uint64_t> ecc_dbe_volatile;     // uncorrected (double-bit) ECC errors since the driver loaded
  std::optional<bool> row_remap_pending;        // a row remap waits for a GPU reset
  std::optional<bool> row_remap_failure;        // a row remap has failed
  std::optional<uint64_t> clock_event_reasons;  // NVML's clocks event reason bits
  // GPM metrics (Hopper and later), from the slow poller: ratios in [0, 1]
  // over the interval between its last two passes, as dcgm-exporter's
  // DCGM_FI_PROF_* fields. Absent where GPM is unsupported, and until the
  // poller's second pass.
  std::optional<double> gr_engine_active;    // share of time the graphics/compute engine was active
  std::optional<double> sm_active;           // share of SMs busy (at least one warp assigned)
  std::optional<double> sm_occupancy;        // resident warps vs the SMs' maximum
  std::optional<double> pipe_tensor_active;  // share of time any tensor pipe was active
  // From the event watcher; absent when this GPU's events cannot be watched.
  std::optional<GpuEvents> events;

  // Set when this GPU could not be read (e.g. "GPU is lost: …"). Its
  // metrics are then absent, and it is left out of the mean.
  std::optional<std::string> error;

  bool readable() const { return !error.has_value(); }
};

// A sample of `gpu` that holds no figure yet: who it is, without its total
// memory (a sample reads that with the other figures).
inline GpuSample UnreadSample(const GpuIdentity& gpu) {
  GpuSample s;
  s.identity = gpu;
  s.identity.memory_total_bytes.reset();
  return s;
}

struct NvmlState {
  bool available = false;                     // the library loaded and initialised
  std::optional<std::string> driver_version;  // "580.65.06"
  std::optional<std::string> error;           // why NVML is unavailable, in plain words
};

struct HostSample {
  std::optional<double> cpu_percent;     // busy share of all cores since the last sample
  std::optional<double> memory_percent;  // (MemTotal - MemAvailable) / MemTotal
  uint32_t cpu_cores = 0;
  uint64_t memory_total_bytes = 0;
};

// How the collector itself fared: how long taking the sample took, and how
// many NVML queries have failed since the worker started, by return-code
// name ("NVML_ERROR_GPU_IS_LOST"). "Not supported" answers are not errors
// and are not counted. Lets a broken NVML show up on dashboards as a signal
// rather than as silence.
struct CollectorStats {
  std::optional<double> sample_duration_ms;
  std::map<std::string, uint64_t> nvml_errors_total;

  bool operator==(const CollectorStats&) const = default;
};

struct Sample {
  std::chrono::system_clock::time_point taken_at;
  HostSample host;
  NvmlState nvml;
  std::vector<GpuSample> gpus;
  // Mean utilization over readable GPUs with a known utilization; absent
  // when there is none. See MeanGpuUtilization.
  std::optional<double> gpu_percent;
  CollectorStats collector;
};

// The mean of utilization_gpu over the GPUs that are readable and report it.
// Absent when no GPU qualifies (no GPU, no driver, every GPU lost).
inline std::optional<double> MeanGpuUtilization(const std::vector<GpuSample>& gpus) {
  double sum = 0;
  int n = 0;
  for (const auto& g : gpus) {
    if (g.readable() && g.utilization_gpu) {
      sum += *g.utilization_gpu;
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

}  // namespace gpulse
