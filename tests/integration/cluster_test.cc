// The cluster end to end: real gpulse-master and gpulse-worker binaries on
// loopback, GPUs from the NVML simulator, 1 s heartbeats.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <optional>
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
    ASSERT_NO_FATAL_FAILURE(master_ = std::make_unique<MasterProcess>(dir_.File("master")));
  }

  WorkerProcess& AddWorker(const std::string& id, const std::vector<double>& utilization) {
    workers_.push_back(std::make_unique<WorkerProcess>(*master_, id, SimScenario(id, utilization), dir_.path()));
    return *workers_.back();
  }

  json Worker(const std::string& id) { return HttpGet(master_->http_port(), "/api/workers/" + id, master_->read_token()).json(); }
  json Task(const std::string& id) { return HttpGet(master_->http_port(), "/api/tasks/" + id, master_->read_token()).json(); }

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

  // A barrier for "this task was not placed": submits a CPU-only probe and
  // waits until it has been placed. Rounds offer queued tasks in
  // submission order, so the round that placed the probe also offered
  // every task submitted before it: one still unplaced then could not be
  // placed. Negative checks then read the task's attempts (a count that
  // never goes back) and the worker's log, which no passing transition
  // can hide from, instead of polling for a state.
  void PlacementRoundPassed() {
    std::string probe = Submit({{"argv", {"/bin/true"}}, {"cpus", 0}, {"name", "probe"}});
    ASSERT_TRUE(Eventually([&] { return Task(probe).value("attempts", 0) >= 1; }, seconds(20)))
        << Task(probe).dump() << DiagnosticLogs();
  }

  // Whether the worker's log says it started `task` (any attempt).
  static bool WorkerStarted(WorkerProcess& worker, const std::string& task) {
    return worker.process().Log().find("starting task " + task + " ") != std::string::npos;
  }

  std::string Logs(const std::string& task) {
    return HttpGet(master_->http_port(), "/api/tasks/" + task + "/logs", master_->read_token()).body;
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
  EXPECT_EQ(two["gpu_models"], json::parse(R"([{"name": "NVIDIA H100 80GB HBM3", "count": 2}])"));
  EXPECT_EQ(two["heartbeat_interval_seconds"], 1.0);
  EXPECT_EQ(two["memory_allocated_bytes"], 0);
  EXPECT_GT(two["memory_total_bytes"].get<uint64_t>(), 0u);
  ASSERT_TRUE(two["seconds_since_heartbeat"].is_number()) << two.dump();
  EXPECT_GE(two["seconds_since_heartbeat"].get<double>(), 0.0);
  EXPECT_LT(two["seconds_since_heartbeat"].get<double>(), 3.0);  // else it would not be healthy
  // Heartbeats keep coming, once a second.
  int before = two["heartbeats"];
  ASSERT_TRUE(Eventually([&] { return Worker("w-two").value("heartbeats", 0) >= before + 2; }, seconds(10)));
  // By now the host's figures are known (CPU % needs two samples).
  two = Worker("w-two");
  ASSERT_TRUE(two["cpu_percent"].is_number()) << two.dump();
  EXPECT_GE(two["cpu_percent"].get<double>(), 0.0);
  EXPECT_LE(two["cpu_percent"].get<double>(), 100.0);
  ASSERT_TRUE(two["memory_percent"].is_number()) << two.dump();
  EXPECT_GT(two["memory_percent"].get<double>(), 0.0);
  EXPECT_LE(two["memory_percent"].get<double>(), 100.0);
  EXPECT_NE(workers_[0]->process().Log().find("Heartbeat sent: CPU="), std::string::npos);
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/workers", master_->read_token()).json().size(), 2u);
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
  // No registered worker has 3 GPUs: refused unless it asks to wait.
  HttpReply refused = HttpPost(master_->http_port(), "/api/tasks",
                               json({{"argv", {"/bin/true"}}, {"gpus", 3}}).dump(), master_->token());
  EXPECT_EQ(refused.status, 422) << refused.body;
  std::string big = Submit({{"argv", {"/bin/true"}}, {"gpus", 3}, {"allow_unfit", true}});
  std::string hold_a = Submit({{"argv", {"/bin/sleep", "30"}}, {"gpus", 2}});
  ASSERT_TRUE(WaitState(hold_a, "running")) << DiagnosticLogs();
  // A 3-GPU task cannot fit any 2-GPU worker: it stays queued.
  ASSERT_NO_FATAL_FAILURE(PlacementRoundPassed());
  EXPECT_EQ(Task(big)["state"], "queued");
  EXPECT_EQ(Task(big)["attempts"], 0);
  // The 2-GPU worker that runs hold_a has no GPU left for another 2-GPU task.
  std::string hold_b = Submit({{"argv", {"/bin/sleep", "30"}}, {"gpus", 2}});
  ASSERT_TRUE(WaitState(hold_b, "running")) << DiagnosticLogs();
  EXPECT_NE(Task(hold_a)["worker"], Task(hold_b)["worker"]);
  std::string third = Submit({{"argv", {"/bin/true"}}, {"gpus", 1}});
  ASSERT_NO_FATAL_FAILURE(PlacementRoundPassed());
  EXPECT_EQ(Task(third)["attempts"], 0);
  EXPECT_EQ(Task(big)["attempts"], 0);
  for (auto& w : workers_) {
    EXPECT_FALSE(WorkerStarted(*w, big)) << w->id();
    EXPECT_FALSE(WorkerStarted(*w, third)) << w->id();
  }
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
  // The only other GPU is lost: b is never placed, not even for a moment.
  ASSERT_NO_FATAL_FAILURE(PlacementRoundPassed());
  json tb = Task(b);
  EXPECT_EQ(tb["state"], "queued") << tb.dump();
  EXPECT_EQ(tb["attempts"], 0) << tb.dump();
  WorkerProcess& lossy = *workers_.back();
  EXPECT_FALSE(WorkerStarted(lossy, b)) << lossy.process().Log();
  EXPECT_NE(lossy.process().Log().find("starting task " + a + " (attempt 1) on GPU(s) [1]"), std::string::npos)
      << lossy.process().Log();
  w = Worker("lossy");
  EXPECT_TRUE(w["gpus"][0]["allocated_to"].is_null()) << w.dump();
  EXPECT_EQ(w["gpus"][1]["allocated_to"], a);
  EXPECT_EQ(w["gpu_allocated"], 1);
}

