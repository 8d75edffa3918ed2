#include "metrics/sample_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpulse::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

GpuSample FullGpu() {
  GpuSample g;
  g.identity.index = 1;
  g.identity.uuid = "GPU-5b4e07f6-3a86-4340-039d-25f2a83cdc43";
  g.identity.name = "NVIDIA H100 80GB HBM3";
  g.identity.pci_bus_id = "00000000:3B:00.0";
  g.utilization_gpu = 80;
  g.utilization_memory = 35;
  g.memory_used_bytes = uint64_t{2048} << 20;  // 2048 MiB
  g.memory_free_bytes = uint64_t{79511} << 20;
  g.temperature_c = 54;
  g.power_w = 312.5;
  g.clock_sm_mhz = 1980;
  g.clock_mem_mhz = 2619;
  g.encoder_percent = 0;  // a real zero
  g.decoder_percent = 3;
  return g;
}

const HostLabels kHost{"node-1", "gpu-node-1", "580.65.06"};

std::string Page(const GpuSample& g) {
  PrometheusWriter w;
  AppendGpuSeries(w, kHost, g);
  return w.Finish();
}

TEST(SampleMetricsTest, GpuSeriesHaveDcgmNamesUnitsAndLabels) {
  std::string page = Page(FullGpu());
  const std::string labels =
      R"({gpu="1",UUID="GPU-5b4e07f6-3a86-4340-039d-25f2a83cdc43",pci_bus_id="00000000:3B:00.0",)"
      R"(device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-1",)"
      R"(DCGM_FI_DRIVER_VERSION="580.65.06",worker="node-1"})";
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_GPU_UTIL" + labels + " 80\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_MEM_COPY_UTIL" + labels + " 35\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_FB_USED" + labels + " 2048\n"));  // MiB
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_FB_FREE" + labels + " 79511\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_GPU_TEMP" + labels + " 54\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_POWER_USAGE" + labels + " 312.5\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_SM_CLOCK" + labels + " 1980\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_MEM_CLOCK" + labels + " 2619\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_ENC_UTIL" + labels + " 0\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_DEC_UTIL" + labels + " 3\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"));
  EXPECT_THAT(page, HasSubstr("# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).\n"));
}

TEST(SampleMetricsTest, UnknownValuesHaveNoSampleNeverZero) {
  GpuSample g = FullGpu();
  g.temperature_c.reset();
  g.power_w.reset();
  g.encoder_percent.reset();
  std::string page = Page(g);
  EXPECT_THAT(page, Not(HasSubstr("DCGM_FI_DEV_GPU_TEMP")));
  EXPECT_THAT(page, Not(HasSubstr("DCGM_FI_DEV_POWER_USAGE")));
  EXPECT_THAT(page, Not(HasSubstr("DCGM_FI_DEV_ENC_UTIL")));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_GPU_UTIL{"));
}

const std::string kGpu1Labels =
    R"({gpu="1",UUID="GPU-5b4e07f6-3a86-4340-039d-25f2a83cdc43",pci_bus_id="00000000:3B:00.0",)"
    R"(device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-1",)"
    R"(DCGM_FI_DRIVER_VERSION="580.65.06",worker="node-1")";

TEST(SampleMetricsTest, HealthAndSlowSeriesHaveDcgmNamesAndExactValues) {
  GpuSample g = FullGpu();
  g.pcie_tx_kbps = 1500;
  g.pcie_rx_kbps = 2500;
  g.power_limit_w = 700;
  g.energy_mj = 123456789;
  g.ecc_dbe_volatile = 0;  // a real zero
  g.row_remap_pending = true;
  g.row_remap_failure = false;
  g.clock_event_reasons = 0x48;
  g.events = GpuEvents{79, {{13, 2}, {79, 1}}, 3};
  std::string page = Page(g);
  const std::string labels = kGpu1Labels + "}";
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_PCIE_TX_THROUGHPUT" + labels + " 1500\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_PCIE_RX_THROUGHPUT" + labels + " 2500\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_POWER_MGMT_LIMIT" + labels + " 700\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" + labels + " 123456789\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL" + labels + " 0\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_ROW_REMAP_PENDING" + labels + " 1\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_ROW_REMAP_FAILURE" + labels + " 0\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_CLOCKS_EVENT_REASONS" + labels + " 72\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS" + labels + " 72\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_XID_ERRORS" + labels + " 79\n"));
  const std::string own = R"({worker="node-1",gpu="1",UUID="GPU-5b4e07f6-3a86-4340-039d-25f2a83cdc43")";
  EXPECT_THAT(page, HasSubstr("gpulse_gpu_xid_errors_total" + own + ",xid=\"13\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_gpu_xid_errors_total" + own + ",xid=\"79\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE gpulse_gpu_xid_errors_total counter\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_gpu_dbe_events_total" + own + "} 3\n"));
}

TEST(SampleMetricsTest, GpmRatiosHaveDcgmProfilingNames) {
  GpuSample g = FullGpu();
  g.gr_engine_active = 0.62;
  g.sm_active = 0.48;
  g.sm_occupancy = 0;  // a real zero
  g.pipe_tensor_active = 0.33;
  std::string page = Page(g);
  const std::string labels = kGpu1Labels + "}";
  EXPECT_THAT(page, HasSubstr("DCGM_FI_PROF_GR_ENGINE_ACTIVE" + labels + " 0.62\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_PROF_SM_ACTIVE" + labels + " 0.48\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_PROF_SM_OCCUPANCY" + labels + " 0\n"));
  EXPECT_THAT(page, HasSubstr("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE" + labels + " 0.33\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE DCGM_FI_PROF_SM_ACTIVE gauge\n"));
}

