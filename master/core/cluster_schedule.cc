// Cluster: placement rounds.
//
// A round offers every queued task, in submission order, to the healthy,
// connected workers. With a ranking policy (PlacementPolicy::RanksWorkers)
// the candidates sit in one priority queue per GPU count asked for, keyed
// by the policy's cost; placing a task re-ranks only the worker that got
// it, so a placement costs O(log workers) instead of O(workers). Requests
// that found no room are remembered for the round: a later task asking for
// at least as much of everything is skipped at once.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <span>
#include <unordered_map>

#include "master/core/allocation_ledger.h"
#include "master/core/cluster.h"
#include "master/core/cluster_impl.h"

namespace gpulse::master {
namespace {

// How often a round runs even when nothing has made room (for policies that
// look at live figures).
constexpr auto kRoundAtLeastEvery = std::chrono::seconds(1);
// How many no-room requests a round remembers.
constexpr size_t kMaxRememberedMisses = 64;

struct Request {
  uint32_t cpus;
  uint64_t memory_bytes;
  uint32_t gpus;

  explicit Request(const TaskSpec& s) : cpus(s.cpus), memory_bytes(s.memory_bytes), gpus(s.gpus) {}
  bool AtLeast(const Request& o) const { return cpus >= o.cpus && memory_bytes >= o.memory_bytes && gpus >= o.gpus; }
};

// The round's candidates and, for ranking policies, their priority queues.
class Candidates {
 public:
  Candidates(PlacementPolicy& policy, std::vector<const Worker*> workers)
      : policy_(policy), ranked_(policy.RanksWorkers()), workers_(std::move(workers)), stamps_(workers_.size(), 0) {}

  struct Found {
    size_t candidate;
    Placement placement;
  };

  // Where `spec` goes now, or nullopt if no candidate has room.
  std::optional<Found> Find(const TaskSpec& spec) {
    if (!ranked_) {
      auto placement = policy_.Place(spec, workers_);
      if (!placement) return std::nullopt;
      auto it = std::find(workers_.begin(), workers_.end(), placement->worker);
      if (it == workers_.end()) return std::nullopt;  // not one of ours: ignore
      return Found{static_cast<size_t>(it - workers_.begin()), std::move(*placement)};
    }
    Heap& heap = HeapFor(spec.gpus);
    std::optional<Found> found;
    skipped_.clear();
    while (!heap.empty() && !found) {
      std::pop_heap(heap.begin(), heap.end(), Worse);
      Entry top = heap.back();
      heap.pop_back();
      if (top.stamp != stamps_[top.candidate]) continue;  // re-ranked since
      const Worker* w = workers_[top.candidate];
      std::optional<Placement> placement;
      if (HasFreeCpuAndMemory(spec, *w)) placement = policy_.Place(spec, std::span(&workers_[top.candidate], 1));
      if (placement) {
        found = Found{top.candidate, std::move(*placement)};
      } else {
        skipped_.push_back(top);
      }
    }
    for (const Entry& e : skipped_) Push(heap, e);
    return found;
  }

  // The candidate got a task: rank it afresh in every queue.
  void Changed(size_t candidate) {
    if (!ranked_) return;
    uint32_t stamp = ++stamps_[candidate];
    for (auto& [gpus, heap] : heaps_) {
      if (auto cost = policy_.RankCost(*workers_[candidate], gpus)) {
        Push(heap, {*cost, static_cast<uint32_t>(candidate), stamp});
      }
    }
  }

 private:
  struct Entry {
    double cost;
    uint32_t candidate;
    uint32_t stamp;
  };
  using Heap = std::vector<Entry>;

  // Heap order: the top is the lowest cost, then the earliest candidate.
  static bool Worse(const Entry& a, const Entry& b) {
    return a.cost != b.cost ? a.cost > b.cost : a.candidate > b.candidate;
  }
  static void Push(Heap& heap, const Entry& e) {
    heap.push_back(e);
    std::push_heap(heap.begin(), heap.end(), Worse);
  }

