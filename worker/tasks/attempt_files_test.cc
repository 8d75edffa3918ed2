#include "worker/tasks/attempt_files.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"
#include "worker/tasks/supervised_task_runner.h"

namespace gpulse::worker {
namespace {

using std::chrono::milliseconds;

TEST(AttemptFilesTest, LaunchSurvivesTheRoundTrip) {
  SupervisedLaunch s;
  s.launch.task_id = "t-1";
  s.launch.attempt = 3;
  s.launch.argv = {"sh", "-c", "echo \"hi\"\n"};
  s.launch.env = {{"A", "b=c"}};
  s.launch.gpu_indices = {0, 2};
  s.launch.gpu_uuids = {"GPU-a", "GPU-b"};
  s.launch.cpus = 2;
  s.launch.memory_bytes = 1ull << 33;
  s.work_dir = "/w d";
  s.containment = "process";
  s.task_user = "nobody";
  auto back_or = ParseLaunch(SerializeLaunch(s));
  ASSERT_OK(back_or.status());
  SupervisedLaunch back = *back_or;
  EXPECT_EQ(back.launch.task_id, "t-1");
  EXPECT_EQ(back.launch.attempt, 3u);
  EXPECT_EQ(back.launch.argv, s.launch.argv);
  EXPECT_EQ(back.launch.env, s.launch.env);
  EXPECT_EQ(back.launch.gpu_indices, s.launch.gpu_indices);
  EXPECT_EQ(back.launch.gpu_uuids, s.launch.gpu_uuids);
  EXPECT_EQ(back.launch.cpus, 2u);
  EXPECT_EQ(back.launch.memory_bytes, 1ull << 33);
  EXPECT_EQ(back.work_dir, "/w d");
  EXPECT_EQ(back.containment, "process");
  EXPECT_EQ(back.task_user, "nobody");
}

TEST(AttemptFilesTest, StateAndExitSurviveTheRoundTrip) {
  auto state_or = ParseState(SerializeState({12, 345, 67}));
  ASSERT_OK(state_or.status());
  SupervisorState state = *state_or;
  EXPECT_EQ(state.supervisor_pid, 12);
  EXPECT_EQ(state.supervisor_start_time, 345u);
  EXPECT_EQ(state.task_pid, 67);

  TaskEvent e;
  e.kind = TaskEvent::Kind::kCancelled;
  e.task_id = "t";
  e.attempt = 2;
  e.pid = 9;
  e.exit_code = 137;
  e.message = "killed by SIGKILL";
  e.out_of_memory = true;
  auto back_or = ParseExit(SerializeExit(e));
  ASSERT_OK(back_or.status());
  TaskEvent back = *back_or;
  EXPECT_EQ(back.kind, TaskEvent::Kind::kCancelled);
  EXPECT_EQ(back.task_id, "t");
  EXPECT_EQ(back.attempt, 2u);
  EXPECT_EQ(back.pid, 9);
  EXPECT_EQ(back.exit_code, 137);
  EXPECT_EQ(back.message, "killed by SIGKILL");
  EXPECT_TRUE(back.out_of_memory);
}

TEST(AttemptFilesTest, MalformedFilesAreErrorsNotCrashes) {
  EXPECT_FALSE(ParseLaunch("{").ok());
  EXPECT_FALSE(ParseLaunch("{}").ok());
  EXPECT_FALSE(ParseState("{\"supervisor_pid\":0,\"supervisor_start_time\":1,\"task_pid\":2}").ok());
  EXPECT_FALSE(ParseExit("{\"kind\":\"started\"}").ok());
  EXPECT_FALSE(ParseLease("soon").ok());
  EXPECT_FALSE(ParseLease("12x").ok());
  auto lease_or = ParseLease(SerializeLease(-5));
  ASSERT_OK(lease_or.status());
  int64_t lease = *lease_or;
  EXPECT_EQ(lease, -5);
}

TEST(AttemptFilesTest, StartTimeTellsAProcessFromALaterOneWithItsPid) {
  auto mine_or = ProcessStartTime(::getpid());
  ASSERT_OK(mine_or.status());
  uint64_t mine = *mine_or;
  auto again_or = ProcessStartTime(::getpid());
  ASSERT_OK(again_or.status());
  uint64_t again = *again_or;
  EXPECT_EQ(mine, again);
  auto init_or = ProcessStartTime(1);
  ASSERT_OK(init_or.status());
  uint64_t init = *init_or;
  EXPECT_LE(init, mine);
  EXPECT_EQ(ProcessStartTime(0x3fffffff).status().code(), StatusCode::kNotFound);

  // A command name with spaces and parentheses does not shift the fields.
  testkit::TempDir proc("gpulse-proc");
  std::filesystem::create_directories(proc.path() / "42");
  ASSERT_TRUE(testkit::WriteFile(proc.path() / "42" / "stat",
                                 "42 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19 20\n"));
  auto odd_or = ProcessStartTime(42, proc.path());
  ASSERT_OK(odd_or.status());
  uint64_t odd = *odd_or;
  EXPECT_EQ(odd, 777u);
}

TEST(LeaseTest, TheSupervisorFencesAMarginBeforeTheMastersLease) {
  // Default lease 60 s: fence at 48 s (a fifth earlier).
  EXPECT_EQ(SupervisedTaskRunner::FenceMargin(milliseconds(60'000)), milliseconds(12'000));
  EXPECT_EQ(SupervisedTaskRunner::FenceDeadlineNs(1'000, milliseconds(60'000)), 1'000 + 48'000'000'000ll);
  // Short leases keep at least 2 s of margin.
  EXPECT_EQ(SupervisedTaskRunner::FenceMargin(milliseconds(5'000)), milliseconds(2'000));
  EXPECT_EQ(SupervisedTaskRunner::FenceDeadlineNs(0, milliseconds(5'000)), 3'000'000'000ll);
  // A lease shorter than the margin fences at once rather than never.
  EXPECT_EQ(SupervisedTaskRunner::FenceDeadlineNs(7, milliseconds(1'000)), 7);
}

TEST(LeaseTest, TheClockIsMonotonic) {
  const int64_t a = MonotonicNowNs();
  const int64_t b = MonotonicNowNs();
  EXPECT_GT(a, 0);
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace gpulse::worker
