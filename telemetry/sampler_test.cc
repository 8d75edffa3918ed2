#include "telemetry/sampler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testkit/eventually.h"
#include "testkit/sim_fixture.h"

namespace gpulse::telemetry {
namespace {

using ::testing::HasSubstr;
using testkit::Eventually;
using testkit::ScenarioFile;
using testkit::SimCounters;
using namespace std::chrono_literals;

SamplerConfig SimSamplerConfig(const std::string& library = testkit::SimLibraryPath()) {
  SamplerConfig config;
  config.nvml.library_path = library;
  config.run_slow_metrics_thread = false;
  config.run_event_thread = false;
  return config;
}

// Polls Take() until `done` holds or 5 s pass; returns the last sample.
template <typename Predicate>
Sample TakeUntil(Sampler& sampler, Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  Sample sample = sampler.Take();
  while (!done(sample) && std::chrono::steady_clock::now() < deadline) sample = sampler.Take();
  return sample;
}

TEST(SamplerTest, MeanOfEightyAndFortyIsSixty) {
  nlohmann::json s = testkit::UniformScenario(2, 80);
  s["gpus"][1]["utilization_gpu"] = 40;
  ScenarioFile scenario(s);
  Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
  Sample sample = sampler.Take();
  EXPECT_TRUE(sample.nvml.available);
  EXPECT_EQ(sample.nvml.driver_version, "550.54.15");
  ASSERT_EQ(sample.gpus.size(), 2u);
  EXPECT_EQ(sample.gpus[0].utilization_gpu, 80.0);
  EXPECT_EQ(sample.gpus[1].utilization_gpu, 40.0);
  ASSERT_TRUE(sample.gpu_percent.has_value());
  EXPECT_DOUBLE_EQ(*sample.gpu_percent, 60.0);
  EXPECT_GT(sample.host.cpu_cores, 0u);
  EXPECT_GT(sample.host.memory_total_bytes, 0u);
  EXPECT_TRUE(sample.host.memory_percent.has_value());
}

TEST(SamplerTest, LostGpuIsSkippedInTheMeanAndFlagged) {
  nlohmann::json s = testkit::UniformScenario(3, 80);
  s["gpus"][1]["utilization_gpu"] = 40;
  s["gpus"][2]["lost"] = true;
  ScenarioFile scenario(s);
  Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
  Sample sample = sampler.Take();
  ASSERT_EQ(sample.gpus.size(), 3u);
  EXPECT_TRUE(sample.gpus[0].readable());
  EXPECT_TRUE(sample.gpus[1].readable());
  ASSERT_TRUE(sample.gpus[2].error.has_value());
  EXPECT_THAT(*sample.gpus[2].error, HasSubstr("GPU is lost"));
  EXPECT_FALSE(sample.gpus[2].utilization_gpu.has_value());
  EXPECT_TRUE(sample.nvml.available);
  EXPECT_DOUBLE_EQ(sample.gpu_percent.value_or(-1), 60.0);
}

TEST(SamplerTest, MissingLibraryStillReportsHost) {
  Sampler sampler(SimSamplerConfig("/nonexistent/libnvidia-ml.so.1"), SystemClock::Instance());
  Sample sample = sampler.Take();
  EXPECT_FALSE(sample.nvml.available);
  ASSERT_TRUE(sample.nvml.error.has_value());
  EXPECT_THAT(*sample.nvml.error, HasSubstr("NVML library not found"));
  EXPECT_THAT(*sample.nvml.error, HasSubstr("install the NVIDIA driver"));
  EXPECT_TRUE(sample.gpus.empty());
  EXPECT_FALSE(sample.gpu_percent.has_value());
  EXPECT_TRUE(sample.host.memory_percent.has_value());
  EXPECT_GT(sample.host.cpu_cores, 0u);
  EXPECT_TRUE(sampler.GpuInventory().empty());
  EXPECT_TRUE(sampler.WaitForSlowMetrics(1ms));
}

TEST(SamplerTest, DriverNotLoadedIsExplained) {
  nlohmann::json s = testkit::UniformScenario(1, 50);
  s["init_error"] = "DRIVER_NOT_LOADED";
  ScenarioFile scenario(s);
  Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
  Sample sample = sampler.Take();
  EXPECT_FALSE(sample.nvml.available);
  EXPECT_THAT(sample.nvml.error.value_or(""), HasSubstr("driver not loaded"));
  EXPECT_TRUE(sample.gpus.empty());
  EXPECT_FALSE(sample.gpu_percent.has_value());
}

TEST(SamplerTest, CollectorStatsTimeTheSampleAndCountFailuresByCode) {
  nlohmann::json s = testkit::UniformScenario(2, 50);
  s["gpus"][1]["lost"] = true;
  s["gpus"][0]["errors"] = {{"nvmlDeviceGetTemperature", "NOT_SUPPORTED"}};
  ScenarioFile scenario(s);
  Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
  Sample sample = sampler.Take();
  ASSERT_TRUE(sample.collector.sample_duration_ms.has_value());
  EXPECT_GE(*sample.collector.sample_duration_ms, 0.0);
  EXPECT_LT(*sample.collector.sample_duration_ms, 5000.0);
  // The lost GPU counts; the unsupported temperature does not.
  EXPECT_GE(sample.collector.nvml_errors_total["NVML_ERROR_GPU_IS_LOST"], 1u);
  EXPECT_EQ(sample.collector.nvml_errors_total.count("NVML_ERROR_NOT_SUPPORTED"), 0u);
  EXPECT_EQ(sample.collector.nvml_errors_total.size(), 1u);
}

TEST(SamplerTest, FailedInitialisationIsCountedAndNoNvmlCountsNothing) {
  nlohmann::json s = testkit::UniformScenario(1, 50);
  s["init_error"] = "DRIVER_NOT_LOADED";
  ScenarioFile scenario(s);
  Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
  Sample sample = sampler.Take();
  EXPECT_GE(sample.collector.nvml_errors_total["NVML_ERROR_DRIVER_NOT_LOADED"], 1u);

  Sampler missing(SimSamplerConfig("/nonexistent/libnvidia-ml.so.1"), SystemClock::Instance());
  Sample none = missing.Take();
  EXPECT_TRUE(none.collector.nvml_errors_total.empty());  // no library: no call failed
  EXPECT_TRUE(none.collector.sample_duration_ms.has_value());
}

TEST(SamplerTest, LegacyDriverLeavesNewMetricsAbsentAndReadsTheRest) {
  nlohmann::json s = testkit::UniformScenario(1, 70);
  s["gpus"][0]["temperature_c"] = 61;
  s["gpus"][0]["memory_used_mib"] = 2048;
  s["gpus"][0]["power_w"] = 200;
  ScenarioFile scenario(s);
  Sampler sampler(SimSamplerConfig(testkit::LegacySimLibraryPath()), SystemClock::Instance());
  sampler.slow_poller()->PollDue();
  Sample sample = sampler.Take();
  ASSERT_TRUE(sample.nvml.available) << sample.nvml.error.value_or("");
  ASSERT_EQ(sample.gpus.size(), 1u);
  const GpuSample& g = sample.gpus[0];
  EXPECT_TRUE(g.readable());
  EXPECT_EQ(g.utilization_gpu, 70.0);
  EXPECT_EQ(g.temperature_c, 61.0);
  ASSERT_TRUE(g.memory_used_bytes.has_value());
  EXPECT_GE(*g.memory_used_bytes, 2048ull * 1024 * 1024);
  EXPECT_TRUE(g.identity.memory_total_bytes.has_value());
  EXPECT_EQ(g.power_w, 200.0);
  EXPECT_FALSE(g.encoder_percent.has_value());
  EXPECT_FALSE(g.decoder_percent.has_value());
  EXPECT_FALSE(g.fan_percent.has_value());
  // No health symbols in the legacy library: absent, never 0.
  EXPECT_FALSE(g.energy_mj.has_value());
  EXPECT_FALSE(g.ecc_dbe_volatile.has_value());
  EXPECT_FALSE(g.row_remap_pending.has_value());
  EXPECT_FALSE(g.row_remap_failure.has_value());
  EXPECT_FALSE(g.clock_event_reasons.has_value());
  EXPECT_EQ(sampler.event_watcher()->PollOnce(), NvmlEventWait::Outcome::kUnsupported);
  EXPECT_FALSE(sampler.Take().gpus[0].events.has_value());
}

TEST(SamplerTest, HealthFiguresComeFromTheSlowPollerNotTheSample) {
  nlohmann::json s = testkit::UniformScenario(2, 50);
  s["gpus"][1]["energy_start_mj"] = 4242000;
  s["gpus"][1]["power_w"] = 0;  // the counter stays where it starts
  s["gpus"][1]["ecc_uncorrected_volatile"] = 2;
  s["gpus"][1]["remapped_rows"] = {{"pending", true}, {"failure", false}};
  s["gpus"][1]["clock_event_reasons"] = {"hw_power_brake", "sw_thermal"};
  ScenarioFile scenario(s);
  Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
  // Take() alone never reads them: they wait for the poller.
  Sample sample = sampler.Take();
  EXPECT_FALSE(sample.gpus[1].energy_mj.has_value());
  EXPECT_FALSE(sample.gpus[1].ecc_dbe_volatile.has_value());
  EXPECT_FALSE(sample.gpus[1].row_remap_pending.has_value());
  EXPECT_FALSE(sample.gpus[1].clock_event_reasons.has_value());

  sampler.slow_poller()->PollDue();
  sample = sampler.Take();
  const GpuSample& g = sample.gpus[1];
  EXPECT_EQ(g.energy_mj, std::optional<uint64_t>(4242000));
  EXPECT_EQ(g.ecc_dbe_volatile, std::optional<uint64_t>(2));
  EXPECT_EQ(g.row_remap_pending, std::optional<bool>(true));
  EXPECT_EQ(g.row_remap_failure, std::optional<bool>(false));
  EXPECT_EQ(g.clock_event_reasons, std::optional<uint64_t>(0x80 | 0x20));
  EXPECT_EQ(sample.gpus[0].ecc_dbe_volatile, std::optional<uint64_t>(0));  // a real zero
  EXPECT_EQ(sample.gpus[0].row_remap_pending, std::optional<bool>(false));

  // The scenario clears the pending remap (a GPU reset): the next reading says so.
  s["gpus"][1]["remapped_rows"] = {{"pending", false}, {"failure", false}};
  scenario.Rewrite(s);
  EXPECT_TRUE(Eventually([&] {
    sampler.slow_poller()->Wake();
    sampler.slow_poller()->PollDue();
    return sampler.Take().gpus[1].row_remap_pending == false;
  }));
}

TEST(SamplerTest, UnsupportedHealthFigureIsAbsentAndNotAskedForAgain) {
  nlohmann::json s = testkit::UniformScenario(1, 50);
  s["gpus"][0]["errors"] = {{"nvmlDeviceGetTotalEnergyConsumption", "NOT_SUPPORTED"},
                            {"nvmlDeviceGetRemappedRows", "NOT_SUPPORTED"}};
  s["gpus"][0]["gpm"] = false;  // and no GPM
  ScenarioFile scenario(s);
  SimCounters counters(testkit::SimLibraryPath());
  ASSERT_TRUE(counters.ok());
  Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
  sampler.slow_poller()->PollDue();
  Sample sample = sampler.Take();
  EXPECT_FALSE(sample.gpus[0].energy_mj.has_value());
  EXPECT_FALSE(sample.gpus[0].row_remap_pending.has_value());
  EXPECT_FALSE(sample.gpus[0].row_remap_failure.has_value());
  EXPECT_EQ(sample.gpus[0].ecc_dbe_volatile, std::optional<uint64_t>(0));
  EXPECT_EQ(sample.gpus[0].clock_event_reasons, std::optional<uint64_t>(0));
  // Next pass: power (2), PCIe (2), and only the two supported health reads
  // (no GPM either).
  const unsigned long long queries = counters.query_count();
  sampler.slow_poller()->Wake();
  sampler.slow_poller()->PollDue();
  EXPECT_EQ(counters.query_count() - queries, 6u);
}

TEST(SamplerTest, LoadChangeIsSeenByALaterSample) {
  nlohmann::json s = testkit::UniformScenario(2, 10);
  ScenarioFile scenario(s);
  Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
  EXPECT_DOUBLE_EQ(sampler.Take().gpu_percent.value_or(-1), 10.0);
  s["gpus"][0]["utilization_gpu"] = 90;
  s["gpus"][1]["utilization_gpu"] = 70;
  scenario.Rewrite(s);
  Sample sample = TakeUntil(sampler, [](const Sample& x) { return x.gpu_percent == 80.0; });
  EXPECT_DOUBLE_EQ(sample.gpu_percent.value_or(-1), 80.0);
}

TEST(SamplerTest, NvmlIsInitialisedOnceOverManySamples) {
  ScenarioFile scenario(testkit::UniformScenario(4, 30));
  SimCounters counters(testkit::SimLibraryPath());
  ASSERT_TRUE(counters.ok());
  const unsigned inits = counters.init_count();
  const unsigned shutdowns = counters.shutdown_count();
  {
    Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
    for (int i = 0; i < 200; ++i) ASSERT_EQ(sampler.Take().gpus.size(), 4u);
    EXPECT_EQ(counters.init_count() - inits, 1u);
    EXPECT_EQ(counters.shutdown_count() - shutdowns, 0u);
  }
  EXPECT_EQ(counters.shutdown_count() - shutdowns, 1u);
}

TEST(SamplerTest, ReinitialisesAfterLossWithBackoffAndPicksUpNewPower) {
  nlohmann::json s = testkit::UniformScenario(2, 50);
  for (auto& g : s["gpus"]) g["power_w"] = 100;
  s["gpus"][1]["lost"] = true;
  ScenarioFile scenario(s);
  SimCounters counters(testkit::SimLibraryPath());
  ManualClock clock;
  Sampler sampler(SimSamplerConfig(), clock);
  const unsigned inits = counters.init_count();
  sampler.slow_poller()->PollDue();
  Sample sample = sampler.Take();
  EXPECT_FALSE(sample.gpus[1].readable());
  EXPECT_EQ(sample.gpus[0].power_w, 100.0);

  s["gpus"][1]["lost"] = false;
  s["gpus"][0]["power_w"] = 150;
  scenario.Rewrite(s);
  clock.Advance(500ms);
  sample = sampler.Take();
  EXPECT_EQ(counters.init_count(), inits);  // retry not due yet
  clock.Advance(500ms);
  sample = sampler.Take();  // re-initialises: the simulator re-reads the file
  EXPECT_EQ(counters.init_count(), inits + 1);
  ASSERT_EQ(sample.gpus.size(), 2u);
  EXPECT_TRUE(sample.gpus[1].readable()) << *sample.gpus[1].error;
  EXPECT_DOUBLE_EQ(sample.gpu_percent.value_or(-1), 50.0);
  // New handles: cached power is dropped until the poller (woken) reads again.
  EXPECT_FALSE(sample.gpus[0].power_w.has_value());
  sampler.slow_poller()->PollDue();
  EXPECT_EQ(sampler.Take().gpus[0].power_w, 150.0);
}

TEST(SamplerTest, SlowMetricsThreadFillsPowerAndPcie) {
  nlohmann::json s = testkit::UniformScenario(1, 50);
  s["gpus"][0]["pcie_tx_kbps"] = 777;
  ScenarioFile scenario(s);
  SamplerConfig config = SimSamplerConfig();
  config.run_slow_metrics_thread = true;
  Sampler sampler(config, SystemClock::Instance());
  ASSERT_TRUE(sampler.WaitForSlowMetrics(10s));
  Sample sample = sampler.Take();
  EXPECT_EQ(sample.gpus[0].pcie_tx_kbps, 777u);
  EXPECT_TRUE(sample.gpus[0].power_w.has_value());
}

TEST(SamplerTest, ExposesStaticInventory) {
  ScenarioFile scenario(testkit::UniformScenario(3, 50));
  Sampler sampler(SimSamplerConfig(), SystemClock::Instance());
  std::vector<GpuIdentity> inventory = sampler.GpuInventory();
  ASSERT_EQ(inventory.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(inventory[i].index, i);
    EXPECT_THAT(inventory[i].uuid, HasSubstr("GPU-"));
    EXPECT_EQ(inventory[i].name, "NVIDIA H100 80GB HBM3");
    EXPECT_FALSE(inventory[i].pci_bus_id.empty());
    EXPECT_TRUE(inventory[i].memory_total_bytes.has_value());
  }
}

TEST(SamplerTest, NvmlCanBeDisabled) {
  SamplerConfig config;
  config.enable_nvml = false;
  Sampler sampler(config, SystemClock::Instance());
  Sample sample = sampler.Take();
  EXPECT_FALSE(sample.nvml.available);
  EXPECT_THAT(sample.nvml.error.value_or(""), HasSubstr("disabled"));
  EXPECT_TRUE(sample.host.memory_percent.has_value());
}

// Host CPU and memory from a fixture /proc the test rewrites.
class SamplerHostTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteMeminfo(1000, 400); }

