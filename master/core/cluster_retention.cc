// Cluster: finished tasks leaving memory, and the reads that reach past
// memory into the store (a task by id, pages of tasks).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "master/core/cluster.h"
#include "master/core/cluster_impl.h"

namespace gpulse::master {

size_t Cluster::ForgetFinishedTasks() {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  const Clock::TimePoint now = I.clock.Now();
  size_t forgotten = 0;
  while (!I.finished_in_memory.empty()) {
    auto oldest = I.finished_in_memory.begin();
    const bool expired = oldest->first + I.config.finished_task_retention <= now;
    if (!expired && I.finished_in_memory.size() <= I.config.max_finished_tasks_in_memory) break;
    auto by_order = I.tasks_by_order.find(oldest->second);
    if (by_order != I.tasks_by_order.end()) {
      // Finished: in no queue, on no worker, in no running account.
      const std::string id = by_order->second->task.id;  // a copy: the entry goes with the erase
      I.tasks_by_order.erase(by_order);
      I.tasks.erase(id);
    }
    I.finished_in_memory.erase(oldest);
    ++forgotten;
  }
  // The task counts stay: they count stored tasks too. Views that list the
  // tasks in memory (the dashboard's) see them go.
  if (forgotten > 0) I.Changed();
  return forgotten;
}

Result<std::optional<Task>> Cluster::LookupTask(const std::string& id) const {
  std::lock_guard lock(impl_->mu);
  if (const TaskEntry* e = impl_->FindTask(id)) return std::optional<Task>(TaskView(*e));
  return impl_->store.LoadTask(id);
}

std::optional<Task> Cluster::GetTask(const std::string& id) const {
  Result<std::optional<Task>> task = LookupTask(id);
  if (task.ok()) return std::move(*task);
  spdlog::warn("could not read task {} from the store: {}", id, task.status().ToString());
  return std::nullopt;
}

Result<Cluster::TaskPage> Cluster::PageTasks(const TaskQuery& query) const {
  Impl& I = *impl_;
  std::lock_guard lock(I.mu);
  if (query.limit == 0) return TaskPage{};
  // From memory: up to limit + 1 matches (one more says a next page exists).
  struct Row {
    uint64_t order;
    const Task* task;
    const TaskEntry* entry;  // memory's rows: read through TaskView (live usage)
  };
  std::vector<Row> rows;
  const auto& source = query.state == TaskState::kQueued ? I.queue : I.tasks_by_order;
  auto it = query.before == 0 ? source.end() : source.lower_bound(query.before);
  while (it != source.begin() && rows.size() <= query.limit) {
    --it;
    const Task& t = it->second->task;
    if (query.state && t.state != *query.state) continue;
    if (!query.worker.empty() && t.worker_id != query.worker) continue;
    rows.push_back({it->first, &t, it->second});
  }
  // From the store: the finished tasks that left memory, between the last
  // one memory gives this page and `before`. Rows still in memory are
  // memory's (the newer copy) and skipped; at most rows.size() of them
  // match, so asking for limit + 1 more is enough.
  std::vector<Task> stored;
  bool store_may_hold_more = false;
  uint64_t lowest_stored = 0;
  if (!query.state || IsTerminal(*query.state)) {
    StoredTaskQuery q{.state = query.state,
                      .worker = query.worker,
                      .below = query.before,
                      .above = rows.size() > query.limit ? rows.back().order : 0,
                      .limit = query.limit + 1 + rows.size()};
    ASSIGN_OR_RETURN(std::vector<Task> found, I.store.PageTasks(q));
    store_may_hold_more = found.size() == q.limit;
    if (!found.empty()) lowest_stored = ParseTaskNumber(found.back().id);
    for (Task& t : found) {
      if (I.FindTask(t.id) == nullptr) stored.push_back(std::move(t));
    }
    for (const Task& t : stored) rows.push_back({ParseTaskNumber(t.id), &t, nullptr});
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.order > b.order; });
  }
  TaskPage page;
  const size_t shown = std::min(rows.size(), query.limit);
  page.tasks.reserve(shown);
  for (size_t i = 0; i < shown; ++i) {
    page.tasks.push_back(rows[i].entry != nullptr ? TaskView(*rows[i].entry) : *rows[i].task);
  }
  if (rows.size() > query.limit || store_may_hold_more) {
    page.next_before = shown > 0 ? rows[shown - 1].order : lowest_stored;
  }
  return page;
}

}  // namespace gpulse::master
