// The master core at cluster scale: placement throughput, heartbeat
// ingestion, and memory per worker. See docs/benchmarks.md.
//
//   WorkerMemory      RSS and heap growth from registering 10,000 workers
//                     with 8 GPUs each and one heartbeat of live samples each.
//   Schedule/memory   Schedule() calls (10,000 placements each at most) until
//                     no more of 100,000 queued tasks (70 % 1-GPU, 20 % 2-GPU,
//                     10 % CPU-only) fit on those workers, with random live
//                     utilization; MemoryTaskStore.
//   Schedule/sqlite   the same with SqliteTaskStore: every assignment (task
//                     row + event) stored, one transaction per call.
//   IngestHeartbeat   8-GPU heartbeats into a 1,000-worker cluster, with
//                     no task running (/0), with a running task on every
//                     GPU (/1: usage and idle accounting) and after those
//                     tasks finished (/2).
//   RunningTaskMemory growth from a running task on each of its 8,000 GPUs.
//
// items_per_second is placements (or heartbeats) per second; `placed` and
// `left_queued` say how the round ended (80,000 GPUs cannot take all tasks).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "link/messages.h"
#include "master/core/cluster.h"
#include "master/core/placement.h"
#include "testkit/temp_dir.h"
#include "master/store/sqlite_task_store.h"
#include "master/store/task_store.h"

namespace gpulse::master {
namespace {

constexpr int kWorkers = 10'000;
constexpr int kGpusPerWorker = 8;
constexpr int kTasks = 100'000;
constexpr int kIngestWorkers = 1'000;  // the usage benchmarks' fleet
constexpr uint64_t kGiB = uint64_t{1} << 30;

class NullChannel final : public WorkerChannel {
 public:
  void SendAssign(const Task&) override { ++assigns; }
  void SendCancel(const std::string&, std::chrono::milliseconds) override {}
  uint64_t assigns = 0;
};

std::string WorkerId(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "node-%05d", i);
  return buf;
}

std::string Uuid(int worker, int gpu) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "GPU-%08x-%04x-4000-8000-%012x", worker, gpu, worker * 16 + gpu);
  return buf;
}

link::Registration MakeRegister(int i) {
  link::Registration r;
  r.worker_id = WorkerId(i);
  r.address = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
  r.capacity = {r.worker_id + ".cluster.example.com", 64, 1024 * kGiB};
  for (int g = 0; g < kGpusPerWorker; ++g) {
    char pci[32];
    std::snprintf(pci, sizeof pci, "00000000:%02X:00.0", 0x18 + g);
    r.gpus.push_back({static_cast<uint32_t>(g), Uuid(i, g), "NVIDIA H100 80GB HBM3", pci, 80 * kGiB});
  }
  return r;
}

// A full heartbeat: every figure a real H100 reports, one process per GPU.
link::Heartbeat MakeReport(int worker, std::mt19937& rng) {
  std::uniform_real_distribution<double> percent(0, 100);
  link::Heartbeat hb;
  Sample& r = hb.sample;
  r.host.cpu_percent = percent(rng);
  r.host.memory_percent = percent(rng);
  r.host.cpu_cores = 64;
  r.host.memory_total_bytes = 1024 * kGiB;
  r.nvml.available = true;
  r.nvml.driver_version = "580.65.06";
  for (int g = 0; g < kGpusPerWorker; ++g) {
    GpuSample s;
    s.identity = {static_cast<uint32_t>(g), Uuid(worker, g), "NVIDIA H100 80GB HBM3", "", 80 * kGiB};
    s.utilization_gpu = percent(rng);
    s.utilization_memory = percent(rng);
    s.memory_used_bytes = static_cast<uint64_t>(percent(rng) / 100 * 80 * kGiB);
    s.memory_free_bytes = 80 * kGiB - *s.memory_used_bytes;
    s.temperature_c = 55;
    s.power_w = 400;
    s.power_limit_w = 700;
    s.clock_sm_mhz = 1980;
    s.clock_mem_mhz = 2619;
    s.processes = std::vector<GpuProcess>{{4242, 10 * kGiB, std::nullopt}};
    r.gpus.push_back(std::move(s));
  }
  r.gpu_percent = MeanGpuUtilization(r.gpus);
  return hb;
}

TaskSpec MakeSpec(int i) {
  TaskSpec s;
  s.name = "train-" + std::to_string(i);
  s.argv = {"python3", "train.py", "--shard=" + std::to_string(i)};
  int kind = i % 10;  // 0-6: 1 GPU, 7-8: 2 GPUs, 9: CPU only
  s.gpus = kind < 7 ? 1 : kind < 9 ? 2 : 0;
  s.cpus = s.gpus == 0 ? 2 : 4 * s.gpus;
  s.memory_bytes = (s.gpus == 0 ? 8 : 32 * s.gpus) * kGiB;
  return s;
}

