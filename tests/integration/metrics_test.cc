// Prometheus metrics and chart history end to end: a real gpulse-master and
// gpulse-worker (with --metrics-listen) on loopback, GPUs from the NVML
// simulator, 1 s heartbeats. Pages are checked line by line and with
// `promtool check metrics` (Debian package prometheus).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr const char* kPromtool = "/usr/bin/promtool";

// The value of the one sample of `family` whose labels contain every
// fragment in `labels` (e.g. gpu="0"); nullopt when there is none.
std::optional<double> SampleValue(const std::string& page, const std::string& family,
                                  const std::vector<std::string>& labels) {
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(family + "{") && line.rfind(family + " ", 0) != 0) continue;
    bool all = true;
    for (const auto& l : labels) all = all && line.find(l) != std::string::npos;
    if (!all) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(master_ = std::make_unique<MasterProcess>(dir_.File("master")));
    json scenario = SimScenario("m-one", {80, 40});
    // GPU 1 cannot report its temperature: that series must be absent for it.
    scenario["gpus"][1]["errors"] = {{"nvmlDeviceGetTemperature", "NOT_SUPPORTED"}};
    scenario["gpus"][0]["temperature_c"] = 61;
    scenario["gpus"][0]["power_w"] = 321.5;
    // GPU 0 has GPM (a Hopper) with known figures; GPU 1 has none.
    scenario["gpus"][0]["gpm"] = {{"graphics_util", 62}, {"sm_util", 48}, {"sm_occupancy", 27}, {"tensor_util", 33}};
    scenario["gpus"][1]["gpm"] = false;
    worker_ = std::make_unique<WorkerProcess>(
        *master_, "m-one", scenario, dir_.path(),
        std::vector<std::string>{"--metrics-listen", "127.0.0.1:0"});
    worker_port_ = worker_->MetricsPort();
    ASSERT_NE(worker_port_, 0) << Logs();
    uuid0_ = scenario["gpus"][0]["uuid"];
    bool up = Eventually([&] { return Worker().value("heartbeats", 0) >= 2; }, seconds(20));
    ASSERT_TRUE(up) << Logs();
  }

  json Worker() { return HttpGet(master_->http_port(), "/api/workers/m-one", master_->read_token()).json(); }
  std::string MasterMetrics() { return HttpGet(master_->http_port(), "/metrics", master_->read_token()).body; }
  std::string Logs() { return "--- master\n" + master_->process().Log() + "--- worker\n" + worker_->process().Log(); }

  // Runs promtool on `page`. Empty when it is clean; otherwise what promtool
  // said. The lint findings accepted are about dcgm-exporter's own names,
  // kept so dashboards built for dcgm-exporter work: the camelCase of its
  // label "modelName", and its counters without a "_total" suffix
  // (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION, DCGM_FI_DEV_ECC_DBE_VOL_TOTAL).
  std::string PromtoolProblems(const std::string& page) {
    std::string path = dir_.File("page.prom");
    std::ofstream(path) << page;
    CommandResult r = RunCommand({"/bin/sh", "-c", std::string(kPromtool) + " check metrics < " + path}, {});
    std::string said = r.out + r.err;
    if (r.exit_code == 0) return "";
    if (r.exit_code != 3) return "exit " + std::to_string(r.exit_code) + ": " + said;
    std::istringstream lines(said);
    std::string line, problems;
    static const std::regex kDcgmCamelCase(
        R"(^DCGM_FI_(DEV|PROF)_[A-Z_]+ label names should be written in 'snake_case' not 'camelCase'$)");
    static const std::regex kDcgmCounterSuffix(R"(^DCGM_FI_DEV_[A-Z_]+ counter metrics should have "_total" suffix$)");
    while (std::getline(lines, line)) {
      if (!line.empty() && !std::regex_match(line, kDcgmCamelCase) && !std::regex_match(line, kDcgmCounterSuffix)) {
        problems += line + "\n";
      }
    }
    return problems;
  }

  testkit::TempDir dir_{"gpulse-metrics"};
  std::unique_ptr<MasterProcess> master_;
  std::unique_ptr<WorkerProcess> worker_;
  int worker_port_ = 0;
  std::string uuid0_;
};

