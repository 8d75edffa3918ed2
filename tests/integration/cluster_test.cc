// The cluster end to end: real gpulse-master and gpulse-worker binaries on
// loopback, GPUs from the NVML simulator, 1 s heartbeats.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = std::make_unique<MasterProcess>(dir_.File("master"));
  }

  WorkerProcess& AddWorker(const std::string& id, const std::vector<double>& utilization) {
    workers_.push_back(std::make_unique<WorkerProcess>(*master_, id, SimScenario(id, utilization), dir_.path()));
    return *workers_.back();
  }

  json Worker(const std::string& id) { return HttpGet(master_->http_port(), "/api/workers/" + id).json(); }
  json Task(const std::string& id) { return HttpGet(master_->http_port(), "/api/tasks/" + id).json(); }

  bool WaitHealthy(const std::string& id, seconds timeout = seconds(20)) {
    return Eventually([&] {
      json w = Worker(id);
      return w.is_object() && w.value("state", "") == "healthy" && w.value("heartbeats", 0) >= 1;
    }, timeout);
  }

  std::string Submit(const json& body) {
    HttpReply r = HttpPost(master_->http_port(), "/api/tasks", body.dump(), master_->token());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  }

  bool WaitState(const std::string& task, const std::string& state, seconds timeout = seconds(20)) {
    return Eventually([&] { return Task(task).value("state", "") == state; }, timeout);
  }

  std::string Logs(const std::string& task) {
    return HttpGet(master_->http_port(), "/api/tasks/" + task + "/logs").body;
  }

  std::string DiagnosticLogs() {
    std::string all = "--- master\n" + master_->process().Log();
    for (auto& w : workers_) all += "--- " + w->id() + "\n" + w->process().Log();
    return all;
  }

  testkit::TempDir dir_{"gpulse-cluster"};
  std::unique_ptr<MasterProcess> master_;
  std::vector<std::unique_ptr<WorkerProcess>> workers_;
};

TEST_F(ClusterTest, WorkersRegisterAndReportLiveUtilization) {
  AddWorker("w-two", {80, 40});
  AddWorker("w-one", {10});
  ASSERT_TRUE(WaitHealthy("w-two")) << DiagnosticLogs();
  ASSERT_TRUE(WaitHealthy("w-one")) << DiagnosticLogs();
  json two = Worker("w-two");
  EXPECT_EQ(two["gpu_capacity"], 2);
  EXPECT_EQ(two["gpu_allocated"], 0);
  EXPECT_NEAR(two["gpu_percent"].get<double>(), 60.0, 0.01);
  ASSERT_EQ(two["gpus"].size(), 2u);
  EXPECT_NEAR(two["gpus"][0]["utilization_gpu"].get<double>(), 80.0, 0.01);
  EXPECT_EQ(two["gpus"][0]["name"], "NVIDIA H100 80GB HBM3");
  EXPECT_TRUE(two["cpu_percent"].is_number() || two["cpu_percent"].is_null());
  EXPECT_TRUE(two["memory_percent"].is_number());
  // Heartbeats keep coming, once a second.
  int before = two["heartbeats"];
  ASSERT_TRUE(Eventually([&] { return Worker("w-two").value("heartbeats", 0) >= before + 2; }, seconds(10)));
  EXPECT_NE(workers_[0]->process().Log().find("Heartbeat sent: CPU="), std::string::npos);
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/workers").json().size(), 2u);
}

TEST_F(ClusterTest, OneGpuTaskSeesExactlyItsGpu) {
  AddWorker("w1", {0, 0});
  ASSERT_TRUE(WaitHealthy("w1")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/bin/sh", "-c", "echo \"gpus=$CUDA_VISIBLE_DEVICES\""}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(id, "succeeded")) << Task(id).dump() << DiagnosticLogs();
  json t = Task(id);
  ASSERT_EQ(t["gpus"].size(), 1u);
  EXPECT_EQ(t["exit_code"], 0);
  EXPECT_EQ(t["worker"], "w1");
  std::string uuid = t["gpus"][0];
  ASSERT_TRUE(Eventually([&] { return Logs(id).find("gpus=") != std::string::npos; }, seconds(5)));
  EXPECT_EQ(Logs(id), "gpus=" + uuid + "\n");
}