TEST(SampleMetricsTest, GpuWithoutGpmHasNoProfilingSeries) {
  std::string page = Page(FullGpu());
  EXPECT_THAT(page, Not(HasSubstr("DCGM_FI_PROF_")));
}

TEST(SampleMetricsTest, WatchedGpuWithoutXidReportsZeroAndUnwatchedReportsNothing) {
  GpuSample g = FullGpu();
  g.events = GpuEvents{};
  std::string page = Page(g);
  EXPECT_THAT(page, HasSubstr("DCGM_FI_DEV_XID_ERRORS" + kGpu1Labels + "} 0\n"));
  EXPECT_THAT(page, Not(HasSubstr("gpulse_gpu_xid_errors_total{")));

  // Health figures unknown (unsupported, or the legacy driver): no sample at all.
  page = Page(FullGpu());
  for (const char* family :
       {"DCGM_FI_DEV_XID_ERRORS", "gpulse_gpu_xid_errors_total", "gpulse_gpu_dbe_events_total",
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "DCGM_FI_DEV_ROW_REMAP_PENDING",
        "DCGM_FI_DEV_ROW_REMAP_FAILURE", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_PCIE_TX_THROUGHPUT",
        "DCGM_FI_DEV_POWER_MGMT_LIMIT"}) {
    EXPECT_THAT(page, Not(HasSubstr(family))) << family;
  }
}

TEST(SampleMetricsTest, UnreadableGpuHasNoValueSeriesButReportsUnhealthy) {
  GpuSample g = FullGpu();
  g.error = "GPU is lost";
  PrometheusWriter w;
  AppendGpuSeries(w, kHost, g);
  AppendGpuHealth(w, kHost, g, g.readable());
  std::string page = w.Finish();
  EXPECT_THAT(page, Not(HasSubstr("DCGM_FI_DEV")));
  EXPECT_THAT(page, HasSubstr(R"(gpulse_worker_gpu_healthy{worker="node-1",gpu="1",UUID="GPU-5b4e07f6-3a86-4340-039d-25f2a83cdc43"} 0)"));
}

TEST(SampleMetricsTest, LabelValuesFromTheMachineAreEscaped) {
  GpuSample g = FullGpu();
  g.identity.name = "Weird \"GPU\"\\n";
  HostLabels host{"w\"1", "host\nname", std::nullopt};
  PrometheusWriter w;
  AppendGpuSeries(w, host, g);
  std::string page = w.Finish();
  EXPECT_THAT(page, HasSubstr(R"(modelName="Weird \"GPU\"\\n",Hostname="host\nname",worker="w\"1"})"));
  EXPECT_THAT(page, Not(HasSubstr("DCGM_FI_DRIVER_VERSION")));  // unknown: no label
}

TEST(SampleMetricsTest, HostAndCollectorSeries) {
  HostSample host;
  host.cpu_percent = 12.5;  // memory unknown
  CollectorStats collector;
  collector.sample_duration_ms = 4;
  collector.nvml_errors_total["NVML_ERROR_GPU_IS_LOST"] = 3;
  NvmlState nvml;
  nvml.available = true;
  PrometheusWriter w;
  AppendHostSeries(w, kHost, host, std::nullopt);
  AppendCollectorSeries(w, kHost, nvml, collector);
  std::string page = w.Finish();
  EXPECT_THAT(page, HasSubstr("gpulse_worker_cpu_percent{worker=\"node-1\"} 12.5\n"));
  EXPECT_THAT(page, Not(HasSubstr("gpulse_worker_memory_percent")));
  EXPECT_THAT(page, Not(HasSubstr("gpulse_worker_gpu_percent")));
  EXPECT_THAT(page, HasSubstr("gpulse_nvml_available{worker=\"node-1\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_sample_duration_seconds{worker=\"node-1\"} 0.004\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE gpulse_nvml_errors_total counter\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_nvml_errors_total{worker=\"node-1\",code=\"NVML_ERROR_GPU_IS_LOST\"} 3\n"));
}

TEST(SampleMetricsTest, BrokenNvmlIsASignalNotSilence) {
  Sample s;
  s.host.cpu_percent = 5;
  s.host.memory_percent = 50;
  s.nvml.available = false;
  s.nvml.error = "NVIDIA driver not loaded";
  std::string page = RenderSampleMetrics(kHost, s);
  EXPECT_THAT(page, HasSubstr("gpulse_nvml_available{worker=\"node-1\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_memory_percent{worker=\"node-1\"} 50\n"));
  EXPECT_THAT(page, Not(HasSubstr("DCGM_FI_DEV")));
  EXPECT_THAT(page, Not(HasSubstr("gpulse_sample_duration_seconds{")));
}

TEST(SampleMetricsTest, WholeSamplePageGroupsEachFamilyOnce) {
  Sample s;
  GpuSample a = FullGpu();
  a.identity.index = 0;
  GpuSample b = FullGpu();
  s.gpus = {a, b};
  s.nvml.available = true;
  std::string page = RenderSampleMetrics(kHost, s);
  size_t first = page.find("# TYPE DCGM_FI_DEV_GPU_UTIL");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(page.find("# TYPE DCGM_FI_DEV_GPU_UTIL", first + 1), std::string::npos);
  // Both GPUs' utilization lines sit together under the one header.
  size_t gpu0 = page.find("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"");
  size_t gpu1 = page.find("DCGM_FI_DEV_GPU_UTIL{gpu=\"1\"");
  size_t next_family = page.find("# HELP", first);
  EXPECT_LT(gpu0, next_family);
  EXPECT_LT(gpu1, next_family);
}

}  // namespace
}  // namespace gpulse::metrics
