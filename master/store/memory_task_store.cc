// MemoryTaskStore: a TaskStore kept in memory, for tests and benchmarks.
// Same semantics as the SQLite store except that nothing outlives it.
#include <map>
#include <mutex>
#include <unordered_map>

#include "master/store/task_store.h"

namespace gpulse::master {
namespace {

class MemoryTaskStore final : public TaskStore {
 public:
  Status Write(const TaskStoreBatch& batch) override {
    std::lock_guard lock(mu_);
    for (const Task& t : batch.tasks) tasks_[t.id] = t;
    for (const TaskEventRecord& e : batch.events) events_[e.task_id].push_back(e);
    return Status::Ok();
  }

  Result<std::vector<Task>> LoadTasks() override {
    std::lock_guard lock(mu_);
    std::vector<Task> out;
    out.reserve(tasks_.size());
    for (const auto& [id, t] : tasks_) out.push_back(t);
    return out;
  }

  Result<std::vector<TaskEventRecord>> LoadEvents(const std::string& task_id) override {
    std::lock_guard lock(mu_);
    auto it = events_.find(task_id);
    if (it == events_.end()) return std::vector<TaskEventRecord>{};
    return it->second;
  }

  Status PutWorker(const WorkerRecord& worker) override {
    std::lock_guard lock(mu_);
    workers_[worker.id] = worker;
    return Status::Ok();
  }

  Result<std::vector<WorkerRecord>> LoadWorkers() override {
    std::lock_guard lock(mu_);
    std::vector<WorkerRecord> out;
    out.reserve(workers_.size());
    for (const auto& [id, w] : workers_) out.push_back(w);
    return out;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Task> tasks_;                                      // guarded by mu_
  std::unordered_map<std::string, std::vector<TaskEventRecord>> events_;  // guarded by mu_
  std::map<std::string, WorkerRecord> workers_;                            // guarded by mu_
};

}  // namespace

std::unique_ptr<TaskStore> NewMemoryTaskStore() { return std::make_unique<MemoryTaskStore>(); }

}  // namespace gpulse::master
