// The gpulse CLI for fleets against real binaries: global options before
// the command and an address without a scheme, the tables, paging through
// /api/tasks with the cursor, submit --wait/--follow exiting with the
// task's code, and join-command.
#include <signal.h>

#include <gtest/gtest.h>

#include "testkit/eventually.h"
#include "testkit/temp_dir.h"
#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class CliFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(master_ = std::make_unique<MasterProcess>(dir_.File("master")));
    worker_ = std::make_unique<WorkerProcess>(*master_, "cli-w", SimScenario("cli-w", {10, 30}), dir_.path());
    ASSERT_TRUE(Eventually(
        [&] {
          json w = HttpGet(master_->http_port(), "/api/workers/cli-w", master_->read_token()).json();
          return w.is_object() && w.value("state", "") == "healthy" && w.value("heartbeats", 0) >= 1;
        },
        seconds(20)))
        << worker_->process().Log();
    env_ = master_->cli_env();
  }

  CommandResult Gpulse(std::vector<std::string> args, std::chrono::milliseconds timeout = seconds(30)) {
    args.insert(args.begin(), BinPath("gpulse"));
    return RunCommand(args, env_, timeout);
  }

  json Task(const std::string& id) {
    return HttpGet(master_->http_port(), "/api/tasks/" + id, master_->read_token()).json();
  }

  testkit::TempDir dir_{"gpulse-cli-fleet"};
  std::unique_ptr<MasterProcess> master_;
  std::unique_ptr<WorkerProcess> worker_;
  std::map<std::string, std::string> env_;
};

TEST_F(CliFleetTest, MasterBeforeTheCommandWithoutAScheme) {
  env_.erase("GPULSE_MASTER");
  const std::string address = "127.0.0.1:" + std::to_string(master_->http_port());
  CommandResult workers = Gpulse({"--master", address, "workers"});
  ASSERT_EQ(workers.exit_code, 0) << workers.err;
  EXPECT_EQ(workers.out.rfind("WORKER", 0), 0u) << workers.out;
  EXPECT_NE(workers.out.find("cli-w"), std::string::npos) << workers.out;
  EXPECT_NE(workers.out.find("2/2"), std::string::npos) << workers.out;  // free/total GPUs
  CommandResult gpus = Gpulse({"gpus", "--master", address, "--json"});
  ASSERT_EQ(gpus.exit_code, 0) << gpus.err;
  json list = json::parse(gpus.out, nullptr, false);
  ASSERT_TRUE(list.is_array()) << gpus.out;
  EXPECT_EQ(list.size(), 2u);
}

TEST_F(CliFleetTest, TasksPageThroughTheCursorNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    HttpReply r = HttpPost(master_->http_port(), "/api/tasks",
                           json{{"argv", {"/bin/true"}}, {"cpus", 0}, {"name", "n" + std::to_string(i)}}.dump(),
                           master_->token());
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(r.json()["id"]);
  }
  std::vector<std::string> seen;
  std::string path = "/api/tasks?limit=3";
  for (int pages = 0; pages < 10; ++pages) {
    json page = HttpGet(master_->http_port(), path, master_->read_token()).json();
    ASSERT_TRUE(page.is_object()) << page.dump();
    for (const auto& t : page["tasks"]) seen.push_back(t["id"]);
    if (!page["next_cursor"].is_string()) break;
    path = "/api/tasks?limit=3&cursor=" + page["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(seen, std::vector<std::string>(ids.rbegin(), ids.rend()));

  CommandResult newest = Gpulse({"tasks", "--limit", "2", "--json"});
  ASSERT_EQ(newest.exit_code, 0) << newest.err;
  json two = json::parse(newest.out);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0]["id"], ids[6]);
  EXPECT_EQ(two[1]["id"], ids[5]);
  CommandResult all = Gpulse({"tasks", "--all", "--json"});
  EXPECT_EQ(json::parse(all.out).size(), 7u) << all.out;
  CommandResult table = Gpulse({"tasks", "--limit", "3"});
  EXPECT_EQ(table.out.rfind("ID", 0), 0u) << table.out;
  EXPECT_NE(table.out.find(ids[6]), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find(ids[0]), std::string::npos) << table.out;  // older than the newest 3
}

