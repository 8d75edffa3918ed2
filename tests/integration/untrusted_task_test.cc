// What a task may not do to the worker, end to end (real gpulse-master and
// gpulse-worker on loopback): a root worker runs it as the task user with a
// clean environment (issue 9), and its output is bounded by the worker's
// --max-task-output and the master's --max-task-log, with one marker line
// saying how many bytes were dropped (issue 8, observation 9).
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class UntrustedTaskTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> master_args, std::vector<std::string> worker_args) {
    // mkdtemp's 0700 would keep a task user out of the worker's work dir.
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                                  std::filesystem::perms::others_exec);
    ASSERT_NO_FATAL_FAILURE(master_ = std::make_unique<MasterProcess>(dir_.File("master"), master_args));
    worker_ = std::make_unique<WorkerProcess>(*master_, "w", SimScenario("w", {0}), dir_.path(), worker_args);
    ASSERT_TRUE(Eventually([&] {
      json w = HttpGet(master_->http_port(), "/api/workers/w", master_->read_token()).json();
      return w.is_object() && w.value("state", "") == "healthy";
    }, seconds(20))) << Logs();
  }

  // Runs `script` to its end; returns the task's id.
  std::string Run(const std::string& script) {
    HttpReply r = HttpPost(master_->http_port(), "/api/tasks",
                           json{{"argv", {"/bin/sh", "-c", script}}}.dump(), master_->token());
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string id = r.json().value("id", "");
    EXPECT_TRUE(Eventually([&] {
      return HttpGet(master_->http_port(), "/api/tasks/" + id, master_->read_token()).json().value("state", "") ==
             "succeeded";
    }, seconds(30))) << Logs();
    return id;
  }

  std::string Log(const std::string& id, const std::string& stream = "stdout") {
    return HttpGet(master_->http_port(), "/api/tasks/" + id + "/logs?stream=" + stream, master_->read_token()).body;
  }

  std::string Logs() { return "--- master\n" + master_->process().Log() + "--- worker\n" + worker_->process().Log(); }

  testkit::TempDir dir_{"gpulse-untrusted"};
  std::unique_ptr<MasterProcess> master_;
  std::unique_ptr<WorkerProcess> worker_;
};

TEST_F(UntrustedTaskTest, ARootWorkersTaskRunsAsTheTaskUserWithACleanEnvironment) {
  if (::geteuid() != 0) GTEST_SKIP() << "the worker must be root to switch users";
  ASSERT_NO_FATAL_FAILURE(Start({}, {"--task-user", "nobody"}));
  // GPULSE_NVML_SIM_SCENARIO is set in the worker's environment only.
  const std::string id = Run("id -u; env");
  const std::string out = Log(id);
  EXPECT_EQ(out.substr(0, out.find('\n')), "65534") << out;
  EXPECT_EQ(out.find("GPULSE_NVML_SIM_SCENARIO"), std::string::npos) << out;
  EXPECT_EQ(out.find("GPULSE_NVML_LIBRARY"), std::string::npos) << out;
  EXPECT_NE(out.find("\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\nGPULSE_TASK_ID=" + id + "\n"), std::string::npos) << out;
  EXPECT_NE(worker_->process().Log().find("tasks run as nobody (uid 65534"), std::string::npos) << Logs();
}

TEST_F(UntrustedTaskTest, OutputPastTheCapsIsDroppedWithOneMarkerSayingHowMuch) {
  // The worker ships 4000 bytes of each stream, the master keeps 3000.
  ASSERT_NO_FATAL_FAILURE(Start({"--max-task-log", "3000"}, {"--max-task-output", "4000"}));
  const std::string id = Run("head -c 5000 /dev/zero | tr '\\0' o; head -c 3500 /dev/zero | tr '\\0' e >&2");
  // stdout: 1000 dropped by the master's cap, 1000 by the worker's.
  EXPECT_EQ(Log(id), std::string(3000, 'o') + "\n[gpulse: 2000 bytes of output dropped: over the output cap]\n");
  // stderr: only the master's cap.
  EXPECT_EQ(Log(id, "stderr"), std::string(3000, 'e') + "\n[gpulse: 500 bytes of output dropped: over the output cap]\n");
}

}  // namespace
}  // namespace gpulse::integration
