#include "master/data_dir_lock.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

TEST(DataDirLockTest, ASecondHolderIsRefusedWithTheDirAndTheHoldersPid) {
  testkit::TempDir dir("gpulse-lock");
  auto first = DataDirLock::Acquire(dir.path().string());
  ASSERT_OK(first);
  EXPECT_EQ(testkit::ReadFileOrEmpty(first->path()), std::to_string(::getpid()) + "\n");

  // flock belongs to the open file, so a second open in this process is
  // refused exactly as a second master would be.
  auto second = DataDirLock::Acquire(dir.path().string());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("data directory " + dir.path().string() + " is in use"),
            std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos)
      << second.status().message();
}

TEST(DataDirLockTest, TheLockIsFreeAgainOnceItsHolderIsGone) {
  testkit::TempDir dir("gpulse-lock");
  {
    auto first = DataDirLock::Acquire(dir.path().string());
    ASSERT_OK(first);
  }
  EXPECT_OK(DataDirLock::Acquire(dir.path().string()));
}

TEST(DataDirLockTest, AMissingDirIsAnErrorNotACrash) {
  auto lock = DataDirLock::Acquire("/nonexistent/gpulse-lock-test");
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.status().message().find("master.lock"), std::string::npos) << lock.status().message();
}

}  // namespace
}  // namespace gpulse::master
