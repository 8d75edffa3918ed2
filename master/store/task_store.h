// TaskStore: durable storage for tasks, task events and known workers.
//
// Two implementations pass one shared test suite: SqliteTaskStore (the
// master's, WAL mode, under --data-dir) and MemoryTaskStore (tests).
// A method returns only after its write is durable against a crash of the
// process. Implementations are thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "master/model/model.h"
#include "sample/gpu_identity.h"
#include "sample/worker_capacity.h"

namespace gpulse::master {

// Faults no longer held against one GPU of a worker (an operator's clear,
// or recoverable XIDs healed after a clean period): the GPU's event counts
// and volatile double-bit ECC count as they were then (WorkerGpu's
// cleared_events and cleared_ecc_dbe).
struct ClearedGpuFaults {
  std::string uuid;
  std::map<uint32_t, uint64_t> xid_counts;  // XID -> times seen
  uint64_t dbe_events = 0;
  uint64_t ecc_dbe_volatile = 0;

  bool operator==(const ClearedGpuFaults&) const = default;
};

// What survives about a worker across master restarts: identity, capacity,
// an operator's drain, and the faults cleared on its GPUs.
struct WorkerRecord {
  std::string id;
  std::string address;
  WorkerCapacity capacity;
  std::vector<GpuIdentity> gpus;
  WallTime registered_at{};
  std::chrono::milliseconds heartbeat_interval{5000};
  bool draining = false;  // drained by an operator (gpulse drain)
  // Only GPUs with something cleared; a record stored before this field
  // existed reads as none.
  std::vector<ClearedGpuFaults> cleared_faults;

  bool operator==(const WorkerRecord&) const = default;
};

struct TaskEventRecord {
  std::string task_id;
  WallTime at{};
  std::string what;  // "submitted", "assigned to w1 (attempt 1)", "exited 0", …

  bool operator==(const TaskEventRecord&) const = default;
};

// Task rows to insert or replace and events to append, written together.
struct TaskStoreBatch {
  std::vector<Task> tasks;
  std::vector<TaskEventRecord> events;
  bool empty() const { return tasks.empty() && events.empty(); }
};

// Which stored tasks a page holds (TaskStore::PageTasks). Tasks are
// ordered by their number (ParseTaskNumber), newest first.
struct StoredTaskQuery {
  std::optional<TaskState> state;  // any when absent
  std::string worker;              // any when empty
  uint64_t below = 0;              // only numbers below this; 0: no upper bound
  uint64_t above = 0;              // only numbers above this
  size_t limit = 100;
};

// What the store holds, in figures: the count of tasks in each state
// (indexed by TaskState) and the highest task number (0 when none).
struct StoredTaskSummary {
  std::array<uint64_t, 6> by_state{};
  uint64_t max_number = 0;
};

class TaskStore {
 public:
  virtual ~TaskStore() = default;
  // Inserts or replaces every task of `batch` (by id) and appends its
  // events, all or nothing (SQLite: one transaction, so a scheduling round
  // of thousands of assignments costs one commit). On failure nothing of
  // the batch is stored.
  virtual Status Write(const TaskStoreBatch& batch) = 0;
  // Every stored task, ordered by id. (The four methods below have
  // default implementations on top of it, for small stores and tests.)
  virtual Result<std::vector<Task>> LoadTasks() = 0;
  // Every unfinished task (queued, assigned, running) and the
  // `recent_finished` finished ones with the highest numbers, ordered by
  // number: what a master keeps in memory at start.
  virtual Result<std::vector<Task>> LoadLiveTasks(size_t recent_finished);
  // The task with this id, or nullopt if none is stored.
  virtual Result<std::optional<Task>> LoadTask(const std::string& id);
  // At most query.limit tasks matching the query, highest number first.
  // The SQLite store answers from its indexes: a page costs about the
  // same at the top of a million tasks as deep inside them.
  virtual Result<std::vector<Task>> PageTasks(const StoredTaskQuery& query);
  virtual Result<StoredTaskSummary> SummarizeTasks();
  // The task's events in the order they were appended; empty if none.
  virtual Result<std::vector<TaskEventRecord>> LoadEvents(const std::string& task_id) = 0;
  // Inserts or replaces the worker by id.
  virtual Status PutWorker(const WorkerRecord& worker) = 0;
  // Every stored worker, ordered by id.
  virtual Result<std::vector<WorkerRecord>> LoadWorkers() = 0;
};

std::unique_ptr<TaskStore> NewMemoryTaskStore();
// Opens (creating if needed) the database file at `path`.
Result<std::unique_ptr<TaskStore>> OpenSqliteTaskStore(const std::string& path);

}  // namespace gpulse::master