  Heap& HeapFor(uint32_t gpus) {
    auto [it, inserted] = heaps_.try_emplace(gpus);
    if (inserted) {
      Heap& heap = it->second;
      heap.reserve(workers_.size());
      for (size_t i = 0; i < workers_.size(); ++i) {
        if (auto cost = policy_.RankCost(*workers_[i], gpus)) {
          heap.push_back({*cost, static_cast<uint32_t>(i), stamps_[i]});
        }
      }
      std::make_heap(heap.begin(), heap.end(), Worse);
    }
    return it->second;
  }

  PlacementPolicy& policy_;
  const bool ranked_;
  std::vector<const Worker*> workers_;
  std::vector<uint32_t> stamps_;  // per candidate: bumped when re-ranked
  std::unordered_map<uint32_t, Heap> heaps_;  // by GPUs asked for
  std::vector<Entry> skipped_;
};

// The workers a round may place on, in id order: healthy, connected and
// not draining.
std::vector<WorkerEntry*> SchedulableWorkers(const std::vector<WorkerEntry*>& by_id) {
  std::vector<WorkerEntry*> out;
  for (WorkerEntry* e : by_id) {
    if (IsSchedulable(*e) && !e->worker.draining) out.push_back(e);
  }
  return out;
}

// The row `task` is stored with once assigned to `worker`'s GPUs at
// `positions`. The task sees its GPUs in NVML index order, whatever order
// the policy ranked them in.
Task AssignedCopy(const Task& task, const Worker& worker, std::vector<size_t> positions) {
  Task t = task;
  t.state = TaskState::kAssigned;
  ++t.attempts;
  t.worker_id = worker.id;
  t.gpu_indices.clear();
  t.gpu_uuids.clear();
  std::sort(positions.begin(), positions.end(),
            [&](size_t a, size_t b) { return worker.gpus[a].identity.index < worker.gpus[b].identity.index; });
  for (size_t p : positions) {
    t.gpu_indices.push_back(worker.gpus[p].identity.index);
    t.gpu_uuids.push_back(worker.gpus[p].identity.uuid);
  }
  t.message.clear();
  t.pending_reason.clear();
  return t;
}

// A placement made this round, stored and sent at its end.
struct Pending {
  TaskEntry* entry;
  WorkerEntry* worker;
};

// One round's placements: booked on their workers as they are made, and
// the rows and events to store for them (batch.tasks[i] is placed[i]'s).
class Round {
 public:
  Round(PlacementPolicy& policy, std::vector<WorkerEntry*> workers, WallTime now)
      : workers_(std::move(workers)), candidates_(policy, WorkersOf(workers_)), now_(now) {}

  // Places the queued task on a candidate with room, if one has; else
  // remembers the request as a miss, so that no bigger one is tried.
  void Offer(TaskEntry& entry) {
    Request request(entry.task.spec);
    bool hopeless = std::any_of(misses_.begin(), misses_.end(), [&](const Request& m) { return request.AtLeast(m); });
    if (hopeless) return;
    auto found = candidates_.Find(entry.task.spec);
    if (!found) {
      if (misses_.size() < kMaxRememberedMisses) misses_.push_back(request);
      return;
    }
    WorkerEntry& w = *workers_[found->candidate];
    if (Status booked = AllocationLedger(w.worker).Allocate(entry.task, found->placement.gpu_positions);
        !booked.ok()) {
      // The policy offered what is not free: leave the task queued.
      spdlog::error("placement of task {} refused: {}", entry.task.id, booked.ToString());
      return;
    }
    candidates_.Changed(found->candidate);
    Task t = AssignedCopy(entry.task, w.worker, std::move(found->placement.gpu_positions));
    batch_.events.push_back({t.id, now_, "assigned to " + t.worker_id + " (attempt " + std::to_string(t.attempts) + ")"});
    batch_.tasks.push_back(std::move(t));
    placed_.push_back({&entry, &w});
  }

