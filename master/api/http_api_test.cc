// The HTTP API over a real HttpServer on a loopback port of its own,
// in front of a fixture cluster: the token on every call that changes
// something, the JSON bodies, and the errors.
#include "master/api/http_api.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

#include <httplib.h>

#include "common/http_server.h"
#include "master/core/cluster_test_util.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kToken(64, 'a');
const std::string kReadToken(64, 'r');

// The cluster token with one byte changed at `at`: as long as the real one.
std::string TokenDifferingAt(size_t at) {
  std::string t = kToken;
  t[at] = 'b';
  return t;
}

class HttpApiTest : public ClusterFixture {
 protected:
  void SetUp() override {
    ClusterFixture::SetUp();
    auto logs = LogStore::Open(dir_.File("logs"));
    ASSERT_OK(logs);
    logs_ = std::move(*logs);
    api_ = std::make_unique<HttpApi>(*cluster_, *logs_, clock_, ApiAccessConfig{kToken, kReadToken});
    api_->SetJoinCommand([] { return Result<std::string>(std::string("gpulse-worker --join 'gpulse-join://m:1'")); });
    api_->Register(server_);
    auto port = server_.Start("127.0.0.1:0");
    ASSERT_OK(port);
    port_ = *port;
  }

  void TearDown() override {
    server_.Stop();
  }

  struct Reply {
    int status = 0;
    std::string body;
    json Json() const { return json::parse(body, nullptr, false); }
  };

  // With the read token; `token` empty: no Authorization header at all.
  Reply Get(const std::string& path, const std::string& token = kReadToken) {
    httplib::Client client("127.0.0.1", port_);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    auto r = client.Get(path, headers);
    return r ? Reply{r->status, r->body} : Reply{};
  }

  // `token` empty: no Authorization header at all.
  Reply Post(const std::string& path, const std::string& body, const std::string& token = kToken) {
    httplib::Client client("127.0.0.1", port_);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    auto r = client.Post(path, headers, body, "application/json");
    return r ? Reply{r->status, r->body} : Reply{};
  }

  testkit::TempDir dir_{"gpulse-http-api"};
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<HttpApi> api_;
  HttpServer server_;
  int port_ = 0;
};

TEST_F(HttpApiTest, SubmitNeedsTheExactToken) {
  const std::string body = R"({"argv": ["/bin/true"]})";
  for (const std::string& wrong : {TokenDifferingAt(0), TokenDifferingAt(31), TokenDifferingAt(63),
                                   std::string("short"), kToken + "a"}) {
    Reply r = Post("/api/tasks", body, wrong);
    EXPECT_EQ(r.status, 401) << wrong;
    EXPECT_EQ(r.Json().value("error", "").rfind("wrong token", 0), 0u) << r.body;
  }
  Reply none = Post("/api/tasks", body, "");
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.Json().value("error", "").find("Authorization: Bearer"), std::string::npos) << none.body;
  EXPECT_TRUE(cluster_->Tasks().empty());
  EXPECT_EQ(Post("/api/tasks", body).status, 201);
  EXPECT_EQ(cluster_->Tasks().size(), 1u);
}

// Observation 6 of issue 9: anyone who reached the API port could read
// every task, with its environment.
TEST_F(HttpApiTest, ReadsNeedTheReadOrTheAdminTokenAndChangesTheAdminOne) {
  Task t = Submit(MakeSpec(0));
  for (const std::string& path : {std::string("/api/workers"), std::string("/api/tasks"), "/api/tasks/" + t.id,
                                   "/api/tasks/" + t.id + "/logs"}) {
    Reply anonymous = Get(path, "");
    EXPECT_EQ(anonymous.status, 401) << path;
    EXPECT_NE(anonymous.Json().value("error", "").find("read token"), std::string::npos) << anonymous.body;
    EXPECT_EQ(Get(path, TokenDifferingAt(5)).status, 401) << path;
    EXPECT_NE(Get(path, kReadToken).status, 401) << path;
    EXPECT_NE(Get(path, kToken).status, 401) << path;
  }
  // /healthz stays open for load balancers and probes.
  EXPECT_EQ(Get("/healthz", "").status, 200);

  // The read token changes nothing: 403, and the task is untouched.
  Reply submit = Post("/api/tasks", R"({"argv": ["/bin/true"]})", kReadToken);
  EXPECT_EQ(submit.status, 403);
  EXPECT_NE(submit.Json().value("error", "").find("admin token"), std::string::npos) << submit.body;
  Reply cancel = Post("/api/tasks/" + t.id + "/cancel", "{}", kReadToken);
  EXPECT_EQ(cancel.status, 403);
  EXPECT_EQ(cluster_->Tasks().size(), 1u);
  EXPECT_EQ(Get("/api/tasks/" + t.id).Json()["state"], "queued");
}

