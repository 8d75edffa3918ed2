// gpulse-fill-store: writes many finished tasks into a master's data dir
// through the store API (SqliteTaskStore), for the 1,000,000-task
// measurements in docs/benchmarks.md (scripts/measure-task-store.sh).
//
//   build/bin/gpulse-fill-store --data-dir DIR [--tasks 1000000]
//       [--finished-ago 86400] [--workers 100]
//
// Tasks t-000001 … t-N, each as a real one looks when it has finished:
// a command line, an environment, a worker and GPUs, usage figures, and a
// state (9 in 10 succeeded, the rest failed or cancelled). They finished
// --finished-ago seconds before now (0: just now, so that a master started
// next keeps its --max-finished-tasks newest in memory). Batches of 10,000
// tasks, one transaction each; no events (a master writes a few per task,
// which the task pages never read). Run it on a data dir no master uses.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "master/store/sqlite_task_store.h"

namespace {

using gpulse::master::Task;
using gpulse::master::TaskState;

Task FinishedTask(uint64_t number, uint32_t workers, std::chrono::system_clock::time_point finished) {
  Task t;
  t.id = gpulse::master::FormatTaskId(number);
  t.spec.name = "train-" + std::to_string(number % 977);
  t.spec.argv = {"/usr/bin/python3", "train.py", "--epochs=3", "--shard=" + std::to_string(number % 64)};
  t.spec.env = {{"WANDB_PROJECT", "gpulse-bench"}, {"SEED", std::to_string(number)}};
  t.spec.cpus = 4;
  t.spec.memory_bytes = uint64_t{16} << 30;
  t.spec.gpus = 1;
  t.state = number % 10 == 0 ? TaskState::kFailed : number % 10 == 5 ? TaskState::kCancelled : TaskState::kSucceeded;
  t.worker_id = "w" + std::to_string(number % workers);
  t.gpu_indices = {static_cast<uint32_t>(number % 8)};
  t.gpu_uuids = {"GPU-" + std::to_string(number % workers) + "-" + std::to_string(number % 8)};
  t.attempts = 1;
  t.exit_code = t.state == TaskState::kFailed ? 1 : 0;
  t.message = t.state == TaskState::kFailed ? "exited 1" : "";
  t.finished_at = finished;
  t.started_at = finished - std::chrono::minutes(30);
  t.submitted_at = finished - std::chrono::minutes(31);
  t.usage.gpu_seconds = 1800;
  t.usage.gpu_seconds_used = 1500;
  t.usage.utilization_gpu_sum = 150000;
  t.usage.utilization_gpu_seconds = 1800;
  t.usage.peak_utilization_gpu = 99;
  t.usage.peak_memory_used_bytes = uint64_t{70} << 30;
  t.usage.energy_joules = 1.2e6;
  t.usage.max_gpu_processes = 1;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir;
  uint64_t tasks = 1'000'000;
  double finished_ago = 86400;
  uint32_t workers = 100;
  CLI::App app{"gpulse-fill-store: fills a master's store with finished tasks (for measurements)"};
  app.add_option("--data-dir", data_dir, "the master's data dir (created)")->required();
  app.add_option("--tasks", tasks, "how many tasks")->capture_default_str();
  app.add_option("--finished-ago", finished_ago, "seconds ago they finished")->capture_default_str();
  app.add_option("--workers", workers, "workers they ran on (w0 …)")->check(CLI::PositiveNumber)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::filesystem::create_directories(data_dir);
  std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all);
  auto store = gpulse::master::SqliteTaskStore::Open(data_dir + "/gpulse.db");
  if (!store.ok()) {
    std::fprintf(stderr, "gpulse-fill-store: %s\n", store.status().ToString().c_str());
    return 1;
  }
  const auto finished = std::chrono::system_clock::now() -
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::duration<double>(finished_ago));
  const auto start = std::chrono::steady_clock::now();
  constexpr uint64_t kBatch = 10000;
  for (uint64_t first = 1; first <= tasks; first += kBatch) {
    gpulse::master::TaskStoreBatch batch;
    for (uint64_t n = first; n < first + kBatch && n <= tasks; ++n) {
      batch.tasks.push_back(FinishedTask(n, workers, finished));
    }
    if (auto s = (*store)->Write(batch); !s.ok()) {
      std::fprintf(stderr, "gpulse-fill-store: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %llu finished tasks to %s/gpulse.db in %.1f s\n", static_cast<unsigned long long>(tasks),
              data_dir.c_str(), seconds);
  return 0;
}
