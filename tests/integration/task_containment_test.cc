// Issue 8's observations 4 and 5, end to end: real gpulse-master and
// gpulse-worker binaries, with the worker's default containment (cgroups on
// this machine) and with the process fallback. A child that calls setsid is
// gone by the time the master calls the task finished; `nproc` is the
// requested cpus; a memory hog fails saying it exceeded its memory limit.
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// True when `pid` no longer runs (gone, or a zombie nobody reaped yet).
bool Dead(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::stringstream text;
  text << in.rdbuf();
  const std::string stat = text.str();
  const size_t close = stat.rfind(')');
  return !in || close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] == 'Z' ||
         stat[close + 2] == 'X';
}

class TaskContainmentTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    master_ = std::make_unique<MasterProcess>(dir_.File("master"));
    worker_ = std::make_unique<WorkerProcess>(*master_, "w", SimScenario("w", {0, 0}), dir_.path(),
                                              std::vector<std::string>{"--containment", GetParam()});
    ASSERT_TRUE(Eventually([&] { return Worker().value("state", "") == "healthy"; }, seconds(20))) << Logs();
  }

  void TearDown() override {
    // Anything a failed test left behind is this test's to kill.
    for (pid_t pid : escapees_) {
      if (!Dead(pid)) ::kill(pid, SIGKILL);
    }
    // A clean stop, so the worker removes its cgroups.
    if (worker_) worker_->process().Signal(SIGTERM);
  }

  json Worker() { return HttpGet(master_->http_port(), "/api/workers/w", master_->read_token()).json(); }
  json Task(const std::string& id) { return HttpGet(master_->http_port(), "/api/tasks/" + id, master_->read_token()).json(); }
  std::string Output(const std::string& id) {
    return HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs", master_->read_token()).body;
  }
  std::string Logs() {
    return "--- master\n" + master_->process().Log() + "--- worker\n" + worker_->process().Log();
  }

  std::string Submit(const json& body) {
    HttpReply r = HttpPost(master_->http_port(), "/api/tasks", body.dump(), master_->token());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  }

  bool WaitState(const std::string& id, const std::string& state) {
    return Eventually([&] { return Task(id).value("state", "") == state; }, seconds(20));
  }

  // The pid the task printed on its first output line.
  pid_t FirstLinePid(const std::string& id) {
    std::string out;
    Eventually([&] {
      out = Output(id);
      return out.find('\n') != std::string::npos;
    }, seconds(10));
    const pid_t pid = std::atoi(out.c_str());
    if (pid > 0) escapees_.push_back(pid);
    return pid;
  }

  bool WorkerEnforces(const std::string& capability) {
    const std::string log = worker_->process().Log();
    const size_t line = log.find("task containment: ");
    const size_t missing = log.find("not enforced:", line);
    const size_t end = log.find('\n', line);
    return line != std::string::npos && (missing > end || log.find(capability, missing) > end);
  }

  testkit::TempDir dir_{"gpulse-containment"};
  std::unique_ptr<MasterProcess> master_;
  std::unique_ptr<WorkerProcess> worker_;
  std::vector<pid_t> escapees_;
};

TEST_P(TaskContainmentTest, SetsidChildIsGoneWhenTheTaskIsCancelled) {
  std::string id = Submit({{"argv", {"/bin/sh", "-c", "setsid sleep 300 & echo $!; sleep 300"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(id, "running")) << Logs();
  const pid_t escapee = FirstLinePid(id);
  ASSERT_GT(escapee, 0) << Output(id);
  ASSERT_FALSE(Dead(escapee));
  HttpReply cancel = HttpPost(master_->http_port(), "/api/tasks/" + id + "/cancel", "{}", master_->token());
  ASSERT_EQ(cancel.status / 100, 2) << cancel.body;
  ASSERT_TRUE(WaitState(id, "cancelled")) << Logs();
  EXPECT_TRUE(Dead(escapee)) << "the setsid child outlived its cancelled task";
  EXPECT_EQ(Worker()["gpu_allocated"], 0);
}

TEST_P(TaskContainmentTest, SetsidChildIsGoneWhenTheTaskExits) {
  std::string id = Submit({{"argv", {"/bin/sh", "-c", "setsid sleep 300 & echo $!; sleep 1"}}, {"gpus", 1}});
  const pid_t escapee = FirstLinePid(id);
  ASSERT_GT(escapee, 0) << Output(id);
  ASSERT_TRUE(WaitState(id, "succeeded")) << Logs();
  EXPECT_TRUE(Dead(escapee)) << "the setsid child outlived its task, which the master calls finished";
}

TEST_P(TaskContainmentTest, NprocIsTheRequestedCpus) {
  std::string id = Submit({{"argv", {"nproc"}}, {"cpus", 1}});
  ASSERT_TRUE(WaitState(id, "succeeded")) << Logs();
  ASSERT_TRUE(Eventually([&] { return !Output(id).empty(); }, seconds(5)));
  EXPECT_EQ(Output(id), "1\n");
}

TEST_P(TaskContainmentTest, MemoryHogFailsSayingItExceededItsLimit) {
  if (!WorkerEnforces("memory limit")) GTEST_SKIP() << "this worker cannot limit memory:\n" << Logs();
  std::string id = Submit({{"argv", {"dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"}},
                           {"memory", "32MiB"}, {"max_attempts", 1}});
  ASSERT_TRUE(WaitState(id, "failed")) << Task(id).dump() << Logs();
  json t = Task(id);
  EXPECT_EQ(t["exit_code"], 128 + SIGKILL);
  EXPECT_NE(t.value("message", "").find("exceeded its memory limit of 32.0 MiB"), std::string::npos)
      << t.dump();
}

INSTANTIATE_TEST_SUITE_P(Backends, TaskContainmentTest, ::testing::Values("auto", "process"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace gpulse::integration
