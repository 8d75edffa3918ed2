#include "worker/tasks/containment/gpu_device_minors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

using ::testing::ElementsAre;

TEST(GpuDeviceMinorsTest, IndicesFollowPciBusOrderToTheDriversMinors) {
  testkit::TempDir dir;
  // Probed in another order than the bus order: minors 1 and 0 swapped.
  std::filesystem::create_directories(dir.path() / "0000:3b:00.0");
  std::filesystem::create_directories(dir.path() / "0000:86:00.0");
  dir.Write("0000:3b:00.0/information", "Model: \t\t NVIDIA H100\nIRQ:   \t\t 64\nDevice Minor: \t 1\n");
  dir.Write("0000:86:00.0/information", "Model: \t\t NVIDIA H100\nDevice Minor: \t 0\n");
  EXPECT_THAT(GpuDeviceMinors({0, 1}, dir.path()), ElementsAre(1, 0));
  EXPECT_THAT(GpuDeviceMinors({1}, dir.path()), ElementsAre(0));
  EXPECT_THAT(GpuDeviceMinors({5}, dir.path()), ElementsAre(5));  // past the list: same number
}

TEST(GpuDeviceMinorsTest, WithoutTheDriverIndicesAreMinors) {
  EXPECT_THAT(GpuDeviceMinors({0, 3}, "/nonexistent/gpus"), ElementsAre(0, 3));
}

}  // namespace
}  // namespace gpulse::worker