TEST_F(ClusterTest, AGpuThatComesBackIsScheduledAgainWithoutARestart) {
  json scenario = SimScenario("flaky", {20, 40});
  scenario["gpus"][1]["lost"] = true;
  workers_.push_back(std::make_unique<WorkerProcess>(*master_, "flaky", scenario, dir_.path()));
  ASSERT_TRUE(WaitHealthy("flaky")) << DiagnosticLogs();
  ASSERT_TRUE(Eventually([&] { return !Worker("flaky")["gpus"][1].value("healthy", true); }, seconds(10)));
  std::string pair = Submit({{"argv", {"/bin/true"}}, {"gpus", 2}});
  ASSERT_NO_FATAL_FAILURE(PlacementRoundPassed());
  EXPECT_EQ(Task(pair)["attempts"], 0);  // one of the two GPUs is lost
  EXPECT_FALSE(WorkerStarted(*workers_.back(), pair));
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
  // Dead after 3 missed 1 s heartbeats; its task goes back to the queue when
  // its 8 s lease (the harness's --task-lease) has run out, after its
  // supervisor killed it (task_supervisor_test watches that closely).
  ASSERT_TRUE(Eventually([&] { return Task(id).value("state", "") == "queued"; }, seconds(20))) << DiagnosticLogs();
  EXPECT_GT(std::chrono::steady_clock::now() - killed_at, seconds(6));
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, seconds(12));
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
  // Following needs only the read token.
  std::map<std::string, std::string> env = master_->cli_env();
  env["GPULSE_TOKEN_FILE"] = master_->read_token_file();
  // A follower from the start sees both attempts, in order, and stops at the end.
  CommandResult followed;
  std::jthread follower([&] { followed = RunCommand({BinPath("gpulse"), "logs", "--follow", id}, env, seconds(60)); });

  auto stderr_of = [&](const std::string& query) {
    return HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?stream=stderr" + query, master_->read_token()).body;
  };
  ASSERT_TRUE(Eventually([&] { return Logs(id) == "out of attempt 1\n" && stderr_of("") == "err of attempt 1\n"; },
                         seconds(20)))
      << DiagnosticLogs();
  EXPECT_EQ(Task(id)["finished"], false);
  doomed.process().Signal(SIGKILL);
  // Requeued when the 8 s task lease has run out.
  ASSERT_TRUE(Eventually([&] { return Task(id).value("state", "") == "queued"; }, seconds(20))) << DiagnosticLogs();
  AddWorker("rescuer", {0});
  ASSERT_TRUE(WaitState(id, "succeeded", seconds(30))) << DiagnosticLogs();
  EXPECT_EQ(Task(id)["attempts"], 2);
  EXPECT_EQ(Task(id)["finished"], true);

  // The latest attempt by default; an earlier one when asked for.
  ASSERT_TRUE(Eventually([&] { return Logs(id) == "out of attempt 2\n"; }, seconds(5))) << Logs(id);
  EXPECT_EQ(stderr_of(""), "err of attempt 2\n");
  EXPECT_EQ(stderr_of("&attempt=1"), "err of attempt 1\n");
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?attempt=1", master_->read_token()).body, "out of attempt 1\n");
  HttpReply none = HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?attempt=3", master_->read_token());
  EXPECT_EQ(none.status, 404);
  EXPECT_NE(none.json().value("error", "").find("has no attempt 3"), std::string::npos) << none.body;
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?attempt=0", master_->read_token()).status, 404);
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?attempt=two", master_->read_token()).status, 400);

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
  json tasks = HttpGet(master_->http_port(), "/api/tasks", master_->read_token()).json();
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

