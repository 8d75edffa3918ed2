#include "master/model/model.h"

#include <cinttypes>
#include <cstdio>

namespace gpulse::master {

std::string FormatTaskId(uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "t-%06" PRIu64, number);
  return buf;
}

uint64_t ParseTaskNumber(const std::string& id) {
  if (id.size() < 3 || id.compare(0, 2, "t-") != 0 || id.size() > 22) return 0;
  uint64_t n = 0;
  for (size_t i = 2; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(id[i] - '0');
  }
  return n;
}

const char* WorkerStateName(WorkerState s) {
  switch (s) {
    case WorkerState::kHealthy: return "healthy";
    case WorkerState::kSuspect: return "suspect";
    case WorkerState::kDead: return "dead";
  }
  return "unknown";
}

const char* GpuHealthName(GpuHealth h) {
  switch (h) {
    case GpuHealth::kHealthy: return "healthy";
    case GpuHealth::kDegraded: return "degraded";
    case GpuHealth::kUnhealthy: return "unhealthy";
  }
  return "unknown";
}

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kQueued: return "queued";
    case TaskState::kAssigned: return "assigned";
    case TaskState::kRunning: return "running";
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<TaskState> ParseTaskState(const std::string& name) {
  for (TaskState s : {TaskState::kQueued, TaskState::kAssigned, TaskState::kRunning, TaskState::kSucceeded,
                      TaskState::kFailed, TaskState::kCancelled}) {
    if (name == TaskStateName(s)) return s;
  }
  return std::nullopt;
}

}  // namespace gpulse::master
