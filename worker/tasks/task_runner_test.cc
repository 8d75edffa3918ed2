#include "worker/tasks/task_runner.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "worker/tasks/log_tailer.h"
#include "worker/tasks/task_paths.h"
#include "testkit/eventually.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

TaskRunnerConfig ConfigFor(std::filesystem::path work_dir, std::optional<Environment> base_environment) {
  TaskRunnerConfig config;
  config.work_dir = std::move(work_dir);
  config.base_environment = std::move(base_environment);
  return config;
}

using ::testing::HasSubstr;
using testkit::Eventually;
using testkit::ReadFileOrEmpty;
using testkit::TempDir;
using Kind = TaskEvent::Kind;
using std::chrono::milliseconds;

constexpr auto kEventTimeout = std::chrono::seconds(10);

// Records every event and lets a test wait for them.
class RecordingSink : public TaskEventSink {
 public:
  void OnTaskEvent(const TaskEvent& event) override {
    if (hook) hook(event);
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(event);
    }
    cv_.notify_all();
  }

  // Waits for the attempt's last event (anything but kStarted).
  std::optional<TaskEvent> WaitForEnd(const std::string& task_id) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<TaskEvent> found;
    cv_.wait_for(lock, kEventTimeout, [&] {
      for (const TaskEvent& e : events_) {
        if (e.task_id == task_id && e.kind != Kind::kStarted) found = e;
      }
      return found.has_value();
    });
    return found;
  }

  std::vector<TaskEvent> EventsFor(const std::string& task_id) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<TaskEvent> out;
    for (const TaskEvent& e : events_) {
      if (e.task_id == task_id) out.push_back(e);
    }
    return out;
  }

  size_t Count() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.size();
  }

  // Called on the runner's thread before the event is recorded; set before
  // starting tasks.
  std::function<void(const TaskEvent&)> hook;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TaskEvent> events_;
};

// True once no process of group `pgid` exists. The test process is made a
// child subreaper, so the group's orphans become its children; reaping them
// here keeps zombies from counting as live processes.
bool GroupIsGone(pid_t pgid) {
  return Eventually([pgid] {
    while (::waitpid(-pgid, nullptr, WNOHANG) > 0) {
    }
    return ::kill(-pgid, 0) != 0 && errno == ESRCH;
  });
}

class TaskRunnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }

  void SetUp() override {
    TaskRunnerConfig config;
    config.work_dir = dir_.path();
    config.base_environment = Environment{{"PATH", "/usr/bin:/bin"},
                                          {"FROM_WORKER", "w"},
                                          {"CUDA_VISIBLE_DEVICES", "0,1,2,3"}};
    Result<std::unique_ptr<TaskRunner>> runner = TaskRunner::Create(config, sink_);
    ASSERT_OK(runner);
    runner_ = std::move(runner).value();
  }

  static TaskLaunch Launch(const std::string& id, std::vector<std::string> argv) {
    TaskLaunch launch;
    launch.task_id = id;
    launch.attempt = 1;
    launch.argv = std::move(argv);
    return launch;
  }

  static TaskLaunch Shell(const std::string& id, const std::string& script) {
    return Launch(id, {"/bin/sh", "-c", script});
  }

  // Starts `launch` and returns its last event.
  TaskEvent RunToEnd(const TaskLaunch& launch) {
    Status status = runner_->Start(launch);
    EXPECT_TRUE(status.ok()) << status.ToString();
    std::optional<TaskEvent> end = sink_.WaitForEnd(launch.task_id);
    EXPECT_TRUE(end.has_value()) << "no end event for " << launch.task_id;
    return end.value_or(TaskEvent{});
  }

  pid_t StartedPid(const std::string& task_id) {
    pid_t pid = 0;
    Eventually([&] {
      for (const TaskEvent& e : sink_.EventsFor(task_id)) {
        if (e.kind == Kind::kStarted) pid = e.pid;
      }
      return pid != 0;
    });
    return pid;
  }

  std::string Stdout(const std::string& task_id) {
    return ReadFileOrEmpty(PathsForTask(dir_.path(), task_id).stdout_log);
  }
  std::string Stderr(const std::string& task_id) {
    return ReadFileOrEmpty(PathsForTask(dir_.path(), task_id).stderr_log);
  }
  // Waits until the task's stdout holds a whole first line; returns it.
  std::string WaitForFirstLine(const std::string& task_id) {
    std::string out;
    Eventually([&] {
      out = Stdout(task_id);
      return out.find('\n') != std::string::npos;
    });
    return out.substr(0, out.find('\n'));
  }

  TempDir dir_;
  RecordingSink sink_;
  std::unique_ptr<TaskRunner> runner_;
};