// The wrong tokens are as long as the real one and differ in one byte
// only, so a comparison that skipped bytes, or stopped at the length,
// would let them through.
TEST_F(ClusterTest, WrongTokenIsRefusedOnBothSides) {
  const std::string token = master_->token();
  ASSERT_EQ(token.size(), 64u);
  auto differing_at = [&](size_t i) {
    std::string t = token;
    t[i] = t[i] == '0' ? '1' : '0';
    return t;
  };
  std::string bad_token = dir_.File("bad-token");
  {
    std::ofstream(bad_token) << differing_at(0) << "\n";
  }
  std::vector<std::string> argv = {BinPath("gpulse-worker"), "--master", master_->grpc_address(), "--id", "intruder",
                                   "--interval", "1", "--token-file", bad_token, "--work-dir", dir_.File("intruder"),
                                   "--ca-file", master_->ca_file()};
  Process intruder("intruder", argv,
                   {{"GPULSE_NVML_LIBRARY", testkit::SimLibraryPath()}}, dir_.File("intruder.log"));
  auto code = intruder.WaitExit(std::chrono::seconds(15));
  ASSERT_TRUE(code.has_value()) << intruder.Log();
  EXPECT_NE(*code, 0);
  EXPECT_NE(intruder.Log().find("wrong cluster token"), std::string::npos) << intruder.Log();
  EXPECT_TRUE(Eventually([&] { return master_->process().Log().find("wrong cluster token") != std::string::npos; }, seconds(5)))
      << master_->process().Log();
  EXPECT_EQ(Worker("intruder").value("id", ""), "");
  const int port = master_->http_port();
  for (const std::string& wrong : {differing_at(0), differing_at(63), std::string("wrong"), std::string()}) {
    HttpReply r = HttpPost(port, "/api/tasks", R"({"argv":["/bin/true"]})", wrong);
    EXPECT_EQ(r.status, 401) << wrong;
    EXPECT_TRUE(r.json()["error"].is_string());
  }
  EXPECT_EQ(HttpGet(port, "/api/tasks", master_->read_token()).json(), json::array());
  // Cancel is guarded the same way: the task stays queued and nothing is recorded.
  std::string id = Submit({{"argv", {"/bin/true"}}, {"gpus", 1}});
  for (const std::string& wrong : {differing_at(0), differing_at(63), std::string()}) {
    HttpReply r = HttpPost(port, "/api/tasks/" + id + "/cancel", "{}", wrong);
    EXPECT_EQ(r.status, 401) << wrong;
  }
  EXPECT_EQ(Task(id)["state"], "queued");
  EXPECT_EQ(Task(id)["message"], "");
  HttpReply ok = HttpPost(port, "/api/tasks/" + id + "/cancel", "{}", token);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Task(id)["state"], "cancelled");
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
  EXPECT_EQ(HttpGet(port, "/api/tasks/nope", master_->read_token()).status, 404);
  EXPECT_EQ(HttpGet(port, "/api/workers/nope", master_->read_token()).status, 404);
  EXPECT_EQ(HttpGet(port, "/api/tasks?state=bogus", master_->read_token()).status, 400);
  HttpReply health = HttpGet(port, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json(), json::parse(R"({"status": "ok", "workers": 0, "workers_healthy": 0, "tasks_in_memory": 0,
                                           "finished_tasks_in_memory": 0})"))
      << health.body;
  EXPECT_EQ(HttpGet(port, "/api/tasks", master_->read_token()).json(), json::array());  // nothing malformed got in
  EXPECT_TRUE(master_->process().Running());
}