TEST_F(MetricsTest, MasterExportsDcgmSeriesPerGpuWithExactLabels) {
  std::string page = MasterMetrics();
  ASSERT_NE(page.find("# TYPE DCGM_FI_DEV_GPU_UTIL gauge"), std::string::npos) << page;
  const std::string gpu0_labels = "{gpu=\"0\",UUID=\"" + uuid0_ + "\",pci_bus_id=\"";
  EXPECT_NE(page.find("DCGM_FI_DEV_GPU_UTIL" + gpu0_labels), std::string::npos) << page;
  EXPECT_NE(page.find("device=\"nvidia0\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"" + Hostname() +
                      "\",DCGM_FI_DRIVER_VERSION=\"580.65.06\",worker=\"m-one\"} 80\n"),
            std::string::npos)
      << page;
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_GPU_UTIL", {"gpu=\"1\"", "worker=\"m-one\""}), 40);
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_FB_USED", {"gpu=\"0\""}), 1024);  // MiB
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_FB_FREE", {"gpu=\"0\""}), 81559 - 1024);
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_GPU_TEMP", {"gpu=\"0\""}), 61);
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_POWER_USAGE", {"gpu=\"0\""}), 321.5);
  // Unknown is absent, never 0.
  EXPECT_FALSE(SampleValue(page, "DCGM_FI_DEV_GPU_TEMP", {"gpu=\"1\""}).has_value()) << page;
  EXPECT_TRUE(SampleValue(page, "DCGM_FI_DEV_GPU_UTIL", {"gpu=\"1\""}).has_value());
}

TEST_F(MetricsTest, MasterExportsClusterSeries) {
  std::string page = MasterMetrics();
  EXPECT_EQ(SampleValue(page, "gpulse_workers", {"state=\"healthy\""}), 1) << page;
  EXPECT_EQ(SampleValue(page, "gpulse_workers", {"state=\"dead\""}), 0);
  EXPECT_EQ(SampleValue(page, "gpulse_tasks", {"state=\"queued\""}), 0);
  EXPECT_EQ(SampleValue(page, "gpulse_gpus_capacity", {"worker=\"m-one\""}), 2);
  EXPECT_EQ(SampleValue(page, "gpulse_gpus_allocated", {"worker=\"m-one\""}), 0);
  EXPECT_EQ(SampleValue(page, "gpulse_worker_gpu_healthy", {"worker=\"m-one\"", "gpu=\"1\""}), 1);
  EXPECT_EQ(SampleValue(page, "gpulse_nvml_available", {"worker=\"m-one\""}), 1);
  EXPECT_NEAR(SampleValue(page, "gpulse_worker_gpu_percent", {"worker=\"m-one\""}).value_or(-1), 60, 0.01);
  EXPECT_TRUE(SampleValue(page, "gpulse_worker_memory_percent", {"worker=\"m-one\""}).has_value());
  auto age = SampleValue(page, "gpulse_worker_last_heartbeat_age_seconds", {"worker=\"m-one\""});
  ASSERT_TRUE(age.has_value());
  EXPECT_LT(*age, 3.0);
  EXPECT_GE(SampleValue(page, "gpulse_heartbeats_received_total", {}).value_or(0), 2);
  EXPECT_NE(page.find("# TYPE gpulse_heartbeats_received_total counter"), std::string::npos);

  // A task holding a GPU shows as allocated.
  HttpReply r = HttpPost(master_->http_port(), "/api/tasks", R"({"argv":["/bin/sleep","30"],"gpus":1})",
                         master_->token());
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_TRUE(Eventually([&] {
    return SampleValue(MasterMetrics(), "gpulse_gpus_allocated", {"worker=\"m-one\""}) == 1;
  }, seconds(15))) << Logs();
  // One page, so the task cannot move from assigned to running in between.
  std::string after = MasterMetrics();
  EXPECT_EQ(SampleValue(after, "gpulse_tasks", {"state=\"running\""}).value_or(0) +
                SampleValue(after, "gpulse_tasks", {"state=\"assigned\""}).value_or(0),
            1)
      << after;
}

