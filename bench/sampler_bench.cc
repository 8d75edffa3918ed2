// Cost of one GPU sample: the persistent NvmlSession that gpulse uses, NVML
// initialised and shut down around every sample, the same NVML calls made
// directly (the floor: what the library itself costs), and a full
// Sampler::Take(). "Our overhead" per GPU = (PersistentSession − DirectCalls)
// / GPUs; see docs/telemetry.md.
//
// By default it runs against the NVML simulator with 8 GPUs. With
// GPULSE_BENCH_REAL_NVML=1 it uses the real driver (libnvidia-ml.so.1, or
// GPULSE_NVML_LIBRARY) and whatever GPUs the machine has.
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "telemetry/nvml_library.h"
#include "telemetry/nvml_session.h"
#include "telemetry/proc_stats.h"
#include "telemetry/sampler.h"
#include "testkit/sim_fixture.h"

namespace gpulse::telemetry {
namespace {

constexpr int kSimulatedGpus = 8;

bool UseRealNvml() {
  const char* v = std::getenv("GPULSE_BENCH_REAL_NVML");
  return v != nullptr && std::string(v) == "1";
}

// The library under test; for the simulator, also its scenario, and a handle
// that keeps the library loaded between sessions (so that init/shutdown per
// sample is measured, not dlopen).
struct Target {
  std::string library;
  std::unique_ptr<testkit::ScenarioFile> scenario;
  void* keep_loaded = nullptr;
};

Target& GetTarget() {
  static Target* target = [] {
    auto* t = new Target;
    if (UseRealNvml()) {
      t->library = NvmlLibrary::DefaultPath();
    } else {
      t->library = testkit::SimLibraryPath();
      nlohmann::json s = testkit::UniformScenario(kSimulatedGpus, 60);
      for (auto& g : s["gpus"]) {
        g["processes"] = {{{"pid", 1000}, {"used_memory_mib", 4096}}, {{"pid", 1001}}};
      }
      t->scenario = std::make_unique<testkit::ScenarioFile>(s);
    }
    t->keep_loaded = dlopen(t->library.c_str(), RTLD_NOW | RTLD_LOCAL);
    return t;
  }();
  return *target;
}

NvmlSessionConfig SessionConfig() {
  NvmlSessionConfig config;
  config.library_path = GetTarget().library;
  return config;
}

void ReportPerGpu(benchmark::State& state, size_t gpus) {
  state.counters["gpus"] = static_cast<double>(gpus);
  state.counters["per_gpu"] = benchmark::Counter(
      static_cast<double>(gpus), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// gpulse's path: NVML stays initialised; each sample only queries.
void BM_PersistentSession(benchmark::State& state) {
  NvmlSession session(SessionConfig(), SystemClock::Instance());
  session.Maintain();
  if (!session.State().available) return state.SkipWithError(session.State().error->c_str());
  size_t gpus = 0;
  for (auto _ : state) {
    session.Maintain();
    GpuReadout readout = session.ReadGpus();
    gpus = readout.gpus.size();
    benchmark::DoNotOptimize(readout);
  }
  ReportPerGpu(state, gpus);
}
BENCHMARK(BM_PersistentSession);

// The slow poller's GPM read, per health pass: one GPM sample per GPU and the
// metrics between it and the previous one (nvmlGpmSampleGet +
// nvmlGpmMetricsGet). Off the sample path; measured so the device check can
// show what a health pass costs on a Hopper. Skipped where GPM is unsupported.
void BM_GpmRead(benchmark::State& state) {
  NvmlSession session(SessionConfig(), SystemClock::Instance());
  session.Maintain();
  if (!session.State().available) return state.SkipWithError(session.State().error->c_str());
  const uint64_t generation = session.generation();
  const std::vector<GpuIdentity> gpus = session.Inventory();
  for (const GpuIdentity& gpu : gpus) {
    const nvmlReturn_t opened = session.ReadGpm(generation, gpu.index).code;
    if (opened != NVML_SUCCESS) return state.SkipWithError("GPM unavailable on a GPU of this machine");
  }
  for (auto _ : state) {
    for (const GpuIdentity& gpu : gpus) benchmark::DoNotOptimize(session.ReadGpm(generation, gpu.index));
  }
  ReportPerGpu(state, gpus.size());
}
BENCHMARK(BM_GpmRead);

// The naive path: initialise NVML, list GPUs, read them, shut down.
void BM_InitShutdownPerSample(benchmark::State& state) {
  size_t gpus = 0;
  for (auto _ : state) {
    NvmlSession session(SessionConfig(), SystemClock::Instance());
    session.Maintain();
    GpuReadout readout = session.ReadGpus();
    gpus = readout.gpus.size();
    benchmark::DoNotOptimize(readout);
  }
  if (gpus == 0) state.SkipWithError("NVML unavailable");
  ReportPerGpu(state, gpus);
}
BENCHMARK(BM_InitShutdownPerSample);

// The floor: the same NVML calls ReadFastMetrics makes, straight through the
// function table, with no result handling.
void BM_DirectNvmlCalls(benchmark::State& state) {
  auto library = NvmlLibrary::Open(GetTarget().library);
  if (!library.ok()) return state.SkipWithError(library.status().message().c_str());
  const NvmlFunctions& f = (*library)->functions();
  if (!f.device_get_utilization_rates || !f.device_get_memory_info_v2 || !f.device_get_temperature_v ||
      !f.device_get_clock_info || !f.device_get_encoder_utilization || !f.device_get_decoder_utilization ||
      !f.device_get_fan_speed || !f.device_get_compute_running_processes) {
    return state.SkipWithError("the library lacks a function this baseline calls");
  }
  if (f.init() != NVML_SUCCESS) return state.SkipWithError("nvmlInit failed");
  unsigned int count = 0;
  f.device_get_count(&count);
  std::vector<nvmlDevice_t> devices(count);
  for (unsigned int i = 0; i < count; ++i) f.device_get_handle_by_index(i, &devices[i]);
  std::array<nvmlProcessInfo_t, 32> processes;
  for (auto _ : state) {
    for (nvmlDevice_t d : devices) {
      nvmlUtilization_t u;
      nvmlMemory_v2_t m{};
      m.version = nvmlMemory_v2;
      nvmlTemperature_v1_t t{};
      t.version = nvmlTemperature_v1;
      unsigned int value = 0, period = 0, n = processes.size();
      benchmark::DoNotOptimize(f.device_get_utilization_rates(d, &u));
      benchmark::DoNotOptimize(f.device_get_memory_info_v2(d, &m));
      benchmark::DoNotOptimize(f.device_get_temperature_v(d, &t));
      benchmark::DoNotOptimize(f.device_get_clock_info(d, NVML_CLOCK_SM, &value));
      benchmark::DoNotOptimize(f.device_get_clock_info(d, NVML_CLOCK_MEM, &value));
      benchmark::DoNotOptimize(f.device_get_encoder_utilization(d, &value, &period));
      benchmark::DoNotOptimize(f.device_get_decoder_utilization(d, &value, &period));
      benchmark::DoNotOptimize(f.device_get_fan_speed(d, &value));
      benchmark::DoNotOptimize(f.device_get_compute_running_processes(d, &n, processes.data()));
      benchmark::ClobberMemory();
    }
  }
  f.shutdown();
  ReportPerGpu(state, count);
}
BENCHMARK(BM_DirectNvmlCalls);

// What the worker pays per heartbeat: host /proc reads, GPUs, cached slow
// metrics.
void BM_SamplerTake(benchmark::State& state) {
  SamplerConfig config;
  config.nvml = SessionConfig();
  Sampler sampler(config, SystemClock::Instance());
  sampler.WaitForSlowMetrics(std::chrono::seconds(10));
  size_t gpus = 0;
  for (auto _ : state) {
    Sample sample = sampler.Take();
    gpus = sample.gpus.size();
    benchmark::DoNotOptimize(sample);
  }
  ReportPerGpu(state, gpus);
}
BENCHMARK(BM_SamplerTake);

// The host part alone: /proc/stat and /proc/meminfo.
void BM_HostProcStats(benchmark::State& state) {
  ProcStatsReader reader;
  for (auto _ : state) {
    benchmark::DoNotOptimize(reader.ReadCpu());
    benchmark::DoNotOptimize(reader.ReadMemory());
  }
}
BENCHMARK(BM_HostProcStats);

}  // namespace
}  // namespace gpulse::telemetry

BENCHMARK_MAIN();
