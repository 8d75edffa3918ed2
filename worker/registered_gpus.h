// RegisteredGpus: the GPUs a worker registered with the master, and whether
// NVML now lists others — the agent's reason to register again.
//
// NVML's GPU list (Sampler::GpuInventory) changes only when NVML is
// initialised again, which moves Sampler::nvml_generation on, or stops
// working, which makes it unavailable. So the list itself is read only when
// one of those two has moved since it was last looked at, and compared by
// what the master knows GPUs by: NVML index and UUID, in order. A new
// initialisation that finds the same GPUs is no change.
//
// Plain value; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "sample/gpu_identity.h"

namespace gpulse::worker {

class RegisteredGpus {
 public:
  using Inventory = std::vector<GpuIdentity>;

  // `gpus` as registered while NVML was at `nvml_generation` and
  // `nvml_available`.
  RegisteredGpus(Inventory gpus, uint64_t nvml_generation, bool nvml_available);

  const Inventory& gpus() const { return gpus_; }

  // Whether NVML, now at `nvml_generation` and `nvml_available`, lists other
  // GPUs than were registered. Calls `inventory` (NVML's current list) only
  // when one of the two moved since the last call or registration.
  bool Changed(uint64_t nvml_generation, bool nvml_available, const std::function<Inventory()>& inventory);

 private:
  Inventory gpus_;
  uint64_t nvml_generation_;
  bool nvml_available_;
};

}  // namespace gpulse::worker