TEST_F(MetricsTest, SeriesFollowTheSimulatedLoad) {
  json scenario = SimScenario("m-one", {15, 40});
  scenario["gpus"][1]["errors"] = {{"nvmlDeviceGetTemperature", "NOT_SUPPORTED"}};
  WriteScenario(worker_->scenario_path(), scenario);
  EXPECT_TRUE(Eventually([&] {
    return SampleValue(MasterMetrics(), "DCGM_FI_DEV_GPU_UTIL", {"gpu=\"0\"", "worker=\"m-one\""}) == 15;
  }, seconds(10))) << MasterMetrics();
}

TEST_F(MetricsTest, WorkerServesItsOwnSeriesWithoutTheMaster) {
  HttpReply r;
  ASSERT_TRUE(Eventually([&] {
    r = HttpGet(worker_port_, "/metrics");
    return r.status == 200;
  }, seconds(10))) << r.status << Logs();
  EXPECT_EQ(SampleValue(r.body, "DCGM_FI_DEV_GPU_UTIL", {"gpu=\"0\"", "UUID=\"" + uuid0_ + "\"", "worker=\"m-one\""}),
            80)
      << r.body;
  EXPECT_EQ(SampleValue(r.body, "DCGM_FI_DEV_FB_USED", {"gpu=\"1\""}), 1024);
  EXPECT_FALSE(SampleValue(r.body, "DCGM_FI_DEV_GPU_TEMP", {"gpu=\"1\""}).has_value());
  EXPECT_EQ(SampleValue(r.body, "gpulse_nvml_available", {"worker=\"m-one\""}), 1);
  // Both host figures are known by the second sample (CPU % needs a delta).
  auto cpu = SampleValue(r.body, "gpulse_worker_cpu_percent", {"worker=\"m-one\""});
  auto memory = SampleValue(r.body, "gpulse_worker_memory_percent", {"worker=\"m-one\""});
  ASSERT_TRUE(cpu.has_value()) << r.body;
  ASSERT_TRUE(memory.has_value()) << r.body;
  EXPECT_GE(*cpu, 0.0);
  EXPECT_LE(*cpu, 100.0);
  EXPECT_GT(*memory, 0.0);
  EXPECT_LE(*memory, 100.0);
  // Cluster series are the master's alone.
  EXPECT_EQ(r.body.find("gpulse_workers{"), std::string::npos);
  // With the master gone the worker keeps sampling and serving: its page
  // follows a new simulated load that only it can see.
  master_->Kill9();
  json scenario = SimScenario("m-one", {15, 40});
  scenario["gpus"][1]["errors"] = {{"nvmlDeviceGetTemperature", "NOT_SUPPORTED"}};
  WriteScenario(worker_->scenario_path(), scenario);
  HttpReply page;
  EXPECT_TRUE(Eventually([&] {
    page = HttpGet(worker_port_, "/metrics");
    return SampleValue(page.body, "DCGM_FI_DEV_GPU_UTIL", {"gpu=\"0\"", "worker=\"m-one\""}) == 15;
  }, seconds(30))) << page.status << "\n" << page.body << Logs();
  EXPECT_EQ(page.status, 200);
}