  const std::vector<Pending>& placed() const { return placed_; }
  TaskStoreBatch& batch() { return batch_; }

 private:
  static std::vector<const Worker*> WorkersOf(const std::vector<WorkerEntry*>& entries) {
    std::vector<const Worker*> out;
    out.reserve(entries.size());
    for (const WorkerEntry* e : entries) out.push_back(&e->worker);
    return out;
  }

  std::vector<WorkerEntry*> workers_;  // parallel to the candidates
  Candidates candidates_;
  WallTime now_;
  std::vector<Request> misses_;
  std::vector<Pending> placed_;
  TaskStoreBatch batch_;
};

}  // namespace

bool IsSchedulable(const WorkerEntry& e) {
  return e.worker.state == WorkerState::kHealthy && e.worker.connected && e.channel != nullptr &&
         e.worker.unhealthy_reason.empty();
}

FleetView Cluster::Impl::MakeFleetView() const {
  std::vector<const Worker*> all;
  std::vector<bool> schedulable;
  all.reserve(workers_by_id.size());
  schedulable.reserve(workers_by_id.size());
  for (const WorkerEntry* e : workers_by_id) {
    all.push_back(&e->worker);
    schedulable.push_back(IsSchedulable(*e));
  }
  return FleetView(all, schedulable);
}

void Cluster::Impl::UpdatePendingReasons() {
  if (queue.empty()) return;
  FleetView view = MakeFleetView();
  // Queues hold few distinct shapes: one reason per shape and round.
  std::map<std::tuple<uint32_t, uint64_t, uint32_t>, std::string> by_shape;
  bool changed = false;
  for (auto& [order, entry] : queue) {
    const TaskSpec& spec = entry->task.spec;
    auto [it, inserted] = by_shape.try_emplace({spec.cpus, spec.memory_bytes, spec.gpus});
    if (inserted) it->second = view.PendingReason(spec);
    if (entry->task.pending_reason != it->second) {
      entry->task.pending_reason = it->second;
      changed = true;
    }
  }
  if (changed) Changed();
}

size_t Cluster::Schedule() {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  Clock::TimePoint now = I.clock.Now();
  if (I.queue.empty()) return 0;
  if (!I.may_place && now - I.last_round < kRoundAtLeastEvery) return 0;
  I.may_place = false;
  I.last_round = now;

  std::vector<WorkerEntry*> workers = SchedulableWorkers(I.workers_by_id);
  if (workers.empty()) {
    I.UpdatePendingReasons();
    return 0;
  }
  Round round(I.policy, std::move(workers), I.clock.WallNow());
  bool capped = false;
  for (const auto& [order, entry] : I.queue) {
    if (round.placed().size() >= I.config.max_placements_per_round) {
      capped = true;
      break;
    }
    round.Offer(*entry);
  }
  const std::vector<Pending>& placed = round.placed();
  if (placed.empty()) {
    I.UpdatePendingReasons();
    return 0;
  }
  if (capped) I.may_place = true;  // the rest goes in the next call

  // Stored first, all or nothing; only then does any assignment take effect.
  TaskStoreBatch& batch = round.batch();
  if (!I.Persist(batch, "a scheduling round").ok()) {
    for (const Pending& p : placed) I.Release(*p.worker, p.entry->task);
    I.may_place = true;  // try again next round
    return 0;
  }
  for (size_t i = 0; i < placed.size(); ++i) {
    TaskEntry& entry = *placed[i].entry;
    I.SetState(entry, TaskState::kAssigned);
    entry.task = std::move(batch.tasks[i]);
    placed[i].worker->channel->SendAssign(entry.task);
  }
  if (!capped) I.UpdatePendingReasons();  // a capped round's next call does it
  I.Changed();
  return placed.size();
}

}  // namespace gpulse::master
