#include "master/model/model.h"

namespace gpulse::master {

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