TEST_F(MetricsTest, BrokenGpuAndCollectorHealthAreSignalsNotSilence) {
  json scenario = SimScenario("m-lossy", {30, 50});
  scenario["gpus"][1]["lost"] = true;
  WorkerProcess lossy(*master_, "m-lossy", scenario, dir_.path());
  std::string page;
  ASSERT_TRUE(Eventually([&] {
    page = MasterMetrics();
    return SampleValue(page, "gpulse_worker_gpu_healthy", {"worker=\"m-lossy\"", "gpu=\"1\""}) == 0 &&
           SampleValue(page, "gpulse_nvml_errors_total", {"worker=\"m-lossy\"", "code=\"NVML_ERROR_GPU_IS_LOST\""})
                   .value_or(0) >= 1;
  }, seconds(15))) << page << lossy.process().Log();
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_GPU_UTIL", {"worker=\"m-lossy\"", "gpu=\"0\""}), 30);
  EXPECT_FALSE(SampleValue(page, "DCGM_FI_DEV_GPU_UTIL", {"worker=\"m-lossy\"", "gpu=\"1\""}).has_value());
  EXPECT_FALSE(SampleValue(page, "DCGM_FI_DEV_FB_USED", {"worker=\"m-lossy\"", "gpu=\"1\""}).has_value());
  EXPECT_EQ(SampleValue(page, "gpulse_worker_gpu_healthy", {"worker=\"m-lossy\"", "gpu=\"0\""}), 1);
  EXPECT_EQ(SampleValue(page, "gpulse_nvml_available", {"worker=\"m-lossy\""}), 1);
  auto duration = SampleValue(page, "gpulse_sample_duration_seconds", {"worker=\"m-one\""});
  ASSERT_TRUE(duration.has_value()) << page;
  EXPECT_GE(*duration, 0.0);
  EXPECT_LT(*duration, 5.0);
  // The healthy worker has had no NVML failure at all.
  EXPECT_FALSE(SampleValue(page, "gpulse_nvml_errors_total", {"worker=\"m-one\""}).has_value());
}

TEST_F(MetricsTest, GpmFiguresReachBothPagesAsRatiosAndOnlyWhereSupported) {
  // The worker's slow poller computes GPM between two health passes (5 s apart).
  std::string page;
  ASSERT_TRUE(Eventually([&] {
    page = MasterMetrics();
    return SampleValue(page, "DCGM_FI_PROF_SM_ACTIVE", {"gpu=\"0\"", "worker=\"m-one\""}).has_value();
  }, seconds(20))) << page << Logs();
  EXPECT_EQ(SampleValue(page, "DCGM_FI_PROF_GR_ENGINE_ACTIVE", {"gpu=\"0\""}), 0.62) << page;
  EXPECT_EQ(SampleValue(page, "DCGM_FI_PROF_SM_ACTIVE", {"gpu=\"0\""}), 0.48);
  EXPECT_EQ(SampleValue(page, "DCGM_FI_PROF_SM_OCCUPANCY", {"gpu=\"0\""}), 0.27);
  EXPECT_EQ(SampleValue(page, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", {"gpu=\"0\""}), 0.33);
  EXPECT_NE(page.find("# TYPE DCGM_FI_PROF_SM_ACTIVE gauge"), std::string::npos);
  // GPU 1 has no GPM: no line at all, never 0.
  for (const char* family : {"DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_SM_ACTIVE", "DCGM_FI_PROF_SM_OCCUPANCY",
                             "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"}) {
    EXPECT_FALSE(SampleValue(page, family, {"gpu=\"1\""}).has_value()) << family << "\n" << page;
  }
  // The API's GPU objects carry the ratios, null where unsupported.
  json gpus = Worker()["gpus"];
  EXPECT_EQ(gpus[0]["sm_occupancy"], 0.27) << gpus.dump();
  EXPECT_TRUE(gpus[1]["sm_occupancy"].is_null()) << gpus.dump();
  // The worker's own page says the same.
  const std::string worker_page = HttpGet(worker_port_, "/metrics").body;
  EXPECT_EQ(SampleValue(worker_page, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", {"gpu=\"0\""}), 0.33) << worker_page;
  EXPECT_FALSE(SampleValue(worker_page, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", {"gpu=\"1\""}).has_value());
  if (access(kPromtool, X_OK) == 0) {
    EXPECT_EQ(PromtoolProblems(page), "");
    EXPECT_EQ(PromtoolProblems(worker_page), "");
  } else if (RunningInCi()) {
    ADD_FAILURE() << kPromtool << " is missing";
  }
}

