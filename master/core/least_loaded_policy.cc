// The default placement policy; see NewLeastLoadedPolicy in placement.h.
#include <algorithm>
#include <optional>
#include <vector>

#include "master/core/placement.h"

namespace gpulse::master {
namespace {

// What an unknown utilization or memory share counts as.
constexpr double kUnknownShare = 0.5;
// How much a worker's CPU load weighs against its GPUs' cost.
constexpr double kCpuLoadWeight = 0.01;
// Added to a degraded GPU's cost (a healthy GPU costs at most 2), so it is
// chosen only when no healthy one will do.
constexpr double kDegradedCost = 4.0;

double Clamp01(double v) { return std::clamp(v, 0.0, 1.0); }

// Utilization share plus used-memory share, from the latest sample.
double GpuCost(const WorkerGpu& gpu) {
  const GpuSample& s = gpu.live;
  double utilization = kUnknownShare;
  if (s.readable() && s.utilization_gpu) utilization = Clamp01(*s.utilization_gpu / 100.0);
  double memory_used = kUnknownShare;
  uint64_t total = s.identity.memory_total_bytes.value_or(gpu.identity.memory_total_bytes.value_or(0));
  if (s.readable() && s.memory_free_bytes && total > 0) {
    memory_used = 1.0 - Clamp01(static_cast<double>(*s.memory_free_bytes) / static_cast<double>(total));
  }
  return utilization + memory_used + (gpu.health == GpuHealth::kDegraded ? kDegradedCost : 0.0);
}

// The larger of the allocated CPU share and the live busy share.
double CpuLoad(const Worker& w) {
  const uint32_t cores = w.capacity.cpu_cores;
  double allocated = cores > 0 ? Clamp01(static_cast<double>(w.cpus_allocated) / cores) : 1.0;
  double live = w.host.cpu_percent ? Clamp01(*w.host.cpu_percent / 100.0) : 0.0;
  return std::max(allocated, live);
}

struct GpuChoice {
  double cost;
  size_t position;
  bool operator<(const GpuChoice& o) const {
    return cost != o.cost ? cost < o.cost : position < o.position;
  }
};

class LeastLoadedPolicy final : public PlacementPolicy {
 public:
  std::optional<Placement> Place(const TaskSpec& spec, std::span<const Worker* const> candidates) override {
    const Worker* best = nullptr;
    double best_cost = 0;
    for (const Worker* w : candidates) {
      if (!HasFreeCpuAndMemory(spec, *w)) continue;
      std::optional<double> cost = RankCost(*w, spec.gpus);
      if (!cost) continue;
      if (best == nullptr || *cost < best_cost) {
        best = w;
        best_cost = *cost;
      }
    }
    if (best == nullptr) return std::nullopt;
    Placement placement;
    placement.worker = best;
    CheapestUsableGpus(*best, spec.gpus);
    for (const GpuChoice& c : scratch_) placement.gpu_positions.push_back(c.position);
    return placement;
  }

  bool RanksWorkers() const override { return true; }

  std::optional<double> RankCost(const Worker& worker, uint32_t gpus) override {
    double cpu_load = CpuLoad(worker);
    if (gpus == 0) return cpu_load;
    if (!CheapestUsableGpus(worker, gpus)) return std::nullopt;
    double sum = 0;
    for (const GpuChoice& c : scratch_) sum += c.cost;
    return sum + kCpuLoadWeight * cpu_load;
  }

 private:
  // Leaves the `n` cheapest usable GPUs of `worker`, cheapest first, in
  // scratch_; false if it has fewer.
  bool CheapestUsableGpus(const Worker& worker, uint32_t n) {
    scratch_.clear();
    if (n == 0) return true;
    for (size_t i = 0; i < worker.gpus.size(); ++i) {
      if (IsUsable(worker.gpus[i])) scratch_.push_back({GpuCost(worker.gpus[i]), i});
    }
    if (scratch_.size() < n) return false;
    std::partial_sort(scratch_.begin(), scratch_.begin() + n, scratch_.end());
    scratch_.resize(n);
    return true;
  }

  // Reused between calls (the policy is called one call at a time).
  std::vector<GpuChoice> scratch_;
};

}  // namespace

std::unique_ptr<PlacementPolicy> NewLeastLoadedPolicy() { return std::make_unique<LeastLoadedPolicy>(); }

}  // namespace gpulse::master
