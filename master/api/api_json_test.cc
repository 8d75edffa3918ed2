// The API's JSON forms: what a submission body becomes, and the fields of
// worker and task objects that clients (the CLI, the dashboard) read.
#include "master/api/api_json.h"

#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr uint64_t kGiB = uint64_t{1} << 30;

TaskSpec Parse(const json& body) {
  auto spec = TaskSpecFromJson(body);
  EXPECT_TRUE(spec.ok()) << body.dump() << ": " << spec.status().ToString();
  return spec.ok() ? *spec : TaskSpec{};
}

TEST(TaskSpecFromJsonTest, OnlyArgvIsNeededAndTheRestHasDefaults) {
  TaskSpec spec = Parse({{"argv", {"/bin/true"}}});
  EXPECT_EQ(spec.argv, std::vector<std::string>{"/bin/true"});
  EXPECT_EQ(spec.name, "");
  EXPECT_TRUE(spec.env.empty());
  EXPECT_EQ(spec.cpus, 1u);
  EXPECT_EQ(spec.gpus, 0u);
  EXPECT_EQ(spec.memory_bytes, 0u);
  EXPECT_EQ(spec.max_attempts, 3u);
}

TEST(TaskSpecFromJsonTest, EveryFieldIsRead) {
  TaskSpec spec = Parse({{"argv", {"python", "train.py", ""}},
                         {"name", "train"},
                         {"env", {{"SEED", "1"}, {"EMPTY", ""}}},
                         {"cpus", 4},
                         {"gpus", 2},
                         {"memory", "16GiB"},
                         {"max_attempts", 5}});
  EXPECT_EQ(spec.argv, (std::vector<std::string>{"python", "train.py", ""}));
  EXPECT_EQ(spec.name, "train");
  EXPECT_EQ(spec.env, (std::map<std::string, std::string>{{"EMPTY", ""}, {"SEED", "1"}}));
  EXPECT_EQ(spec.cpus, 4u);
  EXPECT_EQ(spec.gpus, 2u);
  EXPECT_EQ(spec.memory_bytes, 16 * kGiB);
  EXPECT_EQ(spec.max_attempts, 5u);
}

TEST(TaskSpecFromJsonTest, MemoryAsSizeStringOrByteCount) {
  EXPECT_EQ(Parse({{"argv", {"x"}}, {"memory", "512MiB"}}).memory_bytes, 512u << 20);
  EXPECT_EQ(Parse({{"argv", {"x"}}, {"memory", "1.5GiB"}}).memory_bytes, 3 * kGiB / 2);
  EXPECT_EQ(Parse({{"argv", {"x"}}, {"memory", "4096"}}).memory_bytes, 4096u);
  EXPECT_EQ(Parse({{"argv", {"x"}}, {"memory", 123456789}}).memory_bytes, 123456789u);
  EXPECT_EQ(Parse({{"argv", {"x"}}, {"memory_bytes", 17179869184ull}}).memory_bytes, 16 * kGiB);
  // Past 2^53 a double would round: large counts stay exact.
  EXPECT_EQ(Parse({{"argv", {"x"}}, {"memory_bytes", (uint64_t{1} << 60) + 1}}).memory_bytes,
            (uint64_t{1} << 60) + 1);
}

TEST(TaskSpecFromJsonTest, WholeNumbersWrittenAsFloatsAreAccepted) {
  TaskSpec spec = Parse(json::parse(R"({"argv": ["x"], "gpus": 2.0, "cpus": 3.0})"));
  EXPECT_EQ(spec.gpus, 2u);
  EXPECT_EQ(spec.cpus, 3u);
}

// Amounts past 32 bits are clamped, not wrapped, so that the range check
// in Cluster::Submit refuses them instead of seeing a small number.
TEST(TaskSpecFromJsonTest, HugeCountsAreClampedNotWrapped) {
  TaskSpec spec = Parse({{"argv", {"x"}}, {"gpus", (uint64_t{1} << 32) + 1}, {"cpus", uint64_t{1} << 40}});
  EXPECT_EQ(spec.gpus, UINT32_MAX);
  EXPECT_EQ(spec.cpus, UINT32_MAX);
}

