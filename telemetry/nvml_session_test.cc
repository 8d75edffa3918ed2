#include "telemetry/nvml_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testkit/sim_fixture.h"

namespace gpulse::telemetry {
namespace {

using ::testing::HasSubstr;
using testkit::ScenarioFile;
using testkit::SimCounters;
using namespace std::chrono_literals;

constexpr uint64_t kMiB = 1024 * 1024;

NvmlSessionConfig SimConfig(const std::string& library = testkit::SimLibraryPath()) {
  NvmlSessionConfig config;
  config.library_path = library;
  config.initial_retry_delay = 1s;
  config.max_retry_delay = 8s;
  return config;
}

nlohmann::json DetailedScenario() {
  return {
      {"driver_version", "550.54.15"},
      {"gpus",
       {{{"model", "NVIDIA H100 80GB HBM3"},
         {"uuid", "GPU-00000000-1111-2222-3333-444444444444"},
         {"pci_bus_id", "00000000:18:00.0"},
         {"memory_total_mib", 81559},
         {"memory_used_mib", 1024},
         {"utilization_gpu", 80},
         {"utilization_memory", 30},
         {"temperature_c", 55},
         {"power_w", 300},
         {"power_limit_w", 700},
         {"clock_sm_mhz", 1980},
         {"clock_mem_mhz", 2619},
         {"encoder_percent", 10},
         {"decoder_percent", 20},
         {"fan_percent", 40},
         {"processes", {{{"pid", 4242}, {"used_memory_mib", 512}}, {{"pid", 4343}}}}},
        {{"model", "NVIDIA H100 80GB HBM3"}, {"utilization_gpu", 40}}}},
  };
}

TEST(NvmlSessionTest, InitialisesOnceAndListsGpus) {
  ScenarioFile scenario(DetailedScenario());
  SimCounters counters(testkit::SimLibraryPath());
  ASSERT_TRUE(counters.ok());
  const unsigned inits_before = counters.init_count();
  ManualClock clock;
  {
    NvmlSession session(SimConfig(), clock);
    EXPECT_EQ(session.generation(), 0u);
    EXPECT_FALSE(session.State().available);
    session.Maintain();
    NvmlState state = session.State();
    ASSERT_TRUE(state.available) << state.error.value_or("");
    EXPECT_EQ(state.driver_version, "550.54.15");
    EXPECT_FALSE(state.error.has_value());
    EXPECT_EQ(session.generation(), 1u);

    std::vector<GpuIdentity> inventory = session.Inventory();
    ASSERT_EQ(inventory.size(), 2u);
    EXPECT_EQ(inventory[0].index, 0u);
    EXPECT_EQ(inventory[0].uuid, "GPU-00000000-1111-2222-3333-444444444444");
    EXPECT_EQ(inventory[0].name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(inventory[0].pci_bus_id, "00000000:18:00.0");
    EXPECT_EQ(inventory[0].memory_total_bytes, 81559 * kMiB);
    EXPECT_EQ(inventory[1].index, 1u);
    EXPECT_THAT(inventory[1].uuid, HasSubstr("GPU-"));
    EXPECT_NE(inventory[1].uuid, inventory[0].uuid);

    for (int i = 0; i < 50; ++i) {
      session.Maintain();
      ASSERT_EQ(session.ReadGpus().gpus.size(), 2u);
      clock.Advance(1s);
    }
    EXPECT_EQ(counters.init_count() - inits_before, 1u);
    EXPECT_EQ(session.init_attempts(), 1u);
  }
  EXPECT_EQ(counters.shutdown_count(), counters.init_count());
}

TEST(NvmlSessionTest, ReadsEveryPerSampleField) {
  ScenarioFile scenario(DetailedScenario());
  ManualClock clock;
  NvmlSession session(SimConfig(), clock);
  session.Maintain();
  GpuReadout readout = session.ReadGpus();
  EXPECT_EQ(readout.generation, 1u);
  ASSERT_EQ(readout.gpus.size(), 2u);
  const GpuSample& g = readout.gpus[0];
  EXPECT_FALSE(g.error.has_value()) << *g.error;
  EXPECT_EQ(g.identity.uuid, "GPU-00000000-1111-2222-3333-444444444444");
  EXPECT_EQ(g.utilization_gpu, 80.0);
  EXPECT_EQ(g.utilization_memory, 30.0);
  EXPECT_EQ(g.identity.memory_total_bytes, 81559 * kMiB);
  ASSERT_TRUE(g.memory_used_bytes.has_value());
  EXPECT_EQ(*g.memory_used_bytes, 1024 * kMiB);
  ASSERT_TRUE(g.memory_free_bytes.has_value());
  EXPECT_LE(*g.memory_used_bytes + *g.memory_free_bytes, *g.identity.memory_total_bytes);
  EXPECT_EQ(g.temperature_c, 55.0);
  EXPECT_EQ(g.clock_sm_mhz, 1980u);
  EXPECT_EQ(g.clock_mem_mhz, 2619u);
  EXPECT_EQ(g.encoder_percent, 10.0);
  EXPECT_EQ(g.decoder_percent, 20.0);
  EXPECT_EQ(g.fan_percent, 40.0);
  // Power and PCIe belong to the slow poller.
  EXPECT_FALSE(g.power_w.has_value());
  EXPECT_FALSE(g.pcie_tx_kbps.has_value());
  ASSERT_TRUE(g.processes.has_value());
  ASSERT_EQ(g.processes->size(), 2u);
  EXPECT_EQ((*g.processes)[0].pid, 4242u);
  EXPECT_EQ((*g.processes)[0].used_memory_bytes, 512 * kMiB);
  EXPECT_EQ((*g.processes)[1].pid, 4343u);
  EXPECT_FALSE((*g.processes)[1].used_memory_bytes.has_value());
  EXPECT_EQ(readout.gpus[1].utilization_gpu, 40.0);

  PowerReading power = session.ReadPower(readout.generation, 0);
  EXPECT_EQ(power.power_w, 300.0);
  EXPECT_EQ(power.power_limit_w, 700.0);
  EXPECT_FALSE(session.ReadPower(readout.generation + 1, 0).power_w.has_value());
  EXPECT_FALSE(session.ReadPower(readout.generation, 9).power_w.has_value());
}

TEST(NvmlSessionTest, UnsupportedFieldIsAbsentNotAnError) {
  nlohmann::json s = testkit::UniformScenario(1, 50);
  s["gpus"][0]["errors"] = {{"nvmlDeviceGetFanSpeed", "NOT_SUPPORTED"},
                            {"nvmlDeviceGetTemperature", "NOT_SUPPORTED"},
                            {"nvmlDeviceGetComputeRunningProcesses", "NO_PERMISSION"},
                            {"nvmlDeviceGetUtilizationRates", "NOT_SUPPORTED"}};
  ScenarioFile scenario(s);
  ManualClock clock;
  NvmlSession session(SimConfig(), clock);
  session.Maintain();
  GpuReadout readout = session.ReadGpus();
  ASSERT_EQ(readout.gpus.size(), 1u);
  const GpuSample& g = readout.gpus[0];
  EXPECT_FALSE(g.error.has_value()) << *g.error;
  EXPECT_FALSE(g.fan_percent.has_value());
  EXPECT_FALSE(g.temperature_c.has_value());
  EXPECT_FALSE(g.processes.has_value());
  EXPECT_FALSE(g.utilization_gpu.has_value());
  EXPECT_TRUE(g.memory_used_bytes.has_value());
  EXPECT_TRUE(g.clock_sm_mhz.has_value());
}

TEST(NvmlSessionTest, FailingCoreQueryFlagsOnlyThatGpu) {
  nlohmann::json s = testkit::UniformScenario(2, 50);
  s["gpus"][1]["errors"] = {{"nvmlDeviceGetMemoryInfo", "UNKNOWN"}};
  ScenarioFile scenario(s);
  ManualClock clock;
  NvmlSession session(SimConfig(), clock);
  session.Maintain();
  GpuReadout readout = session.ReadGpus();
  ASSERT_EQ(readout.gpus.size(), 2u);
  EXPECT_FALSE(readout.gpus[0].error.has_value());
  ASSERT_TRUE(readout.gpus[1].error.has_value());
  EXPECT_THAT(*readout.gpus[1].error, HasSubstr("NVML_ERROR_UNKNOWN"));
  EXPECT_FALSE(readout.gpus[1].utilization_gpu.has_value());  // metrics cleared
  EXPECT_TRUE(session.State().available);
}

TEST(NvmlSessionTest, LegacyLibraryUsesFallbacks) {
  ScenarioFile scenario(DetailedScenario());
  ManualClock clock;
  NvmlSession session(SimConfig(testkit::LegacySimLibraryPath()), clock);
  session.Maintain();
  ASSERT_TRUE(session.State().available) << session.State().error.value_or("");
  GpuReadout readout = session.ReadGpus();
  ASSERT_EQ(readout.gpus.size(), 2u);
  const GpuSample& g = readout.gpus[0];
  EXPECT_FALSE(g.error.has_value());
  EXPECT_EQ(g.utilization_gpu, 80.0);
  EXPECT_EQ(g.temperature_c, 55.0);            // nvmlDeviceGetTemperature
  EXPECT_EQ(g.identity.memory_total_bytes, 81559 * kMiB);  // nvmlDeviceGetMemoryInfo (v1)
  EXPECT_TRUE(g.memory_used_bytes.has_value());
  EXPECT_FALSE(g.encoder_percent.has_value());
  EXPECT_FALSE(g.decoder_percent.has_value());
  EXPECT_FALSE(g.fan_percent.has_value());
  ASSERT_TRUE(g.processes.has_value());  // _v2
  EXPECT_EQ(g.processes->size(), 2u);
}

TEST(NvmlSessionTest, MissingLibraryIsReportedAndRetriedWithBackoff) {
  ManualClock clock;
  NvmlSession session(SimConfig("/nonexistent/libnvidia-ml.so.1"), clock);
  session.Maintain();
  NvmlState state = session.State();
  EXPECT_FALSE(state.available);
  ASSERT_TRUE(state.error.has_value());
  EXPECT_THAT(*state.error, HasSubstr("NVML library not found"));
  EXPECT_THAT(*state.error, HasSubstr("GPULSE_NVML_LIBRARY"));
  EXPECT_TRUE(session.ReadGpus().gpus.empty());
  EXPECT_EQ(session.init_attempts(), 1u);

  // Retries after 1 s, then 2 s, 4 s, 8 s, 8 s (the cap).
  const std::chrono::seconds delays[] = {1s, 2s, 4s, 8s, 8s};
  uint64_t attempts = 1;
  for (auto delay : delays) {
    clock.Advance(delay - 1ms);
    session.Maintain();
    EXPECT_EQ(session.init_attempts(), attempts) << delay.count();
    clock.Advance(1ms);
    session.Maintain();
    EXPECT_EQ(session.init_attempts(), ++attempts) << delay.count();
  }
}

TEST(NvmlSessionTest, DriverNotLoadedAtStartThenLoaded) {
  nlohmann::json s = testkit::UniformScenario(1, 50);
  s["init_error"] = "DRIVER_NOT_LOADED";
  ScenarioFile scenario(s);
  ManualClock clock;
  NvmlSession session(SimConfig(), clock);
  session.Maintain();
  NvmlState state = session.State();
  EXPECT_FALSE(state.available);
  ASSERT_TRUE(state.error.has_value());
  EXPECT_THAT(*state.error, HasSubstr("driver not loaded"));
  EXPECT_THAT(*state.error, HasSubstr("modprobe"));

  s.erase("init_error");
  scenario.Rewrite(s);
  session.Maintain();  // not due yet
  EXPECT_FALSE(session.State().available);
  clock.Advance(1s);
  session.Maintain();
  EXPECT_TRUE(session.State().available) << session.State().error.value_or("");
  EXPECT_EQ(session.ReadGpus().gpus.size(), 1u);
}

TEST(NvmlSessionTest, LostGpuIsFlaggedAndReinitialisedWithBackoff) {
  nlohmann::json s = testkit::UniformScenario(2, 50);
  ScenarioFile scenario(s);
  SimCounters counters(testkit::SimLibraryPath());
  ASSERT_TRUE(counters.ok());
  ManualClock clock;
  NvmlSession session(SimConfig(), clock);
  session.Maintain();
  const unsigned inits = counters.init_count();
  const std::string lost_uuid = session.Inventory()[1].uuid;

  s["gpus"][1]["lost"] = true;
  scenario.Rewrite(s);
  // Wait for the simulator's own file check (it polls for changes).
  GpuReadout readout;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  do {
    readout = session.ReadGpus();
  } while (!readout.gpus[1].error && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(readout.gpus.size(), 2u);
  EXPECT_FALSE(readout.gpus[0].error.has_value());
  EXPECT_EQ(readout.gpus[0].utilization_gpu, 50.0);
  ASSERT_TRUE(readout.gpus[1].error.has_value());
  EXPECT_THAT(*readout.gpus[1].error, HasSubstr("GPU is lost"));
  EXPECT_EQ(readout.gpus[1].identity.uuid, lost_uuid);
  EXPECT_FALSE(readout.gpus[1].utilization_gpu.has_value());

  // Backoff: 1 s, then 2 s, then 4 s while the GPU stays lost.
  uint64_t attempts = session.init_attempts();
  for (auto delay : {1s, 2s, 4s}) {
    clock.Advance(delay - 1ms);
    session.Maintain();
    session.ReadGpus();
    EXPECT_EQ(session.init_attempts(), attempts);
    clock.Advance(1ms);
    session.Maintain();
    EXPECT_EQ(session.init_attempts(), ++attempts);
    readout = session.ReadGpus();
    ASSERT_EQ(readout.gpus.size(), 2u);
    EXPECT_TRUE(readout.gpus[1].error.has_value());
    EXPECT_FALSE(readout.gpus[0].error.has_value());
  }
  EXPECT_EQ(counters.init_count(), inits + 3);

  // The GPU comes back: the next re-initialisation finds it healthy, and the
  // delay starts over.
  s["gpus"][1]["lost"] = false;
  scenario.Rewrite(s);
  clock.Advance(8s);
  session.Maintain();
  readout = session.ReadGpus();
  ASSERT_EQ(readout.gpus.size(), 2u);
  EXPECT_FALSE(readout.gpus[1].error.has_value()) << *readout.gpus[1].error;
  EXPECT_EQ(readout.gpus[1].identity.uuid, lost_uuid);
  EXPECT_EQ(session.generation(), 5u);
}

TEST(NvmlSessionTest, DriverFailureMidRunShutsDownAndRetries) {
  nlohmann::json s = testkit::UniformScenario(1, 50);
  ScenarioFile scenario(s);
  ManualClock clock;
  NvmlSession session(SimConfig(), clock);
  session.Maintain();
  ASSERT_TRUE(session.State().available);

  s["gpus"][0]["errors"] = {{"nvmlDeviceGetUtilizationRates", "DRIVER_NOT_LOADED"}};
  scenario.Rewrite(s);
  GpuReadout readout;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  do {
    readout = session.ReadGpus();
  } while (!readout.gpus[0].error && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(readout.gpus[0].error.has_value());
  EXPECT_THAT(*readout.gpus[0].error, HasSubstr("driver not loaded"));

  session.Maintain();  // shuts NVML down at once
  NvmlState state = session.State();
  EXPECT_FALSE(state.available);
  EXPECT_THAT(state.error.value_or(""), HasSubstr("driver not loaded"));
  EXPECT_TRUE(session.ReadGpus().gpus.empty());
  const uint64_t attempts = session.init_attempts();

  s["gpus"][0].erase("errors");
  scenario.Rewrite(s);
  clock.Advance(999ms);
  session.Maintain();
  EXPECT_EQ(session.init_attempts(), attempts);
  clock.Advance(1ms);
  session.Maintain();
  EXPECT_EQ(session.init_attempts(), attempts + 1);
  EXPECT_TRUE(session.State().available);
  readout = session.ReadGpus();
  ASSERT_EQ(readout.gpus.size(), 1u);
  EXPECT_FALSE(readout.gpus[0].error.has_value());
}

}  // namespace
}  // namespace gpulse::telemetry
