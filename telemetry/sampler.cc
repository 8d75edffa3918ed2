#include "telemetry/sampler.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

namespace gpulse::telemetry {

Sampler::Sampler(SamplerConfig config, Clock& clock)
    : config_(std::move(config)), clock_(clock), proc_(config_.proc_root) {
  if (Result<CpuTimes> cpu = proc_.ReadCpu(); cpu.ok()) previous_cpu_ = *cpu;
  if (!config_.enable_nvml) return;
  session_ = std::make_unique<NvmlSession>(config_.nvml, clock_);
  session_->Maintain();
  last_generation_ = session_->generation();
  poller_ = std::make_unique<SlowMetricsPoller>(*session_, config_.slow_metrics, clock_);
  if (config_.run_slow_metrics_thread) poller_->Start();
  watcher_ = std::make_unique<NvmlEventWatcher>(*session_, config_.events);
  if (config_.run_event_thread) watcher_->Start();
}

Sampler::~Sampler() {
  // The poller and the watcher read through the session: stop them first.
  watcher_.reset();
  poller_.reset();
  session_.reset();
}

void Sampler::ReadHost(HostSample* host) {
  Result<CpuTimes> cpu = proc_.ReadCpu();
  Result<MemInfo> memory = proc_.ReadMemory();
  if (cpu.ok()) {
    if (previous_cpu_) host->cpu_percent = CpuPercentBetween(*previous_cpu_, *cpu);
    previous_cpu_ = *cpu;
    host->cpu_cores = cpu->cores;
  }
  if (host->cpu_cores == 0) {
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    host->cpu_cores = online > 0 ? static_cast<uint32_t>(online) : 0;
  }
  if (memory.ok()) {
    host->memory_total_bytes = memory->total_bytes;
    host->memory_percent = MemoryPercent(*memory);
  }
  if ((!cpu.ok() || !memory.ok()) && !host_error_logged_) {
    host_error_logged_ = true;
    spdlog::warn("host statistics unavailable: {}",
                 (!cpu.ok() ? cpu.status() : memory.status()).message());
  }
}

Sample Sampler::Take() {
  const Clock::TimePoint started = clock_.Now();
  Sample sample = Read();
  if (session_) sample.collector.nvml_errors_total = session_->ErrorCounts();
  sample.collector.sample_duration_ms =
      std::chrono::duration<double, std::milli>(clock_.Now() - started).count();
  return sample;
}

Sample Sampler::Read() {
  Sample sample;
  sample.taken_at = clock_.WallNow();
  ReadHost(&sample.host);
  if (!session_) {
    sample.nvml.available = false;
    sample.nvml.error = "NVML disabled by configuration";
    return sample;
  }
  session_->Maintain();
  GpuReadout readout = session_->ReadGpus();
  if (readout.generation != last_generation_) {
    // NVML was initialised again: fetch power and PCIe for the new handles now.
    last_generation_ = readout.generation;
    poller_->Wake();
  }
  poller_->FillCached(readout.generation, &readout.gpus);
  watcher_->Fill(&readout.gpus);
  sample.gpus = std::move(readout.gpus);
  sample.nvml = session_->State();
  sample.gpu_percent = MeanGpuUtilization(sample.gpus);
  return sample;
}

std::vector<GpuIdentity> Sampler::GpuInventory() const {
  if (!session_) return {};
  return session_->Inventory();
}

NvmlState Sampler::nvml_state() const {
  if (!session_) return NvmlState{false, std::nullopt, "NVML disabled by configuration"};
  return session_->State();
}

bool Sampler::WaitForSlowMetrics(std::chrono::milliseconds timeout) {
  if (!poller_) return true;
  return poller_->WaitForFirstReadings(timeout);
}

}  // namespace gpulse::telemetry