TEST(TaskSpecFromJsonTest, MalformedFieldsAreNamed) {
  struct Case {
    json body;
    std::string names;
  };
  const Case cases[] = {
      {json::array(), "JSON object"},
      {{{"name", "x"}}, "argv"},
      {{{"argv", {"x"}}, {"gpus", -1}}, "'gpus' must not be negative"},
      {{{"argv", {"x"}}, {"memory", -5}}, "'memory' must not be negative"},
      {{{"argv", {"x"}}, {"cpus", 1.5}}, "cpus"},
      {{{"argv", {"x"}}, {"memory", "lots"}}, "memory"},
      {{{"argv", {"x"}}, {"env", {{"A", 1}}}}, "env.A"},
      {{{"argv", {"x"}}, {"max_attempts", "3"}}, "max_attempts"},
      {{{"argv", {"x"}}, {"surprise", true}}, "surprise"},
  };
  for (const Case& c : cases) {
    auto spec = TaskSpecFromJson(c.body);
    ASSERT_FALSE(spec.ok()) << c.body.dump();
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(c.names), std::string::npos) << spec.status().message();
  }
}

Worker TwoModelWorker() {
  Worker w;
  w.id = "w1";
  w.capacity.hostname = "w1.example";
  w.state = WorkerState::kSuspect;
  w.connected = true;
  w.capacity.cpu_cores = 32;
  w.cpus_allocated = 4;
  w.capacity.memory_bytes = 256 * kGiB;
  w.memory_allocated = 16 * kGiB;
  w.heartbeat_interval = 2500ms;
  w.heartbeats = 7;
  for (const char* name : {"NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"}) {
    WorkerGpu g;
    g.identity.index = static_cast<uint32_t>(w.gpus.size());
    g.identity.uuid = "GPU-" + std::to_string(g.identity.index);
    g.identity.name = name;
    g.identity.memory_total_bytes = 80 * kGiB;
    w.gpus.push_back(g);
  }
  w.gpus[1].allocated_to = "t-000001";
  w.gpus[2].healthy = false;
  w.gpus[2].live.error = "GPU is lost";
  w.task_ids = {"t-000001"};
  return w;
}

TEST(WorkerToJsonTest, CapacityAllocationModelsAndInterval) {
  Worker w = TwoModelWorker();
  json j = WorkerToJson(w, WallTime{} + 1000s);
  EXPECT_EQ(j["state"], "suspect");
  EXPECT_EQ(j["connected"], true);
  EXPECT_EQ(j["cpu_cores"], 32);
  EXPECT_EQ(j["cpus_allocated"], 4);
  EXPECT_EQ(j["memory_total_bytes"], 256 * kGiB);
  EXPECT_EQ(j["memory_allocated_bytes"], 16 * kGiB);
  EXPECT_EQ(j["gpu_capacity"], 3);
  EXPECT_EQ(j["gpu_allocated"], 1);
  EXPECT_EQ(j["gpu_models"], json::parse(R"([{"name": "NVIDIA A100-SXM4-40GB", "count": 1},
                                              {"name": "NVIDIA H100 80GB HBM3", "count": 2}])"));
  EXPECT_EQ(j["heartbeat_interval_seconds"], 2.5);
  EXPECT_EQ(j["heartbeats"], 7);
  EXPECT_EQ(j["tasks"], json::array({"t-000001"}));
  EXPECT_EQ(j["gpus"][1]["allocated_to"], "t-000001");
  EXPECT_TRUE(j["gpus"][0]["allocated_to"].is_null());
  EXPECT_EQ(j["gpus"][2]["healthy"], false);
  EXPECT_EQ(j["gpus"][2]["error"], "GPU is lost");
  EXPECT_EQ(j["gpus"][0]["memory_total_bytes"], 80 * kGiB);  // from registration when the sample has none
}

