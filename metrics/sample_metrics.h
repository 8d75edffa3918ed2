// The Prometheus series of one host's sample: per-GPU series named and
// labelled like NVIDIA's dcgm-exporter (DCGM_FI_DEV_*), the host's CPU and
// memory, and the collector's own health. Used by the master for every
// worker and by a worker's own --metrics-listen endpoint, so both expose
// the same names.
//
// A value that is unknown has no sample at all (never 0): a GPU that cannot
// report its temperature simply has no DCGM_FI_DEV_GPU_TEMP line.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "metrics/prometheus_writer.h"
#include "sample/sample.h"

namespace gpulse::metrics {

// Whose series these are: every series carries worker="<id>"; the GPU
// series also carry Hostname (and DCGM_FI_DRIVER_VERSION when known), as
// dcgm-exporter does.
struct HostLabels {
  std::string worker;
  std::string hostname;
  std::optional<std::string> driver_version;
};

// DCGM_FI_DEV_GPU_UTIL, _MEM_COPY_UTIL, _FB_USED, _FB_FREE (MiB),
// _GPU_TEMP (C), _POWER_USAGE (W), _SM_CLOCK, _MEM_CLOCK (MHz), _ENC_UTIL,
// _DEC_UTIL (%), each labelled gpu, UUID, pci_bus_id, device ("nvidia<i>"),
// modelName, Hostname[, DCGM_FI_DRIVER_VERSION], worker. Also
// DCGM_FI_DEV_PCIE_TX_THROUGHPUT/_RX_THROUGHPUT (KB/s), _POWER_MGMT_LIMIT (W),
// _TOTAL_ENERGY_CONSUMPTION (mJ, counter), _ECC_DBE_VOL_TOTAL (counter),
// _ROW_REMAP_PENDING/_FAILURE (0/1), _CLOCKS_EVENT_REASONS (bit mask; also
// under its pre-DCGM-3.3 name _CLOCK_THROTTLE_REASONS), and where the GPU's
// events are watched _XID_ERRORS (last XID, 0 when none),
// gpulse_gpu_xid_errors_total{xid} and gpulse_gpu_dbe_events_total.
// Known values only.
void AppendGpuSeries(PrometheusWriter& out, const HostLabels& host, const GpuSample& gpu);

// gpulse_worker_gpu_healthy{worker,gpu,UUID}: 1 or 0.
void AppendGpuHealth(PrometheusWriter& out, const HostLabels& host, const GpuSample& gpu, bool healthy);

// gpulse_worker_cpu_percent, gpulse_worker_memory_percent and
// gpulse_worker_gpu_percent (the mean over readable GPUs), known values only.
void AppendHostSeries(PrometheusWriter& out, const HostLabels& host, const HostSample& sample,
                      std::optional<double> gpu_percent);

// gpulse_nvml_available (0/1), gpulse_sample_duration_seconds (when known)
// and the counter gpulse_nvml_errors_total{code}.
void AppendCollectorSeries(PrometheusWriter& out, const HostLabels& host, const NvmlState& nvml,
                           const CollectorStats& collector);

// Everything above for one sample: the page a worker serves about itself.
std::string RenderSampleMetrics(const HostLabels& host, const Sample& sample);

}  // namespace gpulse::metrics