TEST_F(TaskRunnerTest, TaskSeesExactlyItsGpuUuids) {
  TaskLaunch launch = Shell("gpus", "echo $CUDA_VISIBLE_DEVICES");
  launch.gpu_indices = {2, 0};
  launch.gpu_uuids = {"GPU-11111111-2222", "GPU-33333333-4444"};
  TaskEvent end = RunToEnd(launch);
  EXPECT_EQ(end.kind, Kind::kExited);
  EXPECT_EQ(Stdout("gpus"), "GPU-11111111-2222,GPU-33333333-4444\n");
}

TEST_F(TaskRunnerTest, SingleGpuTaskSeesOneGpuByUuidInPciOrder) {
  TaskLaunch launch = Shell(
      "one", "echo \"$CUDA_VISIBLE_DEVICES|$NVIDIA_VISIBLE_DEVICES|$GPULSE_GPU_INDICES|$CUDA_DEVICE_ORDER|$GPULSE_TASK_ID\"");
  launch.gpu_indices = {5};
  launch.gpu_uuids = {"GPU-55555555"};
  RunToEnd(launch);
  EXPECT_EQ(Stdout("one"), "GPU-55555555|GPU-55555555|5|PCI_BUS_ID|one\n");
}

TEST_F(TaskRunnerTest, TaskWithoutGpusSeesNoneEvenIfWorkerHadSome) {
  RunToEnd(Shell("cpu", "echo \"[${CUDA_VISIBLE_DEVICES-unset}]|$NVIDIA_VISIBLE_DEVICES|[$GPULSE_GPU_INDICES]\""));
  EXPECT_EQ(Stdout("cpu"), "[]|void|[]\n");
}

TEST_F(TaskRunnerTest, TaskEnvironmentIsAddedToWorkerEnvironment) {
  TaskLaunch launch = Shell("env", "echo \"$FROM_WORKER|$FROM_TASK|$SHADOWED\"");
  launch.env = {{"FROM_TASK", "t"}, {"SHADOWED", "task wins"}};
  RunToEnd(launch);
  EXPECT_EQ(Stdout("env"), "w|t|task wins\n");
}

// Issue 9: a task's environment is a clean one, never the worker's (which
// holds e.g. the token file's path).
TEST_F(TaskRunnerTest, DefaultBaseEnvironmentIsCleanNotTheWorkers) {
  ASSERT_EQ(::setenv("GPULSE_RUNNER_TEST_MARKER", "from-worker", 1), 0);
  ASSERT_EQ(::setenv("LANG", "de_DE.UTF-8", 1), 0);
  TempDir other_dir;
  RecordingSink other_sink;
  Result<std::unique_ptr<TaskRunner>> runner =
      TaskRunner::Create(ConfigFor(other_dir.path(), std::nullopt), other_sink);
  ::unsetenv("GPULSE_RUNNER_TEST_MARKER");
  ASSERT_OK(runner);

  ASSERT_TRUE((*runner)->Start(Shell("marker", "env | grep -v '^PWD=\\|^SHLVL=\\|^_=' | sort")).ok());
  ASSERT_TRUE(other_sink.WaitForEnd("marker").has_value());
  const std::string task_dir = PathsForTask(other_dir.path(), "marker").dir.string();
  EXPECT_EQ(ReadFileOrEmpty(PathsForTask(other_dir.path(), "marker").stdout_log),
            "CUDA_DEVICE_ORDER=PCI_BUS_ID\n"
            "CUDA_VISIBLE_DEVICES=\n"
            "GPULSE_GPU_INDICES=\n"
            "GPULSE_TASK_ATTEMPT=1\n"
            "GPULSE_TASK_ID=marker\n"
            "HOME=" + task_dir + "\n"
            "LANG=de_DE.UTF-8\n"
            "NVIDIA_VISIBLE_DEVICES=void\n"
            "PATH=" + std::string(kTaskPath) + "\n");
}

