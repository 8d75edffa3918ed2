#include "telemetry/proc_stats.h"

#include <gtest/gtest.h>

#include <string>

namespace gpulse::telemetry {
namespace {

const std::string kFixtureRoot = std::string(GPULSE_TEST_SOURCE_DIR) + "/telemetry/testdata/proc";

TEST(ProcStatTest, ParsesAggregateLineAndCountsCores) {
  Result<CpuTimes> times = ParseProcStat(
      "cpu  100 10 50 800 40 5 5 0 7 0\n"
      "cpu0 50 5 25 400 20 2 3 0 0 0\n"
      "cpu1 50 5 25 400 20 3 2 0 0 0\n"
      "intr 1 2 3\n");
  ASSERT_TRUE(times.ok()) << times.status().ToString();
  // user+nice+system+idle+iowait+irq+softirq+steal; guest is already in user.
  EXPECT_EQ(times->total, 100u + 10 + 50 + 800 + 40 + 5 + 5 + 0);
  EXPECT_EQ(times->idle, 800u + 40);
  EXPECT_EQ(times->cores, 2u);
}

TEST(ProcStatTest, AcceptsOldKernelsWithFourColumns) {
  Result<CpuTimes> times = ParseProcStat("cpu 1 2 3 4\ncpu0 1 2 3 4\n");
  ASSERT_TRUE(times.ok());
  EXPECT_EQ(times->total, 10u);
  EXPECT_EQ(times->idle, 4u);
}

TEST(ProcStatTest, RejectsMissingOrMalformedCpuLine) {
  EXPECT_EQ(ParseProcStat("intr 1 2\n").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProcStat("cpu  1 2 x 4\n").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProcStat("").status().code(), StatusCode::kInvalidArgument);
}

TEST(ProcStatTest, CpuPercentIsBusyShareOfTheDelta) {
  CpuTimes before{1000, 800, 4};
  CpuTimes after{1200, 850, 4};  // 200 jiffies, 50 idle -> 75 % busy
  ASSERT_TRUE(CpuPercentBetween(before, after).has_value());
  EXPECT_DOUBLE_EQ(*CpuPercentBetween(before, after), 75.0);
}

TEST(ProcStatTest, CpuPercentIsAbsentWithoutElapsedJiffies) {
  CpuTimes same{1000, 800, 4};
  EXPECT_FALSE(CpuPercentBetween(same, same).has_value());
  CpuTimes earlier{900, 700, 4};
  EXPECT_FALSE(CpuPercentBetween(same, earlier).has_value());  // counters went backwards
}

TEST(MeminfoTest, ParsesTotalAndAvailableInBytes) {
  Result<MemInfo> memory = ParseMeminfo(
      "MemTotal:       1000 kB\nMemFree:   100 kB\nMemAvailable:    250 kB\n");
  ASSERT_TRUE(memory.ok());
  EXPECT_EQ(memory->total_bytes, 1000u * 1024);
  ASSERT_TRUE(memory->available_bytes.has_value());
  EXPECT_EQ(*memory->available_bytes, 250u * 1024);
  ASSERT_TRUE(MemoryPercent(*memory).has_value());
  EXPECT_DOUBLE_EQ(*MemoryPercent(*memory), 75.0);
}

TEST(MeminfoTest, MemoryPercentIsAbsentWithoutMemAvailable) {
  Result<MemInfo> memory = ParseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\n");
  ASSERT_TRUE(memory.ok());
  EXPECT_FALSE(memory->available_bytes.has_value());
  EXPECT_FALSE(MemoryPercent(*memory).has_value());
}

TEST(MeminfoTest, RejectsMissingMemTotal) {
  EXPECT_EQ(ParseMeminfo("MemFree: 100 kB\n").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseMeminfo("MemTotal: lots\n").status().code(), StatusCode::kInvalidArgument);
}

TEST(ProcStatsReaderTest, ReadsFixtureDirectory) {
  ProcStatsReader reader(kFixtureRoot);
  Result<CpuTimes> cpu = reader.ReadCpu();
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_EQ(cpu->cores, 4u);
  EXPECT_EQ(cpu->idle, 46828483u + 16683u);
  EXPECT_EQ(cpu->total, 10132153u + 290696 + 3084719 + 46828483 + 16683 + 0 + 25195 + 0);
  Result<MemInfo> memory = reader.ReadMemory();
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_EQ(memory->total_bytes, 16303428ull * 1024);
  EXPECT_NEAR(*MemoryPercent(*memory), 100.0 * (16303428 - 8151714) / 16303428.0, 1e-9);
}

TEST(ProcStatsReaderTest, MissingFilesAreUnavailable) {
  ProcStatsReader reader(kFixtureRoot + "/does-not-exist");
  EXPECT_EQ(reader.ReadCpu().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(reader.ReadMemory().status().code(), StatusCode::kUnavailable);
}

TEST(ProcStatsReaderTest, ReadsTheRealProc) {
  ProcStatsReader reader;
  Result<CpuTimes> cpu = reader.ReadCpu();
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_GT(cpu->total, 0u);
  EXPECT_GT(cpu->cores, 0u);
  Result<MemInfo> memory = reader.ReadMemory();
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_GT(memory->total_bytes, 0u);
}

}  // namespace
}  // namespace gpulse::telemetry
