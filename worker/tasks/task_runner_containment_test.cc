// The task runner with each containment backend this machine offers: what
// issue 8 observed (a setsid child outliving its task, requests that were
// bookkeeping only) must not happen. Real processes and cgroups, as root; a
// backend or facility the machine lacks is skipped with the reason.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <condition_variable>
#include <cstring>
#include <mutex>

#include "worker/tasks/containment/proc_scan.h"
#include "worker/tasks/task_paths.h"
#include "worker/tasks/task_runner.h"
#include "testkit/eventually.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Backend = ContainmentOptions::Backend;
using Kind = TaskEvent::Kind;
using testkit::Eventually;
using testkit::ReadFileOrEmpty;

constexpr auto kWait = std::chrono::seconds(10);

// True when `pid` is gone or a zombie; reaps it when it is our child.
bool Dead(pid_t pid) {
  ::waitpid(pid, nullptr, WNOHANG);
  std::optional<ProcessInfo> info = ReadProcess("/proc", pid);
  return !info || info->state == 'Z' || info->state == 'X';
}

// Records end events, and whether watched processes were dead when each
// end event was delivered (the moment the master would call GPUs free).
class EndSink : public TaskEventSink {
 public:
  void OnTaskEvent(const TaskEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (event.kind == Kind::kStarted) return;
    for (pid_t pid : watched_) dead_at_end_[event.task_id].push_back(Dead(pid));
    ends_.push_back(event);
    cv_.notify_all();
  }
  void Watch(pid_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    watched_.push_back(pid);
  }
  std::optional<TaskEvent> WaitForEnd(const std::string& task_id) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<TaskEvent> found;
    cv_.wait_for(lock, kWait, [&] {
      for (const TaskEvent& e : ends_) {
        if (e.task_id == task_id) found = e;
      }
      return found.has_value();
    });
    return found;
  }
  std::vector<bool> DeadAtEnd(const std::string& task_id) {
    std::lock_guard<std::mutex> lock(mu_);
    return dead_at_end_[task_id];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TaskEvent> ends_;
  std::vector<pid_t> watched_;
  std::map<std::string, std::vector<bool>> dead_at_end_;
};

struct BackendCase {
  const char* name;
  Backend backend;
};
void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.name; }

class TaskRunnerContainmentTest : public ::testing::TestWithParam<BackendCase> {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }

  void SetUp() override {
    ContainmentOptions options;
    options.backend = GetParam().backend;
    options.group = "gpulse-runner-test-" + std::to_string(::getpid());
    Result<std::shared_ptr<Containment>> opened = OpenContainment(options);
    if (!opened.ok()) {
      GTEST_SKIP() << "this machine has no " << GetParam().name << " containment: " << opened.status().message();
    }
    containment_ = *opened;
    TaskRunnerConfig config;
    config.work_dir = dir_.path();
    config.base_environment = Environment{{"PATH", "/usr/bin:/bin"}};
    config.containment = containment_;
    config.nvidia_gpus_dir = dir_.path() / "no-driver";
    auto runner = TaskRunner::Create(config, sink_);
    ASSERT_TRUE(runner.ok()) << runner.status().ToString();
    runner_ = std::move(*runner);
  }

  void TearDown() override {
    if (!runner_) return;
    runner_.reset();
    for (const auto& parent : containment_->Report().cell_parents) {
      std::error_code error;
      for (const auto& entry : std::filesystem::directory_iterator(parent, error)) {
        EXPECT_FALSE(entry.is_directory(error)) << "a cell is left: " << entry.path();
      }
    }
  }

  static TaskLaunch Shell(const std::string& id, const std::string& script) {
    TaskLaunch launch;
    launch.task_id = id;
    launch.attempt = 1;
    launch.argv = {"/bin/sh", "-c", script};
    return launch;
  }

  std::string Stdout(const std::string& id) { return ReadFileOrEmpty(PathsForTask(dir_.path(), id).stdout_log); }

  std::string WaitForFirstLine(const std::string& id) {
    std::string out;
    Eventually([&] {
      out = Stdout(id);
      return out.find('\n') != std::string::npos;
    }, kWait);
    return out.substr(0, out.find('\n'));
  }

  TaskEvent RunToEnd(const TaskLaunch& launch) {
    EXPECT_OK(runner_->Start(launch));
    std::optional<TaskEvent> end = sink_.WaitForEnd(launch.task_id);
    EXPECT_TRUE(end.has_value()) << "no end event for " << launch.task_id;
    return end.value_or(TaskEvent{});
  }

  testkit::TempDir dir_;
  EndSink sink_;
  std::shared_ptr<Containment> containment_;
  std::unique_ptr<TaskRunner> runner_;
};

