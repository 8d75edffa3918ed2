// Who may do what, end to end over the real binaries (issue 9): the admin
// and read tokens on the HTTP API, --public-reads and --public-metrics,
// task environment values that no response carries, and a worker id that a
// second worker cannot take from a connected one.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/integration/harness.h"
#include "testkit/eventually.h"
#include "testkit/temp_dir.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using testkit::Eventually;

// The first `snapshot` event of GET /api/events (empty if none came within
// a few seconds), read with `token`.
std::string FirstEvent(const MasterProcess& master, const std::string& token) {
  httplib::Client client(master.http_url());
  if (master.tls()) {
    client.set_ca_cert_path(master.ca_file().c_str());
    client.enable_server_certificate_verification(true);
  }
  client.set_read_timeout(seconds(10));
  httplib::Headers headers{{"Authorization", "Bearer " + token}};
  std::string received;
  client.Get("/api/events", headers, [&](const char* data, size_t n) {
    received.append(data, n);
    // Go on until one whole snapshot event (ended by a blank line) is in.
    const size_t at = received.find("event: snapshot");
    return at == std::string::npos || received.find("\n\n", at) == std::string::npos;
  });
  return received;
}

class AccessTest : public ::testing::Test {
 protected:
  testkit::TempDir dir_{"gpulse-access"};
};

// Observation 6 of issue 9: without a token anyone could read every task
// and its environment.
TEST_F(AccessTest, ReadsNeedAToken_TheReadTokenReadsAndCannotChangeAnything) {
  MasterProcess master(dir_.File("m"));
  const int port = master.http_port();
  const std::string admin = master.token();
  const std::string reader = master.read_token();
  ASSERT_FALSE(reader.empty());
  ASSERT_NE(reader, admin);

  for (const std::string path : {"/api/workers", "/api/tasks", "/api/dashboard", "/metrics"}) {
    HttpReply anonymous = HttpGet(port, path);
    EXPECT_EQ(anonymous.status, 401) << path;
    EXPECT_TRUE(anonymous.json()["error"].is_string()) << path << ": " << anonymous.body;
    EXPECT_EQ(HttpGet(port, path, std::string(64, 'f')).status, 401) << path;
    EXPECT_EQ(HttpGet(port, path, reader).status, 200) << path;
    EXPECT_EQ(HttpGet(port, path, admin).status, 200) << path;
  }
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(port, "/").status, 200);  // the page; its data calls need a token

  HttpReply refused = HttpPost(port, "/api/tasks", R"({"argv": ["/bin/true"]})", reader);
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.json().value("error", "").find("admin token"), std::string::npos) << refused.body;
  EXPECT_EQ(HttpGet(port, "/api/tasks", reader).json(), json::array());

  HttpReply created = HttpPost(port, "/api/tasks", R"({"argv": ["/bin/true"]})", admin);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json().value("id", "");
  EXPECT_EQ(HttpPost(port, "/api/tasks/" + id + "/cancel", "{}", reader).status, 403);
  EXPECT_EQ(HttpGet(port, "/api/tasks/" + id, reader).json().value("state", ""), "queued");
  EXPECT_EQ(HttpPost(port, "/api/tasks/" + id + "/cancel", "{}", admin).status, 200);
}

TEST_F(AccessTest, NoEnvironmentValueAppearsInAnyResponseOrLog) {
  MasterProcess master(dir_.File("m"));
  WorkerProcess worker(master, "w", SimScenario("w", {0}), dir_.path());
  const int port = master.http_port();
  const std::string secret = "hunter2-9f3c1d";
  HttpReply created = HttpPost(port, "/api/tasks",
                               R"({"argv": ["/bin/sh", "-c", "test ${#DB_PASSWORD} = 14"],
                                   "env": {"DB_PASSWORD": "hunter2-9f3c1d"}})",
                               master.token());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body.find(secret), std::string::npos) << created.body;
  const std::string id = created.json().value("id", "");
  // The task itself gets the value (it exits 0 only if it sees 14
  // characters); its command line does not spell it.
  ASSERT_TRUE(Eventually([&] { return HttpGet(port, "/api/tasks/" + id, master.read_token()).json().value("state", "") ==
                                      "succeeded"; },
                         seconds(30)))
      << HttpGet(port, "/api/tasks/" + id, master.read_token()).body << worker.process().Log();

  const std::string reader = master.read_token();
  json task = HttpGet(port, "/api/tasks/" + id, reader).json();
  EXPECT_EQ(task["env"], json::parse(R"({"DB_PASSWORD": "<hidden>"})"));
  for (const std::string& path : {"/api/tasks/" + id, std::string("/api/tasks"), std::string("/api/dashboard"),
                                 "/api/tasks/" + id + "/logs", std::string("/metrics")}) {
    HttpReply r = HttpGet(port, path, master.token());
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body.find(secret), std::string::npos) << path;
  }
  std::string event = FirstEvent(master, reader);
  EXPECT_NE(event.find(id), std::string::npos) << event.substr(0, 300);
  EXPECT_EQ(event.find(secret), std::string::npos);
  EXPECT_EQ(master.process().Log().find(secret), std::string::npos);
}

