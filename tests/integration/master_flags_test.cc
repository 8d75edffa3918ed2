// gpulse-master's command line end to end: its ports (port 0, the ports
// file, a port that is taken) and the flags that main() hands to the
// server (--token-file, --heartbeat-timeout, --cancel-grace,
// --history-window), and the one master per data dir. Each test starts
// its own master on ports it picks.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class MasterFlagsTest : public ::testing::Test {
 protected:
  // Starts a master that is expected to refuse to start; returns its exit
  // code (nullopt if it kept running) and leaves its log in `log`.
  std::optional<int> StartFailing(const std::vector<std::string>& args, std::string* log) {
    std::vector<std::string> argv = {BinPath("gpulse-master")};
    argv.insert(argv.end(), args.begin(), args.end());
    Process p("refused master", argv, {}, dir_.File("refused-" + std::to_string(++refused_) + ".log"));
    std::optional<int> code = p.WaitExit(seconds(20));
    *log = p.Log();
    return code;
  }

  json Worker(const MasterProcess& m, const std::string& id) {
    return HttpGet(m.http_port(), "/api/workers/" + id, m.read_token()).json();
  }

  testkit::TempDir dir_{"gpulse-master-flags"};
  int refused_ = 0;
};

TEST_F(MasterFlagsTest, PortZeroBindsFreePortsAndThePortsFileNamesThem) {
  MasterProcess master(dir_.File("m"));
  ASSERT_GT(master.grpc_port(), 0);
  ASSERT_GT(master.http_port(), 0);
  EXPECT_NE(master.grpc_port(), master.http_port());
  auto ports = ReadPortsFile(dir_.File("m") + "/ports.json");
  ASSERT_TRUE(ports.has_value());
  EXPECT_EQ(ports->first, master.grpc_port());
  EXPECT_EQ(ports->second, master.http_port());
  EXPECT_FALSE(std::filesystem::exists(dir_.File("m") + "/ports.json.tmp"));
  // The log says the same, for people.
  const std::string expected = "master listening: workers on 127.0.0.1:" + std::to_string(master.grpc_port()) +
                               " (TLS), HTTP on https://127.0.0.1:" + std::to_string(master.http_port()) + "/";
  EXPECT_NE(master.process().Log().find(expected), std::string::npos) << master.process().Log();
  // A worker reaches it on the port the file names.
  WorkerProcess worker(master, "w", SimScenario("w", {0}), dir_.path());
  EXPECT_TRUE(Eventually([&] { return Worker(master, "w").value("heartbeats", 0) >= 1; }, seconds(20)))
      << worker.process().Log();
}

// Two masters on one gRPC port must not share it (gRPC's default
// SO_REUSEPORT would let the second one bind and take some of the
// workers' connections): the second refuses to start and says why.
TEST_F(MasterFlagsTest, APortThatIsTakenIsAClearErrorNotASharedPort) {
  MasterProcess first(dir_.File("first"));
  std::string log;
  const std::string grpc = "127.0.0.1:" + std::to_string(first.grpc_port());
  std::optional<int> code = StartFailing(
      {"--listen", grpc, "--http", "127.0.0.1:0", "--data-dir", dir_.File("second")}, &log);
  ASSERT_TRUE(code.has_value()) << "a second master started on " << grpc << ":\n" << log;
  EXPECT_EQ(*code, 1) << log;
  EXPECT_NE(log.find("cannot listen for workers on " + grpc), std::string::npos) << log;

  const std::string http = "127.0.0.1:" + std::to_string(first.http_port());
  code = StartFailing({"--listen", "127.0.0.1:0", "--http", http, "--data-dir", dir_.File("third")}, &log);
  ASSERT_TRUE(code.has_value()) << "a third master started on " << http << ":\n" << log;
  EXPECT_EQ(*code, 1) << log;
  EXPECT_NE(log.find("HTTP: cannot listen on " + http), std::string::npos) << log;

  // The first one is untouched and still takes workers.
  EXPECT_EQ(HttpGet(first.http_port(), "/healthz").status, 200);
  WorkerProcess worker(first, "w", SimScenario("w", {0}), dir_.path());
  EXPECT_TRUE(Eventually([&] { return Worker(first, "w").value("heartbeats", 0) >= 1; }, seconds(20)))
      << worker.process().Log();
}

