#include "worker/tasks/containment/cgroup_fs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// This project's test machine: v1 controllers, name=systemd and the v2
// hierarchy at /sys/fs/cgroup/unified.
constexpr char kHybridMountinfo[] =
    "22 1 252:0 / / rw,relatime - ext4 /dev/vda rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

constexpr char kHybridSelf[] =
    "9:name=systemd:/\n"
    "4:memory:/process_api/ede1\n"
    "1:cpu:/\n"
    "0::/\n";

TEST(CgroupFsTest, HybridMountsListV1ControllersAndTheV2Hierarchy) {
  std::vector<CgroupMount> mounts = ParseCgroupMounts(kHybridMountinfo);
  ASSERT_EQ(mounts.size(), 3u);  // tmpfs, ext4 and the named hierarchy are not controllers
  EXPECT_EQ(mounts[0].version, 1);
  EXPECT_THAT(mounts[0].controllers, ElementsAre("cpu"));
  EXPECT_EQ(mounts[0].mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(mounts[2].version, 2);
  EXPECT_EQ(mounts[2].mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(FindMount(mounts, "")->mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(FindMount(mounts, "memory")->mount_point, "/sys/fs/cgroup/memory");
  EXPECT_FALSE(FindMount(mounts, "devices").has_value());
}

TEST(CgroupFsTest, OwnGroupIsFoundPerHierarchy) {
  std::vector<CgroupMount> mounts = ParseCgroupMounts(kHybridMountinfo);
  std::vector<CgroupMembership> self = ParseProcCgroup(kHybridSelf);
  ASSERT_EQ(self.size(), 4u);
  EXPECT_TRUE(self[0].controllers.empty());  // name=systemd is not a controller
  EXPECT_EQ(*OwnGroupDir(*FindMount(mounts, "memory"), self), "/sys/fs/cgroup/memory/process_api/ede1");
  EXPECT_EQ(*OwnGroupDir(*FindMount(mounts, "cpu"), self), "/sys/fs/cgroup/cpu");
  EXPECT_EQ(*OwnGroupDir(*FindMount(mounts, ""), self), "/sys/fs/cgroup/unified");
}

TEST(CgroupFsTest, CombinedControllersAndContainerRootsAreUnderstood) {
  // A pure v2 host under systemd, and a v1 cpu,cpuacct hierarchy whose mount
  // shows only a subtree (as inside a container), with an escaped space.
  const char mountinfo[] =
      "30 25 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
      "33 25 0:29 /docker/abc /mnt/cpu\\040acct rw - cgroup cgroup rw,cpu,cpuacct\n";
  const char self[] = "0::/system.slice/gpulse-worker.service\n5:cpuacct,cpu:/docker/abc/inner\n";
  std::vector<CgroupMount> mounts = ParseCgroupMounts(mountinfo);
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(*OwnGroupDir(*FindMount(mounts, ""), ParseProcCgroup(self)),
            "/sys/fs/cgroup/system.slice/gpulse-worker.service");
  EXPECT_EQ(*OwnGroupDir(*FindMount(mounts, "cpuacct"), ParseProcCgroup(self)), "/mnt/cpu acct/inner");
  EXPECT_FALSE(OwnGroupDir(*FindMount(mounts, "cpu"), ParseProcCgroup("5:cpu,cpuacct:/elsewhere\n")).ok());
}

TEST(CgroupFsTest, KeyedValuesAndCpuLists) {
  const char events[] = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n";
  EXPECT_EQ(KeyedValue(events, "oom_kill"), 1u);
  EXPECT_EQ(KeyedValue(events, "max"), 12u);
  EXPECT_FALSE(KeyedValue(events, "oom_group_kill").has_value());
  EXPECT_EQ(KeyedValue("populated 0\nfrozen 0\n", "populated"), 0u);
  EXPECT_EQ(FormatCpuList({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  EXPECT_EQ(FormatCpuList({3}), "3");
  EXPECT_EQ(FormatCpuList({}), "");
}

TEST(CgroupFsTest, FileErrorsNameTheFile) {
  testkit::TempDir dir;
  Result<std::string> missing = ReadKernelFile(dir.path() / "memory.max");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("memory.max"));
  Status write = WriteCgroupFile(dir.path() / "nope" / "cgroup.procs", "0");
  EXPECT_THAT(write.message(), HasSubstr("write '0' to '"));
  const std::string file = dir.Write("memory.max", "max\n");
  ASSERT_OK(WriteCgroupFile(file, "1048576"));
  EXPECT_EQ(*ReadKernelFile(file), "1048576");
}

}  // namespace
}  // namespace gpulse::worker
