// The heartbeat hot path: History::Record for a worker with 8 GPUs.
#include <benchmark/benchmark.h>

#include "master/core/history.h"

namespace gpulse::master {
namespace {

void BM_HistoryRecord8Gpus(benchmark::State& state) {
  History history;
  Sample sample;
  sample.host.cpu_percent = 12.5;
  sample.host.memory_percent = 40;
  sample.gpu_percent = 80.0;
  std::vector<GpuSample>& gpus = sample.gpus;
  gpus.resize(8);
  for (uint32_t i = 0; i < gpus.size(); ++i) {
    gpus[i].identity.index = i;
    gpus[i].identity.uuid = "GPU-5b4e07f6-3a86-4340-039d-25f2a83cdc4" + std::to_string(i);
    gpus[i].identity.name = "NVIDIA H100 80GB HBM3";
    gpus[i].utilization_gpu = 80;
    gpus[i].memory_used_bytes = uint64_t{1} << 30;
    gpus[i].temperature_c = 54;
    gpus[i].power_w = 312.5;
  }
  // Many workers, as on a large cluster: the lookup is part of the cost.
  std::vector<std::string> ids;
  for (int w = 0; w < 1000; ++w) ids.push_back("gpu-node-" + std::to_string(w));
  std::vector<GpuIdentity> registered;
  for (const GpuSample& g : gpus) registered.push_back(g.identity);
  for (const std::string& id : ids) history.Register(id, std::chrono::milliseconds(5000), registered);
  WallTime t{};
  size_t next = 0;
  for (auto _ : state) {
    t += std::chrono::seconds(5);
    history.Record(ids[next], sample, t);
    next = (next + 1) % ids.size();
  }
  state.counters["seconds_per_gpu"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 8, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_HistoryRecord8Gpus);

}  // namespace
}  // namespace gpulse::master
