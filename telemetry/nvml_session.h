// NvmlSession: one process-wide connection to NVML — the library, its
// initialisation, the device handles and each GPU's static identity.
//
// NVML is initialised once and kept; samples only query. When the driver
// stops answering (UNINITIALIZED, DRIVER_NOT_LOADED, version mismatch) the
// session shuts NVML down; when initialisation fails, or a GPU is lost, it
// tries again — shutdown, init, list GPUs — after a retry delay that starts
// at `initial_retry_delay` and doubles up to `max_retry_delay`, measured on
// the injected Clock. The delay returns to its start once a read finds every
// GPU healthy. Retries happen inside Maintain(), never on a timer thread.
//
// Thread-safe. Reads (ReadGpus, ReadPower, ReadPcie, State, Inventory) run
// concurrently under a shared lock; Maintain() takes it exclusively only when
// it has work to do, so it may wait for a slow read in progress (one PCIe
// read, ~40 ms) once per retry.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "sample/gpu_identity.h"
#include "telemetry/gpm_reader.h"
#include "telemetry/nvml_device_reader.h"
#include "telemetry/nvml_library.h"
#include "sample/sample.h"

namespace gpulse::telemetry {

struct NvmlSessionConfig {
  // The library to open; empty means NvmlLibrary::DefaultPath().
  std::string library_path;
  Clock::Duration initial_retry_delay = std::chrono::seconds(1);
  Clock::Duration max_retry_delay = std::chrono::seconds(60);
};

// One outcome of NvmlSession::WaitForEvent.
struct NvmlEventWait {
  enum class Outcome {
    kEvent,        // `gpu_uuid`, `type` and `data` describe one event
    kTimeout,      // nothing arrived within the timeout
    kUnsupported,  // the library has no event functions, or no GPU could be registered
    kNotReady,     // NVML is not initialised (yet, or any more)
  };
  Outcome outcome = Outcome::kNotReady;
  uint64_t generation = 0;
  // Set on the call that registered the GPUs of a new initialisation: the
  // UUIDs of the GPUs whose events are now watched, and what could not be.
  std::optional<std::vector<std::string>> watched_uuids;
  std::vector<std::string> unwatched;  // "GPU 1: NVML_ERROR_NOT_SUPPORTED", for the log
  // kEvent only.
  std::string gpu_uuid;
  uint32_t gpu_index = 0;
  unsigned long long type = 0;  // nvmlEventTypeXidCriticalError or nvmlEventTypeDoubleBitEccError
  unsigned long long data = 0;  // the XID
};

// The GPUs read in one pass, tagged with the initialisation they come from.
struct GpuReadout {
  uint64_t generation = 0;  // 0 when NVML is not initialised
  std::vector<GpuSample> gpus;
};

class NvmlSession {
 public:
  NvmlSession(NvmlSessionConfig config, Clock& clock);
  // Shuts NVML down if it is initialised.
  ~NvmlSession();
  NvmlSession(const NvmlSession&) = delete;
  NvmlSession& operator=(const NvmlSession&) = delete;

  // Does whatever connection work is due: the first initialisation, a
  // shutdown after a driver failure, or a retry whose delay has passed. The
  // outcome shows in State() and Inventory(). Costs one atomic load when
  // nothing is pending.
  void Maintain();

  // Reads every known GPU's per-sample metrics (not power or PCIe). A GPU
  // that cannot be read carries `error` and no metrics; the others are still
  // read. Lost GPUs and driver failures are noted for the next Maintain().
  // Returns no GPUs while NVML is not initialised.
  GpuReadout ReadGpus();

  // Slow reads of the GPU with NVML index `index` as known in initialisation
  // `generation`. Empty when the session has moved on to another generation
  // or knows no such GPU.
  PowerReading ReadPower(uint64_t generation, uint32_t index);
  PcieReading ReadPcie(uint64_t generation, uint32_t index);
  HealthReading ReadHealth(uint64_t generation, uint32_t index, HealthFields wanted);
  // GPM metrics of that GPU over the time since the previous ReadGpm of it
  // in the same generation (GpmSampler::Take); the GPU's sampler is opened
  // on the first call of each generation, which takes its first sample and
  // so yields no value. The
  // code is that of the failed call: NVML_ERROR_FUNCTION_NOT_FOUND when the
  // library lacks GPM, NVML_ERROR_NOT_SUPPORTED when the GPU does; a failed
  // open is tried again on the next call. Empty when the session has moved
  // on. For one caller thread at a time (the slow poller).
  HealthField<GpmMetrics> ReadGpm(uint64_t generation, uint32_t index);

