// Task output while the master cannot store it, end to end (issue 8): the
// real gpulse-master with its logs folder on a tiny tmpfs that the test
// fills, a real gpulse-worker, 1 s heartbeats. The task says its output was
// not stored while the disk is full; the worker keeps the output and sends
// it again once there is room — also after the task ended — and the log
// then holds all of it exactly once.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// Lines "first 1" .. "first N", then waits for `go`, then "second 1" ..
// "second N": both parts written while the master's disk is full.
std::string Expected(int lines) {
  std::string out;
  for (const char* part : {"first", "second"}) {
    for (int i = 1; i <= lines; ++i) out += std::string(part) + " " + std::to_string(i) + "\n";
  }
  return out;
}

TEST(TaskOutputTest, OutputTheMasterCannotStoreIsSaidOnTheTaskAndStoredOnceWhenThereIsRoom) {
  testkit::TempDir dir("gpulse-output");
  const std::string data = dir.File("master");
  std::filesystem::create_directories(data);
  std::filesystem::permissions(data, std::filesystem::perms::owner_all);
  TinyDisk disk(data + "/logs", "1m");
  if (!disk.mounted()) {
    if (RunningInCi()) FAIL() << "mount -t tmpfs is not permitted here (needs root), and CI is set";
    GTEST_SKIP() << "mount -t tmpfs is not permitted here (needs root); the full-disk output test is skipped";
  }
  MasterProcess master(data);
  ASSERT_NO_FATAL_FAILURE(master.Start());
  WorkerProcess worker(master, "w-out", SimScenario("w-out", {0}), dir.path());
  const int port = master.http_port();
  const auto task = [&](const std::string& id) {
    return HttpGet(port, "/api/tasks/" + id, master.read_token()).json();
  };
  const auto logs = [&] { return "--- master\n" + master.process().Log() + "--- worker\n" + worker.process().Log(); };
  ASSERT_TRUE(Eventually([&] {
    json w = HttpGet(port, "/api/workers/w-out", master.read_token()).json();
    return w.is_object() && w.value("state", "") == "healthy";
  }, seconds(20))) << logs();

  disk.Fill();
  constexpr int kLines = 3000;  // about 30 KB per part
  const std::string go = dir.File("go");
  const std::string script = "i=1; while [ $i -le " + std::to_string(kLines) + " ]; do echo \"first $i\"; i=$((i+1)); done; " +
                             "while [ ! -e " + go + " ]; do sleep 0.05; done; " +
                             "i=1; while [ $i -le " + std::to_string(kLines) + " ]; do echo \"second $i\"; i=$((i+1)); done";
  HttpReply submitted = HttpPost(port, "/api/tasks", json{{"argv", {"/bin/sh", "-c", script}}}.dump(), master.token());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string id = submitted.json().value("id", "");

  // While it runs, the task says so (API and gpulse status).
  ASSERT_TRUE(Eventually([&] {
    json t = task(id);
    return t.value("state", "") == "running" && t.value("message", "").find("output not stored") != std::string::npos;
  }, seconds(20))) << task(id).dump() << logs();
  const std::string message = task(id).value("message", "");
  EXPECT_NE(message.find("no space left"), std::string::npos) << message;
  EXPECT_NE(message.find("the worker will re-send"), std::string::npos) << message;
  CommandResult status = RunCommand({BinPath("gpulse"), "status", id}, master.cli_env());
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("output not stored"), std::string::npos) << status.out;

  // It ends while the disk is still full: its output waits on the worker,
  // and the finished task still says so.
  std::ofstream(go) << "go\n";
  ASSERT_TRUE(Eventually([&] {
    json t = task(id);
    return t.value("state", "") == "succeeded" && t.value("message", "").find("output not stored") != std::string::npos;
  }, seconds(30))) << task(id).dump() << logs();

  disk.Free();
  const std::string expected = Expected(kLines);
  std::string stored;
  const bool complete = Eventually([&] {
    CommandResult out = RunCommand({BinPath("gpulse"), "logs", id}, master.cli_env());
    stored = out.out;
    return out.exit_code == 0 && stored.size() >= expected.size();
  }, seconds(30), std::chrono::milliseconds(250));
  EXPECT_TRUE(complete) << stored.size() << " of " << expected.size() << " bytes\n" << logs();
  EXPECT_EQ(stored, expected) << "the output is not there exactly once";
  EXPECT_EQ(stored.find("were lost here"), std::string::npos);
  EXPECT_TRUE(Eventually([&] { return task(id).value("message", "").find("output not stored") == std::string::npos; }))
      << task(id).dump();
}

}  // namespace
}  // namespace gpulse::integration
