// HealthState: what the NVML simulator remembers about each GPU between
// queries — its energy counter and how many of the scenario's events it has
// delivered — and the event sets that callers create.
//
// Energy starts at the scenario's energy_start_mj at a GPU's first energy
// query and then grows by power × elapsed time, evaluated at each query (so
// it never goes backwards and follows the power wave). Events: each entry of
// a GPU's "xids" list is delivered once, as an XID critical error event, to
// the first waiting event set that registered that GPU for XIDs; each count
// of "ecc_uncorrected_volatile" likewise once as a double-bit ECC event. The
// state keeps, per GPU, how many entries it has delivered: entries appended
// to the list later (by rewriting the scenario) are delivered when the
// simulator adopts the new file, and a list that shrinks sets the count to
// its new length (so clearing the list and adding an XID again delivers it).
//
// Thread-safe: one mutex, taken only by energy and event calls.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <set>

#include "telemetry/nvml_abi.h"
#include "tools/nvml-sim/scenario.h"

namespace gpulse::nvml_sim {

class HealthState {
 public:
  // Forgets energy counters and delivered events (live event sets stay).
  // The simulator calls it when a first nvmlInit loads another scenario file
  // than the one before, so each test's scenario starts afresh while a
  // re-initialisation on the same file delivers nothing twice.
  void Reset();

  // The energy counter (mJ) of GPU `index` at `now_s`, given its current
  // draw and the scenario's starting value.
  unsigned long long Energy(unsigned int index, const SimGpu& gpu, double power_w, double now_s);

  // A new, empty event set; never null.
  nvmlEventSet_t CreateSet();
  // Forgets `set`. False when it is not a live set.
  bool FreeSet(nvmlEventSet_t set);
  // Adds `types` (nvmlEventType* bits) for GPU `index` to `set`. False when
  // `set` is not a live set.
  bool Register(nvmlEventSet_t set, unsigned int index, unsigned long long types);
  bool IsLiveSet(nvmlEventSet_t set);
  // Takes the next undelivered event in `scenario` of a GPU registered in
  // `set` for its type, marks it delivered and fills `out`. False when there
  // is none (or `set` is not live).
  bool TakeEvent(nvmlEventSet_t set, const Scenario& scenario, nvmlEventData_t* out);

 private:
  struct Gpu {
    bool energy_started = false;
    double energy_mj = 0;
    double energy_at_s = 0;
    size_t xids_delivered = 0;
    uint64_t dbe_delivered = 0;
  };

  std::mutex mu_;
  std::array<Gpu, kMaxGpus> gpus_{};       // guarded by mu_
  std::set<nvmlEventSet_t> sets_;          // guarded by mu_
};

}  // namespace gpulse::nvml_sim
