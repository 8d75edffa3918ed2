#include "worker/tasks/task_event.h"

namespace gpulse::worker {

const char* TaskEventKindName(TaskEvent::Kind kind) {
  switch (kind) {
    case TaskEvent::Kind::kStarted: return "started";
    case TaskEvent::Kind::kExited: return "exited";
    case TaskEvent::Kind::kFailedToStart: return "failed_to_start";
    case TaskEvent::Kind::kCancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace gpulse::worker