// Two masters on one data dir would overwrite each other's acknowledged
// tasks: the second refuses to start, naming the dir and the holder's pid,
// and touches nothing. kill -9 of the holder frees the dir at once.
TEST_F(MasterFlagsTest, ASecondMasterOnOneDataDirRefusesAndNamesTheHolder) {
  MasterProcess first(dir_.File("m"));
  HttpReply r = HttpPost(first.http_port(), "/api/tasks", R"({"argv": ["/bin/true"]})", first.token());
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = r.json()["id"];

  std::string log;
  std::optional<int> code =
      StartFailing({"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", dir_.File("m")}, &log);
  ASSERT_TRUE(code.has_value()) << "a second master started on the same data dir:\n" << log;
  EXPECT_EQ(*code, 1) << log;
  EXPECT_NE(log.find("data directory " + dir_.File("m") + " is in use by another gpulse-master (pid " +
                     std::to_string(first.process().pid()) + ")"),
            std::string::npos)
      << log;
  // The first one still serves what it acknowledged.
  EXPECT_EQ(HttpGet(first.http_port(), "/api/tasks/" + id, first.token()).json().value("id", ""), id);

  first.Kill9();
  first.Start();  // the kernel dropped the lock with its holder
  EXPECT_EQ(HttpGet(first.http_port(), "/api/tasks/" + id, first.token()).json().value("id", ""), id);
}

