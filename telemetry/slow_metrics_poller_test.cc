#include "telemetry/slow_metrics_poller.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include "testkit/eventually.h"

#include "testkit/sim_fixture.h"

namespace gpulse::telemetry {
namespace {

using testkit::ScenarioFile;
using testkit::SimCounters;
using namespace std::chrono_literals;

nlohmann::json PowerAndPcieScenario(int gpus) {
  nlohmann::json s = testkit::UniformScenario(gpus, 50);
  for (auto& g : s["gpus"]) {
    g["power_w"] = 250.5;
    g["power_limit_w"] = 700;
    g["pcie_tx_kbps"] = 1200;
    g["pcie_rx_kbps"] = 3400;
  }
  return s;
}

class SlowMetricsPollerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NvmlSessionConfig config;
    config.library_path = testkit::SimLibraryPath();
    session_ = std::make_unique<NvmlSession>(config, clock_);
    session_->Maintain();
    ASSERT_TRUE(session_->State().available) << session_->State().error.value_or("");
  }

  GpuReadout Read() {
    GpuReadout readout = session_->ReadGpus();
    poller_->FillCached(readout.generation, &readout.gpus);
    return readout;
  }

  ScenarioFile scenario_{PowerAndPcieScenario(2)};
  ManualClock clock_;
  std::unique_ptr<NvmlSession> session_;
  std::unique_ptr<SlowMetricsPoller> poller_;
};

TEST_F(SlowMetricsPollerTest, FieldsAreAbsentUntilTheFirstReading) {
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, SlowMetricsConfig{}, clock_);
  GpuReadout readout = Read();
  ASSERT_EQ(readout.gpus.size(), 2u);
  EXPECT_FALSE(readout.gpus[0].power_w.has_value());
  EXPECT_FALSE(readout.gpus[0].pcie_tx_kbps.has_value());

  poller_->PollDue();
  readout = Read();
  for (const GpuSample& g : readout.gpus) {
    EXPECT_EQ(g.power_w, 250.5);
    EXPECT_EQ(g.power_limit_w, 700.0);
    EXPECT_EQ(g.pcie_tx_kbps, 1200u);
    EXPECT_EQ(g.pcie_rx_kbps, 3400u);
  }
}

TEST_F(SlowMetricsPollerTest, EachMetricFollowsItsOwnCadence) {
  SimCounters counters(testkit::SimLibraryPath());
  ASSERT_TRUE(counters.ok());
  SlowMetricsConfig config;
  config.power_interval = 1s;
  config.pcie_interval = 5s;
  config.health_interval = 10s;
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, config, clock_);

  const Clock::TimePoint start = clock_.Now();
  unsigned long long queries = counters.query_count();
  EXPECT_EQ(poller_->PollDue(), start + 1s);
  // Everything: power usage + limit, PCIe tx + rx, the four health reads
  // (energy, ECC, remapped rows, clock event reasons) and two GPM calls
  // (here: support + first sample; later: sample + metrics), for two GPUs.
  EXPECT_EQ(counters.query_count() - queries, 20u);

  queries = counters.query_count();
  clock_.Advance(500ms);
  EXPECT_EQ(poller_->PollDue(), start + 1s);
  EXPECT_EQ(counters.query_count(), queries);  // nothing due

  clock_.Advance(500ms);
  EXPECT_EQ(poller_->PollDue(), start + 2s);
  EXPECT_EQ(counters.query_count() - queries, 4u);  // power only

  queries = counters.query_count();
  clock_.Advance(4s);  // t = 5 s: power and PCIe due
  EXPECT_EQ(poller_->PollDue(), start + 6s);
  EXPECT_EQ(counters.query_count() - queries, 8u);

  queries = counters.query_count();
  clock_.Advance(5s);  // t = 10 s: all three due
  EXPECT_EQ(poller_->PollDue(), start + 11s);
  EXPECT_EQ(counters.query_count() - queries, 20u);
}

TEST_F(SlowMetricsPollerTest, ValuesFromAnotherGenerationAreNotUsed) {
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, SlowMetricsConfig{}, clock_);
  poller_->PollDue();
  GpuReadout readout = session_->ReadGpus();
  poller_->FillCached(readout.generation + 1, &readout.gpus);
  EXPECT_FALSE(readout.gpus[0].power_w.has_value());
}

TEST_F(SlowMetricsPollerTest, UnreadableGpuGetsNoCachedValues) {
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, SlowMetricsConfig{}, clock_);
  poller_->PollDue();
  GpuReadout readout = session_->ReadGpus();
  readout.gpus[1].error = "GPU is lost";
  poller_->FillCached(readout.generation, &readout.gpus);
  EXPECT_TRUE(readout.gpus[0].power_w.has_value());
  EXPECT_FALSE(readout.gpus[1].power_w.has_value());
}

TEST_F(SlowMetricsPollerTest, ThreadDeliversFirstReadingsAndStopsPromptly) {
  SlowMetricsConfig config;
  config.power_interval = 1h;
  config.pcie_interval = 1h;
  SystemClock& clock = SystemClock::Instance();
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, config, clock);
  poller_->Start();
  ASSERT_TRUE(poller_->WaitForFirstReadings(10s));
  EXPECT_TRUE(Read().gpus[1].pcie_rx_kbps.has_value());
  const auto before = std::chrono::steady_clock::now();
  poller_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
}

TEST_F(SlowMetricsPollerTest, WakeMakesEverythingDue) {
  SimCounters counters(testkit::SimLibraryPath());
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, SlowMetricsConfig{}, clock_);
  poller_->PollDue();
  const unsigned long long queries = counters.query_count();
  poller_->Wake();
  poller_->PollDue();
  EXPECT_EQ(counters.query_count() - queries, 20u);  // power, PCIe, health and GPM for two GPUs
}