TEST_F(HttpApiTest, CancelNeedsTheExactToken) {
  Task t = Submit(MakeSpec(0));
  const std::string path = "/api/tasks/" + t.id + "/cancel";
  EXPECT_EQ(Post(path, "{}", "").status, 401);
  EXPECT_EQ(Post(path, "{}", TokenDifferingAt(0)).status, 401);
  EXPECT_EQ(Post(path, "{}", TokenDifferingAt(63)).status, 401);
  EXPECT_EQ(Get("/api/tasks/" + t.id).Json()["state"], "queued");
  EXPECT_EQ(EventsOf(t.id), std::vector<std::string>{"submitted"});

  Reply ok = Post(path, "{}");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Json()["state"], "cancelled");
  EXPECT_EQ(Get("/api/tasks/" + t.id).Json()["state"], "cancelled");
  Reply again = Post(path, "{}");
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(again.Json().value("error", "").find("cancelled"), std::string::npos);
  EXPECT_EQ(Post("/api/tasks/t-404404/cancel", "{}").status, 404);
}

TEST_F(HttpApiTest, SubmittedBodyBecomesTheTask) {
  Reply r = Post("/api/tasks", R"({"argv": ["python", "train.py"], "name": "train", "env": {"SEED": "1"},
                                   "cpus": 4, "gpus": 2, "memory": "16GiB", "max_attempts": 5})");
  ASSERT_EQ(r.status, 201) << r.body;
  json t = r.Json();
  EXPECT_EQ(t["id"], "t-000001");
  EXPECT_EQ(t["state"], "queued");
  EXPECT_EQ(t["memory_bytes"], 16 * kGiB);
  EXPECT_EQ(t["gpus_requested"], 2);
  EXPECT_EQ(t["cpus"], 4);
  EXPECT_EQ(t["max_attempts"], 5);
  EXPECT_EQ(t["env"], json({{"SEED", "<hidden>"}}));  // names only
  EXPECT_EQ(t["attempts"], 0);
  EXPECT_TRUE(t["worker"].is_null());
  Task stored = ClusterFixture::Get("t-000001");
  EXPECT_EQ(stored.spec.memory_bytes, 16 * kGiB);
  EXPECT_EQ(stored.spec.argv, (std::vector<std::string>{"python", "train.py"}));

  Reply defaults = Post("/api/tasks", R"({"argv": ["/bin/true"], "memory_bytes": 1024})");
  ASSERT_EQ(defaults.status, 201) << defaults.body;
  EXPECT_EQ(defaults.Json()["cpus"], 1);
  EXPECT_EQ(defaults.Json()["gpus_requested"], 0);
  EXPECT_EQ(defaults.Json()["max_attempts"], 3);
  EXPECT_EQ(defaults.Json()["memory_bytes"], 1024);
  EXPECT_EQ(defaults.Json()["name"], "");
}

TEST_F(HttpApiTest, RefusalsAreJsonWithTheRightStatus) {
  EXPECT_EQ(Post("/api/tasks", "{not json").status, 400);
  Reply unknown_field = Post("/api/tasks", R"({"argv": ["x"], "surprise": 1})");
  EXPECT_EQ(unknown_field.status, 400);
  EXPECT_NE(unknown_field.Json().value("error", "").find("surprise"), std::string::npos);
  Reply too_many = Post("/api/tasks", R"({"argv": ["x"], "gpus": 100000})");  // Cluster::Submit's range check
  EXPECT_EQ(too_many.status, 400);
  EXPECT_NE(too_many.Json().value("error", "").find("gpus"), std::string::npos);
  Reply big = Post("/api/tasks", std::string(kMaxRequestBodyBytes + 1, 'x'));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(Get("/api/tasks/t-000404").status, 404);
  EXPECT_EQ(Get("/api/workers/nobody").status, 404);
  Reply bogus = Get("/api/tasks?state=bogus");
  EXPECT_EQ(bogus.status, 400);
  EXPECT_TRUE(bogus.Json()["error"].is_string());
  EXPECT_EQ(Get("/api/nothing-here").Json().value("error", ""), "no such endpoint: GET /api/nothing-here");
  EXPECT_TRUE(cluster_->Tasks().empty());
}

