// Test helpers for the master core: a recording WorkerChannel, store
// wrappers that count or fail writes, and builders for requests, reports
// and task specs.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "master/core/cluster.h"
#include "master/core/placement.h"
#include "master/store/task_store.h"

namespace gpulse::master {

constexpr uint64_t kGiB = uint64_t{1} << 30;

// Records what the master sends down one worker's stream.
class FakeWorkerChannel final : public WorkerChannel {
 public:
  void SendAssign(const Task& task) override { assigns.push_back(task); }
  void SendCancel(const std::string& task_id, std::chrono::milliseconds grace) override {
    cancels.emplace_back(task_id, grace);
  }
  std::vector<Task> assigns;
  std::vector<std::pair<std::string, std::chrono::milliseconds>> cancels;
};

// Passes everything to another store; counts worker writes and can be told
// to fail every write.
class InstrumentedStore final : public TaskStore {
 public:
  explicit InstrumentedStore(TaskStore& inner) : inner_(inner) {}
  Status Write(const TaskStoreBatch& batch) override { return fail_writes ? Broken() : inner_.Write(batch); }
  Result<std::vector<Task>> LoadTasks() override { return inner_.LoadTasks(); }
  Result<std::vector<Task>> LoadLiveTasks(size_t recent_finished) override {
    return inner_.LoadLiveTasks(recent_finished);
  }
  Result<std::optional<Task>> LoadTask(const std::string& id) override { return inner_.LoadTask(id); }
  Result<std::vector<Task>> PageTasks(const StoredTaskQuery& q) override { return inner_.PageTasks(q); }
  Result<StoredTaskSummary> SummarizeTasks() override { return inner_.SummarizeTasks(); }
  Result<std::vector<TaskEventRecord>> LoadEvents(const std::string& id) override { return inner_.LoadEvents(id); }
  Status PutWorker(const WorkerRecord& w) override {
    ++worker_writes;
    return fail_writes ? Broken() : inner_.PutWorker(w);
  }
  Result<std::vector<WorkerRecord>> LoadWorkers() override { return inner_.LoadWorkers(); }

  bool fail_writes = false;
  int worker_writes = 0;

 private:
  static Status Broken() { return Unavailable("disk on fire"); }
  TaskStore& inner_;
};

inline std::string GpuUuid(const std::string& worker, size_t i) { return "GPU-" + worker + "-" + std::to_string(i); }

inline link::Registration MakeRegister(const std::string& id, size_t gpus, uint32_t cpus = 32,
                                       uint64_t memory = 256 * kGiB) {
  link::Registration r;
  r.worker_id = id;
  r.address = "10.0.0.1";
  r.capacity = {id + ".example", cpus, memory};
  r.heartbeat_interval = std::chrono::milliseconds(1000);
  for (size_t i = 0; i < gpus; ++i) {
    r.gpus.push_back({static_cast<uint32_t>(i), GpuUuid(id, i), "NVIDIA H100 80GB HBM3",
                      "00000000:0" + std::to_string(i) + ":00.0", 80 * kGiB});
  }
  return r;
}

// A good sample of GPU `i` of `worker` at `utilization` percent with
// `free` bytes of its 80 GiB free.
inline GpuSample MakeGpuSample(const std::string& worker, size_t i, double utilization, uint64_t free = 80 * kGiB) {
  GpuSample s;
  s.identity = {static_cast<uint32_t>(i), GpuUuid(worker, i), "NVIDIA H100 80GB HBM3", "", 80 * kGiB};
  s.utilization_gpu = utilization;
  s.memory_free_bytes = free;
  s.memory_used_bytes = 80 * kGiB - free;
  return s;
}

// A heartbeat with one good sample per utilization given.
inline link::Heartbeat MakeReport(const std::string& worker, const std::vector<double>& utilizations,
                                  double cpu_percent = 10) {
  link::Heartbeat r;
  Sample& s = r.sample;
  s.host.cpu_percent = cpu_percent;
  s.host.memory_percent = 20;
  s.nvml.available = true;
  s.nvml.driver_version = "580.65.06";
  for (size_t i = 0; i < utilizations.size(); ++i) s.gpus.push_back(MakeGpuSample(worker, i, utilizations[i]));
  s.gpu_percent = MeanGpuUtilization(s.gpus);
  return r;
}

inline TaskSpec MakeSpec(uint32_t gpus, uint32_t cpus = 1, uint64_t memory = kGiB) {
  TaskSpec s;
  s.name = "job";
  s.argv = {"/usr/bin/train", "--epochs=3"};
  s.cpus = cpus;
  s.memory_bytes = memory;
  s.gpus = gpus;
  return s;
}

// A recovered Cluster over an instrumented memory store, a manual clock and
// the least-loaded policy, with helpers to drive workers.
class ClusterFixture : public ::testing::Test {
 protected:
  ClusterFixture() : memory_(NewMemoryTaskStore()), store_(*memory_), policy_(NewLeastLoadedPolicy()) {}

