// Per-task GPU usage, idle GPUs and hardware failures end to end: real
// gpulse-master and gpulse-worker binaries on loopback, GPUs from the NVML
// simulator (loads and XIDs from its scenario), 1 s heartbeats.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class UsageTest : public ::testing::Test {
 protected:
  void StartMaster(std::vector<std::string> extra_args = {}) {
    ASSERT_NO_FATAL_FAILURE(master_ = std::make_unique<MasterProcess>(dir_.File("master"), std::move(extra_args)));
  }

  WorkerProcess& AddWorker(const std::string& id, const json& scenario) {
    workers_.push_back(std::make_unique<WorkerProcess>(*master_, id, scenario, dir_.path()));
    return *workers_.back();
  }

  json Get(const std::string& path) { return HttpGet(master_->http_port(), path, master_->read_token()).json(); }
  json Task(const std::string& id) { return Get("/api/tasks/" + id); }

  bool WaitHealthy(const std::string& id) {
    return Eventually([&] {
      json w = Get("/api/workers/" + id);
      return w.is_object() && w.value("state", "") == "healthy" && w.value("heartbeats", 0) >= 1;
    }, seconds(20));
  }

  std::string Submit(const json& body) {
    HttpReply r = HttpPost(master_->http_port(), "/api/tasks", body.dump(), master_->token());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  }

  bool WaitState(const std::string& task, const std::string& state, seconds timeout = seconds(30)) {
    return Eventually([&] { return Task(task).value("state", "") == state; }, timeout);
  }

  // The value of the /metrics sample that starts with `series` (name and
  // labels exactly as printed), if there is one.
  std::optional<double> Metric(const std::string& series) {
    std::string page = HttpGet(master_->http_port(), "/metrics", master_->read_token()).body;
    size_t at = page.find("\n" + series + " ");
    if (at == std::string::npos) return std::nullopt;
    return std::stod(page.substr(at + series.size() + 2));
  }

  std::string DiagnosticLogs() {
    std::string all = "--- master\n" + master_->process().Log();
    for (auto& w : workers_) all += "--- " + w->id() + "\n" + w->process().Log();
    return all;
  }

  testkit::TempDir dir_{"gpulse-usage"};
  std::unique_ptr<MasterProcess> master_;
  std::vector<std::unique_ptr<WorkerProcess>> workers_;
};