TEST_F(AccessTest, PublicReadsOpenReadsOnlyAndPublicMetricsOpensOnlyMetrics) {
  MasterProcess open_reads(dir_.File("reads"), {"--public-reads"});
  EXPECT_EQ(HttpGet(open_reads.http_port(), "/api/workers").status, 200);
  EXPECT_EQ(HttpGet(open_reads.http_port(), "/metrics").status, 200);
  EXPECT_EQ(HttpPost(open_reads.http_port(), "/api/tasks", R"({"argv": ["/bin/true"]})", "").status, 401);

  MasterProcess open_metrics(dir_.File("metrics"), {"--public-metrics"});
  EXPECT_EQ(HttpGet(open_metrics.http_port(), "/metrics").status, 200);
  EXPECT_EQ(HttpGet(open_metrics.http_port(), "/api/workers").status, 401);
}

// Observation 3 of issue 9: a second stream registering the id of a live
// worker took its tasks; two workers with the same --id fought forever.
TEST_F(AccessTest, ASecondWorkerWithTheIdOfAConnectedOneIsRefusedUntilTheFirstIsGone) {
  MasterProcess master(dir_.File("m"));
  const int port = master.http_port();
  const std::string reader = master.read_token();
  WorkerProcess real(master, "w", SimScenario("w", {0}), dir_.path());
  ASSERT_TRUE(Eventually([&] { return HttpGet(port, "/api/workers/w", reader).json().value("heartbeats", 0) >= 1; },
                         seconds(20)))
      << real.process().Log();
  const std::string release = dir_.File("release");
  HttpReply created = HttpPost(
      port, "/api/tasks",
      json{{"argv", {"/bin/sh", "-c", "while [ ! -e '" + release + "' ]; do sleep 0.1; done"}}, {"gpus", 1}}.dump(),
      master.token());
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json().value("id", "");
  auto state = [&] { return HttpGet(port, "/api/tasks/" + id, reader).json().value("state", ""); };
  ASSERT_TRUE(Eventually([&] { return state() == "running"; }, seconds(20))) << real.process().Log();

  // A clone with the same id (its own work dir, no tasks) is refused, and
  // says why, while the real one is connected. It is a clone of the whole
  // machine, identity included (same key: a clone with another key is
  // refused for good, worker_identity_test.cc), so it may take over once
  // the real one is gone.
  const std::string clone_dir = dir_.File("clone");
  std::filesystem::create_directories(clone_dir + "/w-work");
  std::filesystem::copy(real.work_dir() + "/identity", clone_dir + "/w-work/identity",
                        std::filesystem::copy_options::recursive);
  WorkerProcess clone(master, "w", SimScenario("clone", {0}), clone_dir);
  ASSERT_TRUE(Eventually([&] { return clone.process().Log().find("already connected") != std::string::npos; },
                         seconds(20)))
      << clone.process().Log();
  EXPECT_EQ(state(), "running");
  EXPECT_EQ(HttpGet(port, "/api/tasks/" + id, reader).json().value("attempts", 0), 1);

  // The real worker's report still counts: the task succeeds.
  { std::ofstream(release) << "go\n"; }
  ASSERT_TRUE(Eventually([&] { return state() == "succeeded"; }, seconds(20)))
      << real.process().Log() << master.process().Log();

  // Once the real worker is gone (its stream closed), the other may register.
  real.process().Signal(SIGKILL);
  ASSERT_TRUE(Eventually([&] { return clone.process().Log().find("registered with the master") != std::string::npos; },
                         seconds(40)))
      << clone.process().Log();
  EXPECT_TRUE(HttpGet(port, "/api/workers/w", reader).json().value("connected", false));
}

}  // namespace
}  // namespace gpulse::integration
