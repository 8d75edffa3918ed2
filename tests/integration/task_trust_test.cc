// Task execution you can trust, end to end: real gpulse-master and
// gpulse-worker binaries on loopback, 1 s heartbeats. A task's exit is
// delivered exactly once across a master that dies (kill -9) while it
// finishes; an impossible request is refused and a waiting one says why; a
// missing program fails once (exit 127); a worker that cannot create task
// directories takes no tasks.
#include <signal.h>

#include <chrono>
#include <filesystem>
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

  json Worker(const std::string& id) { return HttpGet(master_->http_port(), "/api/workers/" + id, master_->read_token()).json(); }
  json Task(const std::string& id) { return HttpGet(master_->http_port(), "/api/tasks/" + id, master_->read_token()).json(); }

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

// Observation 2: the master is stopped, the task exits (its worker writes
// the EXITED report into the socket: the write succeeds), then the master
// is killed with the report unread and started again. The worker has kept
// the report because it was never acknowledged; it sends it inside its new
// registration, and the master applies it before reconciling: the task
// ends with its real exit code and ran once.
TEST_F(TaskTrustTest, AnExitDuringAMasterCrashIsReportedOnceWithItsRealExitCode) {
  WorkerProcess& worker = AddWorker("w", {0});
  ASSERT_TRUE(WaitHealthy("w")) << DiagnosticLogs();
  const std::string go = dir_.File("go");
  std::string id = Submit({{"argv", {"/bin/sh", "-c", "echo started; while [ ! -e " + go + " ]; do sleep 0.05; done; exit 7"}},
                           {"gpus", 1}});
  ASSERT_TRUE(WaitState(id, "running")) << DiagnosticLogs();

  master_->process().Signal(SIGSTOP);
  std::ofstream(go) << "go\n";
  ASSERT_TRUE(Eventually([&] {
    return worker.process().Log().find("task " + id + " exited (exit code 7)") != std::string::npos;
  }, seconds(20))) << DiagnosticLogs();
  master_->Kill9();
  master_->Start();

  ASSERT_TRUE(WaitState(id, "failed", seconds(30))) << Task(id).dump() << DiagnosticLogs();
  json t = Task(id);
  EXPECT_EQ(t["exit_code"], 7) << t.dump();
  EXPECT_EQ(t["attempts"], 1) << t.dump();  // never requeued, never run twice
  EXPECT_EQ(t["message"], "exited with code 7") << t.dump();
  // And it stays that way: the worker got its ack and sends no repeat
  // that could change it (a repeat would be ignored anyway).
  ASSERT_TRUE(Eventually([&] { return Worker("w").value("heartbeats", 0) >= 3; }, seconds(20)));
  EXPECT_EQ(Task(id)["attempts"], 1);
  EXPECT_EQ(worker.process().Log().find("starting task " + id + " (attempt 2)"), std::string::npos)
      << DiagnosticLogs();
}

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

  const std::map<std::string, std::string> env = master_->cli_env();  // with the admin token
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

