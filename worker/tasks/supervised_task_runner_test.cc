#include "worker/tasks/supervised_task_runner.h"

#include <signal.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "testkit/eventually.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"
#include "worker/tasks/attempt_files.h"
#include "worker/tasks/task_paths.h"

namespace gpulse::worker {
namespace {

using ::testing::HasSubstr;
using testkit::Eventually;
using testkit::TempDir;
using Kind = TaskEvent::Kind;
using std::chrono::milliseconds;

constexpr auto kEventTimeout = std::chrono::seconds(15);

class RecordingSink : public TaskEventSink {
 public:
  void OnTaskEvent(const TaskEvent& event) override {
    std::lock_guard lock(mu_);
    events_.push_back(event);
    cv_.notify_all();
  }
  std::optional<TaskEvent> WaitForEnd(const std::string& task_id) {
    std::unique_lock lock(mu_);
    std::optional<TaskEvent> found;
    cv_.wait_for(lock, kEventTimeout, [&] {
      for (const TaskEvent& e : events_) {
        if (e.task_id == task_id && e.kind != Kind::kStarted) found = e;
      }
      return found.has_value();
    });
    return found;
  }
  std::vector<TaskEvent> Events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TaskEvent> events_;
};

bool Alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  // A zombie is not alive.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');
  return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
}

class SupervisedTaskRunnerTest : public ::testing::Test {
 protected:
  std::unique_ptr<SupervisedTaskRunner> NewRunner(RecordingSink& sink) {
    SupervisedTaskRunnerConfig config;
    config.work_dir = dir_.path();
    config.supervisor_path = std::filesystem::path(GPULSE_TEST_BIN_DIR) / "gpulse-task-supervisor";
    auto runner = SupervisedTaskRunner::Create(config, sink);
    EXPECT_OK(runner.status());
    if (!runner.ok()) return nullptr;
    (*runner)->ReleaseEvents();
    return std::move(*runner);
  }
  TaskLaunch Launch(const std::string& id, const std::string& script) {
    TaskLaunch l;
    l.task_id = id;
    l.attempt = 1;
    l.argv = {"/bin/sh", "-c", script};
    return l;
  }
  // A script that waits for the file `go` in its folder, then exits `code`.
  std::string WaitForGo(int code) {
    return "while [ ! -e go ]; do sleep 0.05; done; exit " + std::to_string(code);
  }
  void Go(const std::string& id) { testkit::WriteFile(PathsForTask(dir_.path(), id).dir / "go", "1"); }
  pid_t PidOf(TaskExecutor& runner, const std::string& id) {
    for (const auto& t : runner.Running()) {
      if (t.task_id == id) return t.pid;
    }
    return 0;
  }

  TempDir dir_{"gpulse-supervised"};
};

TEST_F(SupervisedTaskRunnerTest, RunsTheTaskUnderASupervisorThatIsNotTheWorkersChild) {
  RecordingSink sink;
  auto runner = NewRunner(sink);
  ASSERT_TRUE(runner);
  ASSERT_OK(runner->Start(Launch("t", WaitForGo(7))));
  const pid_t pid = PidOf(*runner, "t");
  ASSERT_GT(pid, 0);
  auto state = ParseState(testkit::ReadFileOrEmpty(AttemptDirFor(dir_.path(), "t", 1) / "state"));
  ASSERT_OK(state.status());
  EXPECT_EQ(state->task_pid, pid);
  // The task is the supervisor's child; the supervisor is not ours.
  std::ifstream stat("/proc/" + std::to_string(state->supervisor_pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  int ppid = 0;
  std::sscanf(line.c_str() + line.rfind(')') + 2, "%*c %d", &ppid);
  EXPECT_NE(ppid, ::getpid());

  Go("t");
  auto end = sink.WaitForEnd("t");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->kind, Kind::kExited);
  EXPECT_EQ(end->exit_code, 7);
  EXPECT_TRUE(std::filesystem::exists(AttemptDirFor(dir_.path(), "t", 1) / "exit"));
  runner->Collected("t", 1);
  EXPECT_FALSE(std::filesystem::exists(AttemptDirFor(dir_.path(), "t", 1)));
}

TEST_F(SupervisedTaskRunnerTest, AMissingProgramEndsWith127) {
  RecordingSink sink;
  auto runner = NewRunner(sink);
  ASSERT_TRUE(runner);
  TaskLaunch l = Launch("m", "");
  l.argv = {"no-such-program-gpulse"};
  ASSERT_OK(runner->Start(l));
  auto end = sink.WaitForEnd("m");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->kind, Kind::kExited);
  EXPECT_EQ(end->exit_code, 127);
}

TEST_F(SupervisedTaskRunnerTest, CancelKillsTheWholeTreeIncludingASetsidChild) {
  RecordingSink sink;
  auto runner = NewRunner(sink);
  ASSERT_TRUE(runner);
  ASSERT_OK(runner->Start(Launch("c", "setsid sleep 300 & echo $! > child.pid; wait")));
  const auto pid_file = PathsForTask(dir_.path(), "c").dir / "child.pid";
  ASSERT_TRUE(Eventually([&] { return !testkit::ReadFileOrEmpty(pid_file).empty(); }));
  const pid_t child = std::stoi(testkit::ReadFileOrEmpty(pid_file));
  ASSERT_TRUE(Alive(child));
  ASSERT_OK(runner->Cancel("c", milliseconds(0)));
  auto end = sink.WaitForEnd("c");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->kind, Kind::kCancelled);
  EXPECT_FALSE(Alive(child));
}

