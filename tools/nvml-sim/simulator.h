// Simulator: the process-wide state behind the exported NVML functions —
// the nvmlInit reference count, the scenario in force, device handles and the
// counters that tests read.
//
// Environment, read by the nvmlInit that takes the count from 0 to 1:
//   GPULSE_NVML_SIM_SCENARIO  path of the scenario file; unset or empty: the
//                             built-in two-GPU scenario
//   GPULSE_NVML_SIM_SEED      seeds the default GPU UUIDs (else the scenario's
//                             "seed", else the host name)
//
// Thread-safe. Init and Shutdown serialise on a mutex; a query (SimQuery)
// touches only atomics and the immutable scenario snapshot, and at most once
// per check interval looks at the scenario file.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "telemetry/nvml_abi.h"
#include "tools/nvml-sim/health_state.h"
#include "tools/nvml-sim/scenario.h"
#include "tools/nvml-sim/scenario_source.h"
#include "tools/nvml-sim/sim_calls.h"

namespace gpulse::nvml_sim {

class Simulator {
 public:
  // The one instance; never destroyed, so late calls during exit are safe.
  static Simulator& Instance();

  // nvmlInit: on 0 -> 1 loads the scenario named by the environment. Returns
  // NVML_SUCCESS and counts one more reference; the scenario's init_error
  // (no reference taken); or NVML_ERROR_UNKNOWN when the scenario cannot be
  // loaded, with the reason then given by ErrorString(NVML_ERROR_UNKNOWN).
  nvmlReturn_t Init();
  // nvmlShutdown: drops one reference; NVML_ERROR_UNINITIALIZED when none is held.
  nvmlReturn_t Shutdown();
  // nvmlErrorString; for NVML_ERROR_UNKNOWN after a failed Init, the reason.
  // The pointer stays valid for the life of the process.
  const char* ErrorString(nvmlReturn_t code) const;

  bool initialized() const { return initialized_.load(std::memory_order_acquire); }
  // Counts the query. When initialised, reloads the scenario if a check is
  // due and returns the scenario in force; otherwise returns null. The
  // scenario stays valid until this thread's next BeginQuery.
  const Scenario* BeginQuery(int64_t now_ns);

  // The handle of GPU `index` (< kMaxGpus); stable for the life of the process.
  static nvmlDevice_t HandleOf(unsigned int index);
  // The index behind `device`; false for anything HandleOf never returned.
  static bool IndexOf(nvmlDevice_t device, unsigned int* index);

  unsigned int init_count() const { return init_count_.load(std::memory_order_relaxed); }
  unsigned int shutdown_count() const { return shutdown_count_.load(std::memory_order_relaxed); }
  unsigned long long query_count() const { return query_count_.load(std::memory_order_relaxed); }
  const ScenarioSource& source() const { return source_; }
  // Energy counters, delivered events and event sets.
  HealthState& health() { return health_; }

 private:
  Simulator() = default;

  std::mutex mu_;          // serialises Init and Shutdown
  int refcount_ = 0;       // guarded by mu_
  std::string last_scenario_path_;  // guarded by mu_; the file the last first nvmlInit named
  std::vector<std::unique_ptr<const std::string>> failure_messages_;  // guarded by mu_; only grows
  std::atomic<const char*> init_failure_message_{nullptr};
  std::atomic<bool> initialized_{false};
  std::atomic<unsigned int> init_count_{0};
  std::atomic<unsigned int> shutdown_count_{0};
  std::atomic<unsigned long long> query_count_{0};
  ScenarioSource source_;
  HealthState health_;
};

// The common start of every exported query. Resolves, in NVML's order: not
// initialised -> NVML_ERROR_UNINITIALIZED; bad handle or index ->
// NVML_ERROR_INVALID_ARGUMENT; lost GPU -> NVML_ERROR_GPU_IS_LOST; an error
// the scenario injects for this call -> that error. status() is NVML_SUCCESS
// when the call should go ahead. Lives on the caller's stack for one call, and
// must not outlive it.
class SimQuery {
 public:
  // A system-wide call (driver version, device count).
  explicit SimQuery(SimCall call);
  // A call on `device`.
  SimQuery(SimCall call, nvmlDevice_t device);
  // nvmlDeviceGetHandleByIndex*: like a device call, except that a lost GPU
  // still yields its handle (its queries then report the loss).
  static SimQuery ForIndex(SimCall call, unsigned int index);

  nvmlReturn_t status() const { return status_; }
  const Scenario& scenario() const { return *scenario_; }
  const SimGpu& gpu() const { return *gpu_; }
  unsigned int index() const { return index_; }

  // `model` now, rounded to the nearest whole number and clamped to [0, max].
  unsigned int Whole(const ValueModel& model, double max = 4294967295.0) const;
  double Value(const ValueModel& model) const { return model.At(now_s_); }
  // The time of this query on the monotonic clock, in seconds.
  double now_s() const { return now_s_; }

 private:
  SimQuery() = default;
  bool Start();  // false (status set) when NVML is not initialised
  void SelectGpu(SimCall call, unsigned int index, bool lost_fails);

  nvmlReturn_t status_ = NVML_SUCCESS;
  const Scenario* scenario_ = nullptr;  // valid for this call (see BeginQuery)
  const SimGpu* gpu_ = nullptr;
  unsigned int index_ = 0;
  double now_s_ = 0;
};

}  // namespace gpulse::nvml_sim
