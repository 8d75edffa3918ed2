// SlowMetricsPoller: reads the NVML metrics that are too slow for the
// per-sample path on a background thread, at their own cadence, and caches
// the latest values for samples to pick up.
//
// nvmlDeviceGetPcieThroughput blocks for about 20 ms per direction per GPU
// (it measures over a window), and power reads are among NVML's costliest
// queries. Samples must stay in the tens of microseconds, so both are read
// here: PCIe every `pcie_interval` (default 5 s), power draw and the enforced
// limit every `power_interval` (default 1 s; NVML's own power figure is
// itself averaged over about a second, so reading it faster gains nothing).
// Health figures — energy, uncorrected ECC count, row remapping, clock event
// reasons — every `health_interval` (default 5 s). So are the GPM metrics
// (SM activity, occupancy, tensor and graphics-engine activity; Hopper and
// later): each health pass takes a GPM sample, and the metrics are computed
// over the interval since the previous pass, so they appear from the second
// pass on and never make a pass wait. A health figure that the library lacks
// or the GPU does not support (NOT_SUPPORTED; for GPM also
// nvmlGpmQueryDeviceSupport saying no) is not asked for again on that GPU (by
// UUID), and that is logged once; a GPM read that fails otherwise leaves the
// metrics absent for that pass, logged once until a read succeeds again.
// Until the first reading for a GPU (after each NVML initialisation) its
// fields are absent.
//
// Thread-safe. Start() runs the thread; the destructor (or Stop()) wakes and
// joins it without waiting out a cadence — at worst for the one NVML read in
// progress. Tests may instead call PollDue() directly with a ManualClock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "telemetry/nvml_device_reader.h"
#include "telemetry/nvml_session.h"
#include "sample/sample.h"

namespace gpulse::telemetry {

struct SlowMetricsConfig {
  Clock::Duration pcie_interval = std::chrono::seconds(5);
  Clock::Duration power_interval = std::chrono::seconds(1);
  Clock::Duration health_interval = std::chrono::seconds(5);
};

class SlowMetricsPoller {
 public:
  // `session` and `clock` must outlive the poller. Does not start the thread.
  SlowMetricsPoller(NvmlSession& session, SlowMetricsConfig config, Clock& clock);
  // Stops the thread if it runs.
  ~SlowMetricsPoller();
  SlowMetricsPoller(const SlowMetricsPoller&) = delete;
  SlowMetricsPoller& operator=(const SlowMetricsPoller&) = delete;

  // Starts the background thread; its first pass runs at once. No-op when
  // already running.
  void Start();
  // Wakes the thread and joins it. No-op when not running.
  void Stop();
  // Makes every read due now (e.g. after NVML was initialised again) and
  // wakes the thread.
  void Wake();

  // Runs every read whose time has come (all of them when the session's
  // generation changed since the last pass) and returns when the next one is
  // due. Called by the thread; tests call it directly instead of Start().
  Clock::TimePoint PollDue();

  // Waits up to `timeout` (real time) until a pass has covered every GPU of
  // the session's current generation. Returns whether it has. For one-shot
  // callers such as the CLI that want power and PCIe in their first sample.
  bool WaitForFirstReadings(std::chrono::milliseconds timeout);

  // Copies the cached power, PCIe, health and GPM values into `gpus` read in
  // `generation`; values from another generation are not used.
  void FillCached(uint64_t generation, std::vector<GpuSample>* gpus) const;

 private:
  struct Cached {
    uint64_t generation = 0;
    std::optional<PowerReading> power;
    std::optional<PcieReading> pcie;
    std::optional<HealthReading> health;
    std::optional<GpmMetrics> gpm;  // absent until two GPM samples, or where unsupported
  };

  void Run();
  void Store(uint64_t generation, uint32_t index, const PowerReading* power,
             const PcieReading* pcie, const HealthReading* health, const std::optional<GpmMetrics>* gpm);
  // Reads the health figures of `gpu` that are still enabled, and disables
  // (saying so once) those found unsupported.
  HealthReading ReadHealth(uint64_t generation, const GpuIdentity& gpu);
  // Takes the GPU's next GPM sample, unless GPM was found unsupported there;
  // disables it (saying so once) when it is, and logs the first of a run of
  // failures.
  std::optional<GpmMetrics> ReadGpm(uint64_t generation, const GpuIdentity& gpu);
  bool StopRequested() const;

  NvmlSession& session_;
  const SlowMetricsConfig config_;
  Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable wake_;        // signalled on Stop(), Wake() and each finished pass
  bool stop_ = false;                   // guarded by mu_
  bool woken_ = false;                  // guarded by mu_
  std::map<uint32_t, Cached> cache_;    // by NVML index; guarded by mu_
  uint64_t covered_generation_ = 0;     // last generation a full pass covered; guarded by mu_
  std::thread thread_;

  // Touched only by the polling thread (or the test calling PollDue).
  uint64_t polled_generation_ = 0;
  Clock::TimePoint next_power_{};
  Clock::TimePoint next_pcie_{};
  Clock::TimePoint next_health_{};
  std::map<std::string, HealthFields> health_fields_;  // by GPU UUID: what is still read
  std::set<std::string> gpm_failing_;                  // GPU UUIDs whose last GPM read failed (logged)
};

}  // namespace gpulse::telemetry