  void WriteStat(uint64_t busy, uint64_t idle) {
    std::ofstream(root_ + "/stat") << "cpu  " << busy << " 0 0 " << idle
                                    << " 0 0 0 0 0 0\ncpu0 0 0 0 0\ncpu1 0 0 0 0\n";
  }
  void WriteMeminfo(uint64_t total_kb, uint64_t available_kb) {
    std::ofstream(root_ + "/meminfo") << "MemTotal: " << total_kb << " kB\nMemAvailable: "
                                       << available_kb << " kB\n";
  }
  SamplerConfig Config() {
    SamplerConfig config;
    config.proc_root = root_;
    config.enable_nvml = false;
    return config;
  }

  testkit::TempDir proc_{"gpulse-proc"};
  std::string root_ = proc_.path();
};

TEST_F(SamplerHostTest, FirstSampleMeasuresFromConstruction) {
  WriteStat(100, 900);
  Sampler sampler(Config(), SystemClock::Instance());
  WriteStat(100 + 30, 900 + 10);  // 40 jiffies, 30 busy
  Sample sample = sampler.Take();
  EXPECT_DOUBLE_EQ(sample.host.cpu_percent.value_or(-1), 75.0);
  EXPECT_EQ(sample.host.cpu_cores, 2u);
  EXPECT_EQ(sample.host.memory_total_bytes, 1000u * 1024);
  EXPECT_DOUBLE_EQ(sample.host.memory_percent.value_or(-1), 60.0);

  WriteStat(130 + 5, 910 + 15);
  EXPECT_DOUBLE_EQ(sampler.Take().host.cpu_percent.value_or(-1), 25.0);
}

