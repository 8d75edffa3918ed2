// A WorkerDaemon in the test process against an in-process MasterServer on
// loopback (both bind port 0), GPUs from the NVML simulator.
#include "worker/worker_daemon.h"

#include <signal.h>

#include <future>

#include <gtest/gtest.h>

#include "common/token.h"
#include "master/master_server.h"
#include "testkit/status_matchers.h"
#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class WorkerDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master::MasterOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.data_dir = dir_.File("master");
    options.min_heartbeat_interval = milliseconds(100);  // the daemon asks for 100 ms
    master_ = std::make_unique<master::MasterServer>(options);
    ASSERT_OK(master_->Start());
    UseHttpsForPort(master_->http_port(), master_->ca_file());
    Result<std::string> token = ReadToken(options.data_dir + "/token");
    ASSERT_OK(token);
    token_ = *token;
    Result<std::string> read_token = ReadToken(options.data_dir + "/read-token");
    ASSERT_OK(read_token);
    read_token_ = *read_token;
  }

  // A daemon named "inproc" on the simulator (scenario_ decides its GPUs),
  // heartbeating every 100 ms, with its metrics endpoint on a free port.
  worker::WorkerDaemonOptions DaemonOptions() const {
    worker::WorkerDaemonOptions options;
    options.agent.master = "127.0.0.1:" + std::to_string(master_->grpc_port());
    options.agent.id = "inproc";
    options.agent.hostname = "inproc-host";
    options.agent.token = token_;
    // The worker knows only the CA's pin and fetches the CA from the master.
    options.agent.ca_pin = master_->ca_pin();
    options.agent.work_dir = dir_.File("work");
    options.agent.interval = milliseconds(100);
    options.agent.max_backoff = milliseconds(500);
    options.metrics_listen = "127.0.0.1:0";
    options.sampler.nvml.library_path = testkit::SimLibraryPath();
    options.sampler.nvml.initial_retry_delay = milliseconds(50);
    options.sampler.nvml.max_retry_delay = milliseconds(200);
    return options;
  }

  json Worker() { return HttpGet(master_->http_port(), "/api/workers/inproc", read_token_).json(); }
  json Task(const std::string& id) { return HttpGet(master_->http_port(), "/api/tasks/" + id, read_token_).json(); }
  std::string Submit(const json& body) {
    HttpReply r = HttpPost(master_->http_port(), "/api/tasks", body.dump(), token_);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  }
  bool WaitState(const std::string& task, const std::string& state) {
    return Eventually([&] { return Task(task).value("state", "") == state; }, seconds(20));
  }

  testkit::TempDir dir_{"gpulse-daemon"};
  testkit::ScenarioFile scenario_{SimScenario("inproc", {30, 50})};
  std::unique_ptr<master::MasterServer> master_;
  std::string token_;
  std::string read_token_;
};

