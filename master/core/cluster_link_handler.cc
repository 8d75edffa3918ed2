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

Status ClusterLinkHandler::OnLogChunk(const WorkerSession& session, const link::LogChunk& chunk) {
  if (!session.registered()) return NotRegistered();
  if (Status s = cluster_.AcceptOutput(session.worker_id, chunk.task_id, chunk.attempt); !s.ok()) {
    spdlog::warn("log chunk from {} refused: {}", session.worker_id, s.message());
    return Status::Ok();
  }
  if (Status s = logs_.Append(chunk.task_id, chunk.attempt, StoredStream(chunk.stream), chunk.offset, chunk.data,
                             chunk.dropped_bytes);
      !s.ok()) {
    spdlog::warn("log chunk from {} dropped: {}", session.worker_id, s.ToString());
  }
  return Status::Ok();
}

void ClusterLinkHandler::OnDisconnect(const WorkerSession& session) {
  if (!session.registered()) return;
  cluster_.DisconnectWorker(session.worker_id, session.channel);
  spdlog::info("worker {} disconnected", session.worker_id);
}

}  // namespace gpulse::master
