// Runs the real `gpulse sample` binary against the NVML simulator.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testkit/sim_fixture.h"

namespace gpulse {
namespace {

using ::testing::HasSubstr;
using testkit::ScenarioFile;

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `gpulse <args>` with GPULSE_NVML_LIBRARY set to `library`.
RunResult RunGpulse(const std::string& args, const std::string& library) {
  char err_path[] = "/tmp/gpulse-cli-stderr-XXXXXX";
  const int err_fd = mkstemp(err_path);
  close(err_fd);
  const std::string command = "GPULSE_NVML_LIBRARY='" + library + "' '" GPULSE_TEST_BIN_DIR
                              "/gpulse' " + args + " 2>'" + err_path + "'";
  RunResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (FILE* err = fopen(err_path, "r")) {
    while ((n = fread(buffer, 1, sizeof(buffer), err)) > 0) result.err.append(buffer, n);
    fclose(err);
  }
  unlink(err_path);
  return result;
}

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

nlohmann::json EightyFortyLost() {
  nlohmann::json s = testkit::UniformScenario(3, 80);
  s["gpus"][1]["utilization_gpu"] = 40;
  s["gpus"][2]["lost"] = true;
  return s;
}

TEST(SampleCommandTest, JsonLinesAgainstTheSimulator) {
  ScenarioFile scenario(EightyFortyLost());
  RunResult r = RunGpulse("sample --json --count 2 --interval 0.05", testkit::SimLibraryPath());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> samples = JsonLines(r.out);
  ASSERT_EQ(samples.size(), 2u) << r.out;
  for (const nlohmann::json& s : samples) {
    EXPECT_TRUE(s["nvml"]["available"].get<bool>());
    EXPECT_EQ(s["nvml"]["driver_version"], "550.54.15");
    EXPECT_DOUBLE_EQ(s["gpu_percent"].get<double>(), 60.0);
    ASSERT_EQ(s["gpus"].size(), 3u);
    EXPECT_EQ(s["gpus"][0]["utilization_gpu"], 80.0);
    EXPECT_TRUE(s["gpus"][0]["error"].is_null());
    EXPECT_FALSE(s["gpus"][0]["power_w"].is_null());  // the CLI waits for the slow poller
    EXPECT_THAT(s["gpus"][2]["error"].get<std::string>(), HasSubstr("GPU is lost"));
    EXPECT_TRUE(s["gpus"][2]["utilization_gpu"].is_null());
    EXPECT_FALSE(s["memory_percent"].is_null());
    EXPECT_GT(s["cpu_cores"].get<int>(), 0);
  }
}

TEST(SampleCommandTest, TextTableAgainstTheSimulator) {
  ScenarioFile scenario(EightyFortyLost());
  RunResult r = RunGpulse("sample --count 2 --interval 0", testkit::SimLibraryPath());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Sample  1: GPU Utilization = 60.0%"));
  EXPECT_THAT(r.out, HasSubstr("Sample  2: GPU Utilization = 60.0%"));
  EXPECT_THAT(r.out, HasSubstr("NVIDIA H100 80GB HBM3"));
  EXPECT_THAT(r.out, HasSubstr("error: GPU is lost"));
  EXPECT_THAT(r.out, HasSubstr("Host: CPU"));
}

TEST(SampleCommandTest, MissingLibraryExplainsAndStillReportsHost) {
  RunResult r = RunGpulse("sample --json", "/nonexistent/libnvidia-ml.so.1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> samples = JsonLines(r.out);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_FALSE(samples[0]["nvml"]["available"].get<bool>());
  EXPECT_THAT(samples[0]["nvml"]["error"].get<std::string>(), HasSubstr("NVML library not found"));
  EXPECT_TRUE(samples[0]["gpu_percent"].is_null());
  EXPECT_TRUE(samples[0]["gpus"].empty());
  EXPECT_FALSE(samples[0]["memory_percent"].is_null());

  r = RunGpulse("sample", "/nonexistent/libnvidia-ml.so.1");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("Sample  1: GPU Utilization = n/a (NVML unavailable: NVML library not found"));
}

TEST(SampleCommandTest, DriverNotLoadedExplains) {
  nlohmann::json s = testkit::UniformScenario(1, 50);
  s["init_error"] = "DRIVER_NOT_LOADED";
  ScenarioFile scenario(s);
  RunResult r = RunGpulse("sample", testkit::SimLibraryPath());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("GPU Utilization = n/a (NVML unavailable: NVIDIA driver not loaded"));
}

TEST(SampleCommandTest, BadArgumentsExitWithTwo) {
  for (const char* args : {"sample --count 0", "sample --count -3", "sample --count x",
                           "sample --interval -1", "sample --interval abc", "sample --bogus",
                           "", "nosuchcommand"}) {
    RunResult r = RunGpulse(args, "/nonexistent/libnvidia-ml.so.1");
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << args;
    EXPECT_FALSE(r.err.empty()) << args;
  }
  RunResult r = RunGpulse("sample --count 0", "/nonexistent/libnvidia-ml.so.1");
  EXPECT_THAT(r.err, HasSubstr("at least 1"));
  r = RunGpulse("sample --interval -1", "/nonexistent/libnvidia-ml.so.1");
  EXPECT_THAT(r.err, HasSubstr("0 or more"));
}

TEST(SampleCommandTest, HelpExitsWithZero) {
  RunResult r = RunGpulse("sample --help", "/nonexistent/libnvidia-ml.so.1");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--interval"));
}

}  // namespace
}  // namespace gpulse