TEST_F(ClusterTest, CliSubmitsWaitsAndShowsWorkers) {
  AddWorker("cli-w", {25, 75});
  ASSERT_TRUE(WaitHealthy("cli-w")) << DiagnosticLogs();
  std::map<std::string, std::string> env = master_->cli_env();
  env["GPULSE_TOKEN_FILE"] = master_->token_file();
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
  EXPECT_EQ(workers.out.rfind("WORKER", 0), 0u) << workers.out;  // one table line per worker
  EXPECT_NE(workers.out.find("cli-w"), std::string::npos) << workers.out;
  EXPECT_NE(workers.out.find(" 50%"), std::string::npos) << workers.out;  // the mean of 25 and 75
  CommandResult as_json = RunCommand({BinPath("gpulse"), "tasks", "--json"}, env);
  json tasks = json::parse(as_json.out, nullptr, false);
  ASSERT_TRUE(tasks.is_array()) << as_json.out;
  EXPECT_EQ(tasks[0]["id"], id);
  CommandResult missing = RunCommand({BinPath("gpulse"), "status", "t-nope"}, env);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("no task"), std::string::npos) << missing.err;
  CommandResult cancel_done = RunCommand({BinPath("gpulse"), "cancel", id}, env);
  EXPECT_NE(cancel_done.exit_code, 0);  // already finished
  EXPECT_NE(cancel_done.err.find("already failed"), std::string::npos) << cancel_done.err;

  // logs --follow prints the output as it comes and returns once the task
  // has ended, with all of it.
  CommandResult chatty = RunCommand({BinPath("gpulse"), "submit", "--gpus", "1", "--", "/bin/sh", "-c",
                                     "echo one; sleep 1; echo two; echo warn >&2"},
                                    env);
  ASSERT_EQ(chatty.exit_code, 0) << chatty.err;
  std::string chatty_id = chatty.out.substr(0, chatty.out.find('\n'));
  CommandResult follow = RunCommand({BinPath("gpulse"), "logs", "--follow", chatty_id}, env);
  EXPECT_EQ(follow.exit_code, 0) << follow.err;
  EXPECT_EQ(follow.out, "one\ntwo\n");
  EXPECT_EQ(follow.err, "warn\n");

  // With the read token the CLI reads everything and changes nothing.
  std::map<std::string, std::string> reader = master_->cli_env();
  reader["GPULSE_TOKEN_FILE"] = master_->read_token_file();
  CommandResult read_workers = RunCommand({BinPath("gpulse"), "workers"}, reader);
  EXPECT_EQ(read_workers.exit_code, 0) << read_workers.err;
  CommandResult read_submit = RunCommand({BinPath("gpulse"), "submit", "--", "/bin/true"}, reader);
  EXPECT_NE(read_submit.exit_code, 0);
  EXPECT_NE(read_submit.err.find("admin token"), std::string::npos) << read_submit.err;
  // Without a token it says which to pass.
  std::map<std::string, std::string> no_token = master_->cli_env();
  no_token.erase("GPULSE_TOKEN_FILE");
  CommandResult anonymous = RunCommand({BinPath("gpulse"), "workers"}, no_token);
  EXPECT_NE(anonymous.exit_code, 0);
  EXPECT_NE(anonymous.err.find("--token-file"), std::string::npos) << anonymous.err;
  EXPECT_EQ(Task(chatty_id)["state"], "succeeded");  // it returned only after the end

  // A successful cancel of a running task.
  CommandResult sleeper = RunCommand({BinPath("gpulse"), "submit", "--gpus", "1", "--", "/bin/sleep", "60"}, env);
  ASSERT_EQ(sleeper.exit_code, 0) << sleeper.err;
  std::string sleeper_id = sleeper.out.substr(0, sleeper.out.find('\n'));
  ASSERT_TRUE(WaitState(sleeper_id, "running")) << DiagnosticLogs();
  CommandResult cancel = RunCommand({BinPath("gpulse"), "cancel", sleeper_id}, env);
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(cancel.out.rfind("cancelling " + sleeper_id + " on cli-w (SIGTERM", 0), 0u)
      << cancel.out;  // asked; its worker stops it
  ASSERT_TRUE(WaitState(sleeper_id, "cancelled", seconds(15))) << DiagnosticLogs();

  // tasks --state lists only the tasks in that state.
  CommandResult failed = RunCommand({BinPath("gpulse"), "tasks", "--state", "failed", "--json"}, env);
  ASSERT_EQ(failed.exit_code, 0) << failed.err;
  json failed_tasks = json::parse(failed.out, nullptr, false);
  ASSERT_TRUE(failed_tasks.is_array()) << failed.out;
  ASSERT_EQ(failed_tasks.size(), 1u) << failed.out;
  EXPECT_EQ(failed_tasks[0]["id"], id);
  CommandResult cancelled = RunCommand({BinPath("gpulse"), "tasks", "--state", "cancelled"}, env);
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_NE(cancelled.out.find(sleeper_id + " "), std::string::npos) << cancelled.out;
  EXPECT_EQ(cancelled.out.find(id + " "), std::string::npos) << cancelled.out;
  EXPECT_EQ(cancelled.out.find(chatty_id + " "), std::string::npos) << cancelled.out;
  CommandResult bogus = RunCommand({BinPath("gpulse"), "tasks", "--state", "bogus"}, env);
  EXPECT_NE(bogus.exit_code, 0);
}

