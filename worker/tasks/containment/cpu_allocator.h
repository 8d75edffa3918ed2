// CpuAllocator: which cores a task is pinned to. Spreads tasks so that two
// running tasks share a core only when there are not enough cores for all.
//
// Not synchronised: the task runner calls it under its own lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace gpulse::worker {

class CpuAllocator {
 public:
  // `cpus`: the core ids tasks may use (the worker's own affinity).
  explicit CpuAllocator(const std::vector<int>& cpus);

  // Returns `count` cores, those held by the fewest running tasks first
  // (the lowest id on ties), in ascending order, and counts them as held;
  // every core when count is at least the number of cores; none for 0
  // (meaning: not pinned).
  std::vector<int> Take(uint32_t count);

  // Gives back cores from Take(). Ids it does not know are ignored.
  void Give(const std::vector<int>& cpus);

  size_t size() const { return holders_.size(); }

 private:
  std::map<int, int> holders_;  // core id -> tasks holding it
};

// The cores the calling thread may run on (sched_getaffinity); empty if
// the kernel does not say.
std::vector<int> CurrentAffinity();

}  // namespace gpulse::worker
