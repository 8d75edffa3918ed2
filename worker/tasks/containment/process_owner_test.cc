#include "worker/tasks/containment/process_owner.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

using testkit::TempDir;
using testkit::WriteFile;

// A fake /proc: each process gets stat, environ and cgroup files.
class FakeProc {
 public:
  void Add(pid_t pid, pid_t ppid, std::string environ, std::string cgroup = "0::/user.slice/session-1.scope\n") {
    const std::filesystem::path dir = dir_.path() / std::to_string(pid);
    std::filesystem::create_directories(dir);
    ASSERT_TRUE(WriteFile(dir / "stat", std::to_string(pid) + " (prog) S " + std::to_string(ppid) +
                                            " 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 1000 0 0\n"));
    ASSERT_TRUE(WriteFile(dir / "environ", environ));
    ASSERT_TRUE(WriteFile(dir / "cgroup", cgroup));
  }
  // read() of a folder fails (EISDIR), as reading another user's environ
  // does (EACCES) — also for root, who may read any file.
  void MakeUnreadable(pid_t pid, const std::string& file) {
    const std::filesystem::path path = dir_.path() / std::to_string(pid) / file;
    std::filesystem::remove(path);
    std::filesystem::create_directory(path);
  }
  ProcessOwner Owner(pid_t pid) const { return FindProcessOwner(dir_.path(), pid); }

 private:
  TempDir dir_{"process-owner"};
};

const std::string kPlainEnv("PATH=/usr/bin\0HOME=/root\0", 25);
const std::string kCellCgroup = "0::/system.slice/gpulse-worker.service/gpulse-0123456789abcdef/t-7.1\n";

std::string TaskEnv() { return std::string("PATH=/usr/bin\0GPULSE_TASK_ID=t-7\0HOME=/tmp\0", 43); }

TEST(ProcessOwnerTest, TaskProcessWithTheTaskIdInItsEnvironmentIsGpulse) {
  FakeProc proc;
  proc.Add(1, 0, kPlainEnv);
  proc.Add(100, 1, TaskEnv());
  EXPECT_EQ(proc.Owner(100), ProcessOwner::kGpulse);
}

TEST(ProcessOwnerTest, ChildWithACleanedEnvironmentOfATaskProcessIsGpulse) {
  FakeProc proc;
  proc.Add(1, 0, kPlainEnv);
  proc.Add(100, 1, TaskEnv());
  proc.Add(101, 100, kPlainEnv);
  proc.Add(102, 101, "");  // env -i, two levels down
  EXPECT_EQ(proc.Owner(102), ProcessOwner::kGpulse);
}

TEST(ProcessOwnerTest, ProcessInACellsCgroupIsGpulse) {
  FakeProc proc;
  proc.Add(1, 0, kPlainEnv);
  proc.Add(200, 1, kPlainEnv, kCellCgroup);
  EXPECT_EQ(proc.Owner(200), ProcessOwner::kGpulse);
}

TEST(ProcessOwnerTest, ProcessInACellsCgroupV1HierarchyIsGpulse) {
  FakeProc proc;
  proc.Add(1, 0, kPlainEnv);
  proc.Add(200, 1, kPlainEnv,
           "4:memory:/user.slice\n3:cpuset:/gpulse-worker/gpulse-fedcba9876543210/t-7.1\n0::/user.slice\n");
  EXPECT_EQ(proc.Owner(200), ProcessOwner::kGpulse);
}

TEST(ProcessOwnerTest, UnrelatedProcessIsOutside) {
  FakeProc proc;
  proc.Add(1, 0, kPlainEnv);
  proc.Add(50, 1, kPlainEnv);
  // Names close to a cell group's, and a variable that only starts alike.
  proc.Add(300, 50, std::string("GPULSE_TASK_IDS=x\0", 18),
           "0::/system.slice/gpulse-worker.service/gpulse-0123456789ABCDEF/x\n");
  EXPECT_EQ(proc.Owner(300), ProcessOwner::kOutside);
}

TEST(ProcessOwnerTest, ProcessThatDoesNotExistIsUnknown) {
  FakeProc proc;
  proc.Add(1, 0, kPlainEnv);
  EXPECT_EQ(proc.Owner(4242), ProcessOwner::kUnknown);
}

TEST(ProcessOwnerTest, ProcessWhoseEnvironmentCannotBeReadIsUnknown) {
  FakeProc proc;
  proc.Add(1, 0, kPlainEnv);
  proc.Add(400, 1, kPlainEnv);
  proc.MakeUnreadable(400, "environ");
  EXPECT_EQ(proc.Owner(400), ProcessOwner::kUnknown);
}

TEST(ProcessOwnerTest, UnreadableProcessInACellIsStillGpulse) {
  FakeProc proc;
  proc.Add(1, 0, kPlainEnv);
  proc.Add(400, 1, kPlainEnv, kCellCgroup);
  proc.MakeUnreadable(400, "environ");
  EXPECT_EQ(proc.Owner(400), ProcessOwner::kGpulse);
}

TEST(ProcessOwnerTest, AncestorWhoseEnvironmentCannotBeReadIsJudgedByItsCgroup) {
  // A worker that is not root cannot read init's environ.
  FakeProc proc;
  proc.Add(1, 0, kPlainEnv);
  proc.MakeUnreadable(1, "environ");
  proc.Add(500, 1, kPlainEnv);
  EXPECT_EQ(proc.Owner(500), ProcessOwner::kOutside);
}

TEST(ProcessOwnerTest, AncestorThatExitedDuringTheWalkMakesItUnknown) {
  FakeProc proc;
  proc.Add(600, 599, kPlainEnv);  // 599 is gone
  EXPECT_EQ(proc.Owner(600), ProcessOwner::kUnknown);
}

TEST(ProcessOwnerTest, ParentLoopEndsAtTheBoundAsUnknown) {
  FakeProc proc;
  proc.Add(700, 701, kPlainEnv);
  proc.Add(701, 700, kPlainEnv);
  EXPECT_EQ(proc.Owner(700), ProcessOwner::kUnknown);
}

TEST(ProcessOwnerTest, ThisTestProcessOnTheRealProcIsNotGpulse) {
  // Unless the test itself runs as a gpulse task.
  if (::getenv("GPULSE_TASK_ID") != nullptr) GTEST_SKIP() << "runs inside a gpulse task";
  EXPECT_NE(FindProcessOwner("/proc", ::getpid()), ProcessOwner::kGpulse);
}

}  // namespace
}  // namespace gpulse::worker
