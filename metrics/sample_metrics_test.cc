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
