// Finished tasks leave the master's memory after --finished-task-retention
// and are served from its database: by id, in pages, with their logs, by
// the CLI, and after a restart of the master.
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(master_ = std::make_unique<MasterProcess>(
                                dir_.File("master"), std::vector<std::string>{"--finished-task-retention", "1"}));
  }

  json Get(const std::string& path) { return HttpGet(master_->http_port(), path, master_->read_token()).json(); }
  uint64_t TasksInMemory() { return Get("/healthz").value("tasks_in_memory", uint64_t{999}); }

  std::string Diagnostics() {
    return "--- master\n" + master_->process().Log() + (worker_ ? "--- worker\n" + worker_->process().Log() : "");
  }

  // What a client sees of a finished task, wherever the master keeps it.
  void ExpectServed(const std::string& id) {
    json task = Get("/api/tasks/" + id);
    EXPECT_EQ(task.value("state", ""), "succeeded") << task.dump();
    EXPECT_EQ(task.value("exit_code", -1), 0) << task.dump();
    HttpReply logs = HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs", master_->read_token());
    EXPECT_EQ(logs.status, 200);
    EXPECT_NE(logs.body.find("kept in the store"), std::string::npos) << logs.body;
    json first = Get("/api/tasks?limit=5");
    ASSERT_TRUE(first["tasks"].is_array()) << first.dump();
    ASSERT_FALSE(first["tasks"].empty()) << first.dump();
    EXPECT_EQ(first["tasks"][0].value("id", ""), id);
    json by_state = Get("/api/tasks?limit=1&state=succeeded&worker=w1");
    ASSERT_EQ(by_state["tasks"].size(), 1u) << by_state.dump();
    EXPECT_EQ(by_state["tasks"][0].value("id", ""), id);
    // The older task is on the next page of one.
    json page = Get("/api/tasks?limit=1");
    ASSERT_TRUE(page["next_cursor"].is_string()) << page.dump();
    json next = Get("/api/tasks?limit=1&cursor=" + page["next_cursor"].get<std::string>());
    ASSERT_EQ(next["tasks"].size(), 1u) << next.dump();
    EXPECT_EQ(next["tasks"][0].value("id", ""), older_);
    CommandResult all = RunCommand({BinPath("gpulse"), "tasks", "--all", "--json"}, master_->cli_env());
    EXPECT_EQ(all.exit_code, 0) << all.err;
    EXPECT_NE(all.out.find(id), std::string::npos) << all.out;
    CommandResult status = RunCommand({BinPath("gpulse"), "status", id}, master_->cli_env());
    EXPECT_EQ(status.exit_code, 0) << status.err;
    EXPECT_NE(status.out.find("succeeded"), std::string::npos) << status.out;
  }

  testkit::TempDir dir_{"gpulse-retention"};
  std::unique_ptr<MasterProcess> master_;
  std::unique_ptr<WorkerProcess> worker_;
  std::string older_;
};

TEST_F(RetentionTest, AFinishedTaskLeavesMemoryAndIsServedFromTheStoreAlsoAfterARestart) {
  worker_ = std::make_unique<WorkerProcess>(*master_, "w1", SimScenario("w1", {0}), dir_.path());
  auto submit = [&](const std::string& script) {
    HttpReply r = HttpPost(master_->http_port(), "/api/tasks",
                           json{{"argv", {"/bin/sh", "-c", script}}, {"cpus", 1}}.dump(), master_->token());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  };
  older_ = submit("true");
  const std::string id = submit("echo kept in the store");
  for (const std::string& task : {older_, id}) {
    ASSERT_TRUE(Eventually([&] { return Get("/api/tasks/" + task).value("state", "") == "succeeded"; }, seconds(30)))
        << Get("/api/tasks/" + task).dump() << Diagnostics();
  }
  // Its output arrived (the log is stored apart from the task).
  ASSERT_TRUE(Eventually(
      [&] {
        return HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs", master_->read_token())
                   .body.find("kept in the store") != std::string::npos;
      },
      seconds(20)));

  // Gone from memory within a second or so of finishing...
  ASSERT_TRUE(Eventually([&] { return TasksInMemory() == 0; }, seconds(15))) << Get("/healthz").dump();
  EXPECT_EQ(Get("/healthz").value("finished_tasks_in_memory", 99), 0);
  // ...but counted, and served from the store.
  std::string metrics = HttpGet(master_->http_port(), "/metrics", master_->read_token()).body;
  EXPECT_NE(metrics.find("gpulse_tasks_in_memory 0"), std::string::npos);
  EXPECT_NE(metrics.find("gpulse_tasks{state=\"succeeded\"} 2"), std::string::npos) << metrics;
  ASSERT_NO_FATAL_FAILURE(ExpectServed(id));

  // A restarted master loads only what is unfinished or recent.
  master_->Kill9();
  master_->Start();
  EXPECT_EQ(TasksInMemory(), 0u) << Get("/healthz").dump();
  ASSERT_NO_FATAL_FAILURE(ExpectServed(id));
}

}  // namespace
}  // namespace gpulse::integration
