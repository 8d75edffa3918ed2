// Whom tasks run as: a root worker switches to the task user unless told
// root explicitly; a worker that is not root runs tasks as itself.
#include "worker/tasks/task_user.h"

#include <gtest/gtest.h>

#include "testkit/status_matchers.h"

namespace gpulse::worker {
namespace {

TEST(TaskUserTest, ARootWorkerRunsTasksAsTheNamedUser) {
  Result<TaskUser> user = ResolveTaskUser("nobody", 0);
  ASSERT_OK(user);
  EXPECT_EQ(user->name, "nobody");
  EXPECT_NE(user->uid, 0u);
  EXPECT_TRUE(user->switches);
  EXPECT_FALSE(user->groups.empty());
  EXPECT_EQ(user->home, "");  // /nonexistent is no directory: HOME becomes the task's folder
}

TEST(TaskUserTest, RootTasksNeedTheExplicitRootUser) {
  Result<TaskUser> user = ResolveTaskUser("root", 0);
  ASSERT_OK(user);
  EXPECT_EQ(user->uid, 0u);
  EXPECT_FALSE(user->switches);
}

TEST(TaskUserTest, AWorkerThatIsNotRootRunsTasksAsItself) {
  Result<TaskUser> user = ResolveTaskUser("nobody", 65534);
  ASSERT_OK(user);
  EXPECT_EQ(user->uid, 65534u);
  EXPECT_FALSE(user->switches);
}

TEST(TaskUserTest, AnUnknownUserIsRefusedSayingHowToFixIt) {
  Result<TaskUser> user = ResolveTaskUser("no-such-user-gpulse", 0);
  ASSERT_FALSE(user.ok());
  EXPECT_EQ(user.status().code(), StatusCode::kNotFound);
  EXPECT_NE(user.status().message().find("--task-user"), std::string::npos) << user.status().message();
}

}  // namespace
}  // namespace gpulse::worker