TEST_F(MetricsTest, ScenarioXidAndHealthFiguresReachBothPages) {
  // Before: the GPU's events are watched and no XID has happened.
  ASSERT_TRUE(Eventually([&] {
    return SampleValue(MasterMetrics(), "DCGM_FI_DEV_XID_ERRORS", {"gpu=\"1\"", "worker=\"m-one\""}) == 0;
  }, seconds(15))) << MasterMetrics() << Logs();
  json scenario = SimScenario("m-one", {80, 40});
  scenario["gpus"][1]["errors"] = {{"nvmlDeviceGetTemperature", "NOT_SUPPORTED"},
                                   {"nvmlDeviceGetTotalEnergyConsumption", "NOT_SUPPORTED"}};
  scenario["gpus"][0]["temperature_c"] = 61;
  scenario["gpus"][0]["power_w"] = 321.5;
  scenario["gpus"][1]["xids"] = {79};
  scenario["gpus"][1]["ecc_uncorrected_volatile"] = 2;
  scenario["gpus"][1]["remapped_rows"] = {{"pending", true}};
  scenario["gpus"][1]["clock_event_reasons"] = {"hw_slowdown"};
  WriteScenario(worker_->scenario_path(), scenario);
  std::string page;
  ASSERT_TRUE(Eventually([&] {
    page = MasterMetrics();
    return SampleValue(page, "DCGM_FI_DEV_XID_ERRORS", {"gpu=\"1\"", "worker=\"m-one\""}) == 79 &&
           SampleValue(page, "DCGM_FI_DEV_ROW_REMAP_PENDING", {"gpu=\"1\"", "worker=\"m-one\""}) == 1;
  }, seconds(20))) << page << Logs();
  EXPECT_EQ(SampleValue(page, "gpulse_gpu_xid_errors_total", {"gpu=\"1\"", "xid=\"79\""}), 1) << page;
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_XID_ERRORS", {"gpu=\"0\"", "worker=\"m-one\""}), 0);
  EXPECT_FALSE(SampleValue(page, "gpulse_gpu_xid_errors_total", {"gpu=\"0\""}).has_value());
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", {"gpu=\"1\""}), 2);
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", {"gpu=\"1\""}), 8);
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_ROW_REMAP_PENDING", {"gpu=\"0\""}), 0);
  EXPECT_TRUE(Eventually([&] {
    return SampleValue(MasterMetrics(), "gpulse_gpu_dbe_events_total", {"gpu=\"1\""}) == 2;
  }, seconds(10))) << MasterMetrics();
  // Energy: GPU 0's counter is there, GPU 1 does not support it: no line, never 0.
  EXPECT_TRUE(SampleValue(page, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", {"gpu=\"0\""}).value_or(0) >= 1e6);
  EXPECT_FALSE(SampleValue(page, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", {"gpu=\"1\""}).has_value()) << page;
  EXPECT_EQ(SampleValue(page, "DCGM_FI_DEV_POWER_MGMT_LIMIT", {"gpu=\"0\""}), 700);
  EXPECT_TRUE(SampleValue(page, "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", {"gpu=\"0\""}).has_value());
  // The worker's own page says the same.
  HttpReply worker_page;
  EXPECT_TRUE(Eventually([&] {
    worker_page = HttpGet(worker_port_, "/metrics");
    return SampleValue(worker_page.body, "gpulse_gpu_xid_errors_total", {"gpu=\"1\"", "xid=\"79\""}) == 1;
  }, seconds(10))) << worker_page.body;
  // Delivered once: a later page still counts one XID 79.
  ASSERT_TRUE(Eventually([&] { return Worker().value("heartbeats", 0) >= 3; }, seconds(10)));
  EXPECT_EQ(SampleValue(MasterMetrics(), "gpulse_gpu_xid_errors_total", {"gpu=\"1\"", "xid=\"79\""}), 1);
  // The master judges GPU 1 unhealthy and schedules around it: a one-GPU
  // task lands on GPU 0, although GPU 1 is the less loaded one (40 % vs 80 %).
  json gpu1 = Worker()["gpus"][1];
  EXPECT_EQ(gpu1["health"], "unhealthy") << gpu1.dump();
  EXPECT_NE(gpu1["health_reasons"].dump().find("critical XID 79"), std::string::npos) << gpu1.dump();
  EXPECT_EQ(Worker()["gpus"][0]["health"], "healthy");
  EXPECT_EQ(SampleValue(MasterMetrics(), "gpulse_gpu_health_state", {"gpu=\"1\"", "state=\"unhealthy\""}), 2);
  EXPECT_EQ(SampleValue(MasterMetrics(), "gpulse_gpu_health_state", {"gpu=\"0\"", "state=\"healthy\""}), 0);
  HttpReply submitted = HttpPost(master_->http_port(), "/api/tasks", R"({"argv":["/bin/sleep","30"],"gpus":1})",
                                 master_->token());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string task_id = submitted.json().value("id", "");
  json task;
  ASSERT_TRUE(Eventually([&] {
    task = HttpGet(master_->http_port(), "/api/tasks/" + task_id, master_->read_token()).json();
    return task.value("gpu_indices", json::array()).size() == 1;
  }, seconds(15))) << task.dump() << Logs();
  EXPECT_EQ(task["gpu_indices"], json::array({0})) << task.dump();

  // The remap clears when the scenario clears it (a GPU reset).
  scenario["gpus"][1]["remapped_rows"] = {{"pending", false}};
  WriteScenario(worker_->scenario_path(), scenario);
  EXPECT_TRUE(Eventually([&] {
    return SampleValue(MasterMetrics(), "DCGM_FI_DEV_ROW_REMAP_PENDING", {"gpu=\"1\""}) == 0;
  }, seconds(20))) << MasterMetrics();
  if (access(kPromtool, X_OK) == 0) {
    EXPECT_EQ(PromtoolProblems(page), "") << page;
  }
}

