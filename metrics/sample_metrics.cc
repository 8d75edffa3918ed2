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
constexpr MetricFamily kPcieTx{"DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "PCIe transmit throughput (in KB/s).",
                               MetricType::kGauge};
constexpr MetricFamily kPcieRx{"DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "PCIe receive throughput (in KB/s).",
                               MetricType::kGauge};
constexpr MetricFamily kPowerLimit{"DCGM_FI_DEV_POWER_MGMT_LIMIT", "Enforced power limit (in W).",
                                   MetricType::kGauge};
constexpr MetricFamily kEnergy{"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
                               "Total energy consumption since the driver loaded (in mJ).", MetricType::kCounter};
constexpr MetricFamily kEccDbeVolatile{"DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
                                       "Total number of double-bit volatile ECC errors.", MetricType::kCounter};
constexpr MetricFamily kRowRemapPending{"DCGM_FI_DEV_ROW_REMAP_PENDING",
                                        "1 while a row remap waits for a GPU reset, else 0.", MetricType::kGauge};
constexpr MetricFamily kRowRemapFailure{"DCGM_FI_DEV_ROW_REMAP_FAILURE",
                                        "1 when a row remap has failed, else 0.", MetricType::kGauge};
constexpr MetricFamily kClocksEventReasons{"DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
                                           "Current clock event reasons (bit mask of NVML's clocks event reasons).",
                                           MetricType::kGauge};
// The name DCGM used before 3.3, for dashboards built on it.
constexpr MetricFamily kClockThrottleReasons{"DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
                                             "Current clock throttle reasons (older name of "
                                             "DCGM_FI_DEV_CLOCKS_EVENT_REASONS).",
                                             MetricType::kGauge};
// GPM (Hopper and later), as ratios, like dcgm-exporter's profiling fields.
constexpr MetricFamily kGrEngineActive{"DCGM_FI_PROF_GR_ENGINE_ACTIVE",
                                       "Ratio of time the graphics engine is active.", MetricType::kGauge};
constexpr MetricFamily kSmActive{"DCGM_FI_PROF_SM_ACTIVE",
                                 "The ratio of cycles an SM has at least 1 warp assigned.", MetricType::kGauge};
constexpr MetricFamily kSmOccupancy{"DCGM_FI_PROF_SM_OCCUPANCY",
                                    "The ratio of number of warps resident on an SM to its maximum.",
                                    MetricType::kGauge};
constexpr MetricFamily kPipeTensorActive{"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
                                         "Ratio of cycles any tensor pipe is active.", MetricType::kGauge};
constexpr MetricFamily kXidErrors{"DCGM_FI_DEV_XID_ERRORS",
                                  "Value of the last XID error seen since the worker started (0: none).",
                                  MetricType::kGauge};
constexpr MetricFamily kXidErrorsTotal{"gpulse_gpu_xid_errors_total",
                                       "XID critical errors reported by the driver since the worker started, by XID.",
                                       MetricType::kCounter};
constexpr MetricFamily kDbeEventsTotal{"gpulse_gpu_dbe_events_total",
                                       "Double-bit ECC error events since the worker started.",
                                       MetricType::kCounter};

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
  AddKnown(out, kPcieTx, labels, gpu.pcie_tx_kbps);
  AddKnown(out, kPcieRx, labels, gpu.pcie_rx_kbps);
  AddKnown(out, kPowerLimit, labels, gpu.power_limit_w);
  AddKnown(out, kEnergy, labels, gpu.energy_mj);
  AddKnown(out, kEccDbeVolatile, labels, gpu.ecc_dbe_volatile);
  AddKnown(out, kRowRemapPending, labels, gpu.row_remap_pending);
  AddKnown(out, kRowRemapFailure, labels, gpu.row_remap_failure);
  AddKnown(out, kClocksEventReasons, labels, gpu.clock_event_reasons);
  AddKnown(out, kClockThrottleReasons, labels, gpu.clock_event_reasons);
  AddKnown(out, kGrEngineActive, labels, gpu.gr_engine_active);
  AddKnown(out, kSmActive, labels, gpu.sm_active);
  AddKnown(out, kSmOccupancy, labels, gpu.sm_occupancy);
  AddKnown(out, kPipeTensorActive, labels, gpu.pipe_tensor_active);
  if (gpu.events) {
    out.Add(kXidErrors, labels, gpu.events->last_xid.value_or(0));
    // gpulse's own series: its own snake_case labels, as gpulse_worker_gpu_healthy.
    const Labels own{{"worker", host.worker}, {"gpu", std::to_string(gpu.identity.index)}, {"UUID", gpu.identity.uuid}};
    for (const auto& [xid, count] : gpu.events->xid_counts) {
      out.Add(kXidErrorsTotal, own.With("xid", std::to_string(xid)), static_cast<double>(count));
    }
    out.Add(kDbeEventsTotal, own, static_cast<double>(gpu.events->dbe_events));
  }
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
