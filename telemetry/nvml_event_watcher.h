// NvmlEventWatcher: a thread of its own that waits on NVML events — critical
// XID errors and double-bit ECC errors — and counts them per GPU, for samples
// to pick up. Never on the sample (heartbeat) path.
//
// Each wait (NvmlSession::WaitForEvent) lasts at most `wait_timeout`
// (default 200 ms), so Stop() returns within about that long. While NVML is
// down, or events cannot be watched, the thread sleeps `wait_timeout` between
// looks; "cannot be watched" is logged once per initialisation that finds it.
// Counts are kept per GPU UUID for the life of the watcher (so they survive
// a re-initialisation of NVML). A GPU whose events are not watched gets no
// `events` in its samples (absent, not zero).
//
// Thread-safe: Fill() and PollOnce() may be called from any thread; Start()
// and Stop() from one owner thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sample/sample.h"
#include "telemetry/nvml_session.h"

namespace gpulse::telemetry {

struct NvmlEventWatcherConfig {
  std::chrono::milliseconds wait_timeout{200};
};

class NvmlEventWatcher {
 public:
  // `session` must outlive the watcher. Does not start the thread.
  explicit NvmlEventWatcher(NvmlSession& session, NvmlEventWatcherConfig config = {});
  // Stops the thread if it runs.
  ~NvmlEventWatcher();
  NvmlEventWatcher(const NvmlEventWatcher&) = delete;
  NvmlEventWatcher& operator=(const NvmlEventWatcher&) = delete;

  // Starts the thread. No-op when already running.
  void Start();
  // Wakes the thread and joins it: at worst after the wait in progress.
  void Stop();

  // One wait and its bookkeeping, as the thread does it (tests call this
  // instead of Start()).
  NvmlEventWait::Outcome PollOnce();

  // Sets `events` on each readable GPU in `gpus` whose events are watched,
  // matched by UUID; leaves the others' absent.
  void Fill(std::vector<GpuSample>* gpus) const;

 private:
  void Run();

  NvmlSession& session_;
  const NvmlEventWatcherConfig config_;

  mutable std::mutex mu_;
  std::condition_variable wake_;              // signalled by Stop()
  bool stop_ = false;                         // guarded by mu_
  std::set<std::string> watched_;             // UUIDs watched now; guarded by mu_
  std::map<std::string, GpuEvents> events_;   // by UUID, since start; guarded by mu_
  std::thread thread_;
};

}  // namespace gpulse::telemetry
