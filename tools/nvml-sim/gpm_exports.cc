// The simulator's GPM entry points (nvmlGpmQueryDeviceSupport,
// nvmlGpmSampleAlloc/Free, nvmlGpmSampleGet, nvmlGpmMetricsGet), answered
// from each GPU's "gpm" scenario fields. A sample records which GPU it was
// taken on and when; nvmlGpmMetricsGet reports each metric's scenario value
// at the midpoint of the two samples' times. Left out of the legacy variant.
// Thread-safe: samples belong to their caller; the live count is atomic.
#ifndef GPULSE_NVML_SIM_LEGACY

#include <algorithm>
#include <atomic>
#include <type_traits>

#include "telemetry/nvml_abi.h"
#include "tools/nvml-sim/simulator.h"

using gpulse::nvml_sim::SimCall;
using gpulse::nvml_sim::SimGpu;
using gpulse::nvml_sim::SimQuery;
using gpulse::nvml_sim::Simulator;
using gpulse::nvml_sim::ValueModel;

// What an nvmlGpmSample_t points to in the simulator.
struct nvmlGpmSample_st {
  static constexpr unsigned int kLive = 0x67706d31;  // "gpm1"; cleared when freed
  unsigned int magic = kLive;
  bool taken = false;       // nvmlGpmSampleGet filled it
  unsigned int index = 0;   // the GPU it was taken on
  double taken_at_s = 0;    // monotonic time of the sample
};

namespace {

std::atomic<long long> live_samples{0};

bool IsLive(const nvmlGpmSample_t sample) {
  return sample != nullptr && sample->magic == nvmlGpmSample_st::kLive;
}

// The scenario model behind a metric id; null for ids the simulator does not know.
const ValueModel* ModelOf(const SimGpu& gpu, unsigned int metric_id) {
  switch (metric_id) {
    case NVML_GPM_METRIC_GRAPHICS_UTIL: return &gpu.gpm_graphics_util;
    case NVML_GPM_METRIC_SM_UTIL: return &gpu.gpm_sm_util;
    case NVML_GPM_METRIC_SM_OCCUPANCY: return &gpu.gpm_sm_occupancy;
    case NVML_GPM_METRIC_ANY_TENSOR_UTIL: return &gpu.gpm_tensor_util;
    default: return nullptr;
  }
}

}  // namespace

#define GPULSE_SIM_EXPORT __attribute__((visibility("default")))

extern "C" {

GPULSE_SIM_EXPORT nvmlReturn_t nvmlGpmQueryDeviceSupport(nvmlDevice_t device, nvmlGpmSupport_t* support) {
  SimQuery q(SimCall::kGpmQueryDeviceSupport, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (support == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (support->version != NVML_GPM_SUPPORT_VERSION) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  support->isSupportedDevice = q.gpu().gpm_supported ? 1 : 0;
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlGpmSampleAlloc(nvmlGpmSample_t* sample) {
  if (!Simulator::Instance().initialized()) return NVML_ERROR_UNINITIALIZED;
  if (sample == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *sample = new nvmlGpmSample_st;
  live_samples.fetch_add(1, std::memory_order_relaxed);
  return NVML_SUCCESS;
}

// Like the event set, a sample must be freed while NVML is initialised:
// afterwards it answers UNINITIALIZED and the buffer stays allocated, so a
// caller that frees too late shows in gpulseSimGpmSamplesLive.
GPULSE_SIM_EXPORT nvmlReturn_t nvmlGpmSampleFree(nvmlGpmSample_t sample) {
  if (!Simulator::Instance().initialized()) return NVML_ERROR_UNINITIALIZED;
  if (!IsLive(sample)) return NVML_ERROR_INVALID_ARGUMENT;
  sample->magic = 0;
  delete sample;
  live_samples.fetch_sub(1, std::memory_order_relaxed);
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlGpmSampleGet(nvmlDevice_t device, nvmlGpmSample_t sample) {
  SimQuery q(SimCall::kGpmSampleGet, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (!IsLive(sample)) return NVML_ERROR_INVALID_ARGUMENT;
  if (!q.gpu().gpm_supported) return NVML_ERROR_NOT_SUPPORTED;
  sample->taken = true;
  sample->index = q.index();
  sample->taken_at_s = q.now_s();
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlGpmMetricsGet(nvmlGpmMetricsGet_t* request) {
  if (!Simulator::Instance().initialized()) return NVML_ERROR_UNINITIALIZED;
  if (request == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (request->version != NVML_GPM_METRICS_GET_VERSION) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  if (request->numMetrics == 0 || request->numMetrics > NVML_GPM_METRIC_MAX) return NVML_ERROR_INVALID_ARGUMENT;
  const nvmlGpmSample_t first = request->sample1;
  const nvmlGpmSample_t second = request->sample2;
  if (!IsLive(first) || !IsLive(second) || !first->taken || !second->taken || first->index != second->index) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  SimQuery q(SimCall::kGpmMetricsGet, Simulator::HandleOf(second->index));
  if (q.status() != NVML_SUCCESS) return q.status();
  if (!q.gpu().gpm_supported) return NVML_ERROR_NOT_SUPPORTED;
  const double midpoint_s = (first->taken_at_s + second->taken_at_s) / 2;
  for (unsigned int i = 0; i < request->numMetrics; ++i) {
    nvmlGpmMetric_t& metric = request->metrics[i];
    metric.metricInfo = {nullptr, nullptr, nullptr};
    const ValueModel* model = ModelOf(q.gpu(), metric.metricId);
    if (model == nullptr) {
      metric.nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
      metric.value = 0;
      continue;
    }
    metric.nvmlReturn = NVML_SUCCESS;
    metric.value = std::clamp(model->At(midpoint_s), 0.0, 100.0);
  }
  return NVML_SUCCESS;
}

// Test hook: GPM sample buffers allocated and not yet freed.
GPULSE_SIM_EXPORT long long gpulseSimGpmSamplesLive(void) { return live_samples.load(std::memory_order_relaxed); }

}  // extern "C"

static_assert(std::is_same_v<decltype(&nvmlGpmQueryDeviceSupport), nvmlGpmQueryDeviceSupport_fn>);
static_assert(std::is_same_v<decltype(&nvmlGpmSampleAlloc), nvmlGpmSampleAlloc_fn>);
static_assert(std::is_same_v<decltype(&nvmlGpmSampleFree), nvmlGpmSampleFree_fn>);
static_assert(std::is_same_v<decltype(&nvmlGpmSampleGet), nvmlGpmSampleGet_fn>);
static_assert(std::is_same_v<decltype(&nvmlGpmMetricsGet), nvmlGpmMetricsGet_fn>);

#endif  // GPULSE_NVML_SIM_LEGACY