TEST_F(UsageTest, ATasksUsageMatchesTheSimulatedLoad) {
  StartMaster();
  AddWorker("u1", SimScenario("u1", {80, 80}));
  ASSERT_TRUE(WaitHealthy("u1")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/bin/sleep", "10"}}, {"gpus", 2}});
  ASSERT_TRUE(WaitState(id, "running")) << Task(id).dump() << DiagnosticLogs();
  // Live while it runs: per-task series with task, worker and gpu labels.
  ASSERT_TRUE(Eventually([&] {
    return Metric("gpulse_task_gpu_utilization{task=\"" + id + "\",worker=\"u1\",gpu=\"1\"}") == 80;
  }, seconds(10))) << HttpGet(master_->http_port(), "/metrics", master_->read_token()).body;
  ASSERT_TRUE(Eventually([&] { return Task(id)["usage"].value("gpu_seconds", 0.0) > 0; }, seconds(10)));

  ASSERT_TRUE(WaitState(id, "succeeded")) << Task(id).dump() << DiagnosticLogs();
  json usage = Task(id)["usage"];
  // 80 % for 10 s on 2 GPUs: about 20 GPU-seconds (heartbeats every second;
  // the last one before the exit may be up to a second short).
  EXPECT_NEAR(usage.value("gpu_seconds", 0.0), 20, 2.5) << usage.dump();
  EXPECT_NEAR(usage.value("gpu_seconds_used", 0.0), 16, 2.0) << usage.dump();
  EXPECT_NEAR(usage.value("mean_utilization_gpu", 0.0), 80, 0.5) << usage.dump();
  EXPECT_NEAR(usage.value("peak_utilization_gpu", 0.0), 80, 0.5) << usage.dump();
  EXPECT_EQ(usage.value("peak_memory_used_bytes", uint64_t{0}), uint64_t{1024} << 20) << usage.dump();
  // The simulator's energy counter grows by power (90 W) × time.
  ASSERT_TRUE(usage["energy_joules"].is_number()) << usage.dump();
  EXPECT_NEAR(usage["energy_joules"].get<double>(), 90 * 20, 90 * 4) << usage.dump();

  std::optional<double> allocated = Metric("gpulse_gpu_seconds_allocated_total");
  ASSERT_TRUE(allocated);
  EXPECT_NEAR(*allocated, usage.value("gpu_seconds", 0.0), 1e-6);
  EXPECT_NEAR(*Metric("gpulse_gpu_seconds_used_total"), usage.value("gpu_seconds_used", 0.0), 1e-6);
  json efficiency = Get("/api/dashboard")["summary"]["efficiency"];
  EXPECT_NEAR(efficiency["last_hour"].value("efficiency", 0.0), 0.8, 0.01) << efficiency.dump();

  CommandResult status = RunCommand({BinPath("gpulse"), "status", id},
                                    master_->cli_env());
  EXPECT_NE(status.out.find("Usage:"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("GPU 80 % mean"), std::string::npos) << status.out;
}

// The simulator lists two compute processes on the task's GPU: this test
// program (not a gpulse task's: outside) and a pid above the kernel's
// limit (no such process: its owner unknown).
TEST_F(UsageTest, AProcessOutsideGpulseOnATasksGpuIsMarkedAndCountedAndAnUnseenOneIsUnknown) {
  StartMaster();
  const uint32_t outside_pid = static_cast<uint32_t>(::getpid());
  const uint32_t missing_pid = (1u << 22) + 1;  // above PID_MAX_LIMIT
  json scenario = SimScenario("o1", {50});
  scenario["gpus"][0]["processes"] = {{{"pid", outside_pid}, {"used_memory_mib", 512}},
                                      {{"pid", missing_pid}, {"used_memory_mib", 256}}};
  AddWorker("o1", scenario);
  ASSERT_TRUE(WaitHealthy("o1")) << DiagnosticLogs();
  json outside, missing;
  ASSERT_TRUE(Eventually([&] {
    json w = Get("/api/workers/o1");
    if (!w.is_object() || !w["gpus"].is_array() || w["gpus"].empty()) return false;
    const json& processes = w["gpus"][0]["processes"];
    if (!processes.is_array()) return false;
    for (const json& p : processes) {
      if (p.value("pid", 0u) == outside_pid) outside = p;
      if (p.value("pid", 0u) == missing_pid) missing = p;
    }
    return outside.is_object() && missing.is_object();
  }, seconds(20))) << Get("/api/workers/o1").dump();
  EXPECT_EQ(outside["outside_gpulse"], true) << outside.dump();
  EXPECT_TRUE(missing.contains("outside_gpulse") && missing["outside_gpulse"].is_null()) << missing.dump();

  std::string id = Submit({{"argv", {"/bin/sleep", "60"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(id, "running")) << Task(id).dump() << DiagnosticLogs();
  ASSERT_TRUE(Eventually([&] { return Task(id)["usage"]["max_outside_gpu_processes"].is_number(); }, seconds(20)))
      << Task(id).dump();
  EXPECT_GE(Task(id)["usage"]["max_outside_gpu_processes"].get<int>(), 1) << Task(id).dump();
  CommandResult status = RunCommand({BinPath("gpulse"), "status", id}, master_->cli_env());
  EXPECT_NE(status.out.find("processes outside gpulse on its GPUs: 1"), std::string::npos) << status.out;
}

TEST_F(UsageTest, AnIdleTaskIsFlaggedAndClearsWhenItsGpusGetBusy) {
  StartMaster({"--idle-period", "2"});
  json scenario = SimScenario("i1", {1});
  WorkerProcess& worker = AddWorker("i1", scenario);
  ASSERT_TRUE(WaitHealthy("i1")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/bin/sleep", "60"}}, {"gpus", 1}});
  ASSERT_TRUE(Eventually([&] { return Task(id)["idle_since"].is_number(); }, seconds(20)))
      << Task(id).dump() << DiagnosticLogs();
  EXPECT_EQ(Metric("gpulse_task_idle{task=\"" + id + "\",worker=\"i1\"}"), 1);
  EXPECT_EQ(Task(id).value("state", ""), "running");  // --idle-action none: only marked

  scenario["gpus"][0]["utilization_gpu"] = 60;
  WriteScenario(worker.scenario_path(), scenario);
  ASSERT_TRUE(Eventually([&] { return Task(id)["idle_since"].is_null(); }, seconds(20))) << Task(id).dump();
  EXPECT_EQ(Metric("gpulse_task_idle{task=\"" + id + "\",worker=\"i1\"}"), 0);
}

TEST_F(UsageTest, IdleActionCancelCancelsAnIdleTaskWithTheReason) {
  StartMaster({"--idle-period", "2", "--idle-action", "cancel", "--cancel-grace", "1"});
  AddWorker("c1", SimScenario("c1", {0}));
  ASSERT_TRUE(WaitHealthy("c1")) << DiagnosticLogs();
  std::string id = Submit({{"argv", {"/bin/sleep", "60"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(id, "cancelled")) << Task(id).dump() << DiagnosticLogs();
  EXPECT_EQ(Task(id).value("message", "").rfind("cancelled: GPUs idle for 2 s", 0), 0u) << Task(id).dump();
}

TEST_F(UsageTest, AnXid79FailsTheTaskQuarantinesTheGpuAndTheTaskRunsElsewhereWithItsAttempts) {
  StartMaster();
  json scenario_a = SimScenario("h1", {50});
  json scenario_b = SimScenario("h2", {50});
  AddWorker("h1", scenario_a);
  AddWorker("h2", scenario_b);
  ASSERT_TRUE(WaitHealthy("h1")) << DiagnosticLogs();
  ASSERT_TRUE(WaitHealthy("h2")) << DiagnosticLogs();
  // Fails once, when told to (after the XID), then succeeds.
  const std::string go = dir_.File("go"), failed_once = dir_.File("failed-once");
  std::string script = "if [ -e " + failed_once + " ]; then exit 0; fi; while [ ! -e " + go +
                       " ]; do sleep 0.1; done; touch " + failed_once + "; exit 1";
  std::string id = Submit({{"argv", {"/bin/sh", "-c", script}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(id, "running")) << Task(id).dump() << DiagnosticLogs();
  const std::string first = Task(id).value("worker", "");
  WorkerProcess& broken = *workers_[first == "h1" ? 0 : 1];
  json scenario = first == "h1" ? scenario_a : scenario_b;
  scenario["gpus"][0]["xids"] = {79};
  WriteScenario(broken.scenario_path(), scenario);
  ASSERT_TRUE(Eventually([&] {
    return Get("/api/workers/" + first)["gpus"][0].value("health", "") == "unhealthy";
  }, seconds(20))) << Get("/api/workers/" + first).dump() << DiagnosticLogs();
  testkit::WriteFile(go, "");

  ASSERT_TRUE(WaitState(id, "succeeded")) << Task(id).dump() << DiagnosticLogs();
  json t = Task(id);
  EXPECT_NE(t.value("worker", ""), first);
  EXPECT_EQ(t.value("attempts", 0), 2);
  EXPECT_EQ(t.value("hardware_failures", 0), 1);  // attempt 1 was not spent
  CommandResult status = RunCommand({BinPath("gpulse"), "status", id},
                                    master_->cli_env());
  EXPECT_NE(status.out.find("1 run(s) ended by a GPU failure"), std::string::npos) << status.out;

  // Quarantined until the operator clears it, with the admin token only.
  EXPECT_EQ(Get("/api/workers/" + first)["gpus"][0].value("health", ""), "unhealthy");
  const std::string clear = "/api/workers/" + first + "/gpus/0/clear";
  EXPECT_EQ(HttpPost(master_->http_port(), clear, "", master_->read_token()).status, 403);
  EXPECT_EQ(HttpPost(master_->http_port(), "/api/workers/" + first + "/gpus/7/clear", "", master_->token()).status,
            404);
  HttpReply cleared = HttpPost(master_->http_port(), clear, "", master_->token());
  ASSERT_EQ(cleared.status, 200) << cleared.body;
  EXPECT_EQ(cleared.json()["gpus"][0].value("health", ""), "healthy") << cleared.body;
}

// An operator's clear is stored: after a master restart the GPU's old XID
// is still forgiven (before, the restarted master quarantined it again).
TEST_F(UsageTest, AClearedGpuStaysInServiceAcrossAMasterRestart) {
  StartMaster();
  json scenario = SimScenario("r1", {50});
  WorkerProcess& worker = AddWorker("r1", scenario);
  ASSERT_TRUE(WaitHealthy("r1")) << DiagnosticLogs();
  scenario["gpus"][0]["xids"] = {79};
  WriteScenario(worker.scenario_path(), scenario);
  auto gpu_health = [&] { return Get("/api/workers/r1")["gpus"][0].value("health", ""); };
  ASSERT_TRUE(Eventually([&] { return gpu_health() == "unhealthy"; }, seconds(20)))
      << Get("/api/workers/r1").dump() << DiagnosticLogs();
  HttpReply cleared = HttpPost(master_->http_port(), "/api/workers/r1/gpus/0/clear", "", master_->token());
  ASSERT_EQ(cleared.status, 200) << cleared.body;
  ASSERT_EQ(gpu_health(), "healthy");

  master_->Kill9();
  ASSERT_NO_FATAL_FAILURE(master_->Start());
  // The worker reconnects and reports the same XID count again; the GPU's
  // health is judged from its first sample on, so wait for a few.
  ASSERT_TRUE(Eventually([&] {
    json w = Get("/api/workers/r1");
    return w.is_object() && w.value("connected", false) && w.value("heartbeats", 0) >= 3 &&
           w["gpus"][0]["utilization_gpu"] == 50;
  }, seconds(20))) << Get("/api/workers/r1").dump() << DiagnosticLogs();
  json gpu = Get("/api/workers/r1")["gpus"][0];
  EXPECT_EQ(gpu.value("health", ""), "healthy") << gpu.dump();
  EXPECT_EQ(gpu["events"]["xid_counts"]["79"], 1) << gpu.dump();  // the old XID is still reported
  // And a task is placed on it.
  std::string id = Submit({{"argv", {"/bin/true"}}, {"gpus", 1}});
  ASSERT_TRUE(WaitState(id, "succeeded")) << Task(id).dump() << DiagnosticLogs();
}

}  // namespace
}  // namespace gpulse::integration
