#include "master/core/history.h"

#include <cmath>
#include <thread>

#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

WallTime At(int64_t s) { return WallTime(seconds(1'800'000'000 + s)); }

GpuSample Gpu(uint32_t index, std::optional<double> util) {
  GpuSample g;
  g.identity = {index, "GPU-" + std::to_string(index), "NVIDIA H100 80GB HBM3", "", uint64_t{80} << 30};
  g.utilization_gpu = util;
  g.memory_used_bytes = uint64_t{1} << 30;
  g.temperature_c = 50;
  g.power_w = 300.5;
  return g;
}

HostSample Host(std::optional<double> cpu) {
  HostSample h;
  h.cpu_percent = cpu;
  h.memory_percent = 40;
  return h;
}

// One look at a host, as a heartbeat carries it.
Sample Look(const HostSample& host, std::optional<double> gpu_percent, std::vector<GpuSample> gpus) {
  Sample s;
  s.host = host;
  s.gpu_percent = gpu_percent;
  s.gpus = std::move(gpus);
  return s;
}

// The identities of GPUs 0..n-1, as a registration lists them.
std::vector<GpuIdentity> Gpus(uint32_t n) {
  std::vector<GpuIdentity> out;
  for (uint32_t i = 0; i < n; ++i) out.push_back(Gpu(i, std::nullopt).identity);
  return out;
}

TEST(HistoryTest, CapacityCoversTheWindowAtTheWorkersInterval) {
  History h(HistoryConfig{seconds(3600), 36000, milliseconds(5000)});
  EXPECT_EQ(h.CapacityFor(milliseconds(5000)), 720u);
  EXPECT_EQ(h.CapacityFor(milliseconds(1000)), 3600u);
  EXPECT_EQ(h.CapacityFor(milliseconds(0)), 720u);     // the default interval
  EXPECT_EQ(h.CapacityFor(milliseconds(7000)), 515u);  // rounded up
  EXPECT_EQ(h.CapacityFor(milliseconds(10)), 36000u);  // capped
}

TEST(HistoryTest, UnknownWorkerHasNoHistory) {
  History h;
  EXPECT_FALSE(h.Get("nobody").has_value());
}

TEST(HistoryTest, RingWrapsAndKeepsTheNewestPointsInOrder) {
  History h(HistoryConfig{seconds(5), 100, milliseconds(1000)});
  ASSERT_EQ(h.CapacityFor(milliseconds(1000)), 5u);
  h.Register("w", milliseconds(1000), Gpus(1));
  for (int i = 0; i < 12; ++i) {
    h.Record("w", Look(Host(i), i * 1.0, {Gpu(0, i * 10.0)}), At(i));
  }
  auto got = h.Get("w");
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->t_ms.size(), 5u);
  for (int k = 0; k < 5; ++k) {
    int i = 7 + k;
    EXPECT_EQ(got->t_ms[k], (1'800'000'000LL + i) * 1000);
    EXPECT_FLOAT_EQ(got->cpu_percent[k], static_cast<float>(i));
    ASSERT_EQ(got->gpus.size(), 1u);
    EXPECT_FLOAT_EQ(got->gpus[0].utilization_gpu[k], static_cast<float>(i * 10));
  }
  EXPECT_EQ(got->interval, milliseconds(1000));
}

TEST(HistoryTest, UnknownValuesStayUnknownAndAreServedAsNull) {
  History h;
  GpuSample lost = Gpu(1, 50.0);
  lost.error = "GPU is lost";
  GpuSample no_temp = Gpu(0, std::nullopt);
  no_temp.temperature_c.reset();
  h.Register("w", milliseconds(1000), Gpus(2));
  h.Record("w", Look(Host(std::nullopt), std::nullopt, {no_temp, lost}), At(0));
  auto got = h.Get("w");
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(std::isnan(got->cpu_percent[0]));
  EXPECT_FLOAT_EQ(got->memory_percent[0], 40.0f);
  ASSERT_EQ(got->gpus.size(), 2u);
  EXPECT_TRUE(std::isnan(got->gpus[0].utilization_gpu[0]));
  EXPECT_TRUE(std::isnan(got->gpus[0].temperature_c[0]));
  EXPECT_FLOAT_EQ(got->gpus[0].power_w[0], 300.5f);
  // An unreadable GPU has no figures at all, whatever its sample carried.
  EXPECT_TRUE(std::isnan(got->gpus[1].utilization_gpu[0]));
  EXPECT_TRUE(std::isnan(got->gpus[1].memory_used_bytes[0]));

  nlohmann::json j = HistoryToJson("w", *got, seconds(3600));
  EXPECT_TRUE(j["host"]["cpu_percent"][0].is_null());
  EXPECT_EQ(j["host"]["memory_percent"][0], 40.0);
  EXPECT_TRUE(j["host"]["gpu_percent"][0].is_null());
  EXPECT_TRUE(j["gpus"][0]["utilization_gpu"][0].is_null());
  EXPECT_TRUE(j["gpus"][0]["temperature_c"][0].is_null());
  EXPECT_EQ(j["gpus"][0]["power_w"][0], 300.5);
  EXPECT_EQ(j["gpus"][0]["memory_used_bytes"][0], uint64_t{1} << 30);
  EXPECT_EQ(j["gpus"][0]["memory_total_bytes"], uint64_t{80} << 30);
  EXPECT_TRUE(j["gpus"][1]["memory_used_bytes"][0].is_null());
  EXPECT_EQ(j["gpus"][1]["uuid"], "GPU-1");
  EXPECT_EQ(j["t"][0], 1'800'000'000.0);
  EXPECT_EQ(j["interval_seconds"], 1.0);
  EXPECT_EQ(j["window_seconds"], 3600);
  EXPECT_EQ(j["worker"], "w");
}

TEST(HistoryTest, SinceReturnsOnlyLaterPoints) {
  History h;
  h.Register("w", milliseconds(1000), {});
  for (int i = 0; i < 10; ++i) h.Record("w", Look(Host(i), std::nullopt, {}), At(i));
  auto got = h.Get("w", At(6));
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->t_ms.size(), 3u);  // strictly after: 7, 8, 9
  EXPECT_FLOAT_EQ(got->cpu_percent[0], 7.0f);
  EXPECT_EQ(h.Get("w", At(9))->t_ms.size(), 0u);
  EXPECT_EQ(h.Get("w", At(-100))->t_ms.size(), 10u);
}

TEST(HistoryTest, GpuMissingFromAHeartbeatGetsAGapAndANewGpuStartsWithGaps) {
  History h;
  h.Register("w", milliseconds(1000), Gpus(1));
  h.Record("w", Look(Host(1), std::nullopt, {Gpu(0, 10.0)}), At(0));
  h.Register("w", milliseconds(1000), Gpus(2));  // it registers a second GPU
  h.Record("w", Look(Host(1), std::nullopt, {Gpu(0, 20.0), Gpu(1, 30.0)}), At(1));
  h.Record("w", Look(Host(1), std::nullopt, {Gpu(1, 40.0)}), At(2));
  auto got = h.Get("w");
  ASSERT_EQ(got->gpus.size(), 2u);
  EXPECT_EQ(got->gpus[0].identity.index, 0u);
  EXPECT_FLOAT_EQ(got->gpus[0].utilization_gpu[0], 10.0f);
  EXPECT_FLOAT_EQ(got->gpus[0].utilization_gpu[1], 20.0f);
  EXPECT_TRUE(std::isnan(got->gpus[0].utilization_gpu[2]));
  EXPECT_TRUE(std::isnan(got->gpus[1].utilization_gpu[0]));
  EXPECT_FLOAT_EQ(got->gpus[1].utilization_gpu[2], 40.0f);
}

TEST(HistoryTest, OnlyRegisteredWorkersAndGpusGetRings) {
  History h(HistoryConfig{seconds(3600), 36000, milliseconds(1000)});
  // A worker that never registered allocates nothing, whatever it reports.
  h.Record("stranger", Look(Host(1), std::nullopt, {Gpu(0, 10.0)}), At(0));
  EXPECT_FALSE(h.Get("stranger").has_value());
  EXPECT_EQ(h.BytesHeld(), 0u);

  h.Register("w", milliseconds(1000), Gpus(2));
  const size_t registered = h.BytesHeld();
  EXPECT_GT(registered, 0u);
  // Thousands of GPU indices in a heartbeat: ignored, nothing allocated.
  std::vector<GpuSample> many;
  for (uint32_t i = 0; i < 5000; ++i) many.push_back(Gpu(i, 50.0));
  for (int i = 0; i < 3; ++i) h.Record("w", Look(Host(1), std::nullopt, many), At(i));
  EXPECT_EQ(h.BytesHeld(), registered);
  auto got = h.Get("w");
  ASSERT_EQ(got->gpus.size(), 2u);
  EXPECT_FLOAT_EQ(got->gpus[1].utilization_gpu[2], 50.0f);

  // Registering again with fewer GPUs frees the others' rings; forgetting
  // the worker frees everything.
  h.Register("w", milliseconds(1000), Gpus(1));
  EXPECT_LT(h.BytesHeld(), registered);
  EXPECT_EQ(h.Get("w")->gpus.size(), 1u);
  h.Forget("w");
  EXPECT_EQ(h.BytesHeld(), 0u);
  EXPECT_FALSE(h.Get("w").has_value());
  h.Record("w", Look(Host(1), std::nullopt, {Gpu(0, 10.0)}), At(9));
  EXPECT_FALSE(h.Get("w").has_value());
}

TEST(HistoryTest, ANewIntervalResizesAndKeepsTheNewestPoints) {
  History h(HistoryConfig{seconds(10), 1000, milliseconds(1000)});
  h.Register("w", milliseconds(1000), Gpus(1));
  for (int i = 0; i < 10; ++i) h.Record("w", Look(Host(i), std::nullopt, {Gpu(0, i)}), At(i));
  // The worker re-registers with a 5 s interval: 2 points cover the window.
  h.Register("w", milliseconds(5000), Gpus(1));
  h.Record("w", Look(Host(99), std::nullopt, {Gpu(0, 99.0)}), At(15));
  auto got = h.Get("w");
  ASSERT_EQ(got->t_ms.size(), 2u);
  EXPECT_FLOAT_EQ(got->cpu_percent[0], 9.0f);
  EXPECT_FLOAT_EQ(got->cpu_percent[1], 99.0f);
  EXPECT_FLOAT_EQ(got->gpus[0].utilization_gpu[1], 99.0f);
  EXPECT_EQ(got->interval, milliseconds(5000));
}

TEST(HistoryTest, ConcurrentRecordsAndReadsOfManyWorkersAreConsistent) {
  History h(HistoryConfig{seconds(100), 1000, milliseconds(1000)});
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&h, w] {
      std::string id = "w" + std::to_string(w);
      h.Register(id, milliseconds(1000), Gpus(2));
      for (int i = 0; i < 500; ++i) {
        h.Record(id, Look(Host(i), std::nullopt, {Gpu(0, i), Gpu(1, i)}), At(i));
        if (i % 50 == 0) (void)h.Get(id);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int w = 0; w < 4; ++w) {
    auto got = h.Get("w" + std::to_string(w));
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->t_ms.size(), 100u);
    EXPECT_FLOAT_EQ(got->cpu_percent.back(), 499.0f);
    EXPECT_FLOAT_EQ(got->gpus[1].utilization_gpu.front(), 400.0f);
  }
}

}  // namespace
}  // namespace gpulse::master