TEST_F(MetricsTest, PendingRowRemapKeepsTheGpuFromTasksUntilTheScenarioClearsIt) {
  json scenario = SimScenario("m-one", {80, 40});
  scenario["gpus"][1]["errors"] = {{"nvmlDeviceGetTemperature", "NOT_SUPPORTED"}};
  scenario["gpus"][1]["remapped_rows"] = {{"pending", true}};
  WriteScenario(worker_->scenario_path(), scenario);
  ASSERT_TRUE(Eventually([&] { return Worker()["gpus"][1].value("health", "") == "unhealthy"; }, seconds(20)))
      << Worker().dump() << Logs();
  EXPECT_EQ(Worker()["gpus"][1]["health_reasons"], json::array({"row remap pending"}));
  // A task that needs both GPUs waits.
  HttpReply submitted = HttpPost(master_->http_port(), "/api/tasks", R"({"argv":["/bin/sleep","30"],"gpus":2})",
                                 master_->token());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string task_id = submitted.json().value("id", "");
  auto task_state = [&] { return HttpGet(master_->http_port(), "/api/tasks/" + task_id, master_->read_token()).json().value("state", ""); };
  ASSERT_TRUE(Eventually([&] { return Worker().value("heartbeats", 0) >= 4; }, seconds(10)));
  EXPECT_EQ(task_state(), "queued");
  // A GPU reset clears the remap: the GPU is healthy and the task runs.
  scenario["gpus"][1]["remapped_rows"] = {{"pending", false}};
  WriteScenario(worker_->scenario_path(), scenario);
  EXPECT_TRUE(Eventually([&] {
    std::string state = task_state();
    return state == "assigned" || state == "running";
  }, seconds(20))) << task_state() << Logs();
  EXPECT_EQ(Worker()["gpus"][1]["health"], "healthy");
}

