#include "sample/sample.h"

#include <gtest/gtest.h>

namespace gpulse {
namespace {

GpuSample Gpu(uint32_t index, std::optional<double> utilization) {
  GpuSample g;
  g.identity.index = index;
  g.identity.uuid = "GPU-" + std::to_string(index);
  g.utilization_gpu = utilization;
  return g;
}

TEST(MeanGpuUtilizationTest, AveragesTheReadableGpusThatReportUtilization) {
  EXPECT_EQ(MeanGpuUtilization({Gpu(0, 80), Gpu(1, 40)}), 60.0);
  EXPECT_EQ(MeanGpuUtilization({Gpu(0, 80), Gpu(1, std::nullopt)}), 80.0);
}

// An unreadable GPU stays out of the mean even when a figure from before
// the failure is still attached to its sample: its utilization is unknown.
TEST(MeanGpuUtilizationTest, LeavesOutUnreadableGpusEvenWithAStaleFigure) {
  GpuSample lost = Gpu(1, 100);
  lost.error = "GPU is lost";
  EXPECT_EQ(MeanGpuUtilization({Gpu(0, 20), lost}), 20.0);
  EXPECT_EQ(MeanGpuUtilization({lost, Gpu(2, 50), Gpu(3, 30)}), 40.0);
}

TEST(MeanGpuUtilizationTest, AbsentWhenNoGpuQualifies) {
  EXPECT_FALSE(MeanGpuUtilization({}).has_value());
  GpuSample lost = Gpu(0, 70);
  lost.error = "GPU is lost";
  EXPECT_FALSE(MeanGpuUtilization({lost}).has_value());
  EXPECT_FALSE(MeanGpuUtilization({Gpu(0, std::nullopt)}).has_value());
}

}  // namespace
}  // namespace gpulse