TEST_F(SamplerHostTest, CpuPercentIsAbsentWhenNoJiffyElapsed) {
  WriteStat(100, 900);
  Sampler sampler(Config(), SystemClock::Instance());
  EXPECT_FALSE(sampler.Take().host.cpu_percent.has_value());
}

TEST_F(SamplerHostTest, UnreadableProcLeavesHostFiguresAbsent) {
  SamplerConfig config = Config();
  config.proc_root = root_ + "/missing";
  Sampler sampler(config, SystemClock::Instance());
  Sample sample = sampler.Take();
  EXPECT_FALSE(sample.host.cpu_percent.has_value());
  EXPECT_FALSE(sample.host.memory_percent.has_value());
  EXPECT_GT(sample.host.cpu_cores, 0u);  // from sysconf
}

}  // namespace
}  // namespace gpulse::telemetry

namespace gpulse::telemetry {
namespace {

// The poller thread reads power and PCIe while samples re-initialise NVML
// under it (a GPU stays lost, so every retry shuts NVML down and starts it
// again). Run under the sanitizers, this catches use of stale handles.
TEST(SamplerConcurrencyTest, PollingWhileReinitialising) {
  nlohmann::json s = testkit::UniformScenario(4, 50);
  s["gpus"][3]["lost"] = true;
  ScenarioFile scenario(s);
  ManualClock clock;
  SamplerConfig config = SimSamplerConfig();
  config.run_slow_metrics_thread = true;
  config.slow_metrics.power_interval = std::chrono::milliseconds(1);
  config.slow_metrics.pcie_interval = std::chrono::milliseconds(1);
  config.nvml.max_retry_delay = 1s;
  Sampler sampler(config, clock);
  const uint64_t generation = sampler.session()->generation();
  for (int i = 0; i < 300; ++i) {
    clock.Advance(1s);
    Sample sample = sampler.Take();
    ASSERT_EQ(sample.gpus.size(), 4u);
    EXPECT_FALSE(sample.gpus[3].readable());
    EXPECT_DOUBLE_EQ(sample.gpu_percent.value_or(-1), 50.0);
  }
  EXPECT_GE(sampler.session()->generation(), generation + 299);
}

}  // namespace
}  // namespace gpulse::telemetry
