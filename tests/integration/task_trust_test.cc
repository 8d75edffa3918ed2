// Task execution you can trust, end to end: real gpulse-master and
// gpulse-worker binaries on loopback, 1 s heartbeats. A task's exit is
// delivered exactly once across a master that dies (kill -9) while it
// finishes; an impossible request is refused and a waiting one says why.
#include <signal.h>

#include <chrono>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class TaskTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(master_ = std::make_unique<MasterProcess>(dir_.File("master")));
  }

  WorkerProcess& AddWorker(const std::string& id, const std::vector<double>& utilization,
                           std::vector<std::string> extra_args = {}) {
    workers_.push_back(std::make_unique<WorkerProcess>(*master_, id, SimScenario(id, utilization), dir_.path(),
                                                       std::move(extra_args)));
    return *workers_.back();
  }

  json Worker(const std::string& id) { return HttpGet(master_->http_port(), "/api/workers/" + id).json(); }
  json Task(const std::string& id) { return HttpGet(master_->http_port(), "/api/tasks/" + id).json(); }

  bool WaitHealthy(const std::string& id) {
    return Eventually([&] {
      json w = Worker(id);
      return w.is_object() && w.value("state", "") == "healthy" && w.value("heartbeats", 0) >= 1;
    }, seconds(20));
  }

  HttpReply Post(const json& body) {
    return HttpPost(master_->http_port(), "/api/tasks", body.dump(), master_->token());
  }
  std::string Submit(const json& body) {
    HttpReply r = Post(body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  }

  bool WaitState(const std::string& task, const std::string& state, seconds timeout = seconds(20)) {
    return Eventually([&] { return Task(task).value("state", "") == state; }, timeout);
  }

  std::string DiagnosticLogs() {
    std::string all = "--- master\n" + master_->process().Log();
    for (auto& w : workers_) all += "--- " + w->id() + "\n" + w->process().Log();
    return all;
  }

  testkit::TempDir dir_{"gpulse-trust"};
  std::unique_ptr<MasterProcess> master_;
  std::vector<std::unique_ptr<WorkerProcess>> workers_;
};

// Observation 6: more GPUs, CPUs or memory than any registered worker has
// is refused at once (HTTP 422 and the CLI's exit 1) unless the submitter
// asks to wait; a task that waits says why.
TEST_F(TaskTrustTest, AnImpossibleRequestIsRefusedAndAWaitingOneSaysWhy) {
  // No worker yet: accepted, with a reason.
  std::string early = Submit({{"argv", {"/bin/true"}}, {"gpus", 5}});
  EXPECT_EQ(Task(early)["pending_reason"], "no worker has registered yet");

  AddWorker("w", {0, 0, 0, 0});
  ASSERT_TRUE(WaitHealthy("w")) << DiagnosticLogs();
  HttpReply r = Post({{"argv", {"/bin/true"}}, {"gpus", 5}});
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("no worker has 5 GPUs (largest: 4)"), std::string::npos) << r.body;
  r = Post({{"argv", {"/bin/true"}}, {"memory", "1TiB"}});
  EXPECT_EQ(r.status, 422) << r.body;
  r = Post({{"argv", {"/bin/true"}}, {"cpus", 4000}});
  EXPECT_EQ(r.status, 422) << r.body;

  const std::map<std::string, std::string> env = {{"GPULSE_MASTER", master_->http_url()},
                                                  {"GPULSE_TOKEN_FILE", master_->token_file()}};
  CommandResult cli = RunCommand({BinPath("gpulse"), "submit", "--gpus", "5", "--", "/bin/true"}, env);
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
  EXPECT_NE(cli.err.find("no worker has 5 GPUs (largest: 4)"), std::string::npos) << cli.err;

  cli = RunCommand({BinPath("gpulse"), "submit", "--allow-unfit", "--gpus", "5", "--", "/bin/true"}, env);
  ASSERT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  std::string waiting = cli.out.substr(0, cli.out.find('\n'));
  EXPECT_EQ(Task(waiting)["pending_reason"], "no worker has 5 GPUs (largest: 4)");
  // The early one is re-judged by the scheduling rounds.
  ASSERT_TRUE(Eventually([&] { return Task(early)["pending_reason"] == "no worker has 5 GPUs (largest: 4)"; },
                         seconds(10))) << Task(early).dump();

  // One that fits but has to wait for GPUs says so.
  std::string hold = Submit({{"argv", {"/bin/sleep", "30"}}, {"gpus", 3}});
  ASSERT_TRUE(WaitState(hold, "running")) << DiagnosticLogs();
  std::string two = Submit({{"argv", {"/bin/true"}}, {"gpus", 2}});
  ASSERT_TRUE(Eventually([&] { return Task(two)["pending_reason"] == "waiting for 2 free GPUs"; }, seconds(10)))
      << Task(two).dump();
  CommandResult status = RunCommand({BinPath("gpulse"), "status", two}, env);
  EXPECT_NE(status.out.find("Pending:   waiting for 2 free GPUs"), std::string::npos) << status.out;
  CommandResult tasks = RunCommand({BinPath("gpulse"), "tasks", "--state", "queued"}, env);
  EXPECT_NE(tasks.out.find("waiting for 2 free GPUs"), std::string::npos) << tasks.out;
  EXPECT_EQ(Task(hold)["pending_reason"], nullptr);  // only queued tasks have one
}

}  // namespace
}  // namespace gpulse::integration