// Found by http_api_fuzzer: an error quoting a path or query value that is
// not UTF-8 made the JSON dump throw, and the 404 or 400 became a 500.
TEST_F(HttpApiTest, ErrorsQuotingBytesThatAreNotUtf8AreStillTheirStatusAndJson) {
  Reply state = Get("/api/tasks?state=%FFqueued");
  EXPECT_EQ(state.status, 400);
  EXPECT_NE(state.Json().value("error", "").find("\xEF\xBF\xBDqueued"), std::string::npos) << state.body;
  Reply path = Get("/%A6%8Fi/join");
  EXPECT_EQ(path.status, 404);
  EXPECT_TRUE(path.Json()["error"].is_string()) << path.body;
}

TEST_F(HttpApiTest, TasksFilterByState) {
  Register("w1", 1);
  Task a = Submit(MakeSpec(1));
  Task b = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  json queued = Get("/api/tasks?state=queued").Json();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0]["id"], b.id);
  json assigned = Get("/api/tasks?state=assigned").Json();
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0]["id"], a.id);
  EXPECT_EQ(Get("/api/tasks?state=running").Json(), json::array());
  EXPECT_EQ(Get("/api/tasks").Json().size(), 2u);
}

TEST_F(HttpApiTest, HealthzCountsWorkers) {
  EXPECT_EQ(Get("/healthz").Json(), json::parse(R"({"status": "ok", "workers": 0, "workers_healthy": 0,
                                                    "tasks_in_memory": 0, "finished_tasks_in_memory": 0})"));
  Register("w1", 1);
  Register("w2", 1);
  clock_.Advance(1600ms);
  Beat("w2", {0});
  cluster_->CheckLiveness();  // w1 is suspect, w2 healthy
  EXPECT_EQ(Get("/healthz").Json(), json::parse(R"({"status": "ok", "workers": 2, "workers_healthy": 1,
                                                    "tasks_in_memory": 0, "finished_tasks_in_memory": 0})"));
}

TEST_F(HttpApiTest, WorkerObjectCarriesAllocationModelsAndHeartbeatAge) {
  link::Registration r = MakeRegister("w1", 2);
  r.heartbeat_interval = 2000ms;
  Register(r);
  Beat("w1", {30, 70});
  Submit(MakeSpec(1, 2, 8 * kGiB));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  clock_.Advance(1500ms);
  json w = Get("/api/workers/w1").Json();
  EXPECT_EQ(w["heartbeat_interval_seconds"], 2.0);
  EXPECT_DOUBLE_EQ(w["seconds_since_heartbeat"].get<double>(), 1.5);
  EXPECT_EQ(w["memory_allocated_bytes"], 8 * kGiB);
  EXPECT_EQ(w["cpus_allocated"], 2);
  EXPECT_EQ(w["gpu_allocated"], 1);
  EXPECT_EQ(w["gpu_models"], json::parse(R"([{"name": "NVIDIA H100 80GB HBM3", "count": 2}])"));
  EXPECT_EQ(w["gpu_percent"], 50.0);
  EXPECT_EQ(Get("/api/workers").Json()[0]["id"], "w1");
}

