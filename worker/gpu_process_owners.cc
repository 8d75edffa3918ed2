#include "worker/gpu_process_owners.h"

#include <sys/types.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "worker/tasks/containment/process_owner.h"

namespace gpulse::worker {

void MarkGpuProcessOwners(Sample& sample, const std::filesystem::path& proc) {
  // Usually a handful of processes: a flat list beats a map.
  std::vector<std::pair<uint32_t, std::optional<bool>>> judged;
  for (GpuSample& gpu : sample.gpus) {
    if (!gpu.processes) continue;
    for (GpuProcess& process : *gpu.processes) {
      std::optional<bool> outside;
      auto known = std::find_if(judged.begin(), judged.end(), [&](const auto& j) { return j.first == process.pid; });
      if (known != judged.end()) {
        outside = known->second;
      } else {
        switch (FindProcessOwner(proc, static_cast<pid_t>(process.pid))) {
          case ProcessOwner::kGpulse: outside = false; break;
          case ProcessOwner::kOutside: outside = true; break;
          case ProcessOwner::kUnknown: break;
        }
        judged.emplace_back(process.pid, outside);
      }
      process.outside_gpulse = outside;
    }
  }
}

}  // namespace gpulse::worker