// ---- GPM ----

// GPU 0: a Hopper with known GPM figures; GPU 1: an A100 (no GPM).
nlohmann::json GpmScenario() {
  return nlohmann::json::parse(R"({"gpus": [
    {"model": "NVIDIA H100 80GB HBM3",
     "gpm": {"graphics_util": 62, "sm_util": 48, "sm_occupancy": 27, "tensor_util": 33}},
    {"model": "NVIDIA A100-SXM4-80GB"}]})");
}

TEST_F(SlowMetricsPollerTest, GpmMetricsAppearFromTheSecondHealthPassAsRatios) {
  scenario_.Rewrite(GpmScenario());
  session_ = std::make_unique<NvmlSession>(NvmlSessionConfig{testkit::SimLibraryPath()}, clock_);
  session_->Maintain();
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, SlowMetricsConfig{}, clock_);
  poller_->PollDue();  // the first GPM sample: nothing to compare with yet
  GpuReadout readout = Read();
  ASSERT_EQ(readout.gpus.size(), 2u);
  EXPECT_FALSE(readout.gpus[0].sm_active.has_value());
  EXPECT_TRUE(readout.gpus[0].energy_mj.has_value());  // the other health figures are there at once

  clock_.Advance(5s);
  poller_->PollDue();
  readout = Read();
  const GpuSample& hopper = readout.gpus[0];
  EXPECT_DOUBLE_EQ(hopper.gr_engine_active.value_or(-1), 0.62);
  EXPECT_DOUBLE_EQ(hopper.sm_active.value_or(-1), 0.48);
  EXPECT_DOUBLE_EQ(hopper.sm_occupancy.value_or(-1), 0.27);
  EXPECT_DOUBLE_EQ(hopper.pipe_tensor_active.value_or(-1), 0.33);
  const GpuSample& ampere = readout.gpus[1];
  EXPECT_FALSE(ampere.gr_engine_active.has_value());
  EXPECT_FALSE(ampere.sm_active.has_value());
  EXPECT_FALSE(ampere.sm_occupancy.has_value());
  EXPECT_FALSE(ampere.pipe_tensor_active.has_value());
  EXPECT_TRUE(ampere.energy_mj.has_value());
}

TEST_F(SlowMetricsPollerTest, GpuWithoutGpmIsNotAskedAgain) {
  scenario_.Rewrite(GpmScenario());
  session_ = std::make_unique<NvmlSession>(NvmlSessionConfig{testkit::SimLibraryPath()}, clock_);
  session_->Maintain();
  SimCounters counters(testkit::SimLibraryPath());
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, SlowMetricsConfig{}, clock_);
  poller_->PollDue();
  clock_.Advance(5s);
  poller_->PollDue();
  const unsigned long long queries = counters.query_count();
  clock_.Advance(5s);
  poller_->PollDue();
  // Power (2), PCIe (2) and health (4) for each GPU; GPM (sample + metrics)
  // for the Hopper only: the A100 said no once and is left alone.
  EXPECT_EQ(counters.query_count() - queries, 8u + 8u + 2u);
}

TEST_F(SlowMetricsPollerTest, FailingGpmReadsLeaveTheMetricsAbsent) {
  nlohmann::json scenario = GpmScenario();
  scenario["gpus"][0]["errors"] = {{"nvmlGpmMetricsGet", "UNKNOWN"}};
  scenario_.Rewrite(scenario);
  session_ = std::make_unique<NvmlSession>(NvmlSessionConfig{testkit::SimLibraryPath()}, clock_);
  session_->Maintain();
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, SlowMetricsConfig{}, clock_);
  for (int pass = 0; pass < 3; ++pass) {
    poller_->PollDue();
    clock_.Advance(5s);
  }
  EXPECT_FALSE(Read().gpus[0].sm_active.has_value());

  // Not disabled for good: once NVML answers again, the metrics come back.
  scenario_.Rewrite(GpmScenario());
  EXPECT_TRUE(testkit::Eventually([&] {
    poller_->PollDue();
    clock_.Advance(5s);
    return Read().gpus[0].sm_active.has_value();
  }));
}

TEST_F(SlowMetricsPollerTest, LegacyLibraryWithoutGpmLeavesTheMetricsAbsent) {
  session_ = std::make_unique<NvmlSession>(NvmlSessionConfig{testkit::LegacySimLibraryPath()}, clock_);
  session_->Maintain();
  ASSERT_TRUE(session_->State().available);
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, SlowMetricsConfig{}, clock_);
  poller_->PollDue();
  clock_.Advance(5s);
  poller_->PollDue();
  GpuReadout readout = Read();
  ASSERT_FALSE(readout.gpus.empty());
  EXPECT_TRUE(readout.gpus[0].power_w.has_value());
  EXPECT_FALSE(readout.gpus[0].sm_active.has_value());
  EXPECT_FALSE(readout.gpus[0].gr_engine_active.has_value());
}

TEST_F(SlowMetricsPollerTest, SessionFreesItsGpmSamplesWhenNvmlGoesAway) {
  void* lib = dlopen(testkit::SimLibraryPath().c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr);
  auto live = reinterpret_cast<long long (*)()>(dlsym(lib, "gpulseSimGpmSamplesLive"));
  ASSERT_NE(live, nullptr);
  const long long before = live();
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, SlowMetricsConfig{}, clock_);
  poller_->PollDue();
  EXPECT_EQ(live() - before, 4);  // two buffers for each of the two Hoppers
  poller_.reset();
  session_.reset();
  EXPECT_EQ(live(), before);
  dlclose(lib);
}

}  // namespace
}  // namespace gpulse::telemetry
