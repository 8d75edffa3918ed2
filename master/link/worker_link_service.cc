#include "master/link/worker_link_service.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <mutex>

#include "common/clock.h"
#include "common/token.h"
#include "proto/sample_convert.h"

namespace gpulse::master {
namespace {

using gpulse::v1::MasterMessage;
using gpulse::v1::WorkerMessage;

RegisterRequest FromProto(const gpulse::v1::Register& r) {
  RegisterRequest req;
  req.worker_id = r.worker_id();
  req.hostname = r.hostname();
  req.address = r.address();
  req.cpu_cores = r.cpu_cores();
  req.memory_bytes = r.memory_bytes();
  if (r.heartbeat_interval_ms() > 0) req.heartbeat_interval = std::chrono::milliseconds(r.heartbeat_interval_ms());
  for (const auto& g : r.gpus()) {
    req.gpus.push_back({g.index(), g.uuid(), g.name(), g.pci_bus_id(), g.memory_total_bytes()});
  }
  for (const auto& t : r.running_tasks()) {
    req.running_tasks.push_back({t.task_id(), {t.gpu_uuids().begin(), t.gpu_uuids().end()}});
  }
  return req;
}

HeartbeatReport FromProto(const gpulse::v1::Heartbeat& hb) {
  Sample sample = proto::SampleFromHeartbeat(hb);
  HeartbeatReport rep;
  rep.host = sample.host;
  rep.nvml = std::move(sample.nvml);
  rep.gpus = std::move(sample.gpus);
  rep.gpu_percent = sample.gpu_percent;
  rep.collector = std::move(sample.collector);
  for (const auto& t : hb.running_tasks()) rep.running_task_ids.push_back(t.task_id());
  return rep;
}

TaskEvent FromProto(const gpulse::v1::TaskUpdate& u) {
  TaskEvent ev;
  ev.task_id = u.task_id();
  ev.exit_code = u.exit_code();
  ev.message = u.message();
  ev.attempt = u.attempt();
  ev.out_of_memory = u.out_of_memory();
  switch (u.kind()) {
    case gpulse::v1::TaskUpdate::STARTED: ev.kind = TaskEvent::Kind::kStarted; break;
    case gpulse::v1::TaskUpdate::EXITED: ev.kind = TaskEvent::Kind::kExited; break;
    case gpulse::v1::TaskUpdate::FAILED_TO_START: ev.kind = TaskEvent::Kind::kFailedToStart; break;
    case gpulse::v1::TaskUpdate::CANCELLED: ev.kind = TaskEvent::Kind::kCancelled; break;
    default: ev.kind = TaskEvent::Kind::kFailedToStart; ev.message = "unknown task update kind"; break;
  }
  return ev;
}

// One worker's stream. Deletes itself when gRPC is done with it.
class WorkerStream final : public grpc::ServerBidiReactor<WorkerMessage, MasterMessage>, public WorkerChannel {
 public:
  WorkerStream(Cluster& cluster, LogStore& logs, History& history, const std::string& token,
               grpc::CallbackServerContext* ctx)
      : cluster_(cluster), logs_(logs), history_(history), peer_(ctx->peer()) {
    auto it = ctx->client_metadata().find("authorization");
    std::string_view header = it == ctx->client_metadata().end()
                                  ? std::string_view()
                                  : std::string_view(it->second.data(), it->second.size());
    std::string_view presented = BearerToken(header);
    if (presented.empty() || !TokensEqual(presented, token)) {
      spdlog::warn("refused worker stream from {}: {}", peer_,
                   presented.empty() ? "no cluster token" : "wrong cluster token");
      FinishOnce(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                              presented.empty() ? "no cluster token presented (use --token-file)"
                                                : "wrong cluster token: this worker's token does not match the "
                                                  "master's (compare --token-file with <data-dir>/token)"));
      return;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the worker closed its side, or the connection broke
      FinishOnce(grpc::Status::OK);
      return;
    }
    grpc::Status problem = Handle(in_);
    if (!problem.ok()) {
      FinishOnce(problem);
      return;
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    outbox_.pop_front();
    if (!ok) {
      outbox_.clear();
      writing_ = false;
    } else if (!outbox_.empty()) {
      StartWrite(&outbox_.front());
      return;
    } else {
      writing_ = false;
    }
    if (finish_pending_) {
      finish_pending_ = false;
      Finish(final_status_);
    }
  }

  void OnDone() override {
    if (!worker_id_.empty()) {
      cluster_.DisconnectWorker(worker_id_, this);
      spdlog::info("worker {} disconnected", worker_id_);
    }
    delete this;
  }

