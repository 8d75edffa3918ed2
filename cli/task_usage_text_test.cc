#include "cli/task_usage_text.h"

#include <gtest/gtest.h>

namespace gpulse::cli {
namespace {

TEST(TaskUsageTextTest, PrintsTheKnownFiguresAndLeavesOutUnknownOnes) {
  auto t = nlohmann::json::parse(R"({"usage": {"gpu_seconds": 20, "gpu_seconds_used": 16,
      "mean_utilization_gpu": 80, "peak_utilization_gpu": 93, "mean_utilization_memory": null,
      "peak_memory_used_bytes": null, "energy_joules": 6000}, "idle_since": null, "hardware_failures": 1})");
  EXPECT_EQ(FormatTaskUsage(t),
            "  Usage:     20.0 GPU-s (16.0 used), GPU 80 % mean / 93 % peak, 6.0 kJ\n"
            "  Hardware:  1 run(s) ended by a GPU failure (not counted as attempts)\n");
}

TEST(TaskUsageTextTest, ATaskWithoutGpuTimeHasNoUsageLine) {
  auto t = nlohmann::json::parse(R"({"usage": {"gpu_seconds": 0}, "idle_since": 1795834567.1})");
  EXPECT_EQ(FormatTaskUsage(t), "  Idle:      its GPUs are idle (below the master's --idle-threshold for --idle-period)\n");
  EXPECT_EQ(FormatTaskUsage(nlohmann::json::object()), "");
}

TEST(TaskUsageTextTest, ProcessesOutsideGpulseAreNamedOnlyWhenSomeWereSeen) {
  auto t = nlohmann::json::parse(R"({"usage": {"gpu_seconds": 10, "gpu_seconds_used": 5,
      "max_outside_gpu_processes": 2}})");
  EXPECT_EQ(FormatTaskUsage(t),
            "  Usage:     10.0 GPU-s (5.0 used)\n"
            "  Shared:    processes outside gpulse on its GPUs: 2\n");
  t["usage"]["max_outside_gpu_processes"] = 0;
  EXPECT_EQ(FormatTaskUsage(t), "  Usage:     10.0 GPU-s (5.0 used)\n");
  t["usage"]["max_outside_gpu_processes"] = nullptr;  // unknown: nothing said
  EXPECT_EQ(FormatTaskUsage(t), "  Usage:     10.0 GPU-s (5.0 used)\n");
}

}  // namespace
}  // namespace gpulse::cli
