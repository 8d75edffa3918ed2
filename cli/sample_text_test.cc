#include "cli/sample_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpulse::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

GpuSample Gpu(uint32_t index, double utilization) {
  GpuSample g;
  g.identity.index = index;
  g.identity.name = "NVIDIA H100 80GB HBM3";
  g.utilization_gpu = utilization;
  g.utilization_memory = 30;
  g.memory_used_bytes = 1024ull << 20;
  g.identity.memory_total_bytes = 81559ull << 20;
  g.temperature_c = 55;
  g.power_w = 300.4;
  g.power_limit_w = 700;
  return g;
}

Sample TwoGpus() {
  Sample s;
  s.nvml = {true, "550.54.15", std::nullopt};
  s.gpus = {Gpu(0, 80), Gpu(1, 40)};
  s.gpu_percent = MeanGpuUtilization(s.gpus);
  s.host.cpu_percent = 12.5;
  s.host.memory_percent = 45;
  s.host.cpu_cores = 16;
  s.host.memory_total_bytes = 16ull << 30;
  return s;
}

TEST(SampleTextTest, HeadlineTableAndHost) {
  const std::string text = FormatSampleText(TwoGpus(), 1);
  EXPECT_THAT(text, HasSubstr("Sample  1: GPU Utilization = 60.0%\n"));
  EXPECT_THAT(text, HasSubstr("[0]"));
  EXPECT_THAT(text, HasSubstr("[1]"));
  EXPECT_THAT(text, HasSubstr("NVIDIA H100 80GB HBM3"));
  EXPECT_THAT(text, HasSubstr("80%"));
  EXPECT_THAT(text, HasSubstr("1024 / 81559"));
  EXPECT_THAT(text, HasSubstr("55°C"));
  EXPECT_THAT(text, HasSubstr("300 / 700"));
  EXPECT_THAT(text, HasSubstr("Host: CPU 12.5% of 16 cores, memory 45.0% of 16.0 GiB"));
  EXPECT_THAT(FormatSampleText(TwoGpus(), 12), HasSubstr("Sample 12: "));
}

TEST(SampleTextTest, LostGpuShowsItsError) {
  Sample s = TwoGpus();
  s.gpus[1] = GpuSample{};
  s.gpus[1].identity.index = 1;
  s.gpus[1].identity.name = "NVIDIA H100 80GB HBM3";
  s.gpus[1].error = "GPU is lost: it fell off the bus";
  s.gpu_percent = MeanGpuUtilization(s.gpus);
  const std::string text = FormatSampleText(s, 1);
  EXPECT_THAT(text, HasSubstr("GPU Utilization = 80.0%"));
  EXPECT_THAT(text, HasSubstr("error: GPU is lost: it fell off the bus"));
}

TEST(SampleTextTest, ExplainsWhyUtilizationIsUnknown) {
  Sample s;
  s.nvml.error = "NVIDIA driver not loaded: load the kernel module";
  EXPECT_EQ(DescribeGpuUtilization(s),
            "n/a (NVML unavailable: NVIDIA driver not loaded: load the kernel module)");
  const std::string text = FormatSampleText(s, 1);
  EXPECT_THAT(text, Not(HasSubstr("NAME")));
  EXPECT_THAT(text, HasSubstr("Host: CPU n/a"));

  s.nvml = {true, std::nullopt, std::nullopt};
  EXPECT_EQ(DescribeGpuUtilization(s), "n/a (no GPU found)");
  s.gpus.emplace_back().error = "GPU is lost";
  EXPECT_EQ(DescribeGpuUtilization(s), "n/a (no GPU readable)");
  s.gpus[0].error.reset();
  EXPECT_EQ(DescribeGpuUtilization(s), "n/a (no GPU reports utilization)");
}

TEST(SampleTextTest, UnknownValuesShowAsNa) {
  Sample s = TwoGpus();
  s.gpus[0].temperature_c.reset();
  s.gpus[0].power_w.reset();
  const std::string text = FormatSampleText(s, 1);
  EXPECT_THAT(text, HasSubstr("n/a / 700"));
  EXPECT_THAT(text, HasSubstr("  n/a"));
}

}  // namespace
}  // namespace gpulse::cli
