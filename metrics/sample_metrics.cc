#include "metrics/sample_metrics.h"

namespace gpulse::metrics {
namespace {

// Names, types and units as dcgm-exporter's default counters have them.
constexpr MetricFamily kGpuUtil{"DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", MetricType::kGauge};
constexpr MetricFamily kMemCopyUtil{"DCGM_FI_DEV_MEM_COPY_UTIL",
                                    "Memory utilization: share of time the memory was read or written (in %).",
                                    MetricType::kGauge};
constexpr MetricFamily kFbUsed{"DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", MetricType::kGauge};
constexpr MetricFamily kFbFree{"DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", MetricType::kGauge};
constexpr MetricFamily kGpuTemp{"DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", MetricType::kGauge};
constexpr MetricFamily kPowerUsage{"DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", MetricType::kGauge};
constexpr MetricFamily kSmClock{"DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", MetricType::kGauge};
constexpr MetricFamily kMemClock{"DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", MetricType::kGauge};
constexpr MetricFamily kEncUtil{"DCGM_FI_DEV_ENC_UTIL", "Encoder utilization (in %).", MetricType::kGauge};
constexpr MetricFamily kDecUtil{"DCGM_FI_DEV_DEC_UTIL", "Decoder utilization (in %).", MetricType::kGauge};

constexpr MetricFamily kGpuHealthy{"gpulse_worker_gpu_healthy",
                                   "1 while the GPU can be read and is schedulable, 0 while its queries fail.",
                                   MetricType::kGauge};
constexpr MetricFamily kCpuPercent{"gpulse_worker_cpu_percent", "Busy share of all CPU cores (in %).",
                                   MetricType::kGauge};
constexpr MetricFamily kMemoryPercent{"gpulse_worker_memory_percent",
                                      "Host memory in use, (MemTotal - MemAvailable) / MemTotal (in %).",
                                      MetricType::kGauge};
constexpr MetricFamily kGpuPercent{"gpulse_worker_gpu_percent",
                                   "Mean GPU utilization over the GPUs that could be read (in %).",
                                   MetricType::kGauge};
constexpr MetricFamily kNvmlAvailable{"gpulse_nvml_available",
                                      "1 when NVML loaded and initialised on the worker, else 0.",
                                      MetricType::kGauge};
constexpr MetricFamily kSampleDuration{"gpulse_sample_duration_seconds",
                                       "How long the worker's latest sample of its host and GPUs took.",
                                       MetricType::kGauge};
constexpr MetricFamily kNvmlErrors{"gpulse_nvml_errors_total",
                                   "NVML queries that failed since the worker started, by NVML return code.",
                                   MetricType::kCounter};

constexpr double kMiB = 1024.0 * 1024.0;

Labels GpuLabels(const HostLabels& host, const GpuSample& gpu) {
  const GpuIdentity& id = gpu.identity;
  Labels labels{{"gpu", std::to_string(id.index)},
                {"UUID", id.uuid},
                {"pci_bus_id", id.pci_bus_id},
                {"device", "nvidia" + std::to_string(id.index)},
                {"modelName", id.name},
                {"Hostname", host.hostname}};
  if (host.driver_version) labels.Add("DCGM_FI_DRIVER_VERSION", *host.driver_version);
  labels.Add("worker", host.worker);
  return labels;
}

template <typename T>
void AddKnown(PrometheusWriter& out, const MetricFamily& family, const Labels& labels, const std::optional<T>& v,
              double scale = 1.0) {
  if (v) out.Add(family, labels, static_cast<double>(*v) * scale);
}

}  // namespace

void AppendGpuSeries(PrometheusWriter& out, const HostLabels& host, const GpuSample& gpu) {
  if (!gpu.readable()) return;  // its metrics are absent by definition
  Labels labels = GpuLabels(host, gpu);
  AddKnown(out, kGpuUtil, labels, gpu.utilization_gpu);
  AddKnown(out, kMemCopyUtil, labels, gpu.utilization_memory);
  AddKnown(out, kFbUsed, labels, gpu.memory_used_bytes, 1.0 / kMiB);
  AddKnown(out, kFbFree, labels, gpu.memory_free_bytes, 1.0 / kMiB);
  AddKnown(out, kGpuTemp, labels, gpu.temperature_c);
  AddKnown(out, kPowerUsage, labels, gpu.power_w);
  AddKnown(out, kSmClock, labels, gpu.clock_sm_mhz);
  AddKnown(out, kMemClock, labels, gpu.clock_mem_mhz);
  AddKnown(out, kEncUtil, labels, gpu.encoder_percent);
  AddKnown(out, kDecUtil, labels, gpu.decoder_percent);
}

void AppendGpuHealth(PrometheusWriter& out, const HostLabels& host, const GpuSample& gpu, bool healthy) {
  out.Add(kGpuHealthy, {{"worker", host.worker}, {"gpu", std::to_string(gpu.identity.index)}, {"UUID", gpu.identity.uuid}},
          healthy ? 1 : 0);
}

void AppendHostSeries(PrometheusWriter& out, const HostLabels& host, const HostSample& sample,
                      std::optional<double> gpu_percent) {
  Labels labels{{"worker", host.worker}};
  AddKnown(out, kCpuPercent, labels, sample.cpu_percent);
  AddKnown(out, kMemoryPercent, labels, sample.memory_percent);
  AddKnown(out, kGpuPercent, labels, gpu_percent);
}

void AppendCollectorSeries(PrometheusWriter& out, const HostLabels& host, const NvmlState& nvml,
                           const CollectorStats& collector) {
  Labels labels{{"worker", host.worker}};
  out.Add(kNvmlAvailable, labels, nvml.available ? 1 : 0);
  AddKnown(out, kSampleDuration, labels, collector.sample_duration_ms, 1e-3);
  out.Declare(kNvmlErrors);
  for (const auto& [code, count] : collector.nvml_errors_total) {
    out.Add(kNvmlErrors, labels.With("code", code), static_cast<double>(count));
  }
}

std::string RenderSampleMetrics(const HostLabels& host, const Sample& sample) {
  PrometheusWriter out;
  for (const GpuSample& gpu : sample.gpus) AppendGpuSeries(out, host, gpu);
  for (const GpuSample& gpu : sample.gpus) AppendGpuHealth(out, host, gpu, gpu.readable());
  AppendHostSeries(out, host, sample.host, sample.gpu_percent);
  AppendCollectorSeries(out, host, sample.nvml, sample.collector);
  return out.Finish();
}

}  // namespace gpulse::metrics