TEST_P(TaskRunnerContainmentTest, SetsidEscapeeIsGoneWhenCancelIsReported) {
  ASSERT_OK(runner_->Start(Shell("cancelled", "setsid sleep 300 & echo $!; sleep 300")));
  const pid_t escapee = std::stoi(WaitForFirstLine("cancelled"));
  ASSERT_TRUE(Eventually([&] { return ::getsid(escapee) == escapee; }, kWait)) << "no setsid";
  sink_.Watch(escapee);
  ASSERT_OK(runner_->Cancel("cancelled", std::chrono::seconds(5)));
  std::optional<TaskEvent> end = sink_.WaitForEnd("cancelled");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->kind, Kind::kCancelled);
  EXPECT_EQ(sink_.DeadAtEnd("cancelled"), std::vector<bool>{true});
}

TEST_P(TaskRunnerContainmentTest, SetsidEscapeeIsGoneWhenExitIsReported) {
  // The main process exits at once; its escapee keeps the task's GPUs.
  TaskLaunch launch = Shell("exited", "setsid sleep 300 & echo $!; sleep 0.2");
  launch.gpu_indices = {1};
  launch.gpu_uuids = {"GPU-1"};
  ASSERT_OK(runner_->Start(launch));
  const pid_t escapee = std::stoi(WaitForFirstLine("exited"));
  sink_.Watch(escapee);
  std::optional<TaskEvent> end = sink_.WaitForEnd("exited");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->kind, Kind::kExited);
  EXPECT_EQ(end->exit_code, 0);
  EXPECT_EQ(sink_.DeadAtEnd("exited"), std::vector<bool>{true});
}

TEST_P(TaskRunnerContainmentTest, NprocIsTheRequestedCpus) {
  TaskLaunch launch = Shell("one-core", "nproc");
  launch.cpus = 1;
  TaskEvent end = RunToEnd(launch);
  EXPECT_EQ(end.exit_code, 0) << end.message;
  EXPECT_EQ(Stdout("one-core"), "1\n");
}

TEST_P(TaskRunnerContainmentTest, RunningTasksGetDifferentCores) {
  if (CurrentAffinity().size() < 2) GTEST_SKIP() << "needs two cores";
  for (const char* id : {"a", "b"}) {
    TaskLaunch launch = Shell(id, "grep Cpus_allowed_list /proc/self/status; exec sleep 300");
    launch.cpus = 1;
    ASSERT_OK(runner_->Start(launch));
  }
  const std::string a = WaitForFirstLine("a"), b = WaitForFirstLine("b");
  EXPECT_THAT(a, HasSubstr("Cpus_allowed_list:"));
  EXPECT_NE(a, b);
  for (const char* id : {"a", "b"}) ASSERT_OK(runner_->Cancel(id, std::chrono::milliseconds(0)));
  for (const char* id : {"a", "b"}) EXPECT_TRUE(sink_.WaitForEnd(id).has_value());
}

TEST_P(TaskRunnerContainmentTest, MemoryHogFailsSayingItExceededItsLimit) {
  if (!containment_->Report().memory_limit) {
    GTEST_SKIP() << GetParam().name << " cannot limit memory here: " << containment_->Report().summary;
  }
  TaskLaunch launch = Shell("hog", "exec dd if=/dev/zero of=/dev/null bs=256M count=1");
  launch.memory_bytes = 32 << 20;
  TaskEvent end = RunToEnd(launch);
  EXPECT_EQ(end.kind, Kind::kExited);
  EXPECT_EQ(end.exit_code, 128 + SIGKILL);
  EXPECT_TRUE(end.out_of_memory);
  EXPECT_THAT(end.message, HasSubstr("exceeded its memory limit of 32.0 MiB"));
}