TEST_F(WorkerDaemonTest, RegistersHeartbeatsRunsATaskAndStopsCleanly) {
  worker::WorkerDaemon daemon(DaemonOptions());
  ASSERT_OK(daemon.Start());

  // Registered with the simulator's GPUs and the capacity it probed, and
  // heartbeating.
  ASSERT_TRUE(Eventually([&] {
    json w = Worker();
    return w.is_object() && w.value("state", "") == "healthy" && w.value("heartbeats", 0) >= 3;
  }, seconds(20))) << Worker().dump();
  json w = Worker();
  EXPECT_EQ(w["hostname"], "inproc-host");
  EXPECT_EQ(w["gpu_capacity"], 2);
  EXPECT_EQ(w["cpu_cores"], daemon.options().agent.cpu_cores);
  EXPECT_GT(daemon.options().agent.cpu_cores, 0u);
  EXPECT_NEAR(w["gpu_percent"].get<double>(), 40.0, 0.01);

  // Runs a task and ships its output.
  std::string hello = Submit({{"argv", {"/bin/sh", "-c", "echo hello from $CUDA_VISIBLE_DEVICES"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(hello, "succeeded")) << Task(hello).dump();
  std::string uuid = Task(hello)["gpus"][0].get<std::string>();
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/tasks/" + hello + "/logs", read_token_).body, "hello from " + uuid + "\n");

  // Its own metrics endpoint serves the latest sample.
  ASSERT_NE(daemon.metrics_port(), 0);
  HttpReply metrics = HttpGet(daemon.metrics_port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("DCGM_FI_DEV_GPU_UTIL"), std::string::npos) << metrics.body;

  // Stopping kills what it runs and leaves the master's stream.
  std::string sleeper = Submit({{"argv", {"/bin/sh", "-c", "echo $$; exec sleep 60"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(sleeper, "running")) << Task(sleeper).dump();
  const std::string pid_file = dir_.File("work") + "/tasks/" + sleeper + "/stdout.log";
  ASSERT_TRUE(Eventually([&] { return testkit::ReadFileOrEmpty(pid_file).find('\n') != std::string::npos; }));
  const pid_t pid = std::stoi(testkit::ReadFileOrEmpty(pid_file));
  ASSERT_EQ(::kill(pid, 0), 0);

  EXPECT_OK(daemon.Stop());
  EXPECT_NE(::kill(pid, 0), 0) << "the task outlived the daemon";
  EXPECT_TRUE(Eventually([&] { return !Worker().value("connected", true); }, seconds(10))) << Worker().dump();
  EXPECT_EQ(HttpGet(daemon.metrics_port(), "/metrics").status, 0);  // nobody listens any more
  EXPECT_OK(daemon.Stop());
}

TEST_F(WorkerDaemonTest, RegistersAgainWhenAGpuBecomesReadable) {
  json scenario = SimScenario("inproc", {30, 50});
  scenario["gpus"][1]["lost"] = true;
  scenario_.Rewrite(scenario);
  worker::WorkerDaemon daemon(DaemonOptions());
  ASSERT_OK(daemon.Start());
  // NVML could not name the lost GPU: it is registered without a UUID.
  ASSERT_TRUE(Eventually([&] { return Worker().value("heartbeats", 0) >= 1; }, seconds(20)));
  ASSERT_EQ(Worker()["gpus"].size(), 2u);
  EXPECT_EQ(Worker()["gpus"][1]["uuid"], "");

  scenario["gpus"][1]["lost"] = false;
  scenario_.Rewrite(scenario);
  // NVML is initialised again, names it, and the worker registers again.
  const std::string uuid = scenario["gpus"][1]["uuid"];
  EXPECT_TRUE(Eventually([&] { return Worker()["gpus"][1].value("uuid", "") == uuid; }, seconds(20)))
      << Worker().dump();
  EXPECT_OK(daemon.Stop());
}

TEST_F(WorkerDaemonTest, WrongTokenStopsTheAgentAndIsReported) {
  worker::WorkerDaemonOptions options = DaemonOptions();
  options.agent.token = "not-the-token";
  std::promise<Status> gave_up;
  options.on_agent_failure = [&gave_up](const Status& why) { gave_up.set_value(why); };
  worker::WorkerDaemon daemon(std::move(options));
  ASSERT_OK(daemon.Start());
  std::future<Status> reason = gave_up.get_future();
  ASSERT_EQ(reason.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_EQ(reason.get().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(daemon.Stop().code(), StatusCode::kUnauthenticated);
}

TEST_F(WorkerDaemonTest, MetricsAddressInUseFailsStartAndLeavesNothingRunning) {
  worker::WorkerDaemonOptions options = DaemonOptions();
  options.metrics_listen = "127.0.0.1:" + std::to_string(master_->http_port());
  worker::WorkerDaemon daemon(std::move(options));
  Status started = daemon.Start();
  EXPECT_EQ(started.code(), StatusCode::kUnavailable) << started.ToString();
  EXPECT_EQ(daemon.metrics_port(), 0);
  EXPECT_TRUE(Worker().contains("error")) << "the worker registered after all: " << Worker().dump();
  EXPECT_OK(daemon.Stop());
}

}  // namespace
}  // namespace gpulse::integration