TEST_F(ClusterTest, CapacityIsRespectedAndBigTasksWaitForABigWorker) {
  AddWorker("small-a", {0, 0});
  AddWorker("small-b", {0, 0});
  ASSERT_TRUE(WaitHealthy("small-a") && WaitHealthy("small-b")) << DiagnosticLogs();
  std::string big = Submit({{"argv", {"/bin/true"}}, {"gpus", 3}});
  std::string hold_a = Submit({{"argv", {"/bin/sleep", "30"}}, {"gpus", 2}});
  ASSERT_TRUE(WaitState(hold_a, "running")) << DiagnosticLogs();
  // A 3-GPU task cannot fit any 2-GPU worker: it stays queued.
  EXPECT_FALSE(WaitState(big, "assigned", seconds(2)));
  EXPECT_EQ(Task(big)["state"], "queued");
  // The 2-GPU worker that runs hold_a has no GPU left for another 2-GPU task.
  std::string hold_b = Submit({{"argv", {"/bin/sleep", "30"}}, {"gpus", 2}});
  ASSERT_TRUE(WaitState(hold_b, "running")) << DiagnosticLogs();
  EXPECT_NE(Task(hold_a)["worker"], Task(hold_b)["worker"]);
  std::string third = Submit({{"argv", {"/bin/true"}}, {"gpus", 1}});
  EXPECT_FALSE(WaitState(third, "assigned", seconds(2)));
  // A 4-GPU worker arrives: the big task runs there.
  AddWorker("big", {0, 0, 0, 0});
  ASSERT_TRUE(WaitState(big, "succeeded")) << DiagnosticLogs();
  EXPECT_EQ(Task(big)["worker"], "big");
}