TEST_F(SupervisedTaskRunnerTest, ATaskOutlivesItsRunnerAndIsReadoptedWithItsRealExitCode) {
  RecordingSink first_sink;
  auto first = NewRunner(first_sink);
  ASSERT_TRUE(first);
  ASSERT_OK(first->Start(Launch("r", WaitForGo(3))));
  const pid_t pid = PidOf(*first, "r");
  first.reset();  // the worker goes away; the task runs on
  EXPECT_TRUE(Alive(pid));

  RecordingSink sink;
  auto second = NewRunner(sink);
  ASSERT_TRUE(second);
  EXPECT_EQ(PidOf(*second, "r"), pid);
  Go("r");
  auto end = sink.WaitForEnd("r");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->kind, Kind::kExited);
  EXPECT_EQ(end->exit_code, 3);
  EXPECT_EQ(sink.Events().size(), 1u);  // the end only, once
}

TEST_F(SupervisedTaskRunnerTest, ATaskThatEndsWhileNoRunnerWatchesIsReportedByTheNext) {
  RecordingSink first_sink;
  auto first = NewRunner(first_sink);
  ASSERT_TRUE(first);
  ASSERT_OK(first->Start(Launch("f", WaitForGo(5))));
  first.reset();
  Go("f");
  const auto exit_file = AttemptDirFor(dir_.path(), "f", 1) / "exit";
  ASSERT_TRUE(Eventually([&] { return std::filesystem::exists(exit_file); }));

  RecordingSink sink;
  auto second = NewRunner(sink);
  ASSERT_TRUE(second);
  auto end = sink.WaitForEnd("f");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->exit_code, 5);
  // Until the master has it, a third runner would report it again.
  second.reset();
  RecordingSink third_sink;
  auto third = NewRunner(third_sink);
  ASSERT_TRUE(third);
  ASSERT_TRUE(third_sink.WaitForEnd("f"));
  third->Collected("f", 1);
  third.reset();
  RecordingSink fourth_sink;
  auto fourth = NewRunner(fourth_sink);
  ASSERT_TRUE(fourth);
  EXPECT_TRUE(fourth->Running().empty());
}

TEST_F(SupervisedTaskRunnerTest, AnExpiredLeaseKillsTheTaskEvenWithoutAWorker) {
  RecordingSink first_sink;
  auto first = NewRunner(first_sink);
  ASSERT_TRUE(first);
  // A 3 s lease fences 2 s early: the task may run about 1 s.
  first->RenewLease(MonotonicNowNs(), milliseconds(3000));
  ASSERT_OK(first->Start(Launch("l", "setsid sleep 300 & echo $! > child.pid; wait")));
  const pid_t pid = PidOf(*first, "l");
  first.reset();
  ASSERT_TRUE(Eventually([&] { return !Alive(pid); }, std::chrono::seconds(10)));
  const pid_t child = std::stoi(testkit::ReadFileOrEmpty(PathsForTask(dir_.path(), "l").dir / "child.pid"));

  RecordingSink sink;
  auto second = NewRunner(sink);
  ASSERT_TRUE(second);
  auto end = sink.WaitForEnd("l");
  ASSERT_TRUE(end);
  // The supervisor records the end only after it has killed the whole task
  // (the escapee may outlive the main process by a few milliseconds).
  EXPECT_TRUE(Eventually([&] { return !Alive(child); }, std::chrono::seconds(2)));
  EXPECT_EQ(end->kind, Kind::kExited);
  EXPECT_THAT(end->message, HasSubstr("lease"));
}

TEST_F(SupervisedTaskRunnerTest, ARenewedLeaseKeepsTheTaskRunning) {
  RecordingSink sink;
  auto runner = NewRunner(sink);
  ASSERT_TRUE(runner);
  runner->RenewLease(MonotonicNowNs(), milliseconds(2500));  // fences after 0.5 s unless renewed
  ASSERT_OK(runner->Start(Launch("k", WaitForGo(0))));
  const pid_t pid = PidOf(*runner, "k");
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
  while (std::chrono::steady_clock::now() < until) {
    runner->RenewLease(MonotonicNowNs(), milliseconds(2500));
    ASSERT_TRUE(Alive(pid));
    std::this_thread::sleep_for(milliseconds(100));  // the renewal period under test
  }
  Go("k");
  auto end = sink.WaitForEnd("k");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->exit_code, 0);
}

TEST_F(SupervisedTaskRunnerTest, ShutdownWithKillEndsTasksAndForgetsThem) {
  RecordingSink sink;
  auto runner = NewRunner(sink);
  ASSERT_TRUE(runner);
  ASSERT_OK(runner->Start(Launch("s", "sleep 300")));
  const pid_t pid = PidOf(*runner, "s");
  runner->Shutdown(/*kill_tasks=*/true);
  EXPECT_FALSE(Alive(pid));
  EXPECT_FALSE(std::filesystem::exists(AttemptDirFor(dir_.path(), "s", 1)));
}

}  // namespace
}  // namespace gpulse::worker