TEST_F(ClusterTest, CancelStopsARunningTask) {
  AddWorker("cw", {0});
  ASSERT_TRUE(WaitHealthy("cw")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/bin/sleep", "60"}}, {"gpus", 1}, {"memory", "64MiB"}});
  ASSERT_TRUE(WaitState(id, "running")) << DiagnosticLogs();
  json w = Worker("cw");
  EXPECT_EQ(w["memory_allocated_bytes"], 64 << 20);
  EXPECT_EQ(w["cpus_allocated"], 1);
  EXPECT_EQ(w["gpu_allocated"], 1);
  HttpReply r = HttpPost(master_->http_port(), "/api/tasks/" + id + "/cancel", "{}", master_->token());
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(WaitState(id, "cancelled", seconds(15))) << DiagnosticLogs();
  w = Worker("cw");
  EXPECT_EQ(w["gpu_allocated"], 0);
  EXPECT_EQ(w["memory_allocated_bytes"], 0);
  EXPECT_EQ(w["cpus_allocated"], 0);
  EXPECT_EQ(Task(id)["message"], "stopped by its worker");
}

// A cancel that reaches a task while it is assigned and its worker has not
// started it yet (the worker is stopped, so it cannot): the master asks the
// worker, which stops it as soon as it can; the task ends cancelled, is
// never placed again, and frees what it held.
TEST_F(ClusterTest, ACancelThatReachesAnAssignedTaskBeforeItStarts) {
  // 5 s heartbeats: it stays healthy (and schedulable) for 7.5 s stopped.
  workers_.push_back(std::make_unique<WorkerProcess>(*master_, "slow", SimScenario("slow", {0}), dir_.path(),
                                                     std::vector<std::string>{"--interval", "5"}));
  WorkerProcess& slow = *workers_.back();
  ASSERT_TRUE(WaitHealthy("slow")) << DiagnosticLogs();
  int beats = Worker("slow").value("heartbeats", 0);
  ASSERT_TRUE(Eventually([&] { return Worker("slow").value("heartbeats", 0) > beats; }, seconds(15)));
  slow.process().Signal(SIGSTOP);  // right after a heartbeat
  std::string id = Submit({{"argv", {"/bin/sleep", "60"}}, {"gpus", 1}});
  ASSERT_TRUE(Eventually([&] { return Task(id).value("attempts", 0) == 1; }, seconds(5)))
      << Task(id).dump() << DiagnosticLogs();
  EXPECT_EQ(Task(id)["state"], "assigned");
  HttpReply r = HttpPost(master_->http_port(), "/api/tasks/" + id + "/cancel", "{}", master_->token());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["state"], "assigned");  // asked; the worker has the last word
  slow.process().Signal(SIGCONT);
  ASSERT_TRUE(WaitState(id, "cancelled", seconds(20))) << Task(id).dump() << DiagnosticLogs();
  json w = Worker("slow");
  EXPECT_EQ(w["gpu_allocated"], 0);
  EXPECT_EQ(w["tasks"], json::array());
  ASSERT_NO_FATAL_FAILURE(PlacementRoundPassed());
  EXPECT_EQ(Task(id)["attempts"], 1);
  EXPECT_EQ(Task(id)["state"], "cancelled");
}