// A recovered cluster with kWorkers registered workers that have each sent
// one heartbeat.
struct Fleet {
  explicit Fleet(TaskStore& store, int workers = kWorkers)
      : workers(workers), policy(NewLeastLoadedPolicy()), cluster(store, *policy, clock) {
    if (!cluster.Recover().ok()) std::abort();
    channels.resize(workers);
    std::mt19937 rng(42);
    for (int i = 0; i < workers; ++i) {
      if (!cluster.RegisterWorker(MakeRegister(i), &channels[i]).ok()) std::abort();
      if (!cluster.IngestHeartbeat(WorkerId(i), MakeReport(i, rng)).ok()) std::abort();
    }
  }
  int workers;
  ManualClock clock;
  std::unique_ptr<PlacementPolicy> policy;
  std::vector<NullChannel> channels;
  Cluster cluster;
};

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void BM_WorkerMemory(benchmark::State& state) {
  for (auto _ : state) {
    auto store = NewMemoryTaskStore();
    malloc_trim(0);
    size_t rss_before = ResidentBytes();
    size_t heap_before = mallinfo2().uordblks;
    auto fleet = std::make_unique<Fleet>(*store);
    size_t rss_after = ResidentBytes();
    size_t heap_after = mallinfo2().uordblks;
    state.counters["rss_bytes_per_worker"] = static_cast<double>(rss_after - rss_before) / kWorkers;
    state.counters["heap_bytes_per_worker"] = static_cast<double>(heap_after - heap_before) / kWorkers;
    benchmark::DoNotOptimize(fleet);
  }
}
BENCHMARK(BM_WorkerMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

// state.range(0): 0 = MemoryTaskStore, 1 = SqliteTaskStore.
void BM_Schedule(benchmark::State& state) {
  bool sqlite = state.range(0) == 1;
  state.SetLabel(sqlite ? "sqlite" : "memory");
  size_t placed = 0, left = 0;
  for (auto _ : state) {
    state.PauseTiming();
    testkit::TempDir dir("gpulse-bench");
    std::unique_ptr<TaskStore> store;
    if (sqlite) {
      auto opened = OpenSqliteTaskStore(dir.File("gpulse.db"));
      if (!opened.ok()) std::abort();
      store = std::move(*opened);
    } else {
      store = NewMemoryTaskStore();
    }
    {
      Fleet fleet(*store);
      for (int i = 0; i < kTasks; ++i) {
        if (!fleet.cluster.Submit(MakeSpec(i)).ok()) std::abort();
      }
      state.ResumeTiming();
      while (size_t n = fleet.cluster.Schedule()) placed += n;
      state.PauseTiming();
      left += fleet.cluster.Counts().tasks_by_state[static_cast<int>(TaskState::kQueued)];
    }
    store.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(placed));
  state.counters["placed"] = static_cast<double>(placed) / static_cast<double>(state.iterations());
  state.counters["left_queued"] = static_cast<double>(left) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Schedule)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);

// Fills every GPU of the fleet with a running 1-GPU task (submitted,
// placed, reported started). Returns how many.
int StartTaskOnEveryGpu(Fleet& fleet) {
  TaskSpec spec;
  spec.name = "train";
  spec.argv = {"python3", "train.py"};
  spec.gpus = 1;
  spec.cpus = 4;
  spec.memory_bytes = 32 * kGiB;
  for (int i = 0; i < fleet.workers * kGpusPerWorker; ++i) {
    if (!fleet.cluster.Submit(spec).ok()) std::abort();
  }
  while (fleet.cluster.Schedule() > 0) {
  }
  int started = 0;
  for (const Task& t : fleet.cluster.Tasks(TaskState::kAssigned)) {
    link::TaskUpdate update;
    update.task_id = t.id;
    update.attempt = t.attempts;
    update.kind = link::TaskUpdate::Kind::kStarted;
    update.pid = 4242;
    if (!fleet.cluster.ApplyTaskEvent(t.worker_id, update).ok()) std::abort();
    ++started;
  }
  return started;
}

// Ends every running task of the fleet (exit code 0).
void FinishRunningTasks(Fleet& fleet) {
  for (const Task& t : fleet.cluster.Tasks(TaskState::kRunning)) {
    link::TaskUpdate update;
    update.task_id = t.id;
    update.attempt = t.attempts;
    update.kind = link::TaskUpdate::Kind::kExited;
    update.exit_code = 0;
    if (!fleet.cluster.ApplyTaskEvent(t.worker_id, update).ok()) std::abort();
  }
}