// Issue 9: a root worker runs tasks as the task user; the task's directory
// and output files are that user's, and it still runs in its folder.
TEST(TaskRunnerUserTest, ARootWorkersTaskRunsAsTheTaskUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  Result<TaskUser> nobody = ResolveTaskUser("nobody", 0);
  ASSERT_OK(nobody);
  ASSERT_TRUE(nobody->switches);
  TempDir dir;
  // mkdtemp's 0700 would keep the task user out of its own folder.
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::others_exec |
                                               std::filesystem::perms::group_exec);
  TaskRunnerConfig config = ConfigFor(dir.path(), std::nullopt);
  config.task_user = *nobody;
  RecordingSink sink;
  Result<std::unique_ptr<TaskRunner>> runner = TaskRunner::Create(config, sink);
  ASSERT_OK(runner);
  TaskLaunch launch;
  launch.task_id = "who";
  launch.attempt = 1;
  launch.argv = {"/bin/sh", "-c", "id -u; id -g; id -G; touch mine && stat -c %u mine; echo $HOME"};
  ASSERT_OK((*runner)->Start(launch));
  std::optional<TaskEvent> end = sink.WaitForEnd("who");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->kind, Kind::kExited) << end->message;
  EXPECT_EQ(end->exit_code, 0);
  const TaskPaths paths = PathsForTask(dir.path(), "who");
  const std::string uid = std::to_string(nobody->uid);
  const std::string gid = std::to_string(nobody->gid);
  EXPECT_EQ(ReadFileOrEmpty(paths.stdout_log), uid + "\n" + gid + "\n" + gid + "\n" + uid + "\n" + paths.dir.string() + "\n");
  struct stat info {};
  ASSERT_EQ(::stat(paths.stdout_log.c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, nobody->uid);
}

TEST_F(TaskRunnerTest, RunsInTaskFolderWithStdinFromDevNull) {
  RunToEnd(Shell("cwd", "pwd; cat; echo done"));
  EXPECT_EQ(Stdout("cwd"),
            std::filesystem::canonical(PathsForTask(dir_.path(), "cwd").dir).string() + "\ndone\n");
}

TEST_F(TaskRunnerTest, StderrIsCapturedSeparately) {
  RunToEnd(Shell("streams", "echo to-out; echo to-err >&2; echo more-out"));
  EXPECT_EQ(Stdout("streams"), "to-out\nmore-out\n");
  EXPECT_EQ(Stderr("streams"), "to-err\n");
}

TEST_F(TaskRunnerTest, ReportsStartedThenExitCode) {
  TaskEvent end = RunToEnd(Shell("exit3", "exit 3"));
  EXPECT_EQ(end.kind, Kind::kExited);
  EXPECT_EQ(end.exit_code, 3);
  EXPECT_EQ(end.attempt, 1u);
  std::vector<TaskEvent> events = sink_.EventsFor("exit3");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kStarted);
  EXPECT_GT(events[0].pid, 0);
  EXPECT_EQ(events[1].pid, events[0].pid);
}

TEST_F(TaskRunnerTest, DeathBySignalIs128PlusSignal) {
  TaskEvent end = RunToEnd(Shell("signalled", "kill -USR1 $$"));
  EXPECT_EQ(end.kind, Kind::kExited);
  EXPECT_EQ(end.exit_code, 128 + SIGUSR1);
  EXPECT_THAT(end.message, HasSubstr("SIGUSR1"));
}