TEST_F(MasterFlagsTest, TokenFileIsTheClusterToken) {
  const std::string token_file = dir_.File("cluster.token");
  const std::string token(64, 'c');
  {
    std::ofstream(token_file) << "  " << token << "\n";
  }
  std::filesystem::permissions(token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  MasterProcess master(dir_.File("m"), {"--token-file", token_file});
  EXPECT_FALSE(std::filesystem::exists(dir_.File("m") + "/token"));  // none made up beside it
  HttpReply r = HttpPost(master.http_port(), "/api/tasks", R"({"argv": ["/bin/true"]})", token);
  EXPECT_EQ(r.status, 201) << r.body;
  r = HttpPost(master.http_port(), "/api/tasks", R"({"argv": ["/bin/true"]})", std::string(64, 'd'));
  EXPECT_EQ(r.status, 401);
  // Workers present the same file's token.
  WorkerProcess worker(master, "w", SimScenario("w", {0}), dir_.path());
  EXPECT_TRUE(Eventually([&] { return Worker(master, "w").value("heartbeats", 0) >= 1; }, seconds(20)))
      << worker.process().Log();

  // A --token-file that does not exist is an error, not a new token.
  std::string log;
  std::optional<int> code = StartFailing({"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir",
                                          dir_.File("other"), "--token-file", dir_.File("missing.token")},
                                         &log);
  ASSERT_TRUE(code.has_value()) << log;
  EXPECT_EQ(*code, 1);
  EXPECT_NE(log.find("missing.token does not exist"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(dir_.File("missing.token")));
}

// Observation 6 of issue 9: a 1-character token and a 0666 token file were
// accepted silently.
TEST_F(MasterFlagsTest, ATokenFileOthersCanReadOrAWeakTokenIsRefusedSayingHowToFixIt) {
  const std::string open_file = dir_.File("open.token");
  std::ofstream(open_file) << std::string(64, 'c') << "\n";
  std::filesystem::permissions(open_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                              std::filesystem::perms::group_read |
                                              std::filesystem::perms::others_read);
  std::string log;
  std::optional<int> code = StartFailing({"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir",
                                          dir_.File("m1"), "--token-file", open_file},
                                         &log);
  ASSERT_TRUE(code.has_value()) << log;
  EXPECT_EQ(*code, 1);
  EXPECT_NE(log.find("chmod 600 " + open_file), std::string::npos) << log;

  const std::string weak_file = dir_.File("weak.token");
  std::ofstream(weak_file) << "x\n";
  std::filesystem::permissions(weak_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  code = StartFailing({"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", dir_.File("m2"),
                       "--token-file", weak_file},
                      &log);
  ASSERT_TRUE(code.has_value()) << log;
  EXPECT_EQ(*code, 1);
  EXPECT_NE(log.find("too weak"), std::string::npos) << log;
  EXPECT_NE(log.find("openssl rand -hex 32"), std::string::npos) << log;
  EXPECT_EQ(log.find("x\n"), std::string::npos);
}

// Observation 6 of issue 9: the database, its WAL and the task logs were
// 0644 in a 0755 folder.
TEST_F(MasterFlagsTest, TheDataDirAndEverythingSecretInItAreTheMastersAlone) {
  const std::string data = dir_.File("private");
  MasterProcess master(data);
  WorkerProcess worker(master, "w", SimScenario("w", {0}), dir_.path());
  HttpReply r = HttpPost(master.http_port(), "/api/tasks",
                         R"({"argv": ["/bin/sh", "-c", "echo hi"], "env": {"DB_PASSWORD": "s3cret"}})", master.token());
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = r.json().value("id", "");
  ASSERT_TRUE(Eventually([&] { return std::filesystem::exists(data + "/logs/" + id + "/1.stdout"); }, seconds(20)))
      << worker.process().Log();
  namespace fs = std::filesystem;
  auto mode = [](const std::string& path) { return fs::status(path).permissions() & fs::perms::all; };
  const fs::perms owner_rw = fs::perms::owner_read | fs::perms::owner_write;
  EXPECT_EQ(mode(data), fs::perms::owner_all);
  EXPECT_EQ(mode(data + "/logs"), fs::perms::owner_all);
  EXPECT_EQ(mode(data + "/logs/" + id), fs::perms::owner_all);
  EXPECT_EQ(mode(data + "/logs/" + id + "/1.stdout"), owner_rw);
  EXPECT_EQ(mode(data + "/token"), owner_rw);
  EXPECT_EQ(mode(data + "/gpulse.db"), owner_rw);
  EXPECT_TRUE(fs::exists(data + "/gpulse.db-wal"));
  EXPECT_EQ(mode(data + "/gpulse.db-wal"), owner_rw);
  if (fs::exists(data + "/gpulse.db-shm")) {
    EXPECT_EQ(mode(data + "/gpulse.db-shm"), owner_rw);
  }
}

// With 2 s heartbeats the default would declare the worker dead after 6 s;
// --heartbeat-timeout 2.5 does so after 2.5 s.
TEST_F(MasterFlagsTest, HeartbeatTimeoutDecidesWhenAWorkerIsDead) {
  MasterProcess master(dir_.File("m"), {"--heartbeat-timeout", "2.5"});
  WorkerProcess worker(master, "w", SimScenario("w", {0}), dir_.path(), {"--interval", "2"});
  ASSERT_TRUE(Eventually([&] { return Worker(master, "w").value("heartbeats", 0) >= 1; }, seconds(20)))
      << worker.process().Log();
  worker.process().Signal(SIGSTOP);
  std::optional<double> dead_at;
  ASSERT_TRUE(Eventually([&] {
    json w = Worker(master, "w");
    if (w.value("state", "") != "dead") return false;
    dead_at = w["seconds_since_heartbeat"].get<double>();
    return true;
  }, seconds(15))) << master.process().Log();
  worker.process().Signal(SIGCONT);
  EXPECT_GE(*dead_at, 2.45);
  EXPECT_LT(*dead_at, 5.5);  // long before the default's 6 s
}

// --cancel-grace reaches the worker with every cancel: a task that ignores
// SIGTERM is killed after that long (the worker's log names it).
TEST_F(MasterFlagsTest, CancelGraceIsTheWorkersGracePeriod) {
  MasterProcess master(dir_.File("m"), {"--cancel-grace", "0.3"});
  WorkerProcess worker(master, "w", SimScenario("w", {0}), dir_.path());
  ASSERT_TRUE(Eventually([&] { return Worker(master, "w").value("heartbeats", 0) >= 1; }, seconds(20)))
      << worker.process().Log();
  HttpReply r = HttpPost(master.http_port(), "/api/tasks",
                         R"({"argv": ["/bin/sh", "-c", "trap '' TERM; echo ready; sleep 60"], "gpus": 1})",
                         master.token());
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = r.json()["id"];
  ASSERT_TRUE(Eventually([&] {
    return HttpGet(master.http_port(), "/api/tasks/" + id + "/logs", master.read_token()).body == "ready\n";
  }, seconds(20))) << worker.process().Log();  // it runs, and ignores SIGTERM from now on
  r = HttpPost(master.http_port(), "/api/tasks/" + id + "/cancel", "{}", master.token());
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(Eventually([&] {
    return HttpGet(master.http_port(), "/api/tasks/" + id, master.read_token()).json().value("state", "") == "cancelled";
  }, seconds(20))) << worker.process().Log();
  // The task's supervisor sent the SIGKILL; the worker logs the end it reported.
  EXPECT_NE(worker.process().Log().find("(cancelled; SIGKILL after 300 ms)"), std::string::npos)
      << worker.process().Log();
}

TEST_F(MasterFlagsTest, HistoryWindowSizesTheCharts) {
  MasterProcess master(dir_.File("m"), {"--history-window", "120"});
  WorkerProcess worker(master, "w", SimScenario("w", {0}), dir_.path());
  ASSERT_TRUE(Eventually([&] { return Worker(master, "w").value("heartbeats", 0) >= 1; }, seconds(20)))
      << worker.process().Log();
  json h = HttpGet(master.http_port(), "/api/workers/w/history", master.read_token()).json();
  EXPECT_EQ(h["window_seconds"], 120) << h.dump();
  // Out of range is refused by the command line, before anything starts.
  std::string log;
  std::optional<int> code = StartFailing({"--history-window", "5", "--data-dir", dir_.File("other")}, &log);
  ASSERT_TRUE(code.has_value()) << log;
  EXPECT_EQ(*code, 2) << log;
  EXPECT_NE(log.find("--history-window"), std::string::npos) << log;
}

}  // namespace
}  // namespace gpulse::integration