  void SendAssign(const Task& task) override {
    MasterMessage m;
    auto* a = m.mutable_assign();
    a->set_task_id(task.id);
    for (const auto& arg : task.spec.argv) a->add_argv(arg);
    for (const auto& [k, v] : task.spec.env) (*a->mutable_env())[k] = v;
    for (uint32_t i : task.gpu_indices) a->add_gpu_indices(i);
    for (const auto& u : task.gpu_uuids) a->add_gpu_uuids(u);
    a->set_cpus(task.spec.cpus);
    a->set_memory_bytes(task.spec.memory_bytes);
    a->set_attempt(task.attempts);
    Enqueue(std::move(m));
  }

  void SendCancel(const std::string& task_id, std::chrono::milliseconds grace) override {
    MasterMessage m;
    m.mutable_cancel()->set_task_id(task_id);
    m.mutable_cancel()->set_grace_ms(static_cast<uint32_t>(grace.count()));
    Enqueue(std::move(m));
  }

 private:
  grpc::Status Handle(const WorkerMessage& msg) {
    switch (msg.body_case()) {
      case WorkerMessage::kRegister: return HandleRegister(msg.register_());
      case WorkerMessage::kHeartbeat: {
        if (worker_id_.empty()) return NotRegistered();
        HeartbeatReport report = FromProto(msg.heartbeat());
        history_.Record(worker_id_, interval_, report, SystemClock::Instance().WallNow());
        Status s = cluster_.IngestHeartbeat(worker_id_, std::move(report));
        if (!s.ok()) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, s.message());
        MasterMessage ack;
        ack.mutable_ack()->set_seq(msg.heartbeat().seq());
        Enqueue(std::move(ack));
        return grpc::Status::OK;
      }
      case WorkerMessage::kTaskUpdate: {
        if (worker_id_.empty()) return NotRegistered();
        Status s = cluster_.ApplyTaskEvent(worker_id_, FromProto(msg.task_update()));
        if (!s.ok()) spdlog::warn("task update from {} ignored: {}", worker_id_, s.ToString());
        return grpc::Status::OK;
      }
      case WorkerMessage::kLog: {
        if (worker_id_.empty()) return NotRegistered();
        const auto& chunk = msg.log();
        Status s = logs_.Append(chunk.task_id(), chunk.attempt(),
                                chunk.stream() == gpulse::v1::LogChunk::STDERR ? LogStream::kStderr
                                                                               : LogStream::kStdout,
                                chunk.offset(), chunk.data());
        if (!s.ok()) spdlog::warn("log chunk from {} dropped: {}", worker_id_, s.ToString());
        return grpc::Status::OK;
      }
      default:
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty or unknown message");
    }
  }

  grpc::Status HandleRegister(const gpulse::v1::Register& r) {
    if (!worker_id_.empty() && r.worker_id() != worker_id_) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a stream registers one worker id");
    }
    if (r.worker_id().empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "worker id is empty");
    auto reply = cluster_.RegisterWorker(FromProto(r), this);
    if (!reply.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, reply.status().message());
    worker_id_ = r.worker_id();
    interval_ = std::chrono::milliseconds(r.heartbeat_interval_ms());
    spdlog::info("worker {} registered from {}: {} cores, {} GPU(s), {} running task(s)", worker_id_, peer_,
                 r.cpu_cores(), r.gpus_size(), r.running_tasks_size());
    MasterMessage m;
    m.mutable_registered()->set_heartbeat_interval_ms(r.heartbeat_interval_ms());
    for (const auto& id : reply->cancel_task_ids) m.mutable_registered()->add_cancel_task_ids(id);
    Enqueue(std::move(m));
    return grpc::Status::OK;
  }

  static grpc::Status NotRegistered() {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "the first message on a stream must be Register");
  }

  void Enqueue(MasterMessage m) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    outbox_.push_back(std::move(m));  // deque: front() stays valid while writing
    if (!writing_) {
      writing_ = true;
      StartWrite(&outbox_.front());
    }
  }

  // Finishes once; waits for an in-flight write to complete first.
  void FinishOnce(grpc::Status status) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    if (writing_) {
      finish_pending_ = true;
      final_status_ = std::move(status);
    } else {
      Finish(std::move(status));
    }
  }

  Cluster& cluster_;
  LogStore& logs_;
  History& history_;
  const std::string peer_;
  std::string worker_id_;  // set by Register; touched only by the read callbacks
  std::chrono::milliseconds interval_{0};  // the worker's heartbeat interval, from Register
  WorkerMessage in_;

  std::mutex mu_;  // guards the members below
  std::deque<MasterMessage> outbox_;
  bool writing_ = false;
  bool finished_ = false;
  bool finish_pending_ = false;
  grpc::Status final_status_;
};

}  // namespace

grpc::ServerBidiReactor<WorkerMessage, MasterMessage>* WorkerLinkService::Connect(
    grpc::CallbackServerContext* context) {
  return new WorkerStream(cluster_, logs_, history_, token_, context);
}

}  // namespace gpulse::master
