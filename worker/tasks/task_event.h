// TaskEvent and TaskEventSink: how a TaskRunner reports what its tasks did.
//
// Each attempt produces exactly one of these sequences:
//   kStarted, then kExited or kCancelled
//   kFailedToStart
// TaskEvent is a plain value. TaskEventSink is implemented by the worker
// daemon; see TaskRunner for the thread its callback runs on.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace gpulse::worker {

struct TaskEvent {
  enum class Kind {
    kStarted,        // the program was exec'd; pid is set
    kExited,         // the main process ended on its own; exit_code is set.
                     // With pid 0 the program could not be run at all
                     // (127: not found, 126: not executable; message says why)
    kFailedToStart,  // nothing ran because of the worker; message says why
    kCancelled,      // ended after Cancel(); exit_code is set
  };

  Kind kind = Kind::kStarted;
  std::string task_id;
  uint32_t attempt = 0;
  pid_t pid = 0;       // also the process group id; 0 for kFailedToStart
  int exit_code = 0;   // the exit status, or 128+N when killed by signal N
  std::string message; // human-readable detail; may be empty
  // The task hit its memory limit and the kernel killed a process of it
  // (kExited, kCancelled); the message says so too.
  bool out_of_memory = false;
};

// "started", "exited", "failed_to_start", "cancelled".
const char* TaskEventKindName(TaskEvent::Kind kind);

class TaskEventSink {
 public:
  virtual ~TaskEventSink() = default;
  virtual void OnTaskEvent(const TaskEvent& event) = 0;
};

}  // namespace gpulse::worker