TEST(WorkerToJsonTest, UnknownFiguresAndNoHeartbeatYetAreNull) {
  json j = WorkerToJson(TwoModelWorker(), WallTime{} + 1000s);
  EXPECT_TRUE(j["cpu_percent"].is_null());
  EXPECT_TRUE(j["memory_percent"].is_null());
  EXPECT_TRUE(j["gpu_percent"].is_null());
  EXPECT_TRUE(j["last_heartbeat"].is_null());
  EXPECT_TRUE(j["seconds_since_heartbeat"].is_null());
}

TEST(WorkerToJsonTest, SecondsSinceHeartbeatCountFromTheLastOne) {
  Worker w = TwoModelWorker();
  w.last_heartbeat = WallTime{} + 1000s;
  w.host.cpu_percent = 12.5;
  w.gpu_percent = 60;
  json j = WorkerToJson(w, WallTime{} + 1002500ms);
  EXPECT_DOUBLE_EQ(j["seconds_since_heartbeat"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(j["last_heartbeat"].get<double>(), 1000.0);
  EXPECT_EQ(j["cpu_percent"], 12.5);
  EXPECT_EQ(j["gpu_percent"], 60.0);
}

TEST(TaskToJsonTest, EveryFieldUnderItsDocumentedName) {
  Task t;
  t.id = "t-000042";
  t.spec.name = "train";
  t.spec.argv = {"python", "train.py"};
  t.spec.env = {{"SEED", "1"}};
  t.spec.cpus = 4;
  t.spec.memory_bytes = 16 * kGiB;
  t.spec.gpus = 2;
  t.spec.max_attempts = 5;
  t.state = TaskState::kRunning;
  t.worker_id = "w1";
  t.gpu_indices = {0, 3};
  t.gpu_uuids = {"GPU-0", "GPU-3"};
  t.attempts = 2;
  t.message = "requeued once";
  t.submitted_at = WallTime{} + 1500ms;
  t.started_at = WallTime{} + 2000ms;
  json j = TaskToJson(t);
  EXPECT_EQ(j, json::parse(R"({
    "id": "t-000042", "name": "train", "state": "running",
    "argv": ["python", "train.py"], "env": {"SEED": "<hidden>"},
    "cpus": 4, "memory_bytes": 17179869184, "gpus_requested": 2, "max_attempts": 5,
    "worker": "w1", "gpus": ["GPU-0", "GPU-3"], "gpu_indices": [0, 3],
    "attempts": 2, "start_failures": 0, "exit_code": null, "message": "requeued once", "pending_reason": null,
    "finished": false, "submitted_at": 1.5, "started_at": 2.0, "finished_at": null,
    "hardware_failures": 0, "idle_since": null,
    "usage": {"energy_joules": null, "gpu_seconds": 0.0, "gpu_seconds_used": 0.0, "max_gpu_processes": null,
              "max_outside_gpu_processes": null,
              "mean_utilization_gpu": null, "mean_utilization_memory": null, "peak_memory_used_bytes": null,
              "peak_utilization_gpu": null}})"));
  t.state = TaskState::kQueued;
  t.pending_reason = "waiting for 2 free GPUs";
  EXPECT_EQ(TaskToJson(t)["pending_reason"], "waiting for 2 free GPUs");
  t.state = TaskState::kRunning;
  t.worker_id.clear();
  t.exit_code = 7;
  EXPECT_TRUE(TaskToJson(t)["worker"].is_null());
  EXPECT_EQ(TaskToJson(t)["exit_code"], 7);
}

// Observation 6 of issue 9: a task's environment values (passwords, keys)
// were served to anyone who could reach the API.
TEST(TaskToJsonTest, EnvironmentValuesAreNeverServedOnlyTheirNames) {
  Task t;
  t.id = "t-000001";
  t.spec.argv = {"psql"};
  t.spec.env = {{"DB_PASSWORD", "hunter2-secret"}, {"EMPTY", ""}};
  json j = TaskToJson(t);
  EXPECT_EQ(j["env"], json::parse(R"({"DB_PASSWORD": "<hidden>", "EMPTY": "<hidden>"})"));
  EXPECT_EQ(j.dump().find("hunter2"), std::string::npos) << j.dump();
}

}  // namespace
}  // namespace gpulse::master
