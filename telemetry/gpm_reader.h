// GpmSampler: NVML's GPM metrics (GPU Performance Monitoring, Hopper and
// later) of one GPU — graphics-engine activity, SM activity, SM occupancy and
// tensor-pipe activity — as the ratios dcgm-exporter exports for its
// DCGM_FI_PROF_* fields.
//
// GPM metrics are rates over an interval: each Take() reads the GPU's
// counters into a sample buffer and computes the metrics between it and the
// previous Take()'s sample, so a caller that takes one every few seconds
// (the slow poller) gets the averages over those seconds without ever
// waiting. The first Take() has nothing to compare with and yields no value.
//
// Not thread-safe: one owner (NvmlSession, under its GPM mutex). Owns two
// NVML sample buffers; destroy it while NVML is still initialised.
#pragma once

#include <memory>
#include <optional>

#include "telemetry/nvml_abi.h"
#include "telemetry/nvml_device_reader.h"
#include "telemetry/nvml_library.h"

namespace gpulse::telemetry {

// Ratios in [0, 1]; a metric NVML could not compute is absent.
struct GpmMetrics {
  std::optional<double> gr_engine_active;    // NVML_GPM_METRIC_GRAPHICS_UTIL / 100
  std::optional<double> sm_active;           // NVML_GPM_METRIC_SM_UTIL / 100
  std::optional<double> sm_occupancy;        // NVML_GPM_METRIC_SM_OCCUPANCY / 100
  std::optional<double> pipe_tensor_active;  // NVML_GPM_METRIC_ANY_TENSOR_UTIL / 100

  bool operator==(const GpmMetrics&) const = default;
};

// True when the library has every GPM call gpulse uses.
bool HasGpmFunctions(const NvmlFunctions& nvml);

class GpmSampler {
 public:
  // Asks nvmlGpmQueryDeviceSupport whether `device` supports GPM and
  // allocates the two sample buffers. On success `*out` holds the sampler.
  // Otherwise returns the reason: NVML_ERROR_FUNCTION_NOT_FOUND when the
  // library lacks a GPM call, NVML_ERROR_NOT_SUPPORTED when the device says
  // no, or the NVML error of the failed call. `nvml` must outlive the sampler.
  static nvmlReturn_t Open(const NvmlFunctions& nvml, nvmlDevice_t device, std::unique_ptr<GpmSampler>* out);

  ~GpmSampler();  // frees both buffers
  GpmSampler(const GpmSampler&) = delete;
  GpmSampler& operator=(const GpmSampler&) = delete;

  // Takes a sample and, when an earlier one exists, computes the metrics
  // over the time between them. NVML_SUCCESS with no value on the first
  // call (and the first after a failed nvmlGpmSampleGet, which starts
  // afresh); else the NVML error of nvmlGpmSampleGet or nvmlGpmMetricsGet,
  // with no value.
  HealthField<GpmMetrics> Take();

 private:
  GpmSampler(const NvmlFunctions& nvml, nvmlDevice_t device) : nvml_(nvml), device_(device) {}

  const NvmlFunctions& nvml_;
  nvmlDevice_t device_;
  nvmlGpmSample_t previous_ = nullptr;
  nvmlGpmSample_t current_ = nullptr;
  bool have_previous_ = false;  // previous_ holds a sample
  // 13 KB: kept off the stack and allocated once.
  std::unique_ptr<nvmlGpmMetricsGet_t> request_ = std::make_unique<nvmlGpmMetricsGet_t>();
};

}  // namespace gpulse::telemetry