  void SetUp() override { Restart(); }

  // The fixture's default: a lost worker's tasks are requeued at its dead
  // timeout (a task lease of 0 counts as the dead timeout), so the tests of
  // liveness and requeues need not wait out a lease; the lease's own tests
  // set one.
  static ClusterConfig WithoutLease() {
    ClusterConfig config;
    config.task_lease = std::chrono::milliseconds(0);
    return config;
  }

  // Drops the cluster (not the store) and recovers a new one, as a master
  // restart would.
  void Restart(ClusterConfig config = WithoutLease()) {
    cluster_.reset();
    cluster_ = std::make_unique<Cluster>(store_, *policy_, clock_, config);
    ASSERT_TRUE(cluster_->Recover().ok());
  }

  FakeWorkerChannel& Channel(const std::string& worker) {
    auto& c = channels_[worker];
    if (!c) c = std::make_unique<FakeWorkerChannel>();
    return *c;
  }

  link::Registered Register(const link::Registration& r) {
    auto reply = cluster_->RegisterWorker(r, &Channel(r.worker_id));
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    return reply.ok() ? *reply : link::Registered{};
  }
  link::Registered Register(const std::string& id, size_t gpus, uint32_t cpus = 32) {
    return Register(MakeRegister(id, gpus, cpus));
  }

  void Beat(const std::string& worker, const std::vector<double>& utilizations, double cpu_percent = 10) {
    ASSERT_TRUE(cluster_->IngestHeartbeat(worker, MakeReport(worker, utilizations, cpu_percent)).ok());
  }

  Task Submit(const TaskSpec& spec) {
    auto t = cluster_->Submit(spec);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : Task{};
  }

  Task Get(const std::string& id) {
    auto t = cluster_->GetTask(id);
    EXPECT_TRUE(t.has_value()) << id;
    return t.value_or(Task{});
  }

  Worker GetWorker(const std::string& id) {
    auto w = cluster_->GetWorker(id);
    EXPECT_TRUE(w.has_value()) << id;
    return w.value_or(Worker{});
  }

  Status Event(const std::string& worker, const std::string& task, link::TaskUpdate::Kind kind, int exit_code = 0) {
    link::TaskUpdate e;
    e.task_id = task;
    e.kind = kind;
    e.exit_code = exit_code;
    e.message = "no such file";
    // A process ran for these (a missing program is reported without one).
    if (kind != link::TaskUpdate::Kind::kFailedToStart) e.pid = 4242;
    return cluster_->ApplyTaskEvent(worker, e);
  }

  std::vector<std::string> EventsOf(const std::string& task) {
    std::vector<std::string> out;
    auto events = store_.LoadEvents(task);
    EXPECT_TRUE(events.ok());
    for (const auto& e : *events) out.push_back(e.what);
    return out;
  }

  ManualClock clock_;
  std::unique_ptr<TaskStore> memory_;
  InstrumentedStore store_;
  std::unique_ptr<PlacementPolicy> policy_;
  std::map<std::string, std::unique_ptr<FakeWorkerChannel>> channels_;
  std::unique_ptr<Cluster> cluster_;
};

}  // namespace gpulse::master