  // Waits up to `timeout` for the next XID critical error or double-bit ECC
  // event on a GPU of the current initialisation. The first call of each
  // initialisation creates an event set and registers every GPU (XID | DBE,
  // else XID alone), reporting the result in `watched_uuids`. Returns at once
  // with kNotReady while NVML is down and kUnsupported when events cannot be
  // watched. For one caller thread at a time (the event watcher). A teardown
  // or re-initialisation of NVML waits for a wait in progress to end, so
  // keep `timeout` short (the watcher uses 200 ms).
  NvmlEventWait WaitForEvent(std::chrono::milliseconds timeout);

  // Whether NVML is usable, the driver version, and why not.
  NvmlState State() const;
  // The GPUs found by the last initialisation; empty while NVML is down.
  std::vector<GpuIdentity> Inventory() const;
  // Incremented by every successful initialisation; 0 before the first.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // How many times Maintain() has tried to initialise NVML.
  uint64_t init_attempts() const { return init_attempts_.load(std::memory_order_relaxed); }
  // NVML calls that failed since construction, by return-code name
  // ("NVML_ERROR_GPU_IS_LOST"): failed initialisations and GPUs that could
  // not be opened or read. "Not supported" answers are not failures.
  std::map<std::string, uint64_t> ErrorCounts() const;

 private:
  struct Device {
    GpuIdentity info;
    nvmlDevice_t handle = nullptr;
    std::optional<std::string> error;  // set when the GPU could not be opened
  };

  // What Maintain() has to do next. Guarded by retry_mu_.
  enum class Pending { kNothing, kInit, kTeardown };

  // Frees the event set, after any wait in progress. Requires mu_ held exclusively.
  void FreeEventSetLocked();
  // Frees the GPM samplers (before nvmlShutdown). Requires mu_ held exclusively.
  void FreeGpmLocked();
  void TearDownLocked(const std::string& reason);  // requires mu_ held exclusively
  void InitLocked();                               // requires mu_ held exclusively
  Status OpenAndInitLocked();                      // requires mu_ held exclusively
  const Device* FindDeviceLocked(uint64_t generation, uint32_t index) const;
  // Schedules an initialisation after the current retry delay, which then
  // doubles. No-op when something is already pending.
  void ScheduleRetry(const std::string& reason);
  void RequestTeardown(const std::string& reason);
  void NoteHealthyRead();
  void CountError(nvmlReturn_t code);

  const NvmlSessionConfig config_;
  Clock& clock_;

  mutable std::shared_mutex mu_;
  std::unique_ptr<NvmlLibrary> library_;  // guarded by mu_
  bool initialized_ = false;              // guarded by mu_
  std::vector<Device> devices_;           // guarded by mu_
  NvmlState state_;                       // guarded by mu_
  std::atomic<uint64_t> generation_{0};   // written under mu_ (exclusive)
  std::atomic<uint64_t> init_attempts_{0};

  std::mutex retry_mu_;  // never held while acquiring mu_
  Pending pending_ = Pending::kInit;                 // guarded by retry_mu_
  std::string pending_reason_;                       // guarded by retry_mu_
  Clock::TimePoint next_attempt_{};                  // guarded by retry_mu_
  Clock::Duration retry_delay_;                      // guarded by retry_mu_
  std::atomic<bool> work_pending_{true};             // pending_ != kNothing
  std::atomic<bool> delay_raised_{false};            // retry_delay_ != initial

  // Event watching. Taken after mu_ (shared) and held through a wait; a
  // teardown (mu_ exclusive) takes it to free the set, so never wait on mu_
  // while holding it.
  std::mutex events_mu_;
  struct WatchedDevice {
    nvmlDevice_t handle;
    uint32_t index;
    std::string uuid;
  };
  nvmlEventSet_t event_set_ = nullptr;        // guarded by events_mu_
  uint64_t event_generation_ = 0;             // generation event_set_ belongs to; guarded by events_mu_
  bool events_unsupported_ = false;           // for event_generation_; guarded by events_mu_
  std::vector<WatchedDevice> watched_;        // guarded by events_mu_

  // GPM samplers by NVML index, of the current generation. Taken after mu_
  // (shared); a teardown (mu_ exclusive) frees them.
  std::mutex gpm_mu_;
  std::map<uint32_t, std::unique_ptr<GpmSampler>> gpm_samplers_;  // guarded by gpm_mu_

  mutable std::mutex errors_mu_;                     // never held while acquiring another lock
  std::map<std::string, uint64_t> error_counts_;     // guarded by errors_mu_
};

}  // namespace gpulse::telemetry
