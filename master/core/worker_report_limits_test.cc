// Worker report limits: registrations that cannot be true are refused with
// a message naming the limit; implausible figures become unknown.
#include "master/core/worker_report_limits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "master/core/cluster_test_util.h"

namespace gpulse::master {
namespace {

using std::chrono::milliseconds;

TEST(WorkerReportLimitsTest, TheMasterGrantsAnIntervalWithinItsBounds) {
  HeartbeatIntervalBounds bounds;  // 1 s .. 60 s, 5 s when not stated
  EXPECT_EQ(GrantHeartbeatInterval(milliseconds(1), bounds), milliseconds(1000));
  EXPECT_EQ(GrantHeartbeatInterval(milliseconds(2500), bounds), milliseconds(2500));
  EXPECT_EQ(GrantHeartbeatInterval(milliseconds(86'400'000), bounds), milliseconds(60000));
  EXPECT_EQ(GrantHeartbeatInterval(milliseconds(0), bounds), milliseconds(5000));
}

TEST(WorkerReportLimitsTest, PlausibleRegistrationsPass) {
  EXPECT_TRUE(CheckRegistration(MakeRegister("w1", 8)).ok());
  EXPECT_TRUE(CheckRegistration(MakeRegister("w1", kMaxGpusPerWorker)).ok());
  EXPECT_TRUE(CheckRegistration(MakeRegister("gpu-node-01.cluster.example", 0)).ok());
}

TEST(WorkerReportLimitsTest, ImpossibleRegistrationsAreRefusedSayingWhy) {
  auto refused = [](const link::Registration& r, const std::string& says) {
    Status s = CheckRegistration(r);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << says;
    EXPECT_NE(s.message().find(says), std::string::npos) << s.message();
  };
  refused(MakeRegister("w1", 2000), "registers 2000 GPUs; the master accepts at most 64 per worker");
  refused(MakeRegister("w1", 4, std::numeric_limits<uint32_t>::max()), "claims 4294967295 CPU cores");
  refused(MakeRegister("w1", 4, 32, std::numeric_limits<uint64_t>::max()), "bytes of memory");
  link::Registration twice = MakeRegister("w1", 2);
  twice.gpus[1].index = 0;
  refused(twice, "GPU index 0 twice");
  link::Registration same_uuid = MakeRegister("w1", 2);
  same_uuid.gpus[1].uuid = same_uuid.gpus[0].uuid;
  refused(same_uuid, "twice");
  refused(MakeRegister("", 1), "worker id is empty");
  refused(MakeRegister("has space", 1), "printable ASCII");
  refused(MakeRegister(std::string(200, 'w'), 1), "1 to 128");
  link::Registration busy = MakeRegister("w1", 1);
  busy.running_tasks.resize(kMaxRunningTasksReported + 1);
  refused(busy, "running tasks");
}

TEST(WorkerReportLimitsTest, ARegisterWithMoreThanTheBoundOfTaskUpdatesIsRefused) {
  link::Registration r = MakeRegister("w1", 1);
  r.task_updates.resize(kMaxTaskUpdatesPerRegister);
  EXPECT_TRUE(CheckRegistration(r).ok());
  r.task_updates.resize(kMaxTaskUpdatesPerRegister + 1);
  Status s = CheckRegistration(r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("sends 4097 task updates in one registration; at most 4096"), std::string::npos)
      << s.message();
}

TEST(WorkerReportLimitsTest, ListsInAHeartbeatAreCutToTheirBounds) {
  Sample s;
  GpuSample g = MakeGpuSample("w", 0, 10);
  g.processes.emplace(kMaxGpuProcessesReported + 5);
  g.events.emplace();
  for (uint32_t xid = 0; xid < kMaxXidKindsReported + 1; ++xid) g.events->xid_counts[xid] = 1;
  s.gpus.push_back(g);
  for (size_t i = 0; i < kMaxNvmlErrorKindsReported + 2; ++i) s.collector.nvml_errors_total["E" + std::to_string(i)] = 1;
  std::vector<std::string> dropped = DropImplausibleFigures(s);
  EXPECT_EQ(s.gpus[0].processes->size(), kMaxGpuProcessesReported);
  EXPECT_EQ(s.gpus[0].events->xid_counts.size(), kMaxXidKindsReported);
  EXPECT_EQ(s.collector.nvml_errors_total.size(), kMaxNvmlErrorKindsReported);
  EXPECT_NE(std::find(dropped.begin(), dropped.end(), "gpu.processes"), dropped.end());
  EXPECT_NE(std::find(dropped.begin(), dropped.end(), "gpu.xid_counts"), dropped.end());
  EXPECT_NE(std::find(dropped.begin(), dropped.end(), "collector.nvml_errors_total"), dropped.end());

  std::vector<link::RunningTask> running(kMaxRunningTasksReported);
  EXPECT_EQ(BoundRunningTasks(running), 0u);
  running.resize(kMaxRunningTasksReported + 3);
  EXPECT_EQ(BoundRunningTasks(running), 3u);
  EXPECT_EQ(running.size(), kMaxRunningTasksReported);
}

TEST(WorkerReportLimitsTest, ImplausibleFiguresBecomeUnknownAndAreNamed) {
  Sample s;
  s.host.cpu_percent = -50;
  s.host.memory_percent = 40;
  s.gpu_percent = std::numeric_limits<double>::quiet_NaN();
  GpuSample good = MakeGpuSample("w", 0, 75);
  good.temperature_c = 61;
  good.power_w = 700;
  GpuSample bad = MakeGpuSample("w", 1, 250);
  bad.temperature_c = 5000;
  bad.power_w = -1;
  bad.clock_sm_mhz = std::numeric_limits<uint32_t>::max();
  bad.memory_used_bytes = std::numeric_limits<uint64_t>::max();
  bad.fan_percent = std::numeric_limits<double>::infinity();
  s.gpus = {good, bad};

  std::vector<std::string> dropped = DropImplausibleFigures(s);
  EXPECT_EQ(dropped, (std::vector<std::string>{"host.cpu_percent", "gpu_percent", "gpu.utilization_gpu",
                                                "gpu.memory_used_bytes", "gpu.temperature_c", "gpu.power_w",
                                                "gpu.clock_sm_mhz", "gpu.fan_percent"}));
  EXPECT_FALSE(s.host.cpu_percent.has_value());
  EXPECT_EQ(s.host.memory_percent, 40.0);
  EXPECT_FALSE(s.gpu_percent.has_value());
  // The plausible GPU is untouched; the other keeps only what is plausible.
  EXPECT_EQ(s.gpus[0].utilization_gpu, 75.0);
  EXPECT_EQ(s.gpus[0].temperature_c, 61.0);
  EXPECT_EQ(s.gpus[0].power_w, 700.0);
  EXPECT_FALSE(s.gpus[1].utilization_gpu.has_value());
  EXPECT_FALSE(s.gpus[1].temperature_c.has_value());
  EXPECT_FALSE(s.gpus[1].power_w.has_value());
  EXPECT_FALSE(s.gpus[1].clock_sm_mhz.has_value());
  EXPECT_FALSE(s.gpus[1].memory_used_bytes.has_value());
  EXPECT_TRUE(s.gpus[1].memory_free_bytes.has_value());
  EXPECT_TRUE(DropImplausibleFigures(s).empty());  // what is left is believed
}

TEST(WorkerReportLimitsTest, GpusBeyondTheLimitAreRemoved) {
  Sample s;
  for (uint32_t i = 0; i < 3000; ++i) s.gpus.push_back(MakeGpuSample("w", i, 10));
  std::vector<std::string> dropped = DropImplausibleFigures(s);
  EXPECT_EQ(s.gpus.size(), kMaxGpusPerWorker);
  EXPECT_EQ(dropped.size(), 3000 - kMaxGpusPerWorker);
}

TEST(WorkerReportLimitsTest, AbsurdGpuMemoryInARegistrationIsDropped) {
  std::vector<GpuIdentity> gpus = MakeRegister("w", 2).gpus;
  gpus[1].memory_total_bytes = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(DropImplausibleIdentities(gpus), std::vector<std::string>{"gpu.memory_total_bytes"});
  EXPECT_EQ(gpus[0].memory_total_bytes, 80 * kGiB);
  EXPECT_FALSE(gpus[1].memory_total_bytes.has_value());
}

TEST(WorkerReportLimitsTest, GpmRatiosOutsideZeroToOneBecomeUnknown) {
  Sample s;
  GpuSample g = MakeGpuSample("w", 0, 50);
  g.gr_engine_active = 1.0;
  g.sm_active = 0.0;
  g.sm_occupancy = 27;  // a percentage where a ratio belongs
  g.pipe_tensor_active = std::numeric_limits<double>::quiet_NaN();
  s.gpus = {g};
  EXPECT_EQ(DropImplausibleFigures(s), (std::vector<std::string>{"gpu.sm_occupancy", "gpu.pipe_tensor_active"}));
  EXPECT_EQ(s.gpus[0].gr_engine_active, 1.0);
  EXPECT_EQ(s.gpus[0].sm_active, 0.0);
  EXPECT_FALSE(s.gpus[0].sm_occupancy.has_value());
  EXPECT_FALSE(s.gpus[0].pipe_tensor_active.has_value());
}

}  // namespace
}  // namespace gpulse::master
