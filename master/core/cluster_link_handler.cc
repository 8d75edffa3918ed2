#include "master/core/cluster_link_handler.h"

#include <spdlog/spdlog.h>

#include "link/protocol.h"

namespace gpulse::master {
namespace {

Status NotRegistered() { return FailedPrecondition("the first message on a stream must be Register"); }

LogStream StoredStream(link::OutputStream stream) {
  return stream == link::OutputStream::kStderr ? LogStream::kStderr : LogStream::kStdout;
}

}  // namespace

Result<link::Registered> ClusterLinkHandler::OnRegister(WorkerSession& session,
                                                        const link::Registration& registration) {
  if (session.registered() && registration.worker_id != session.worker_id) {
    return InvalidArgument("a stream registers one worker id");
  }
  if (registration.worker_id.empty()) return InvalidArgument("worker id is empty");
  RETURN_IF_ERROR(link::CheckWorkerProtocol(registration.protocol_version));
  Result<link::Registered> registered = cluster_.RegisterWorker(registration, session.channel);
  if (!registered.ok()) {
    if (registered.status().code() != StatusCode::kUnavailable) {
      // The message names the worker once its id has passed the checks; a
      // raw id could carry anything into the log.
      spdlog::warn("refused a worker's registration from {}: {}", session.peer, registered.status().message());
    }
    return registered.status();
  }
  link::Registered reply = std::move(*registered);
  session.worker_id = registration.worker_id;
  session.heartbeat_interval = reply.heartbeat_interval;
  session.resends_refused_output = registration.resends_refused_output;
  history_.Register(session.worker_id, reply.heartbeat_interval, registration.gpus);
  spdlog::info("worker {} registered from {}: {} cores, {} GPU(s), {} running task(s)", session.worker_id,
               session.peer, registration.capacity.cpu_cores, registration.gpus.size(),
               registration.running_tasks.size());
  return reply;
}

Status ClusterLinkHandler::OnHeartbeat(const WorkerSession& session, link::Heartbeat heartbeat) {
  if (!session.registered()) return NotRegistered();
  std::vector<std::string> rejected = DropImplausibleFigures(heartbeat.sample);
  if (size_t cut = BoundRunningTasks(heartbeat.running_tasks); cut > 0) {
    rejected.insert(rejected.end(), cut, "running_tasks");
  }
  history_.Record(session.worker_id, heartbeat.sample, clock_.WallNow());
  return cluster_.IngestHeartbeat(session.worker_id, std::move(heartbeat), rejected);
}

Status ClusterLinkHandler::OnTaskUpdate(const WorkerSession& session, const link::TaskUpdate& update) {
  if (!session.registered()) return NotRegistered();
  if (Status s = cluster_.ApplyTaskEvent(session.worker_id, update); !s.ok()) {
    spdlog::warn("task update from {} ignored: {}", session.worker_id, s.ToString());
  }
  return Status::Ok();
}

Result<std::optional<link::OutputRefused>> ClusterLinkHandler::OnLogChunk(const WorkerSession& session,
                                                                          const link::LogChunk& chunk) {
  if (!session.registered()) return NotRegistered();
  if (Status s = cluster_.AcceptOutput(session.worker_id, chunk.task_id, chunk.attempt); !s.ok()) {
    spdlog::warn("log chunk from {} refused: {}", session.worker_id, s.message());
    return std::optional<link::OutputRefused>();
  }
  const LogStream stream = StoredStream(chunk.stream);
  const auto refusal = [&](uint64_t offset, std::string reason) {
    return std::optional<link::OutputRefused>(
        link::OutputRefused{chunk.task_id, chunk.attempt, chunk.stream, offset, std::move(reason)});
  };
  if (session.resends_refused_output) {
    // A chunk past the stored end follows one that was refused (or lost
    // with a broken stream): wait for the missing bytes rather than mark
    // them lost.
    Result<uint64_t> expected = logs_.NextStreamOffset(chunk.task_id, chunk.attempt, stream);
    if (expected.ok() && chunk.offset > *expected) {
      return refusal(*expected, "waiting for the output from offset " + std::to_string(*expected));
    }
  }
  Status s = logs_.Append(chunk.task_id, chunk.attempt, stream, chunk.offset, chunk.data, chunk.dropped_bytes);
  if (s.ok()) {
    // An empty chunk (the worker asking whether anything is missing) stores nothing.
    if (!chunk.data.empty() || chunk.dropped_bytes > 0) {
      cluster_.NoteOutputStored(chunk.task_id, chunk.attempt, chunk.stream);
    }
    return std::optional<link::OutputRefused>();
  }
  if (!session.resends_refused_output || s.code() == StatusCode::kInvalidArgument) {
    spdlog::warn("log chunk from {} dropped: {}", session.worker_id, s.ToString());
    return std::optional<link::OutputRefused>();
  }
  // Not stored (or in part): the worker sends it again from the stored end.
  Result<uint64_t> stored_end = logs_.NextStreamOffset(chunk.task_id, chunk.attempt, stream);
  const uint64_t resume = stored_end.ok() ? *stored_end : chunk.offset;
  const std::string reason =
      s.code() == StatusCode::kStorageFull ? "no space left on the master's disk" : std::string(s.message());
  spdlog::warn("output of task {} from {} not stored ({}); the worker will re-send it from offset {}", chunk.task_id,
               session.worker_id, s.ToString(), resume);
  cluster_.NoteOutputNotStored(chunk.task_id, chunk.attempt, chunk.stream, reason);
  return refusal(resume, reason);
}

void ClusterLinkHandler::OnDisconnect(const WorkerSession& session) {
  if (!session.registered()) return;
  cluster_.DisconnectWorker(session.worker_id, session.channel);
  spdlog::info("worker {} disconnected", session.worker_id);
}

}  // namespace gpulse::master
