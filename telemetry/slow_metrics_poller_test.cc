#include "telemetry/slow_metrics_poller.h"

#include <gtest/gtest.h>

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
  // Everything: power usage + limit, PCIe tx + rx, and the four health
  // reads (energy, ECC, remapped rows, clock event reasons), for two GPUs.
  EXPECT_EQ(counters.query_count() - queries, 16u);

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
  EXPECT_EQ(counters.query_count() - queries, 16u);
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
  EXPECT_EQ(counters.query_count() - queries, 16u);  // power, PCIe and health for two GPUs
}

}  // namespace
}  // namespace gpulse::telemetry
