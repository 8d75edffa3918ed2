#include "worker/gpu_process_owners.h"

#include <gtest/gtest.h>

#include <string>

#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

using testkit::TempDir;
using testkit::WriteFile;

void AddProcess(const TempDir& proc, pid_t pid, pid_t ppid, const std::string& environ) {
  const std::filesystem::path dir = proc.path() / std::to_string(pid);
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFile(dir / "stat", std::to_string(pid) + " (p) S " + std::to_string(ppid) +
                                          " 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1000 0 0\n"));
  ASSERT_TRUE(WriteFile(dir / "environ", environ));
  ASSERT_TRUE(WriteFile(dir / "cgroup", "0::/user.slice\n"));
}

TEST(GpuProcessOwnersTest, EachListedProcessIsMarkedInsideOutsideOrUnknown) {
  TempDir proc("gpu-process-owners");
  AddProcess(proc, 1, 0, "");
  AddProcess(proc, 10, 1, std::string("GPULSE_TASK_ID=t-1\0", 19));
  AddProcess(proc, 20, 1, std::string("HOME=/\0", 7));
  Sample sample;
  sample.gpus.resize(3);
  sample.gpus[0].processes = std::vector<GpuProcess>{{10, 1, {}}, {20, 2, {}}, {30, 3, {}}};  // 30 does not exist
  sample.gpus[1].processes = std::vector<GpuProcess>{{20, 4, {}}};  // judged once, marked twice
  // gpus[2]: process list unknown

  MarkGpuProcessOwners(sample, proc.path());

  const std::vector<GpuProcess>& first = *sample.gpus[0].processes;
  EXPECT_EQ(first[0].outside_gpulse, std::optional<bool>(false));
  EXPECT_EQ(first[1].outside_gpulse, std::optional<bool>(true));
  EXPECT_FALSE(first[2].outside_gpulse.has_value());
  EXPECT_EQ((*sample.gpus[1].processes)[0].outside_gpulse, std::optional<bool>(true));
  EXPECT_FALSE(sample.gpus[2].processes.has_value());
}

}  // namespace
}  // namespace gpulse::worker
