#include "worker/tasks/containment/cpu_allocator.h"

#include <sched.h>

#include <algorithm>

namespace gpulse::worker {

CpuAllocator::CpuAllocator(const std::vector<int>& cpus) {
  for (int cpu : cpus) holders_[cpu] = 0;
}

std::vector<int> CpuAllocator::Take(uint32_t count) {
  std::vector<int> chosen;
  if (count == 0 || holders_.empty()) return chosen;
  std::vector<std::pair<int, int>> by_load;  // (holders, id)
  for (const auto& [cpu, holders] : holders_) by_load.emplace_back(holders, cpu);
  std::sort(by_load.begin(), by_load.end());
  for (size_t i = 0; i < by_load.size() && chosen.size() < count; ++i) chosen.push_back(by_load[i].second);
  std::sort(chosen.begin(), chosen.end());
  for (int cpu : chosen) ++holders_[cpu];
  return chosen;
}

void CpuAllocator::Give(const std::vector<int>& cpus) {
  for (int cpu : cpus) {
    auto it = holders_.find(cpu);
    if (it != holders_.end() && it->second > 0) --it->second;
  }
}

std::vector<int> CurrentAffinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace gpulse::worker
