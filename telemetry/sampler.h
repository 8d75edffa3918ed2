// Sampler: one look at this host — CPU, memory, NVML state and every GPU —
// as a gpulse::Sample. The facade the worker and the CLI use.
//
// Construction opens NVML once (NvmlSession) and keeps it for the Sampler's
// life, takes the baseline CPU reading, and starts the slow-metrics thread.
// Take() never sleeps: host CPU % is the delta between this reading and the
// previous one (the first Take() measures from construction, and its
// cpu_percent is absent when no jiffy has elapsed since). Power and PCIe come
// from the slow poller's cache, XID and ECC event counts from the event
// watcher's thread.
//
// Not thread-safe: Take() must be called from one thread at a time. The
// inventory accessors (GpuInventory, nvml_state, nvml_generation) are
// thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "sample/gpu_identity.h"
#include "telemetry/nvml_session.h"
#include "telemetry/proc_stats.h"
#include "sample/sample.h"
#include "telemetry/nvml_event_watcher.h"
#include "telemetry/slow_metrics_poller.h"

namespace gpulse::telemetry {

struct SamplerConfig {
  // Where /proc lives; tests point it at fixtures.
  std::string proc_root = "/proc";
  // false: no NVML at all (nvml.available false, "disabled" as the error).
  bool enable_nvml = true;
  NvmlSessionConfig nvml;
  SlowMetricsConfig slow_metrics;
  // false: no background thread; the caller drives slow_poller().PollDue()
  // (tests with a ManualClock).
  bool run_slow_metrics_thread = true;
  // false: no event thread (XIDs and double-bit ECC events are not watched,
  // and samples carry no `events`); tests drive event_watcher()->PollOnce().
  bool run_event_thread = true;
  NvmlEventWatcherConfig events;
};

class Sampler {
 public:
  // `clock` must outlive the Sampler. Never fails: whatever cannot be read
  // shows up as absent values and as nvml.error in samples.
  Sampler(SamplerConfig config, Clock& clock);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Takes one sample. Re-initialises NVML first if a retry is due. Its
  // `collector` says how long this took and counts NVML's failures so far.
  Sample Take();

  // The GPUs NVML listed at its last initialisation (for registration).
  std::vector<GpuIdentity> GpuInventory() const;
  // NVML's current state, as the next sample would report it.
  NvmlState nvml_state() const;
  // Changes whenever NVML is initialised again (the inventory may then
  // differ); 0 while NVML has never been initialised or is disabled.
  uint64_t nvml_generation() const { return session_ ? session_->generation() : 0; }

  // Waits up to `timeout` (real time) for the slow poller's first power and
  // PCIe readings, so that a one-shot caller's first sample has them. Returns
  // whether they arrived (true at once without NVML).
  bool WaitForSlowMetrics(std::chrono::milliseconds timeout);

  // For tests and benchmarks. Null when NVML is disabled.
  NvmlSession* session() { return session_.get(); }
  SlowMetricsPoller* slow_poller() { return poller_.get(); }
  NvmlEventWatcher* event_watcher() { return watcher_.get(); }

 private:
  // Take() without the collector's own figures.
  Sample Read();
  void ReadHost(HostSample* host);

  const SamplerConfig config_;
  Clock& clock_;
  ProcStatsReader proc_;
  std::optional<CpuTimes> previous_cpu_;
  std::unique_ptr<NvmlSession> session_;
  std::unique_ptr<SlowMetricsPoller> poller_;
  std::unique_ptr<NvmlEventWatcher> watcher_;
  uint64_t last_generation_ = 0;
  bool host_error_logged_ = false;
};

}  // namespace gpulse::telemetry
