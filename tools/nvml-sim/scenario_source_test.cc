#include "tools/nvml-sim/scenario_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "testkit/temp_dir.h"

namespace gpulse::nvml_sim {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr int64_t kInterval = 50'000'000;
constexpr int64_t kStart = 1'000'000'000'000;

std::string Utilization(int percent) {
  return R"({"gpus": [{"utilization_gpu": )" + std::to_string(percent) + "}]}";
}

double CurrentUtilization(const ScenarioSource& source) { return source.Current()->gpus.at(0).utilization_gpu.At(0); }

class ScenarioSourceTest : public ::testing::Test {
 protected:

  ScenarioSourceConfig Config(const std::string& path) {
    ScenarioSourceConfig config;
    config.path = path;
    config.parse.fallback_seed = "test";
    config.check_interval_ns = kInterval;
    config.warn = [this](const std::string& w) { warnings_.push_back(w); };
    return config;
  }

  testkit::TempDir dir_{"nvml-sim-test"};
  std::vector<std::string> warnings_;
};

TEST_F(ScenarioSourceTest, NothingIsCurrentBeforeOpen) {
  ScenarioSource source;
  EXPECT_EQ(source.Current(), nullptr);
  source.MaybeReload(kStart);  // harmless
}

TEST_F(ScenarioSourceTest, EmptyPathMeansTheDefaultScenario) {
  ScenarioSource source;
  ASSERT_TRUE(source.Open(Config(""), kStart).ok());
  EXPECT_THAT(source.Current()->gpus, SizeIs(2));
}

TEST_F(ScenarioSourceTest, OpenReportsMissingAndMalformedFiles) {
  ScenarioSource source;
  Status missing = source.Open(Config(dir_.File("absent.json")), kStart);
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.message(), HasSubstr("absent.json"));

  std::string bad = dir_.Write("bad.json", R"({"gpus": [{"power_w": -1}]})");
  Status malformed = source.Open(Config(bad), kStart);
  EXPECT_THAT(malformed.message(), HasSubstr("bad.json"));
  EXPECT_THAT(malformed.message(), HasSubstr("gpus[0].power_w"));
  EXPECT_EQ(source.Current(), nullptr);
}

TEST_F(ScenarioSourceTest, FailedOpenKeepsThePreviousScenario) {
  ScenarioSource source;
  std::string good = dir_.Write("good.json", Utilization(33));
  ASSERT_TRUE(source.Open(Config(good), kStart).ok());
  EXPECT_FALSE(source.Open(Config(dir_.File("absent.json")), kStart).ok());
  EXPECT_DOUBLE_EQ(CurrentUtilization(source), 33);
  // Reloads still follow the file that was successfully opened.
  dir_.Write("good.json", Utilization(44));
  source.MaybeReload(kStart + kInterval);
  EXPECT_DOUBLE_EQ(CurrentUtilization(source), 44);
}

TEST_F(ScenarioSourceTest, ReloadsAChangedFileOnlyWhenACheckIsDue) {
  ScenarioSource source;
  std::string path = dir_.Write("s.json", Utilization(10));
  ASSERT_TRUE(source.Open(Config(path), kStart).ok());
  dir_.Write("s.json", Utilization(77));

  source.MaybeReload(kStart + kInterval - 1);
  EXPECT_DOUBLE_EQ(CurrentUtilization(source), 10);
  EXPECT_EQ(source.reload_count(), 0u);

  source.MaybeReload(kStart + kInterval);
  EXPECT_DOUBLE_EQ(CurrentUtilization(source), 77);
  EXPECT_EQ(source.reload_count(), 1u);

  // An unchanged file is not re-read.
  source.MaybeReload(kStart + 5 * kInterval);
  EXPECT_EQ(source.reload_count(), 1u);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(ScenarioSourceTest, HeldSnapshotSurvivesAReload) {
  ScenarioSource source;
  std::string path = dir_.Write("s.json", Utilization(10));
  ASSERT_TRUE(source.Open(Config(path), kStart).ok());
  std::shared_ptr<const Scenario> held = source.Current();
  dir_.Write("s.json", Utilization(20));
  source.MaybeReload(kStart + kInterval);
  EXPECT_DOUBLE_EQ(held->gpus[0].utilization_gpu.At(0), 10);
  EXPECT_DOUBLE_EQ(CurrentUtilization(source), 20);
}

TEST_F(ScenarioSourceTest, MalformedRewriteKeepsLastGoodScenarioAndWarnsOnce) {
  ScenarioSource source;
  std::string path = dir_.Write("s.json", Utilization(10));
  ASSERT_TRUE(source.Open(Config(path), kStart).ok());

  dir_.Write("s.json", R"({"gpus": [)");
  source.MaybeReload(kStart + kInterval);
  source.MaybeReload(kStart + 2 * kInterval);
  source.MaybeReload(kStart + 3 * kInterval);
  EXPECT_DOUBLE_EQ(CurrentUtilization(source), 10);
  EXPECT_EQ(source.rejected_count(), 1u);
  ASSERT_THAT(warnings_, SizeIs(1));
  EXPECT_THAT(warnings_[0], HasSubstr("s.json"));
  EXPECT_THAT(warnings_[0], HasSubstr("keeping the previous scenario"));

  dir_.Write("s.json", Utilization(55));
  source.MaybeReload(kStart + 4 * kInterval);
  EXPECT_DOUBLE_EQ(CurrentUtilization(source), 55);
  EXPECT_EQ(source.reload_count(), 1u);
}

TEST_F(ScenarioSourceTest, DeletedFileKeepsScenarioAndWarnsOnce) {
  ScenarioSource source;
  std::string path = dir_.Write("s.json", Utilization(10));
  ASSERT_TRUE(source.Open(Config(path), kStart).ok());
  ASSERT_EQ(std::remove(path.c_str()), 0);
  source.MaybeReload(kStart + kInterval);
  source.MaybeReload(kStart + 2 * kInterval);
  EXPECT_DOUBLE_EQ(CurrentUtilization(source), 10);
  ASSERT_THAT(warnings_, SizeIs(1));
  EXPECT_THAT(warnings_[0], HasSubstr("s.json"));

  dir_.Write("s.json", Utilization(66));
  source.MaybeReload(kStart + 3 * kInterval);
  EXPECT_DOUBLE_EQ(CurrentUtilization(source), 66);
}

TEST_F(ScenarioSourceTest, DefaultScenarioIsNeverReloaded) {
  ScenarioSource source;
  ASSERT_TRUE(source.Open(Config(""), kStart).ok());
  const Scenario* before = source.Current().get();
  source.MaybeReload(kStart + 100 * kInterval);
  EXPECT_EQ(source.Current().get(), before);
}

}  // namespace
}  // namespace gpulse::nvml_sim
