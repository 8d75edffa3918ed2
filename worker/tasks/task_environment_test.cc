#include "worker/tasks/task_environment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace gpulse::worker {
namespace {

using ::testing::Contains;

TaskLaunch LaunchWithGpus(std::vector<uint32_t> indices, std::vector<std::string> uuids) {
  TaskLaunch launch;
  launch.task_id = "t-1";
  launch.attempt = 2;
  launch.argv = {"true"};
  launch.gpu_indices = std::move(indices);
  launch.gpu_uuids = std::move(uuids);
  return launch;
}

TEST(TaskEnvironmentTest, GpusAreNamedByUuidAndIndex) {
  Environment env = BuildTaskEnvironment(
      {}, LaunchWithGpus({3, 1}, {"GPU-aaaa", "GPU-bbbb"}));
  EXPECT_EQ(env["CUDA_VISIBLE_DEVICES"], "GPU-aaaa,GPU-bbbb");
  EXPECT_EQ(env["NVIDIA_VISIBLE_DEVICES"], "GPU-aaaa,GPU-bbbb");
  EXPECT_EQ(env["CUDA_DEVICE_ORDER"], "PCI_BUS_ID");
  EXPECT_EQ(env["GPULSE_GPU_INDICES"], "3,1");
  EXPECT_EQ(env["GPULSE_TASK_ID"], "t-1");
  EXPECT_EQ(env["GPULSE_TASK_ATTEMPT"], "2");
}

TEST(TaskEnvironmentTest, TaskWithoutGpusSeesNone) {
  Environment base = {{"CUDA_VISIBLE_DEVICES", "0,1"}, {"NVIDIA_VISIBLE_DEVICES", "all"}};
  Environment env = BuildTaskEnvironment(base, LaunchWithGpus({}, {}));
  ASSERT_EQ(env.count("CUDA_VISIBLE_DEVICES"), 1u);
  EXPECT_EQ(env["CUDA_VISIBLE_DEVICES"], "");
  EXPECT_EQ(env["NVIDIA_VISIBLE_DEVICES"], "void");
  EXPECT_EQ(env["GPULSE_GPU_INDICES"], "");
}

TEST(TaskEnvironmentTest, TaskVariablesOverrideBaseButNotGpuAssignment) {
  TaskLaunch launch = LaunchWithGpus({0}, {"GPU-aaaa"});
  launch.env = {{"FOO", "task"}, {"CUDA_VISIBLE_DEVICES", "GPU-other"}, {"GPULSE_TASK_ID", "x"}};
  Environment env = BuildTaskEnvironment({{"FOO", "base"}, {"KEEP", "1"}}, launch);
  EXPECT_EQ(env["FOO"], "task");
  EXPECT_EQ(env["KEEP"], "1");
  EXPECT_EQ(env["CUDA_VISIBLE_DEVICES"], "GPU-aaaa");
  EXPECT_EQ(env["GPULSE_TASK_ID"], "t-1");
}

TEST(TaskEnvironmentTest, CurrentProcessEnvironmentReadsEnviron) {
  ASSERT_EQ(::setenv("GPULSE_ENV_TEST_MARKER", "a=b", 1), 0);
  Environment env = CurrentProcessEnvironment();
  EXPECT_EQ(env["GPULSE_ENV_TEST_MARKER"], "a=b");
  ::unsetenv("GPULSE_ENV_TEST_MARKER");
}

TEST(TaskEnvironmentTest, ToEnvStringsJoinsNameAndValue) {
  std::vector<std::string> strings = ToEnvStrings({{"A", "1"}, {"B", ""}});
  EXPECT_THAT(strings, Contains("A=1"));
  EXPECT_THAT(strings, Contains("B="));
  EXPECT_EQ(strings.size(), 2u);
}

TEST(TaskEnvironmentTest, EnvNamesMustBeNonEmptyWithoutEquals) {
  EXPECT_TRUE(IsValidEnvName("PATH"));
  EXPECT_FALSE(IsValidEnvName(""));
  EXPECT_FALSE(IsValidEnvName("A=B"));
  EXPECT_FALSE(IsValidEnvName(std::string("A\0B", 3)));
}

}  // namespace
}  // namespace gpulse::worker
