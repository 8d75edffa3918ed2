#include "master/dashboard/cluster_metrics_page.h"

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::seconds;

const WallTime kNow = WallTime(seconds(1'800'000'000));

Worker TwoGpuWorker() {
  Worker w;
  w.id = "node-1";
  w.capacity = {"gpu-node-1", 64, uint64_t{512} << 30};
  w.state = WorkerState::kHealthy;
  w.connected = true;
  w.cpus_allocated = 8;
  w.last_heartbeat = kNow - std::chrono::milliseconds(1500);
  w.heartbeats = 42;
  w.host.cpu_percent = 12.5;
  w.host.memory_percent = 40;
  w.gpu_percent = 80;
  w.nvml.available = true;
  w.nvml.driver_version = "580.65.06";
  w.collector.sample_duration_ms = 2.5;
  for (uint32_t i = 0; i < 2; ++i) {
    WorkerGpu g;
    g.identity = {i, "GPU-" + std::to_string(i), "NVIDIA H100 80GB HBM3", "00000000:1" + std::to_string(i) + ":00.0",
                  std::nullopt};
    g.live.identity = {i, g.identity.uuid, g.identity.name, "", std::nullopt};
    g.live.utilization_gpu = 80;
    g.live.temperature_c = 50 + i;
    w.gpus.push_back(g);
  }
  w.gpus[0].allocated_to = "t-000001";
  // GPU 1 cannot be read: no identity in its live sample, no figures.
  w.gpus[1].healthy = false;
  w.gpus[1].live = GpuSample{};
  w.gpus[1].live.identity.index = 1;
  w.gpus[1].live.error = "GPU is lost";
  return w;
}

ClusterCounts Counts() {
  ClusterCounts c;
  c.workers_healthy = 1;
  c.workers_dead = 1;
  c.gpus_total = 2;
  c.gpus_allocated = 1;
  c.gpus_busy = 1;
  c.gpus_unhealthy = 1;
  c.tasks_by_state[static_cast<int>(TaskState::kRunning)] = 1;
  c.tasks_by_state[static_cast<int>(TaskState::kSucceeded)] = 7;
  c.heartbeats_received = 99;
  c.store_errors = 3;
  return c;
}

TEST(ClusterMetricsTest, ClusterSeriesCoverEveryState) {
  std::string page = RenderClusterMetrics({}, Counts(), kNow);
  EXPECT_THAT(page, HasSubstr("gpulse_workers{state=\"healthy\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_workers{state=\"suspect\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_workers{state=\"dead\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_tasks{state=\"queued\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_tasks{state=\"running\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_tasks{state=\"succeeded\"} 7\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_tasks{state=\"cancelled\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_cluster_gpus{state=\"allocated\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE gpulse_heartbeats_received_total counter\ngpulse_heartbeats_received_total 99\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE gpulse_store_errors_total counter\ngpulse_store_errors_total 3\n"));
}

TEST(ClusterMetricsTest, WorkerSeriesAndDcgmSeriesPerGpu) {
  std::string page = RenderClusterMetrics({TwoGpuWorker()}, Counts(), kNow);
  EXPECT_THAT(page, HasSubstr("gpulse_worker_state{worker=\"node-1\",state=\"healthy\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_state{worker=\"node-1\",state=\"dead\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_last_heartbeat_age_seconds{worker=\"node-1\"} 1.5\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_heartbeats_total{worker=\"node-1\"} 42\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_gpus_capacity{worker=\"node-1\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_gpus_allocated{worker=\"node-1\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_cpu_percent{worker=\"node-1\"} 12.5\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_memory_percent{worker=\"node-1\"} 40\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_sample_duration_seconds{worker=\"node-1\"} 0.0025\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_nvml_available{worker=\"node-1\"} 1\n"));
  EXPECT_THAT(page, HasSubstr(
                        "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-0\",pci_bus_id=\"00000000:10:00.0\","
                        "device=\"nvidia0\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"gpu-node-1\","
                        "DCGM_FI_DRIVER_VERSION=\"580.65.06\",worker=\"node-1\"} 80\n"));
  // The unreadable GPU: identity from registration, health 0, no figures.
  EXPECT_THAT(page, Not(HasSubstr("DCGM_FI_DEV_GPU_UTIL{gpu=\"1\"")));
  EXPECT_THAT(page, Not(HasSubstr("DCGM_FI_DEV_GPU_TEMP{gpu=\"1\"")));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_gpu_healthy{worker=\"node-1\",gpu=\"1\",UUID=\"GPU-1\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_gpu_healthy{worker=\"node-1\",gpu=\"0\",UUID=\"GPU-0\"} 1\n"));
}

TEST(ClusterMetricsTest, EachGpuHasItsHealthStateWithItsReasons) {
  Worker w = TwoGpuWorker();
  w.gpus[0].health = GpuHealth::kDegraded;
  w.gpus[0].health_reasons = {"HW thermal slowdown"};
  w.gpus[1].health = GpuHealth::kUnhealthy;
  w.gpus[1].health_reasons = {"critical XID 79", "row remap pending"};
  std::string page = RenderClusterMetrics({w}, Counts(), kNow);
  EXPECT_THAT(page, HasSubstr(R"(gpulse_gpu_health_state{worker="node-1",gpu="0",UUID="GPU-0",state="degraded",)"
                              R"(reason="HW thermal slowdown"} 1)"));
  EXPECT_THAT(page, HasSubstr(R"(gpulse_gpu_health_state{worker="node-1",gpu="1",UUID="GPU-1",state="unhealthy",)"
                              R"(reason="critical XID 79; row remap pending"} 2)"));
  w.gpus[0].health = GpuHealth::kHealthy;
  w.gpus[0].health_reasons.clear();
  EXPECT_THAT(RenderClusterMetrics({w}, Counts(), kNow),
              HasSubstr(R"(gpulse_gpu_health_state{worker="node-1",gpu="0",UUID="GPU-0",state="healthy",reason=""} 0)"));
}

TEST(ClusterMetricsTest, WorkerWithoutHeartbeatHasNoAgeAndADeadWorkerNoLiveFigures) {
  Worker fresh = TwoGpuWorker();
  fresh.id = "fresh";
  fresh.last_heartbeat.reset();
  Worker dead = TwoGpuWorker();
  dead.id = "dead";
  dead.state = WorkerState::kDead;
  std::string page = RenderClusterMetrics({fresh, dead}, Counts(), kNow);
  EXPECT_THAT(page, Not(HasSubstr("gpulse_worker_last_heartbeat_age_seconds{worker=\"fresh\"}")));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_last_heartbeat_age_seconds{worker=\"dead\"}"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_state{worker=\"dead\",state=\"dead\"} 1\n"));
  EXPECT_THAT(page, Not(HasSubstr("worker=\"dead\"} 80")));
  EXPECT_THAT(page, Not(HasSubstr("gpulse_worker_cpu_percent{worker=\"dead\"}")));
}

TEST(ClusterMetricsTest, WhatTheMasterDidNotBelieveOrAcceptIsCountedPerWorker) {
  Worker w = TwoGpuWorker();
  EXPECT_THAT(RenderClusterMetrics({w}, Counts(), kNow), Not(HasSubstr("gpulse_worker_values_rejected_total{")));
  w.values_rejected = {{"gpu.utilization_gpu", 3}, {"gpu.unregistered", 62}};
  w.messages_refused = {{"log_chunk", 2}};
  std::string page = RenderClusterMetrics({w}, Counts(), kNow);
  EXPECT_THAT(page, HasSubstr("gpulse_worker_values_rejected_total{worker=\"node-1\",field=\"gpu.utilization_gpu\"} 3\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_values_rejected_total{worker=\"node-1\",field=\"gpu.unregistered\"} 62\n"));
  EXPECT_THAT(page, HasSubstr("gpulse_worker_messages_refused_total{worker=\"node-1\",kind=\"log_chunk\"} 2\n"));
}

TEST(ClusterMetricsTest, EveryFamilyHeaderAppearsOnce) {
  std::string page = RenderClusterMetrics({TwoGpuWorker(), [] {
                                             Worker w = TwoGpuWorker();
                                             w.id = "node-2";
                                             return w;
                                           }()},
                                          Counts(), kNow);
  size_t pos = 0;
  std::set<std::string> seen;
  while ((pos = page.find("# TYPE ", pos)) != std::string::npos) {
    size_t end = page.find(' ', pos + 7);
    std::string name = page.substr(pos + 7, end - pos - 7);
    EXPECT_TRUE(seen.insert(name).second) << name << " declared twice";
    pos = end;
  }
  EXPECT_TRUE(seen.count("DCGM_FI_DEV_GPU_UTIL"));
}

}  // namespace
}  // namespace gpulse::master