TEST_F(HttpApiTest, LogsReadFromAnOffsetAndSayWhereToGoOn) {
  Register("w1", 0);
  Task t = Submit(MakeSpec(0));
  ASSERT_EQ(cluster_->Schedule(), 1u);  // attempt 1
  ASSERT_OK(logs_->Append(t.id, 1, LogStream::kStdout, 0, "hello\nworld\n"));
  ASSERT_OK(logs_->Append(t.id, 1, LogStream::kStderr, 0, "oops\n"));
  httplib::Client client("127.0.0.1", port_);
  client.set_bearer_token_auth(kReadToken);
  auto all = client.Get("/api/tasks/" + t.id + "/logs");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->body, "hello\nworld\n");
  EXPECT_EQ(all->get_header_value("X-Gpulse-Next-Offset"), "12");
  EXPECT_EQ(all->get_header_value("X-Gpulse-Task-State"), "assigned");
  EXPECT_EQ(all->get_header_value("X-Gpulse-Attempt"), "1");
  auto rest = client.Get("/api/tasks/" + t.id + "/logs?offset=6");
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->body, "world\n");
  EXPECT_EQ(rest->get_header_value("X-Gpulse-Next-Offset"), "12");
  auto end = client.Get("/api/tasks/" + t.id + "/logs?offset=12");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->body, "");
  EXPECT_EQ(end->get_header_value("X-Gpulse-Next-Offset"), "12");
  auto err = client.Get("/api/tasks/" + t.id + "/logs?stream=stderr");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->body, "oops\n");
  EXPECT_EQ(Get("/api/tasks/" + t.id + "/logs?offset=-1").status, 400);
  EXPECT_EQ(Get("/api/tasks/" + t.id + "/logs?stream=stdin").status, 400);
  EXPECT_EQ(Get("/api/tasks/t-404404/logs").status, 404);
}

TEST_F(HttpApiTest, TaskPagesGoNewestFirstAndTheirCursorsReachEveryTask) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit(MakeSpec(0)).id);
  std::vector<std::string> seen;
  std::string path = "/api/tasks?limit=2";
  int pages = 0;
  while (pages++ < 10) {
    Reply r = Get(path);
    ASSERT_EQ(r.status, 200) << r.body;
    json page = r.Json();
    ASSERT_LE(page["tasks"].size(), 2u);
    for (const auto& t : page["tasks"]) seen.push_back(t["id"]);
    if (page["next_cursor"].is_null()) break;
    path = "/api/tasks?limit=2&cursor=" + page["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(seen, std::vector<std::string>(ids.rbegin(), ids.rend()));
  // Unpaged callers still get the whole array, oldest first.
  json all = Get("/api/tasks").Json();
  ASSERT_TRUE(all.is_array());
  EXPECT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0]["id"], ids[0]);
}

TEST_F(HttpApiTest, TaskPagesFilterByWorkerAndRefuseBadParameters) {
  Register("w1", 1);
  Task placed = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  Submit(MakeSpec(0));
  json page = Get("/api/tasks?limit=10&worker=w1").Json();
  ASSERT_EQ(page["tasks"].size(), 1u);
  EXPECT_EQ(page["tasks"][0]["id"], placed.id);
  EXPECT_TRUE(page["next_cursor"].is_null());
  EXPECT_EQ(Get("/api/tasks?limit=0").status, 400);
  EXPECT_EQ(Get("/api/tasks?limit=100000").status, 400);
  EXPECT_EQ(Get("/api/tasks?cursor=bogus").status, 400);
  EXPECT_EQ(Get("/api/tasks?limit=1&cursor=t0").status, 400);
}

TEST_F(HttpApiTest, WorkerPagesFollowIds) {
  for (const char* id : {"w3", "w1", "w2"}) Register(id, 1);
  json first = Get("/api/workers?limit=2").Json();
  ASSERT_EQ(first["workers"].size(), 2u);
  EXPECT_EQ(first["workers"][1]["id"], "w2");
  ASSERT_TRUE(first["next_cursor"].is_string());
  json rest = Get("/api/workers?limit=2&cursor=" + first["next_cursor"].get<std::string>()).Json();
  ASSERT_EQ(rest["workers"].size(), 1u);
  EXPECT_EQ(rest["workers"][0]["id"], "w3");
  EXPECT_TRUE(rest["next_cursor"].is_null());
  EXPECT_TRUE(Get("/api/workers").Json().is_array());
}

TEST_F(HttpApiTest, TheJoinCommandIsForTheAdminTokenOnly) {
  EXPECT_EQ(Get("/api/join").status, 403);  // the read token
  EXPECT_EQ(Get("/api/join", "").status, 401);
  Reply r = Get("/api/join", kToken);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["command"], "gpulse-worker --join 'gpulse-join://m:1'");
}

}  // namespace
}  // namespace gpulse::master