TEST_F(CliFleetTest, SubmitWaitAndFollowExitWithTheTasksCode) {
  CommandResult wait = Gpulse({"submit", "--wait", "--gpus", "1", "--", "/bin/sh", "-c", "exit 5"});
  EXPECT_EQ(wait.exit_code, 5) << wait.err;
  const std::string id = wait.out.substr(0, wait.out.find('\n'));
  EXPECT_EQ(Task(id)["exit_code"], 5);
  CommandResult follow = Gpulse({"submit", "--follow", "--", "/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"});
  EXPECT_EQ(follow.exit_code, 3) << follow.err;
  EXPECT_EQ(follow.out, "hello\n");
  EXPECT_NE(follow.err.find("oops"), std::string::npos) << follow.err;
  CommandResult ok = Gpulse({"submit", "--wait", "--", "/bin/true"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;

  CommandResult status = Gpulse({"status", id});
  EXPECT_NE(status.out.find("Command:   /bin/sh -c 'exit 5'"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("Run time:"), std::string::npos) << status.out;
}

TEST_F(CliFleetTest, CancelSaysWhatItDid) {
  CommandResult queued = Gpulse({"submit", "--allow-unfit", "--gpus", "8", "--", "/bin/true"});
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  const std::string id = queued.out.substr(0, queued.out.find('\n'));
  CommandResult cancel = Gpulse({"cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(cancel.out, "cancelled " + id + " (it had not started)\n");
}

TEST_F(CliFleetTest, JoinCommandIsTheMastersJoinLineForTheAdminOnly) {
  CommandResult join = Gpulse({"join-command"});
  ASSERT_EQ(join.exit_code, 0) << join.err;
  EXPECT_EQ(join.out.rfind("gpulse-worker --join 'gpulse-join://127.0.0.1:" + std::to_string(master_->grpc_port()) +
                               "?ca=sha256:",
                           0),
            0u)
      << join.out;
  EXPECT_NE(join.out.find("token=" + master_->token()), std::string::npos);  // hex tokens need no escaping
  env_["GPULSE_TOKEN_FILE"] = master_->read_token_file();
  CommandResult reader = Gpulse({"join-command"});
  EXPECT_NE(reader.exit_code, 0);
  EXPECT_NE(reader.err.find("admin token"), std::string::npos) << reader.err;
  EXPECT_EQ(reader.out, "");
  EXPECT_EQ(master_->process().Log().find(master_->token()), std::string::npos);  // never logged
}

TEST_F(CliFleetTest, EveryProgramSaysItsVersion) {
  for (const std::string program : {"gpulse", "gpulse-master", "gpulse-worker"}) {
    CommandResult v = RunCommand({BinPath(program), "--version"}, {});
    EXPECT_EQ(v.exit_code, 0) << program << v.err;
    EXPECT_EQ(v.out.rfind(program + " ", 0), 0u) << program << ": " << v.out;
    EXPECT_NE(v.out.find('.'), std::string::npos) << v.out;  // MAJOR.MINOR.PATCH
  }
}

// `gpulse tasks -w` into a pipe: a table every 2 s ("No tasks." while there
// are none), each ending with a blank line; a task submitted meanwhile
// shows up in a later table, and the watch ends when it is told to.
TEST_F(CliFleetTest, WatchRedrawsAfterAChangeUntilStopped) {
  Process watch("watch", {BinPath("gpulse"), "tasks", "-w"}, env_, dir_.File("watch.log"));
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  ASSERT_TRUE(Eventually([&] { return count(watch.Log(), "No tasks.") >= 1; }, seconds(15))) << watch.Log();
  HttpReply submitted =
      HttpPost(master_->http_port(), "/api/tasks",
               json{{"argv", {"/bin/sleep", "30"}}, {"cpus", 0}, {"name", "watched-task"}}.dump(), master_->token());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  ASSERT_TRUE(Eventually([&] { return watch.Log().find("watched-task") != std::string::npos; }, seconds(15)))
      << watch.Log();
  // Drawn before the task existed, then again with it, as a table.
  const std::string log = watch.Log();
  const std::string after = log.substr(log.rfind("No tasks."));
  EXPECT_NE(after.find("STATE"), std::string::npos) << log;
  EXPECT_LT(after.find("STATE"), after.find("watched-task")) << log;
  EXPECT_TRUE(watch.Running());
  EXPECT_EQ(watch.Signal(SIGTERM), 128 + SIGTERM);
  EXPECT_FALSE(watch.Running());
}

}  // namespace
}  // namespace gpulse::integration