// The default liveness thresholds, watched from outside: a worker that
// stops heartbeating (SIGSTOP; its connection stays open) is suspect once
// a heartbeat is more than 1.5 intervals late and dead after 3, never
// sooner; its task, with no attempts left, fails. When it resumes it is
// healthy again, stops the task the master gave up on, and gets new work.
TEST_F(ClusterTest, LivenessThresholdsHoldOverHttpWithTheDefaults) {
  WorkerProcess& sleepy = AddWorker("sleepy", {0});
  ASSERT_TRUE(WaitHealthy("sleepy")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/bin/sleep", "60"}}, {"gpus", 1}, {"max_attempts", 1}});
  ASSERT_TRUE(WaitState(id, "running")) << DiagnosticLogs();
  sleepy.process().Signal(SIGSTOP);

  // Every observation of a state carries the heartbeat age it was seen at;
  // a state can only be seen once its threshold has passed.
  std::optional<double> first_suspect, first_dead;
  bool healthy_after_suspect = false;
  auto deadline = std::chrono::steady_clock::now() + seconds(15);
  while (!first_dead && std::chrono::steady_clock::now() < deadline) {
    json w = Worker("sleepy");
    std::string state = w.value("state", "");
    double age = w["seconds_since_heartbeat"].is_number() ? w["seconds_since_heartbeat"].get<double>() : -1;
    if (state == "suspect" && !first_suspect) first_suspect = age;
    if (state == "healthy" && first_suspect) healthy_after_suspect = true;
    if (state == "dead") first_dead = age;
  }
  // Dead, but its task is given up only when its 8 s lease has run out
  // (its supervisor, which SIGSTOP did not stop, has killed it by then).
  EXPECT_TRUE(Eventually([&] { return Task(id).value("state", "") == "failed"; }, seconds(15))) << DiagnosticLogs();
  sleepy.process().Signal(SIGCONT);
  ASSERT_TRUE(first_suspect.has_value()) << "never seen suspect\n" << DiagnosticLogs();
  ASSERT_TRUE(first_dead.has_value()) << "never seen dead\n" << DiagnosticLogs();
  EXPECT_GE(*first_suspect, 1.45);  // 1.5 intervals (to the wall clock's precision)
  EXPECT_GE(*first_dead, 2.95);  // 3 intervals
  EXPECT_FALSE(healthy_after_suspect);
  json t = Task(id);
  EXPECT_EQ(t["state"], "failed") << t.dump();
  EXPECT_EQ(t["attempts"], 1);
  EXPECT_NE(t["message"].get<std::string>().find("worker sleepy was lost"), std::string::npos) << t.dump();

  // Back: healthy, the given-up task is stopped on the worker, new work runs.
  ASSERT_TRUE(WaitHealthy("sleepy")) << DiagnosticLogs();
  EXPECT_TRUE(Eventually([&] { return sleepy.process().Log().find("task " + id + " exited") != std::string::npos ||
                                      sleepy.process().Log().find("task " + id + " cancelled") != std::string::npos; },
                         seconds(15)))
      << sleepy.process().Log();
  std::string next = Submit({{"argv", {"/bin/true"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(next, "succeeded")) << DiagnosticLogs();
  EXPECT_EQ(Task(next)["worker"], "sleepy");
  EXPECT_EQ(Task(id)["state"], "failed");
}

}  // namespace
}  // namespace gpulse::integration