TEST_F(MetricsTest, PagesPassPromtool) {
  if (access(kPromtool, X_OK) != 0) {
    // A developer's machine may lack it; CI must not pass without the check.
    if (RunningInCi()) {
      FAIL() << kPromtool << " is not installed and CI is set: install it (apt-get install prometheus, or "
             << "scripts/install-deps.sh test) so the exposition format is checked";
    }
    GTEST_SKIP() << kPromtool << " is not installed (apt-get install prometheus), so the exposition format "
                 << "is not checked by Prometheus' own linter in this run";
  }
  // With a running task, so the per-task series (gpulse_task_*) are checked too.
  HttpReply submitted = HttpPost(master_->http_port(), "/api/tasks",
                                 json({{"argv", {"/bin/sleep", "60"}}, {"gpus", 1}}).dump(), master_->token());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  std::string master_page;
  ASSERT_TRUE(Eventually([&] {
    master_page = MasterMetrics();
    return master_page.find("gpulse_task_gpu_utilization{") != std::string::npos &&
           master_page.find("gpulse_cluster_gpu_efficiency_ratio{") != std::string::npos;
  }, seconds(20))) << master_page << Logs();
  EXPECT_EQ(PromtoolProblems(master_page), "") << master_page;
  HttpReply worker_page;
  ASSERT_TRUE(Eventually([&] {
    worker_page = HttpGet(worker_port_, "/metrics");
    return worker_page.status == 200;
  }, seconds(10)));
  EXPECT_EQ(PromtoolProblems(worker_page.body), "") << worker_page.body;
}

TEST_F(MetricsTest, HistoryEndpointHasAPointPerHeartbeat) {
  ASSERT_TRUE(Eventually([&] {
    return HttpGet(master_->http_port(), "/api/workers/m-one/history", master_->read_token()).json().value("t", json::array()).size() >= 2;
  }, seconds(10))) << HttpGet(master_->http_port(), "/api/workers/m-one/history", master_->read_token()).body;
  // The link records a heartbeat's point just before the cluster counts it,
  // one message at a time: read between two counts, the history has at
  // least the first count of points and at most one more than the second.
  int beats_before = Worker().value("heartbeats", -1);
  json h = HttpGet(master_->http_port(), "/api/workers/m-one/history", master_->read_token()).json();
  int beats_after = Worker().value("heartbeats", -1);
  EXPECT_GE(static_cast<int>(h["t"].size()), beats_before) << h.dump();
  EXPECT_LE(static_cast<int>(h["t"].size()), beats_after + 1) << h.dump();
  EXPECT_EQ(h["worker"], "m-one");
  EXPECT_EQ(h["interval_seconds"], 1.0);
  ASSERT_EQ(h["gpus"].size(), 2u);
  EXPECT_EQ(h["gpus"][0]["uuid"], uuid0_);
  EXPECT_EQ(h["gpus"][0]["utilization_gpu"].back(), 80.0);
  EXPECT_EQ(h["gpus"][0]["memory_used_bytes"].back(), 1024ull << 20);
  EXPECT_TRUE(h["gpus"][1]["temperature_c"].back().is_null());  // unknown, not 0
  EXPECT_EQ(h["t"].size(), h["host"]["cpu_percent"].size());
  // ?since= returns only the points after it: wait for two more heartbeats,
  // then exactly the newer points come back, in order, in every series.
  double last = h["t"].back();
  size_t points = h["t"].size();
  ASSERT_TRUE(Eventually([&] { return Worker().value("heartbeats", 0) >= beats_after + 2; }, seconds(10)));
  char since[32];
  std::snprintf(since, sizeof since, "%.3f", last);
  json later = HttpGet(master_->http_port(), std::string("/api/workers/m-one/history?since=") + since, master_->read_token()).json();
  json all = HttpGet(master_->http_port(), "/api/workers/m-one/history", master_->read_token()).json();
  ASSERT_GE(later["t"].size(), 2u) << later.dump();
  EXPECT_EQ(later["t"].size(), all["t"].size() - points) << later.dump() << "\n" << all.dump();
  double previous = last;
  for (const auto& t : later["t"]) {
    EXPECT_GT(t.get<double>(), previous);
    previous = t.get<double>();
  }
  EXPECT_EQ(later["gpus"][0]["utilization_gpu"].size(), later["t"].size());
  EXPECT_EQ(later["host"]["cpu_percent"].size(), later["t"].size());
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/workers/nobody/history", master_->read_token()).status, 404);
}

}  // namespace
}  // namespace gpulse::integration
