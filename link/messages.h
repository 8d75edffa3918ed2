// What a worker and the master tell each other on the worker's stream, as
// plain values: the contract of proto/gpulse.proto without its wire form.
//
// proto/worker_messages.h converts each of these to and from its message;
// the master (master/core) and the worker (worker/) work with these only, so
// neither end writes wire code of its own. Every field has the meaning the
// .proto gives it.
// Plain values; no synchronisation.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sample/gpu_identity.h"
#include "sample/sample.h"
#include "sample/worker_capacity.h"

namespace gpulse::link {

// A task a worker runs, or has finished and not yet reported.
struct RunningTask {
  std::string task_id;
  uint32_t attempt = 0;
  int32_t pid = 0;  // also its process group id
  std::vector<std::string> gpu_uuids;
};

// Worker -> master: what became of one attempt of a task.
struct TaskUpdate {
  enum class Kind {
    kStarted,        // the program was exec'd
    kExited,         // it ended on its own; exit_code is set. With pid 0 the
                     // program could not be run at all (127: not found, 126:
                     // not executable), the task's fault; message says why
    kFailedToStart,  // nothing ran because of the worker; message says why
    kCancelled,      // it ended after a Cancel
  };

  std::string task_id;
  Kind kind = Kind::kStarted;
  int exit_code = 0;    // the exit status, or 128+N when killed by signal N
  std::string message;  // human-readable detail; may be empty
  // Which assignment of the task this is about (its Assignment's attempt);
  // 0 if the worker did not say.
  uint32_t attempt = 0;
  int32_t pid = 0;
  // kExited, kCancelled: the task hit its memory limit and the kernel's OOM
  // killer killed a process of it.
  bool out_of_memory = false;
  // The worker's number for the update, from 1; kept and re-sent until the
  // master acknowledges it. 0: not numbered.
  uint64_t event_seq = 0;
};

// Worker -> master: the first message on every stream, also after a
// reconnect.
struct Registration {
  std::string worker_id;
  std::string address;  // may be empty
  WorkerCapacity capacity;
  std::vector<GpuIdentity> gpus;
  std::vector<RunningTask> running_tasks;           // what the worker still runs
  std::chrono::milliseconds heartbeat_interval{0};  // 0: not stated
  std::string version;                              // the worker's, e.g. "0.1.0"
  uint32_t protocol_version = 0;                    // link/protocol.h; 0: from before the field
  // Task updates not acknowledged yet, oldest first: applied before
  // running_tasks is reconciled (see TaskUpdate::event_seq).
  std::vector<TaskUpdate> task_updates;
  // Why the worker cannot run tasks now (self-check); empty when it can.
  std::string unhealthy_reason;
  // The worker re-sends output the master refuses (OutputRefused).
  bool resends_refused_output = false;
};

// Master -> worker: the answer to a Registration.
struct Registered {
  std::chrono::milliseconds heartbeat_interval{0};  // as the worker stated it
  // Tasks the worker reported that the master does not want running
  // (unknown, finished, or cancelled meanwhile): the worker should stop them.
  std::vector<std::string> cancel_task_ids;
  // The highest event_seq of the registration's task_updates (0: none).
  uint64_t acked_event_seq = 0;
  // How long the master waits for a disconnected worker (also after its
  // own restart) before declaring it dead; 0 when it did not say.
  std::chrono::milliseconds reconnect_grace{0};
  // The task lease: the master requeues a silent worker's tasks this long
  // after the last heartbeat it received from it, and the worker's task
  // supervisors kill them before that (ARCHITECTURE.md, "Fencing"). 0 when
  // the master did not say (an older master): the worker does not fence.
  std::chrono::milliseconds task_lease{0};
};

// Master -> worker: task updates up to `event_seq` are applied (or were
// repeats); the worker may forget them.
struct TaskUpdateAck {
  uint64_t event_seq = 0;
};

// Worker -> master, every interval.
struct Heartbeat {
  uint64_t seq = 0;
  std::chrono::system_clock::time_point sent_at{};  // the worker's clock
  // Host, NVML state, GPUs, mean and collector stats. Its taken_at, host
  // core count and memory total do not travel (registration has those).
  Sample sample;
  std::vector<RunningTask> running_tasks;
  std::string unhealthy_reason;  // as in Registration, checked again
};

enum class OutputStream { kStdout, kStderr };

// Worker -> master: new bytes of a task attempt's output, in order.
struct LogChunk {
  std::string task_id;
  uint32_t attempt = 0;  // whose output (Assignment's attempt); 0 from workers that do not say
  OutputStream stream = OutputStream::kStdout;
  uint64_t offset = 0;  // where `data` starts in that stream
  std::string data;     // raw bytes
  // Stream bytes right after `data` that the worker dropped (its output
  // cap); the stream goes on at offset + data.size() + dropped_bytes.
  uint64_t dropped_bytes = 0;
};

// Master -> worker: the output of a task attempt's stream was not stored
// from `offset` on (the master's disk is full, or a chunk started past the
// bytes it has); the worker sends it again from `offset` after a pause.
// Sent before the master answers anything the worker sent after the
// refused chunk.
struct OutputRefused {
  std::string task_id;
  uint32_t attempt = 0;
  OutputStream stream = OutputStream::kStdout;
  uint64_t offset = 0;  // the next stream offset the master expects
  std::string reason;
};

// Master -> worker: run one attempt of a task.
struct Assignment {
  std::string task_id;
  uint32_t attempt = 0;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::vector<uint32_t> gpu_indices;   // NVML indices on the worker
  std::vector<std::string> gpu_uuids;  // the same GPUs by UUID, in the same order
  uint32_t cpus = 0;
  uint64_t memory_bytes = 0;
};

// Master -> worker: stop a task (SIGTERM, then SIGKILL after `grace`).
struct Cancel {
  std::string task_id;
  std::chrono::milliseconds grace{0};
};

}  // namespace gpulse::link
