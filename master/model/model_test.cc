#include "master/model/model.h"

#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

TEST(ModelTest, TaskStateNamesParseBack) {
  for (TaskState s : {TaskState::kQueued, TaskState::kAssigned, TaskState::kRunning, TaskState::kSucceeded,
                      TaskState::kFailed, TaskState::kCancelled}) {
    EXPECT_EQ(ParseTaskState(TaskStateName(s)), s);
  }
  EXPECT_STREQ(TaskStateName(TaskState::kRunning), "running");
  EXPECT_EQ(ParseTaskState("Running"), std::nullopt);
  EXPECT_EQ(ParseTaskState(""), std::nullopt);
}

TEST(ModelTest, WorkerStateNames) {
  EXPECT_STREQ(WorkerStateName(WorkerState::kHealthy), "healthy");
  EXPECT_STREQ(WorkerStateName(WorkerState::kSuspect), "suspect");
  EXPECT_STREQ(WorkerStateName(WorkerState::kDead), "dead");
}

TEST(ModelTest, OnlyFinishedStatesAreTerminal) {
  EXPECT_FALSE(IsTerminal(TaskState::kQueued));
  EXPECT_FALSE(IsTerminal(TaskState::kAssigned));
  EXPECT_FALSE(IsTerminal(TaskState::kRunning));
  EXPECT_TRUE(IsTerminal(TaskState::kSucceeded));
  EXPECT_TRUE(IsTerminal(TaskState::kFailed));
  EXPECT_TRUE(IsTerminal(TaskState::kCancelled));
}

}  // namespace
}  // namespace gpulse::master
