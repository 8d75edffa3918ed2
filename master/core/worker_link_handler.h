// WorkerLinkHandler: what the master does with what a worker says on its
// stream, in domain terms (link/messages.h). The gRPC service
// (master/link/worker_link_service.h) checks the cluster token, converts
// each message (proto/worker_messages.h) and forwards it here; tests call a
// handler directly, without gRPC. ClusterLinkHandler is the master's.
//
// One WorkerSession per stream, owned by the stream and passed to every call
// about it. The stream sets `channel` and `peer` when it opens; the handler
// keeps in the rest what it needs between messages.
//
// Threads: calls about one session come one at a time (a stream's reads are
// delivered in order); calls about different sessions may come
// concurrently, so implementations are thread-safe.
//
// Failures: a call returns an error only when the stream should end with
// it; the gRPC service ends it with that status (a status code it maps to
// the matching gRPC code). What is merely ignored (a stale task update, a
// log chunk that cannot be stored) is logged and returns OK; a chunk that
// cannot be stored now is refused (OutputRefused) so that the worker
// sends it again later.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/status.h"
#include "link/messages.h"
#include "master/core/cluster.h"
#include "master/model/model.h"

namespace gpulse::master {

struct WorkerSession {
  WorkerChannel* channel = nullptr;  // the stream's downward half; outlives the session's calls
  std::string peer;                  // who is at the other end, for logs ("ipv4:10.0.0.7:51234")
  // Set by a successful OnRegister: the worker this stream speaks for, and
  // the heartbeat interval the master granted it.
  std::string worker_id;
  std::chrono::milliseconds heartbeat_interval{0};
  // The worker re-sends output the master refuses (Registration).
  bool resends_refused_output = false;

  bool registered() const { return !worker_id.empty(); }
};

class WorkerLinkHandler {
 public:
  virtual ~WorkerLinkHandler() = default;

  // The worker registers (first on every stream; again on the same stream
  // only under the same worker id). On success `session` speaks for it and
  // the reply goes back to the worker. InvalidArgument for an empty worker
  // id or another id than the stream registered before; AlreadyExists
  // while another open stream speaks for that id; Unavailable while the
  // master cannot take registrations yet (the worker should retry).
  virtual Result<link::Registered> OnRegister(WorkerSession& session, const link::Registration& registration) = 0;
  // A heartbeat. FailedPrecondition before the session registered.
  virtual Status OnHeartbeat(const WorkerSession& session, link::Heartbeat heartbeat) = 0;
  // What became of a task. FailedPrecondition before the session registered.
  virtual Status OnTaskUpdate(const WorkerSession& session, const link::TaskUpdate& update) = 0;
  // New output of a task. FailedPrecondition before the session registered.
  // Otherwise the refusal to send back when the output was not stored and
  // the worker should send it again (only to a worker that re-sends), or
  // nullopt.
  virtual Result<std::optional<link::OutputRefused>> OnLogChunk(const WorkerSession& session,
                                                                const link::LogChunk& chunk) = 0;
  // The stream ended, for whatever reason. Called once, last.
  virtual void OnDisconnect(const WorkerSession& session) = 0;
};

// What an assignment of `task` (placed, with its GPUs) tells its worker.
link::Assignment AssignmentFor(const Task& task);

}  // namespace gpulse::master