// A missing program is the task's fault, not the worker's: it ends like a
// shell's `exit 127`, with no process, rather than failing to start (which
// would send it to another worker to fail again).
TEST_F(TaskRunnerTest, MissingProgramExits127WithClearMessage) {
  TaskEvent end = RunToEnd(Launch("missing", {"gpulse-no-such-program"}));
  EXPECT_EQ(end.kind, Kind::kExited);
  EXPECT_EQ(end.exit_code, 127);
  EXPECT_EQ(end.message, "cannot run the program: argv[0] 'gpulse-no-such-program': No such file or directory");
  EXPECT_EQ(end.pid, 0);
  EXPECT_EQ(sink_.EventsFor("missing").size(), 1u);
  EXPECT_TRUE(runner_->Running().empty());  // it never had a process
  // The id is free again once the sink has returned from the failure.
  EXPECT_TRUE(Eventually([&] { return runner_->Start(Shell("missing", "true")).ok(); }));
}

TEST_F(TaskRunnerTest, ProgramIsFoundThroughTheTasksPath) {
  const auto bin = dir_.path() / "bin";
  std::filesystem::create_directories(bin);
  testkit::WriteFile(bin / "hello-task", "#!/bin/sh\necho hello from path\n");
  std::filesystem::permissions(bin / "hello-task", std::filesystem::perms::owner_all);
  TaskLaunch launch = Launch("path", {"hello-task"});
  launch.env = {{"PATH", bin.string() + ":/usr/bin:/bin"}};
  TaskEvent end = RunToEnd(launch);
  EXPECT_EQ(end.kind, Kind::kExited);
  EXPECT_EQ(Stdout("path"), "hello from path\n");
}

TEST_F(TaskRunnerTest, CancelEndsWellBehavedTaskWithSigterm) {
  ASSERT_TRUE(runner_->Start(Launch("polite", {"sleep", "30"})).ok());
  const pid_t pid = StartedPid("polite");
  ASSERT_NE(pid, 0);
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(runner_->Cancel("polite", std::chrono::seconds(30)).ok());
  std::optional<TaskEvent> end = sink_.WaitForEnd("polite");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->kind, Kind::kCancelled);
  EXPECT_EQ(end->exit_code, 128 + SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(10));
  EXPECT_TRUE(GroupIsGone(pid));
}

TEST_F(TaskRunnerTest, CancelKillsTaskIgnoringSigtermAfterGrace) {
  // The shell and its background child both ignore SIGTERM.
  ASSERT_TRUE(runner_->Start(Shell("stubborn", "trap '' TERM; sleep 30 & echo $!; wait")).ok());
  const pid_t pid = StartedPid("stubborn");
  const pid_t grandchild = std::stoi(WaitForFirstLine("stubborn"));
  ASSERT_EQ(::getpgid(grandchild), pid);

  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(runner_->Cancel("stubborn", milliseconds(200)).ok());
  std::optional<TaskEvent> end = sink_.WaitForEnd("stubborn");
  ASSERT_TRUE(end.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - asked, milliseconds(200));
  EXPECT_EQ(end->kind, Kind::kCancelled);
  EXPECT_EQ(end->exit_code, 128 + SIGKILL);
  EXPECT_THAT(end->message, HasSubstr("SIGKILL after 200 ms"));
  EXPECT_TRUE(GroupIsGone(pid));
}

TEST_F(TaskRunnerTest, CancelReachesGrandchildren) {
  ASSERT_TRUE(runner_->Start(Shell("tree", "sleep 30 & echo $!; wait")).ok());
  const pid_t pid = StartedPid("tree");
  const pid_t grandchild = std::stoi(WaitForFirstLine("tree"));
  ASSERT_EQ(::getpgid(grandchild), pid);
  ASSERT_TRUE(runner_->Cancel("tree", std::chrono::seconds(30)).ok());
  std::optional<TaskEvent> end = sink_.WaitForEnd("tree");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->kind, Kind::kCancelled);
  EXPECT_TRUE(GroupIsGone(pid));
}

