#include "telemetry/nvml_event_watcher.h"

#include <gtest/gtest.h>

#include "testkit/eventually.h"
#include "testkit/sim_fixture.h"

namespace gpulse::telemetry {
namespace {

using testkit::Eventually;
using testkit::ScenarioFile;
using namespace std::chrono_literals;

class NvmlEventWatcherTest : public ::testing::Test {
 protected:
  void Open(const std::string& library = testkit::SimLibraryPath()) {
    NvmlSessionConfig config;
    config.library_path = library;
    session_ = std::make_unique<NvmlSession>(config, SystemClock::Instance());
    session_->Maintain();
    ASSERT_TRUE(session_->State().available) << session_->State().error.value_or("");
    watcher_ = std::make_unique<NvmlEventWatcher>(*session_, NvmlEventWatcherConfig{50ms});
  }

  std::vector<GpuSample> Filled() {
    GpuReadout readout = session_->ReadGpus();
    watcher_->Fill(&readout.gpus);
    return readout.gpus;
  }

  // Polls until GPU `index` has seen `xids` XIDs in all, or 5 s pass.
  bool PollUntilXids(size_t index, uint64_t xids) {
    return Eventually([&] {
      watcher_->PollOnce();
      std::vector<GpuSample> gpus = Filled();
      if (index >= gpus.size() || !gpus[index].events) return false;
      uint64_t total = 0;
      for (const auto& [xid, count] : gpus[index].events->xid_counts) total += count;
      return total >= xids;
    });
  }

  std::unique_ptr<NvmlSession> session_;
  std::unique_ptr<NvmlEventWatcher> watcher_;
};

TEST_F(NvmlEventWatcherTest, ScenarioXidIsCountedOnceOnItsGpu) {
  nlohmann::json s = testkit::UniformScenario(2, 10);
  s["gpus"][1]["xids"] = {79};
  ScenarioFile scenario(s);
  Open();
  ASSERT_TRUE(PollUntilXids(1, 1));
  for (int i = 0; i < 5; ++i) watcher_->PollOnce();  // delivered once: nothing more comes
  std::vector<GpuSample> gpus = Filled();
  ASSERT_TRUE(gpus[1].events.has_value());
  EXPECT_EQ(gpus[1].events->last_xid, std::optional<uint32_t>(79));
  EXPECT_EQ(gpus[1].events->xid_counts, (std::map<uint32_t, uint64_t>{{79, 1}}));
  EXPECT_EQ(gpus[1].events->dbe_events, 0u);
  // GPU 0 is watched and has seen nothing: present, empty.
  ASSERT_TRUE(gpus[0].events.has_value());
  EXPECT_FALSE(gpus[0].events->last_xid.has_value());
  EXPECT_TRUE(gpus[0].events->xid_counts.empty());
}

TEST_F(NvmlEventWatcherTest, XidsAndDoubleBitErrorsAddedLaterAreCounted) {
  nlohmann::json s = testkit::UniformScenario(1, 10);
  ScenarioFile scenario(s);
  Open();
  EXPECT_EQ(watcher_->PollOnce(), NvmlEventWait::Outcome::kTimeout);
  s["gpus"][0]["xids"] = {13, 79};
  s["gpus"][0]["ecc_uncorrected_volatile"] = 1;
  scenario.Rewrite(s);
  ASSERT_TRUE(PollUntilXids(0, 2));
  EXPECT_TRUE(Eventually([&] {
    watcher_->PollOnce();
    return Filled()[0].events->dbe_events == 1;
  }));
  std::vector<GpuSample> gpus = Filled();
  EXPECT_EQ(gpus[0].events->last_xid, std::optional<uint32_t>(79));
  EXPECT_EQ(gpus[0].events->xid_counts, (std::map<uint32_t, uint64_t>{{13, 1}, {79, 1}}));
}

TEST_F(NvmlEventWatcherTest, GpuThatCannotRegisterHasNoEvents) {
  nlohmann::json s = testkit::UniformScenario(2, 10);
  s["gpus"][1]["errors"] = {{"nvmlDeviceRegisterEvents", "NOT_SUPPORTED"}};
  s["gpus"][1]["xids"] = {79};
  ScenarioFile scenario(s);
  Open();
  watcher_->PollOnce();
  std::vector<GpuSample> gpus = Filled();
  EXPECT_TRUE(gpus[0].events.has_value());
  EXPECT_FALSE(gpus[1].events.has_value());  // absent, not zero
}

TEST_F(NvmlEventWatcherTest, LegacyDriverWithoutEventFunctionsIsUnsupported) {
  ScenarioFile scenario(testkit::UniformScenario(1, 10));
  Open(testkit::LegacySimLibraryPath());
  EXPECT_EQ(watcher_->PollOnce(), NvmlEventWait::Outcome::kUnsupported);
  EXPECT_FALSE(Filled()[0].events.has_value());
}

TEST_F(NvmlEventWatcherTest, ThreadRecordsEventsAndStopsPromptly) {
  nlohmann::json s = testkit::UniformScenario(1, 10);
  ScenarioFile scenario(s);
  Open();
  NvmlEventWatcher watcher(*session_, NvmlEventWatcherConfig{200ms});
  watcher.Start();
  s["gpus"][0]["xids"] = {48};
  scenario.Rewrite(s);
  EXPECT_TRUE(Eventually([&] {
    GpuReadout readout = session_->ReadGpus();
    watcher.Fill(&readout.gpus);
    return readout.gpus[0].events && readout.gpus[0].events->last_xid == 48u;
  }));
  const auto before = std::chrono::steady_clock::now();
  watcher.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
}

TEST_F(NvmlEventWatcherTest, ThreadWithoutEventSupportStopsPromptly) {
  ScenarioFile scenario(testkit::UniformScenario(1, 10));
  Open(testkit::LegacySimLibraryPath());
  NvmlEventWatcher watcher(*session_, NvmlEventWatcherConfig{200ms});
  watcher.Start();
  std::this_thread::yield();
  const auto before = std::chrono::steady_clock::now();
  watcher.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
}

}  // namespace
}  // namespace gpulse::telemetry
