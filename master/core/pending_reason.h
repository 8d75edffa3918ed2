// Why a queued task is not running, and whether any registered worker could
// ever run it.
//
// A FleetView is built once per scheduling round (and per submission) from
// the registered workers; each queued task's reason is then a few
// comparisons against it, plus — only when every single figure fits
// somewhere — a scan for one worker that has all of them. Stateless apart
// from the view; called under Cluster's mutex.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "master/model/model.h"

namespace gpulse::master {

// What the scheduler knows of one registered worker, reduced to what a
// reason needs. A capacity of 0 CPU cores or 0 bytes of memory means the
// worker did not say (it never rules a task out).
struct FleetWorker {
  uint32_t gpus = 0;  // all its GPUs, healthy or not
  uint32_t cpu_cores = 0;
  uint64_t memory_bytes = 0;
  bool schedulable = false;  // healthy, connected (placement candidates)
  bool draining = false;     // no new placements (drain)
  uint32_t usable_gpus = 0;  // healthy and unallocated, now
  uint32_t free_cpus = 0;
  uint64_t free_memory = 0;
};

class FleetView {
 public:
  FleetView() = default;
  // `schedulable[i]`: whether workers[i] is a placement candidate
  // (healthy, connected); its draining flag comes from the Worker.
  FleetView(const std::vector<const Worker*>& workers, const std::vector<bool>& schedulable);

  // Why no registered worker could ever run `spec` — "no worker has 5
  // GPUs (largest: 4)", "no worker has 64 CPUs (largest: 2)", "no worker
  // has 1 TiB of memory (largest: 62.5 GiB)", or "no worker has 4 GPUs, 8
  // CPUs and 100 GiB of memory at once" — or nullopt when one could (or no
  // worker has registered at all: a fleet that does not exist yet rules
  // nothing out).
  std::optional<std::string> Unfit(const TaskSpec& spec) const;

  // Why `spec`, queued, is not placed now: "no worker has registered yet",
  // what Unfit says, "no healthy worker", "all fitting workers are
  // draining", "no healthy worker is large enough (the ones that are: dead
  // or suspect)", "waiting for 2 free GPUs", "waiting for 4 free CPUs",
  // "waiting for 8 GiB of free memory", or "waiting for the next scheduling
  // round" when some worker has room now.
  std::string PendingReason(const TaskSpec& spec) const;

 private:
  static bool Holds(const FleetWorker& w, const TaskSpec& spec);

  std::vector<FleetWorker> workers_;
  uint32_t max_gpus_ = 0;
  uint32_t max_cpus_ = 0;
  uint64_t max_memory_ = 0;
  bool some_cpus_unknown_ = false;
  bool some_memory_unknown_ = false;
};

}  // namespace gpulse::master
