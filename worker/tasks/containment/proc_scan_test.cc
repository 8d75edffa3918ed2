#include "worker/tasks/containment/proc_scan.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>

namespace gpulse::worker {
namespace {

TEST(ProcScanTest, StatWithParenthesesInTheNameParses) {
  std::optional<ProcessInfo> info = ParseProcStat(
      "4242 (my (odd) name) S 1 4240 4200 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1234 56 18446744073709551615\n");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->pid, 4242);
  EXPECT_EQ(info->state, 'S');
  EXPECT_EQ(info->ppid, 1);
  EXPECT_EQ(info->pgid, 4240);
  EXPECT_EQ(info->sid, 4200);
  EXPECT_EQ(info->start_time, 987654u);
}

TEST(ProcScanTest, TruncatedStatIsRejected) {
  EXPECT_FALSE(ParseProcStat("12 (sh) S 1 12").has_value());
  EXPECT_FALSE(ParseProcStat("garbage").has_value());
}

TEST(ProcScanTest, ScanFindsThisProcessWithItsParent) {
  std::vector<ProcessInfo> all = ScanProcesses("/proc");
  auto self = std::find_if(all.begin(), all.end(), [](const ProcessInfo& p) { return p.pid == ::getpid(); });
  ASSERT_NE(self, all.end());
  EXPECT_EQ(self->ppid, ::getppid());
  EXPECT_EQ(self->pgid, ::getpgid(0));
  EXPECT_EQ(ReadProcess("/proc", ::getpid())->start_time, self->start_time);
}

TEST(ProcScanTest, EnvironmentEntriesMatchExactly) {
  // Read at exec, so only what this test program started with counts.
  ASSERT_NE(::getenv("PATH"), nullptr);
  const std::string path_entry = std::string("PATH=") + ::getenv("PATH");
  EXPECT_TRUE(EnvironmentHas("/proc", ::getpid(), path_entry));
  EXPECT_FALSE(EnvironmentHas("/proc", ::getpid(), path_entry.substr(0, path_entry.size() - 1)));
  EXPECT_FALSE(EnvironmentHas("/proc", 0, path_entry));
}

TEST(ProcScanTest, EnvironmentDefinesNamesWholeVariablesAndFailsWhenUnreadable) {
  ASSERT_NE(::getenv("PATH"), nullptr);
  Result<bool> path = EnvironmentDefines("/proc", ::getpid(), "PATH");
  ASSERT_TRUE(path.ok()) << path.status().message();
  EXPECT_TRUE(*path);
  EXPECT_FALSE(*EnvironmentDefines("/proc", ::getpid(), "PAT"));
  EXPECT_FALSE(EnvironmentDefines("/proc", 0, "PATH").ok());
}

}  // namespace
}  // namespace gpulse::worker