// One heartbeat of every worker: the measured part of BM_IngestHeartbeat,
// in a function of its own so that callgrind can count it alone
// (valgrind --tool=callgrind --collect-atstart=no
// --toggle-collect='*IngestRound*', docs/benchmarks.md).
// The ids are made beforehand: the master has each stream's at hand.
[[gnu::noinline]] void IngestRound(Fleet& fleet, const std::vector<std::string>& ids,
                                   std::vector<link::Heartbeat>& reports) {
  for (int i = 0; i < kIngestWorkers; ++i) {
    if (!fleet.cluster.IngestHeartbeat(ids[i], std::move(reports[i])).ok()) std::abort();
  }
}

// state.range(0): 0 = no task runs; 1 = a running task on every GPU, so
// each heartbeat also counts their GPU-seconds into the cluster's and
// judges their idleness when due (their usage is read from the GPUs'
// counters, which every variant advances);
// 2 = as 1, but the tasks have finished before the measurement: the same
// master (8,000 tasks in memory, the same heap history) with nothing to
// account, to tell the accounting's cost from that of holding the tasks.
void BM_IngestHeartbeat(benchmark::State& state) {
  const int64_t variant = state.range(0);
  state.SetLabel(variant == 1 ? "a running task on every GPU"
                 : variant == 2 ? "no running task, 8,000 finished ones"
                                : "no running task");
  auto store = NewMemoryTaskStore();
  // 1,000 workers: submitting (each Submit checks the whole fleet) 80,000
  // tasks would take longer than the measurement.
  Fleet fleet(*store, kIngestWorkers);
  if (variant != 0 && StartTaskOnEveryGpu(fleet) != kIngestWorkers * kGpusPerWorker) std::abort();
  if (variant == 2) FinishRunningTasks(fleet);
  std::mt19937 rng(7);
  // One heartbeat of each worker first, not measured: it builds the
  // workers' accounts of their running tasks (which tasks starting or ending
  // marked stale); heartbeats between such changes are what is measured.
  fleet.clock.Advance(std::chrono::seconds(1));
  for (int i = 0; i < kIngestWorkers; ++i) {
    if (!fleet.cluster.IngestHeartbeat(WorkerId(i), MakeReport(i, rng)).ok()) std::abort();
  }
  std::vector<std::string> ids;
  for (int i = 0; i < kIngestWorkers; ++i) ids.push_back(WorkerId(i));
  std::vector<link::Heartbeat> reports;
  int64_t ingested = 0;
  for (auto _ : state) {
    state.PauseTiming();
    reports.clear();
    for (int i = 0; i < kIngestWorkers; ++i) reports.push_back(MakeReport(i, rng));
    fleet.clock.Advance(std::chrono::seconds(1));  // so that each heartbeat adds GPU-seconds
    state.ResumeTiming();
    IngestRound(fleet, ids, reports);
    ingested += kIngestWorkers;
  }
  state.SetItemsProcessed(ingested);
}
BENCHMARK(BM_IngestHeartbeat)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// Growth from 80,000 running tasks (one per GPU), with a heartbeat of
// usage accounting each: the master's memory per running task.
void BM_RunningTaskMemory(benchmark::State& state) {
  for (auto _ : state) {
    auto store = NewMemoryTaskStore();
    auto fleet = std::make_unique<Fleet>(*store, kIngestWorkers);
    malloc_trim(0);
    size_t rss_before = ResidentBytes();
    size_t heap_before = mallinfo2().uordblks;
    const int started = StartTaskOnEveryGpu(*fleet);
    std::mt19937 rng(9);
    fleet->clock.Advance(std::chrono::seconds(1));
    for (int i = 0; i < kIngestWorkers; ++i) {
      if (!fleet->cluster.IngestHeartbeat(WorkerId(i), MakeReport(i, rng)).ok()) std::abort();
    }
    size_t rss_after = ResidentBytes();
    size_t heap_after = mallinfo2().uordblks;
    // An upper bound: this includes the memory store's copy of each task
    // and its events, which the SQLite store keeps on disk instead.
    state.counters["rss_bytes_per_task"] = static_cast<double>(rss_after - rss_before) / started;
    state.counters["heap_bytes_per_task"] = static_cast<double>(heap_after - heap_before) / started;
    state.counters["usage_bytes_per_task"] = static_cast<double>(sizeof(TaskUsage));
    benchmark::DoNotOptimize(fleet);
  }
}
BENCHMARK(BM_RunningTaskMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gpulse::master

BENCHMARK_MAIN();