TEST_F(TaskRunnerTest, LeftoverProcessesAreKilledWhenMainProcessExits) {
  TaskEvent end = RunToEnd(Shell("leaver", "sleep 30 & echo $!"));
  EXPECT_EQ(end.kind, Kind::kExited);
  EXPECT_EQ(end.exit_code, 0);
  EXPECT_TRUE(GroupIsGone(end.pid));
}

TEST_F(TaskRunnerTest, ZeroGraceKillsAtOnce) {
  ASSERT_TRUE(runner_->Start(Shell("now", "trap '' TERM; sleep 30")).ok());
  ASSERT_NE(StartedPid("now"), 0);
  ASSERT_TRUE(runner_->Cancel("now", milliseconds(0)).ok());
  std::optional<TaskEvent> end = sink_.WaitForEnd("now");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->exit_code, 128 + SIGKILL);
}

TEST_F(TaskRunnerTest, CancelOfUnknownTaskIsNotFound) {
  EXPECT_EQ(runner_->Cancel("nope", milliseconds(10)).code(), StatusCode::kNotFound);
}

TEST_F(TaskRunnerTest, DuplicateIdWhileRunningIsAlreadyExists) {
  ASSERT_TRUE(runner_->Start(Launch("dup", {"sleep", "30"})).ok());
  EXPECT_EQ(runner_->Start(Launch("dup", {"true"})).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(runner_->Cancel("dup", milliseconds(0)).ok());
  ASSERT_TRUE(sink_.WaitForEnd("dup").has_value());
}

TEST_F(TaskRunnerTest, NewAttemptTruncatesLogs) {
  RunToEnd(Shell("again", "echo a-long-first-attempt; echo err1 >&2"));
  EXPECT_EQ(Stdout("again"), "a-long-first-attempt\n");

  // The first attempt's end event has been recorded, but the id is freed only
  // after the sink returns, so wait for that.
  TaskLaunch second = Shell("again", "echo 2");
  second.attempt = 2;
  ASSERT_TRUE(Eventually([&] { return runner_->Start(second).ok(); }));
  ASSERT_TRUE(Eventually([&] { return sink_.EventsFor("again").size() == 4; }));
  EXPECT_EQ(sink_.EventsFor("again").back().attempt, 2u);
  EXPECT_EQ(Stdout("again"), "2\n");
  EXPECT_EQ(Stderr("again"), "");
}

TEST_F(TaskRunnerTest, RunningListsTaskUntilItsLastEventIsDelivered) {
  std::vector<RunningTaskInfo> seen_at_end;
  sink_.hook = [&](const TaskEvent& event) {
    if (event.kind == Kind::kExited) seen_at_end = runner_->Running();
  };
  TaskLaunch launch = Shell("listed", "read never");
  launch.attempt = 7;
  launch.gpu_indices = {1};
  launch.gpu_uuids = {"GPU-abc"};
  TaskEvent end = RunToEnd(launch);
  ASSERT_EQ(seen_at_end.size(), 1u);
  EXPECT_EQ(seen_at_end[0].task_id, "listed");
  EXPECT_EQ(seen_at_end[0].pid, end.pid);
  EXPECT_EQ(seen_at_end[0].attempt, 7u);
  EXPECT_EQ(seen_at_end[0].gpu_uuids, std::vector<std::string>{"GPU-abc"});
  EXPECT_TRUE(Eventually([&] { return runner_->Running().empty(); }));
}

TEST_F(TaskRunnerTest, RunningListsLiveTasks) {
  ASSERT_TRUE(runner_->Start(Launch("a", {"sleep", "30"})).ok());
  ASSERT_TRUE(runner_->Start(Launch("b", {"sleep", "30"})).ok());
  std::vector<RunningTaskInfo> running = runner_->Running();
  ASSERT_EQ(running.size(), 2u);
  EXPECT_EQ(running[0].task_id, "a");
  EXPECT_EQ(running[1].task_id, "b");
  EXPECT_GT(running[0].pid, 0);
}

TEST_F(TaskRunnerTest, AllOutputIsReadableWhenExitIsReported) {
  size_t total = 0;
  size_t largest_chunk = 0;
  std::string stderr_text;
  sink_.hook = [&](const TaskEvent& event) {
    if (event.kind != Kind::kExited) return;
    LogTailer tailer(PathsForTask(dir_.path(), event.task_id), event.attempt);
    while (true) {
      Result<std::vector<OutputChunk>> chunks = tailer.ReadNewOutput();
      if (!chunks.ok() || chunks->empty()) break;
      for (const OutputChunk& chunk : *chunks) {
        largest_chunk = std::max(largest_chunk, chunk.data.size());
        if (chunk.stream == OutputStream::kStdout) total += chunk.data.size();
        if (chunk.stream == OutputStream::kStderr) stderr_text += chunk.data;
      }
    }
  };
  RunToEnd(Shell("chatty", "yes 0123456789 | head -c 300000; echo finished >&2"));
  EXPECT_EQ(total, 300000u);
  EXPECT_EQ(largest_chunk, LogTailer::kDefaultMaxChunkBytes);
  EXPECT_EQ(stderr_text, "finished\n");
}

TEST_F(TaskRunnerTest, MalformedLaunchesAreRejected) {
  EXPECT_EQ(runner_->Start(Shell("", "true")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(runner_->Start(Shell("..", "true")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(runner_->Start(Shell("a/b", "true")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(runner_->Start(Launch("x", {})).code(), StatusCode::kInvalidArgument);
  TaskLaunch mismatched = Shell("x", "true");
  mismatched.gpu_indices = {0, 1};
  mismatched.gpu_uuids = {"GPU-a"};
  EXPECT_EQ(runner_->Start(mismatched).code(), StatusCode::kInvalidArgument);
  TaskLaunch bad_env = Shell("x", "true");
  bad_env.env = {{"A=B", "c"}};
  EXPECT_EQ(runner_->Start(bad_env).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(sink_.Count(), 0u);
}

TEST_F(TaskRunnerTest, ShutdownKillsTasksAndRefusesNewOnes) {
  ASSERT_TRUE(runner_->Start(Shell("victim", "trap '' TERM; sleep 30 & wait")).ok());
  const pid_t pid = StartedPid("victim");
  ASSERT_NE(pid, 0);
  runner_->Shutdown(/*kill_tasks=*/true);
  EXPECT_TRUE(GroupIsGone(pid));
  EXPECT_EQ(runner_->Start(Shell("late", "true")).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(runner_->Running().empty());
}

TEST_F(TaskRunnerTest, ShutdownWithoutKillingLeavesTasksRunning) {
  ASSERT_TRUE(runner_->Start(Launch("survivor", {"sleep", "30"})).ok());
  const pid_t pid = StartedPid("survivor");
  ASSERT_NE(pid, 0);
  const size_t events_before = sink_.Count();
  runner_->Shutdown(/*kill_tasks=*/false);
  EXPECT_EQ(::kill(pid, 0), 0);
  // Clean up as the next worker, or the operator, would.
  ::kill(-pid, SIGKILL);
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(sink_.Count(), events_before);
}

// Out of file descriptors, the runner cannot make its wake-up eventfd: that
// is an error value for the daemon to report, not an exception.
TEST(TaskRunnerCreateTest, NoFileDescriptorLeftIsAnErrorNotAnException) {
  RecordingSink sink;
  TempDir dir;
  rlimit saved = {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit none = saved;
  none.rlim_cur = 0;  // no new descriptor may be opened
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &none), 0);
  std::optional<Result<std::unique_ptr<TaskRunner>>> runner;
  EXPECT_NO_THROW(runner.emplace(TaskRunner::Create(ConfigFor(dir.path(), Environment{}), sink)));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(runner.has_value());
  EXPECT_EQ(runner->status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(runner->status().message(), HasSubstr("eventfd"));
}

}  // namespace
}  // namespace gpulse::worker
