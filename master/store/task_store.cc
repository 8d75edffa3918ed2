// TaskStore's default implementations of the partial reads, on top of
// LoadTasks: a whole pass over the tasks each, enough for small stores and
// tests. SqliteTaskStore answers them from its indexes instead.
#include "master/store/task_store.h"

#include <algorithm>

namespace gpulse::master {
namespace {

bool ByNumber(const Task& a, const Task& b) { return ParseTaskNumber(a.id) < ParseTaskNumber(b.id); }

}  // namespace

Result<std::vector<Task>> TaskStore::LoadLiveTasks(size_t recent_finished) {
  ASSIGN_OR_RETURN(std::vector<Task> all, LoadTasks());
  std::stable_sort(all.begin(), all.end(), ByNumber);
  std::vector<Task> live;
  size_t finished = 0;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (IsTerminal(it->state) && finished++ >= recent_finished) continue;
    live.push_back(std::move(*it));
  }
  std::reverse(live.begin(), live.end());
  return live;
}

Result<std::optional<Task>> TaskStore::LoadTask(const std::string& id) {
  ASSIGN_OR_RETURN(std::vector<Task> all, LoadTasks());
  for (Task& t : all) {
    if (t.id == id) return std::optional<Task>(std::move(t));
  }
  return std::optional<Task>();
}

Result<std::vector<Task>> TaskStore::PageTasks(const StoredTaskQuery& query) {
  ASSIGN_OR_RETURN(std::vector<Task> all, LoadTasks());
  std::stable_sort(all.begin(), all.end(), ByNumber);
  std::vector<Task> page;
  for (auto it = all.rbegin(); it != all.rend() && page.size() < query.limit; ++it) {
    const uint64_t number = ParseTaskNumber(it->id);
    if (query.below != 0 && number >= query.below) continue;
    if (number <= query.above) continue;
    if (query.state && it->state != *query.state) continue;
    if (!query.worker.empty() && it->worker_id != query.worker) continue;
    page.push_back(std::move(*it));
  }
  return page;
}

Result<StoredTaskSummary> TaskStore::SummarizeTasks() {
  ASSIGN_OR_RETURN(std::vector<Task> all, LoadTasks());
  StoredTaskSummary summary;
  for (const Task& t : all) {
    ++summary.by_state[static_cast<size_t>(t.state)];
    summary.max_number = std::max(summary.max_number, ParseTaskNumber(t.id));
  }
  return summary;
}

}  // namespace gpulse::master
