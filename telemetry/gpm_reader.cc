#include "telemetry/gpm_reader.h"

#include <cmath>
#include <cstring>
#include <utility>

namespace gpulse::telemetry {
namespace {

// The metrics asked for, in request order, and where each one goes.
struct WantedMetric {
  unsigned int id;
  std::optional<double> GpmMetrics::*field;
};
constexpr WantedMetric kWanted[] = {
    {NVML_GPM_METRIC_GRAPHICS_UTIL, &GpmMetrics::gr_engine_active},
    {NVML_GPM_METRIC_SM_UTIL, &GpmMetrics::sm_active},
    {NVML_GPM_METRIC_SM_OCCUPANCY, &GpmMetrics::sm_occupancy},
    {NVML_GPM_METRIC_ANY_TENSOR_UTIL, &GpmMetrics::pipe_tensor_active},
};

// NVML's percentage as a ratio; absent when it is not a number.
std::optional<double> PercentToRatio(double percent) {
  if (!std::isfinite(percent)) return std::nullopt;
  const double ratio = percent / 100.0;
  if (ratio < 0) return 0.0;
  if (ratio > 1) return 1.0;
  return ratio;
}

}  // namespace

bool HasGpmFunctions(const NvmlFunctions& nvml) {
  return nvml.gpm_query_device_support != nullptr && nvml.gpm_sample_alloc != nullptr &&
         nvml.gpm_sample_free != nullptr && nvml.gpm_sample_get != nullptr && nvml.gpm_metrics_get != nullptr;
}

nvmlReturn_t GpmSampler::Open(const NvmlFunctions& nvml, nvmlDevice_t device, std::unique_ptr<GpmSampler>* out) {
  out->reset();
  if (!HasGpmFunctions(nvml)) return NVML_ERROR_FUNCTION_NOT_FOUND;
  nvmlGpmSupport_t support{};
  support.version = NVML_GPM_SUPPORT_VERSION;
  nvmlReturn_t rc = nvml.gpm_query_device_support(device, &support);
  if (rc != NVML_SUCCESS) return rc;
  if (support.isSupportedDevice == 0) return NVML_ERROR_NOT_SUPPORTED;
  std::unique_ptr<GpmSampler> sampler(new GpmSampler(nvml, device));
  rc = nvml.gpm_sample_alloc(&sampler->previous_);
  if (rc != NVML_SUCCESS) return rc;
  rc = nvml.gpm_sample_alloc(&sampler->current_);
  if (rc != NVML_SUCCESS) return rc;  // the destructor frees previous_
  *out = std::move(sampler);
  return NVML_SUCCESS;
}

GpmSampler::~GpmSampler() {
  if (previous_ != nullptr) nvml_.gpm_sample_free(previous_);
  if (current_ != nullptr) nvml_.gpm_sample_free(current_);
}

HealthField<GpmMetrics> GpmSampler::Take() {
  HealthField<GpmMetrics> out;
  out.code = nvml_.gpm_sample_get(device_, current_);
  if (out.code != NVML_SUCCESS) {
    have_previous_ = false;
    return out;
  }
  if (!have_previous_) {
    std::swap(previous_, current_);
    have_previous_ = true;
    return out;
  }
  nvmlGpmMetricsGet_t& request = *request_;
  std::memset(&request, 0, sizeof(request));
  request.version = NVML_GPM_METRICS_GET_VERSION;
  request.numMetrics = std::size(kWanted);
  request.sample1 = previous_;
  request.sample2 = current_;
  for (size_t i = 0; i < std::size(kWanted); ++i) request.metrics[i].metricId = kWanted[i].id;
  out.code = nvml_.gpm_metrics_get(&request);
  // The newer sample is the start of the next interval either way.
  std::swap(previous_, current_);
  if (out.code != NVML_SUCCESS) return out;
  GpmMetrics metrics;
  for (size_t i = 0; i < std::size(kWanted); ++i) {
    const nvmlGpmMetric_t& m = request.metrics[i];
    if (m.metricId == kWanted[i].id && m.nvmlReturn == NVML_SUCCESS) {
      metrics.*kWanted[i].field = PercentToRatio(m.value);
    }
  }
  out.value = metrics;
  return out;
}

}  // namespace gpulse::telemetry