TEST_F(ClusterTest, LostGpuIsReportedAndNeverScheduled) {
  json scenario = SimScenario("lossy", {30, 50});
  scenario["gpus"][0]["lost"] = true;
  workers_.push_back(std::make_unique<WorkerProcess>(*master_, "lossy", scenario, dir_.path()));
  ASSERT_TRUE(WaitHealthy("lossy")) << DiagnosticLogs();
  ASSERT_TRUE(Eventually([&] { return !Worker("lossy")["gpus"][0].value("healthy", true); }, seconds(10)));
  json w = Worker("lossy");
  EXPECT_TRUE(w["gpus"][0]["error"].is_string());
  EXPECT_TRUE(w["gpus"][0]["utilization_gpu"].is_null());  // unknown, not 0
  EXPECT_NEAR(w["gpu_percent"].get<double>(), 50.0, 0.01);  // the mean of the readable one
  std::string a = Submit({{"argv", {"/bin/sleep", "30"}}, {"gpus", 1}});
  std::string b = Submit({{"argv", {"/bin/true"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(a, "running")) << DiagnosticLogs();
  EXPECT_EQ(Task(a)["gpu_indices"][0], 1);
  EXPECT_FALSE(WaitState(b, "assigned", seconds(2)));  // the only other GPU is lost
}

TEST_F(ClusterTest, AGpuThatComesBackIsScheduledAgainWithoutARestart) {
  json scenario = SimScenario("flaky", {20, 40});
  scenario["gpus"][1]["lost"] = true;
  workers_.push_back(std::make_unique<WorkerProcess>(*master_, "flaky", scenario, dir_.path()));
  ASSERT_TRUE(WaitHealthy("flaky")) << DiagnosticLogs();
  ASSERT_TRUE(Eventually([&] { return !Worker("flaky")["gpus"][1].value("healthy", true); }, seconds(10)));
  std::string pair = Submit({{"argv", {"/bin/true"}}, {"gpus", 2}});
  EXPECT_FALSE(WaitState(pair, "assigned", seconds(2)));  // one of the two GPUs is lost
  scenario["gpus"][1]["lost"] = false;
  WriteScenario(workers_.back()->scenario_path(), scenario);
  // The worker re-initialises NVML (with backoff), the GPU reads again, and
  // after 3 good samples the master schedules on it — nobody restarted.
  ASSERT_TRUE(WaitState(pair, "succeeded", seconds(30))) << DiagnosticLogs();
  json w = Worker("flaky");
  EXPECT_TRUE(w["gpus"][1].value("healthy", false));
  EXPECT_NEAR(w["gpu_percent"].get<double>(), 30.0, 0.01);
}

TEST_F(ClusterTest, TasksOfAKilledWorkerAreRequeuedAndRunElsewhere) {
  auto& doomed = AddWorker("doomed", {0});
  ASSERT_TRUE(WaitHealthy("doomed")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/bin/sh", "-c", "sleep 2; echo done"}}, {"gpus", 1}, {"max_attempts", 3}});
  ASSERT_TRUE(WaitState(id, "running")) << DiagnosticLogs();
  doomed.process().Signal(SIGKILL);
  auto killed_at = std::chrono::steady_clock::now();
  // Dead after 3 missed 1 s heartbeats; its task goes back to the queue.
  ASSERT_TRUE(Eventually([&] { return Task(id).value("state", "") == "queued"; }, seconds(8))) << DiagnosticLogs();
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, seconds(5));
  EXPECT_EQ(Worker("doomed")["state"], "dead");
  EXPECT_EQ(Task(id)["attempts"], 1);
  AddWorker("rescuer", {0});
  ASSERT_TRUE(WaitState(id, "succeeded", seconds(30))) << DiagnosticLogs();
  EXPECT_EQ(Task(id)["worker"], "rescuer");
  EXPECT_EQ(Task(id)["attempts"], 2);
}

// Creates a file when it goes away, whatever way the test ends.
class TouchOnExit {
 public:
  explicit TouchOnExit(std::string path) : path_(std::move(path)) {}
  ~TouchOnExit() { std::ofstream(path_).put('\n'); }

 private:
  std::string path_;
};

TEST_F(ClusterTest, EachAttemptOfARetriedTaskKeepsItsOwnOutput) {
  auto& doomed = AddWorker("doomed", {0});
  ASSERT_TRUE(WaitHealthy("doomed")) << DiagnosticLogs();
  // Attempt 1 prints, then waits on a worker that is about to die until the
  // test lets it go; attempt 2 prints and succeeds. Both print as much.
  const std::string release = dir_.File("release-attempt-1");
  TouchOnExit release_at_the_end(release);
  const std::string script =
      "echo \"out of attempt $GPULSE_TASK_ATTEMPT\"; echo \"err of attempt $GPULSE_TASK_ATTEMPT\" >&2; "
      "if [ \"$GPULSE_TASK_ATTEMPT\" = 1 ]; then i=0; "
      "while [ ! -e '" + release + "' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; exit 1; fi";
  std::string id = Submit({{"argv", {"/bin/sh", "-c", script}}, {"gpus", 1}, {"max_attempts", 2}});
  std::map<std::string, std::string> env = {{"GPULSE_MASTER", master_->http_url()}};
  // A follower from the start sees both attempts, in order, and stops at the end.
  CommandResult followed;
  std::jthread follower([&] { followed = RunCommand({BinPath("gpulse"), "logs", "--follow", id}, env, seconds(60)); });

  auto stderr_of = [&](const std::string& query) {
    return HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?stream=stderr" + query).body;
  };
  ASSERT_TRUE(Eventually([&] { return Logs(id) == "out of attempt 1\n" && stderr_of("") == "err of attempt 1\n"; },
                         seconds(20)))
      << DiagnosticLogs();
  EXPECT_EQ(Task(id)["finished"], false);
  doomed.process().Signal(SIGKILL);
  ASSERT_TRUE(Eventually([&] { return Task(id).value("state", "") == "queued"; }, seconds(10))) << DiagnosticLogs();
  AddWorker("rescuer", {0});
  ASSERT_TRUE(WaitState(id, "succeeded", seconds(30))) << DiagnosticLogs();
  EXPECT_EQ(Task(id)["attempts"], 2);
  EXPECT_EQ(Task(id)["finished"], true);

  // The latest attempt by default; an earlier one when asked for.
  ASSERT_TRUE(Eventually([&] { return Logs(id) == "out of attempt 2\n"; }, seconds(5))) << Logs(id);
  EXPECT_EQ(stderr_of(""), "err of attempt 2\n");
  EXPECT_EQ(stderr_of("&attempt=1"), "err of attempt 1\n");
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?attempt=1").body, "out of attempt 1\n");
  HttpReply none = HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?attempt=3");
  EXPECT_EQ(none.status, 404);
  EXPECT_NE(none.json().value("error", "").find("has no attempt 3"), std::string::npos) << none.body;
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?attempt=0").status, 404);
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?attempt=two").status, 400);

  CommandResult latest = RunCommand({BinPath("gpulse"), "logs", id}, env);
  EXPECT_EQ(latest.exit_code, 0) << latest.err;
  EXPECT_EQ(latest.out, "out of attempt 2\n");
  EXPECT_EQ(latest.err, "err of attempt 2\n");
  CommandResult first = RunCommand({BinPath("gpulse"), "logs", "--attempt", "1", id}, env);
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, "out of attempt 1\n");
  EXPECT_EQ(first.err, "err of attempt 1\n");
  CommandResult missing = RunCommand({BinPath("gpulse"), "logs", "--attempt", "3", id}, env);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("has no attempt 3"), std::string::npos) << missing.err;

  follower.join();
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_EQ(followed.out, "out of attempt 1\nout of attempt 2\n");
  EXPECT_EQ(followed.err, "err of attempt 1\n[gpulse: attempt 2 of task " + id + "]\nerr of attempt 2\n");
}

TEST_F(ClusterTest, KilledMasterLosesNoAcknowledgedTask) {
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::string token = master_->token();
  int port = master_->http_port();
  std::thread burst([&] {
    for (int i = 0; i < 2000 && !stop; ++i) {
      HttpReply r = HttpPost(port, "/api/tasks", json{{"argv", {"/bin/true"}}, {"name", "burst"}}.dump(), token);
      if (r.status == 201) {
        std::lock_guard lock(mu);
        acknowledged.push_back(r.json()["id"]);
      }
    }
  });
  ASSERT_TRUE(Eventually([&] { std::lock_guard lock(mu); return acknowledged.size() >= 50; }, seconds(20)));
  master_->Kill9();
  stop = true;
  burst.join();
  master_->Start();
  json tasks = HttpGet(master_->http_port(), "/api/tasks").json();
  std::set<std::string> stored;
  for (const auto& t : tasks) stored.insert(t["id"].get<std::string>());
  for (const auto& id : acknowledged) EXPECT_TRUE(stored.count(id)) << "lost acknowledged task " << id;
  EXPECT_GE(acknowledged.size(), 50u);
}

TEST_F(ClusterTest, RestartedMasterKeepsTasksThatWorkersStillRun) {
  AddWorker("steady", {0});
  ASSERT_TRUE(WaitHealthy("steady")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/bin/sh", "-c", "sleep 6; echo finished"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(id, "running")) << DiagnosticLogs();
  master_->Kill9();
  master_->Start();
  // The worker reconnects on its own, re-registers and reports the task.
  ASSERT_TRUE(Eventually([&] { return Worker("steady").value("connected", false); }, seconds(20))) << DiagnosticLogs();
  EXPECT_EQ(Task(id)["state"], "running");
  EXPECT_EQ(Task(id)["attempts"], 1);
  ASSERT_TRUE(WaitState(id, "succeeded", seconds(20))) << DiagnosticLogs();
  EXPECT_EQ(Task(id)["attempts"], 1);  // it was never run twice
  ASSERT_TRUE(Eventually([&] { return Logs(id) == "finished\n"; }, seconds(5))) << Logs(id);
}

TEST_F(ClusterTest, WrongTokenIsRefusedOnBothSides) {
  std::string bad_token = dir_.File("bad-token");
  {
    std::ofstream(bad_token) << "not-the-token\n";
  }
  std::vector<std::string> argv = {BinPath("gpulse-worker"), "--master", master_->grpc_address(), "--id", "intruder",
                                   "--interval", "1", "--token-file", bad_token, "--work-dir", dir_.File("intruder")};
  Process intruder("intruder", argv,
                   {{"GPULSE_NVML_LIBRARY", testkit::SimLibraryPath()}}, dir_.File("intruder.log"));
  auto code = intruder.WaitExit(std::chrono::seconds(15));
  ASSERT_TRUE(code.has_value()) << intruder.Log();
  EXPECT_NE(*code, 0);
  EXPECT_NE(intruder.Log().find("wrong cluster token"), std::string::npos) << intruder.Log();
  EXPECT_TRUE(Eventually([&] { return master_->process().Log().find("wrong cluster token") != std::string::npos; }, seconds(5)))
      << master_->process().Log();
  EXPECT_EQ(Worker("intruder").value("id", ""), "");
  HttpReply r = HttpPost(master_->http_port(), "/api/tasks", R"({"argv":["/bin/true"]})", "wrong");
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(r.json()["error"].is_string());
  r = HttpPost(master_->http_port(), "/api/tasks", R"({"argv":["/bin/true"]})", "");
  EXPECT_EQ(r.status, 401);
}

TEST_F(ClusterTest, MalformedRequestsGetClearErrorsAndTheMasterStaysUp) {
  std::string token = master_->token();
  int port = master_->http_port();
  struct Case {
    std::string body;
    int status;
  };
  std::vector<Case> cases = {
      {"{not json", 400},
      {"[]", 400},
      {R"({"argv": []})", 400},
      {R"({"argv": "ls"})", 400},
      {R"({"argv": ["ls"], "gpus": -1})", 400},
      {R"({"argv": ["ls"], "gpus": 1000000})", 400},
      {R"({"argv": ["ls"], "cpus": 1.5})", 400},
      {R"({"argv": ["ls"], "memory": "lots"})", 400},
      {R"({"argv": ["ls"], "surprise": true})", 400},
      {R"({"argv": [""]})", 400},
      {std::string(2 << 20, 'x'), 413},
  };
  for (const auto& c : cases) {
    HttpReply r = HttpPost(port, "/api/tasks", c.body, token);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 60);
    if (r.status != 413 || !r.body.empty()) {
      EXPECT_TRUE(r.json().is_object() && r.json()["error"].is_string()) << r.body.substr(0, 200);
    }
  }
  EXPECT_EQ(HttpGet(port, "/api/tasks/nope").status, 404);
  EXPECT_EQ(HttpGet(port, "/api/workers/nope").status, 404);
  EXPECT_EQ(HttpGet(port, "/api/tasks?state=bogus").status, 400);
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  EXPECT_TRUE(master_->process().Running());
}

TEST_F(ClusterTest, CliSubmitsWaitsAndShowsWorkers) {
  AddWorker("cli-w", {25, 75});
  ASSERT_TRUE(WaitHealthy("cli-w")) << DiagnosticLogs();
  std::map<std::string, std::string> env = {{"GPULSE_MASTER", master_->http_url()},
                                            {"GPULSE_TOKEN_FILE", master_->token_file()}};
  CommandResult submit = RunCommand({BinPath("gpulse"), "submit", "--gpus", "1", "--name", "exit7", "--", "/bin/sh",
                                     "-c", "echo out; echo err >&2; exit 7"},
                                    env);
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  std::string id = submit.out.substr(0, submit.out.find('\n'));
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(submit.out, id + "\n");  // the id alone, for scripts
  CommandResult wait = RunCommand({BinPath("gpulse"), "wait", id}, env);
  EXPECT_EQ(wait.exit_code, 7) << wait.err;
  CommandResult logs = RunCommand({BinPath("gpulse"), "logs", id}, env);
  EXPECT_EQ(logs.out, "out\n");
  EXPECT_EQ(logs.err, "err\n");
  CommandResult workers = RunCommand({BinPath("gpulse"), "workers"}, env);
  EXPECT_EQ(workers.exit_code, 0) << workers.err;
  EXPECT_NE(workers.out.find("GPU Capacity:     2 GPUs (2 x NVIDIA H100 80GB HBM3)"), std::string::npos)
      << workers.out;
  EXPECT_NE(workers.out.find("50.0% average"), std::string::npos) << workers.out;
  CommandResult as_json = RunCommand({BinPath("gpulse"), "tasks", "--json"}, env);
  json tasks = json::parse(as_json.out, nullptr, false);
  ASSERT_TRUE(tasks.is_array()) << as_json.out;
  EXPECT_EQ(tasks[0]["id"], id);
  CommandResult missing = RunCommand({BinPath("gpulse"), "status", "t-nope"}, env);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("no task"), std::string::npos) << missing.err;
  CommandResult cancel_done = RunCommand({BinPath("gpulse"), "cancel", id}, env);
  EXPECT_NE(cancel_done.exit_code, 0);  // already finished
}

TEST_F(ClusterTest, CancelStopsARunningTask) {
  AddWorker("cw", {0});
  ASSERT_TRUE(WaitHealthy("cw")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/bin/sleep", "60"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(id, "running")) << DiagnosticLogs();
  HttpReply r = HttpPost(master_->http_port(), "/api/tasks/" + id + "/cancel", "{}", master_->token());
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(WaitState(id, "cancelled", seconds(15))) << DiagnosticLogs();
  EXPECT_EQ(Worker("cw")["gpu_allocated"], 0);
}

}  // namespace
}  // namespace gpulse::integration