// A program that does not exist fails once, with a shell's exit code 127
// and a message that says so: no retries on this or another worker.
TEST_F(TaskTrustTest, AMissingProgramFailsOnceWithExitCode127) {
  AddWorker("w", {0});
  ASSERT_TRUE(WaitHealthy("w")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/no/such/program", "--flag"}}, {"max_attempts", 3}});
  ASSERT_TRUE(WaitState(id, "failed")) << Task(id).dump() << DiagnosticLogs();
  json t = Task(id);
  EXPECT_EQ(t["exit_code"], 127) << t.dump();
  EXPECT_EQ(t["attempts"], 1) << t.dump();
  const std::string message = t.value("message", "");
  EXPECT_NE(message.find("exited with code 127"), std::string::npos) << message;
  EXPECT_NE(message.find("/no/such/program': No such file or directory"), std::string::npos) << message;
}

// Observation 8: a worker that cannot create task directories says so
// (worker JSON) and gets no task; a task waits with a reason instead of
// burning its attempts there, and runs once the worker is fixed.
TEST_F(TaskTrustTest, AWorkerThatCannotCreateTaskDirectoriesTakesNoTasks) {
  AddWorker("w", {0});
  ASSERT_TRUE(WaitHealthy("w")) << DiagnosticLogs();
  // Root ignores permission bits, so break it with a file where the
  // task directories go.
  const std::string tasks_dir = dir_.File("w-work") + "/tasks";
  std::filesystem::remove_all(tasks_dir);
  std::ofstream(tasks_dir) << "not a directory\n";
  ASSERT_TRUE(Eventually([&] { return Worker("w")["unhealthy_reason"].is_string(); }, seconds(20)))
      << Worker("w").dump() << DiagnosticLogs();
  EXPECT_NE(Worker("w")["unhealthy_reason"].get<std::string>().find("cannot create task directories"),
            std::string::npos)
      << Worker("w").dump();

  std::string id = Submit({{"argv", {"/bin/true"}}});
  ASSERT_TRUE(Eventually([&] { return Task(id)["pending_reason"] == "no healthy worker"; }, seconds(10)))
      << Task(id).dump();
  EXPECT_EQ(Task(id)["attempts"], 0);

  std::filesystem::remove(tasks_dir);
  ASSERT_TRUE(WaitState(id, "succeeded")) << Task(id).dump() << DiagnosticLogs();
  EXPECT_EQ(Task(id)["attempts"], 1);
  EXPECT_EQ(Worker("w")["unhealthy_reason"], nullptr);
}

// gpulse drain stops new placements on a worker (its running task goes
// on), says so in the API and `gpulse workers`, and undrain lifts it.
TEST_F(TaskTrustTest, DrainStopsNewPlacementsAndUndrainLiftsIt) {
  AddWorker("w", {0, 0});
  AddWorker("cpu-only", {});  // takes the probe below, never a GPU task
  ASSERT_TRUE(WaitHealthy("w") && WaitHealthy("cpu-only")) << DiagnosticLogs();
  const std::map<std::string, std::string> env = master_->cli_env();  // with the admin token
  std::string before = Submit({{"argv", {"/bin/sleep", "30"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(before, "running")) << DiagnosticLogs();

  CommandResult drain = RunCommand({BinPath("gpulse"), "drain", "w"}, env);
  ASSERT_EQ(drain.exit_code, 0) << drain.out << drain.err;
  EXPECT_EQ(drain.out, "w draining\n");
  EXPECT_EQ(Worker("w")["draining"], true);
  CommandResult workers = RunCommand({BinPath("gpulse"), "workers"}, env);
  EXPECT_NE(workers.out.find(" draining "), std::string::npos) << workers.out;  // its STATE

  std::string after = Submit({{"argv", {"/bin/true"}}, {"gpus", 1}});
  ASSERT_TRUE(Eventually([&] { return Task(after)["pending_reason"] == "all fitting workers are draining"; },
                         seconds(10)))
      << Task(after).dump();
  // A barrier: rounds offer queued tasks in submission order, so once a
  // later probe has been placed, `after` was offered too and not placed.
  std::string probe = Submit({{"argv", {"/bin/true"}}, {"cpus", 0}, {"name", "probe"}});
  ASSERT_TRUE(Eventually([&] { return Task(probe).value("attempts", 0) >= 1; }, seconds(20))) << DiagnosticLogs();
  EXPECT_EQ(Task(after)["attempts"], 0);
  EXPECT_EQ(Task(before)["state"], "running");  // what runs goes on

  EXPECT_EQ(RunCommand({BinPath("gpulse"), "drain", "nobody"}, env).exit_code, 1);
  CommandResult undrain = RunCommand({BinPath("gpulse"), "undrain", "w"}, env);
  ASSERT_EQ(undrain.exit_code, 0) << undrain.out << undrain.err;
  ASSERT_TRUE(WaitState(after, "succeeded")) << Task(after).dump() << DiagnosticLogs();
}

}  // namespace
}  // namespace gpulse::integration