TEST_P(TaskRunnerContainmentTest, TaskWithinItsMemoryLimitIsNotCalledOutOfMemory) {
  TaskLaunch launch = Shell("modest", "exec dd if=/dev/zero of=/dev/null bs=1M count=4");
  launch.memory_bytes = 64 << 20;
  TaskEvent end = RunToEnd(launch);
  EXPECT_EQ(end.exit_code, 0) << end.message;
  EXPECT_FALSE(end.out_of_memory);
  EXPECT_THAT(end.message, Not(HasSubstr("memory limit")));
}

TEST_P(TaskRunnerContainmentTest, AnotherGpusDeviceNodeCannotBeOpened) {
  if (!containment_->Report().device_isolation) {
    GTEST_SKIP() << GetParam().name << " cannot isolate devices here: " << containment_->Report().summary;
  }
  const std::string own = dir_.File("nvidia2"), other = dir_.File("nvidia0");
  if (::mknod(own.c_str(), S_IFCHR | 0666, makedev(195, 2)) != 0) {
    GTEST_SKIP() << "mknod needs CAP_MKNOD: " << std::strerror(errno);
  }
  ASSERT_EQ(::mknod(other.c_str(), S_IFCHR | 0666, makedev(195, 0)), 0);
  TaskLaunch launch = Shell("gpu2", "cat " + own + " " + other + " 2>&1; echo \"$CUDA_VISIBLE_DEVICES\"");
  launch.gpu_indices = {2};  // no driver listing: index 2 is /dev/nvidia2
  launch.gpu_uuids = {"GPU-2"};
  RunToEnd(launch);
  const std::string out = Stdout("gpu2");
  EXPECT_THAT(out, HasSubstr(other + ": Operation not permitted"));
  EXPECT_THAT(out, HasSubstr(own + ": No such device or address"));  // allowed; no driver behind it
  EXPECT_THAT(out, HasSubstr("GPU-2\n"));
}

// A root worker's task runs as the task user (issue 9) and is still
// contained: it joins its cell as root, before it drops privileges, so its
// cgroup files stay the worker's, and the whole cell is killed at its end.
TEST_P(TaskRunnerContainmentTest, ATaskOfTheTaskUserIsContainedAndKilledWhole) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  Result<TaskUser> nobody = ResolveTaskUser("nobody", 0);
  ASSERT_OK(nobody);
  std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                               std::filesystem::perms::others_exec);
  TaskRunnerConfig config;
  config.work_dir = dir_.path();
  config.containment = containment_;
  config.nvidia_gpus_dir = dir_.path() / "no-driver";
  config.task_user = *nobody;
  EndSink sink;
  auto runner = TaskRunner::Create(config, sink);
  ASSERT_OK(runner);
  TaskLaunch launch = Shell("as-user", "id -u; setsid sleep 300 & echo $!; sleep 0.2");
  launch.memory_bytes = 64 << 20;
  ASSERT_OK((*runner)->Start(launch));
  std::string out;
  ASSERT_TRUE(Eventually([&] {
    out = Stdout("as-user");
    return std::count(out.begin(), out.end(), '\n') >= 2;
  }, kWait)) << out;
  EXPECT_EQ(out.substr(0, out.find('\n')), std::to_string(nobody->uid));
  const pid_t escapee = std::stoi(out.substr(out.find('\n') + 1));
  sink.Watch(escapee);
  std::optional<TaskEvent> end = sink.WaitForEnd("as-user");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->kind, Kind::kExited) << end->message;
  EXPECT_EQ(end->exit_code, 0) << end->message;
  EXPECT_EQ(sink.DeadAtEnd("as-user"), std::vector<bool>{true});
}

INSTANTIATE_TEST_SUITE_P(Backends, TaskRunnerContainmentTest,
                         ::testing::Values(BackendCase{"cgroup2", Backend::kCgroup2},
                                           BackendCase{"cgroup1", Backend::kCgroup1},
                                           BackendCase{"auto", Backend::kAuto},
                                           BackendCase{"process", Backend::kProcess}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace gpulse::worker
