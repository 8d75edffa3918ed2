#include "worker/worker_agent.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <random>
#include <thread>

#include "proto/gpulse.grpc.pb.h"
#include "proto/sample_convert.h"
#include "worker/tasks/task_paths.h"

namespace gpulse::worker {
namespace {

using gpulse::v1::MasterMessage;
using gpulse::v1::WorkerMessage;

constexpr auto kOutputTick = std::chrono::milliseconds(250);
constexpr std::chrono::milliseconds kCancelGraceDefault{10000};

std::string FormatPercent(const std::optional<double>& v) {
  return v ? fmt::format("{:.1f}%", *v) : "n/a";
}

v1::TaskUpdate::Kind WireKind(TaskEvent::Kind kind) {
  switch (kind) {
    case TaskEvent::Kind::kStarted: return v1::TaskUpdate::STARTED;
    case TaskEvent::Kind::kExited: return v1::TaskUpdate::EXITED;
    case TaskEvent::Kind::kFailedToStart: return v1::TaskUpdate::FAILED_TO_START;
    case TaskEvent::Kind::kCancelled: return v1::TaskUpdate::CANCELLED;
  }
  return v1::TaskUpdate::KIND_UNSPECIFIED;
}

// What the master knows this host's GPUs by: index order and UUIDs.
std::vector<std::string> GpuIdentities(const Sample& sample) {
  std::vector<std::string> ids;
  ids.reserve(sample.gpus.size());
  for (const auto& g : sample.gpus) ids.push_back(std::to_string(g.index) + "/" + g.uuid);
  return ids;
}

void AddRunningTasks(const std::vector<RunningTaskInfo>& running,
                     google::protobuf::RepeatedPtrField<v1::RunningTask>* out) {
  for (const auto& t : running) {
    auto* rt = out->Add();
    rt->set_task_id(t.task_id);
    rt->set_pid(t.pid);
    rt->set_attempt(t.attempt);
    for (const auto& u : t.gpu_uuids) rt->add_gpu_uuids(u);
  }
}

}  // namespace

// The per-connection objects: a fresh context and stream each time, over
// the one channel the agent keeps.
struct WorkerAgent::Connection {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<WorkerMessage, MasterMessage>> stream;
};

WorkerAgent::WorkerAgent(WorkerOptions options, SampleFn sample)
    : options_(std::move(options)), sample_(std::move(sample)) {
  TaskRunnerConfig config;
  config.work_dir = options_.work_dir;
  config.containment = options_.containment;
  runner_ = std::make_unique<TaskRunner>(config, *this);
}

WorkerAgent::~WorkerAgent() {
  Stop();
  runner_->Shutdown(/*kill_tasks=*/true);
}

void WorkerAgent::Stop() {
  stopping_ = true;
  std::lock_guard lock(mu_);
  wake_.notify_all();
}

void WorkerAgent::OnTaskEvent(const TaskEvent& event) {
  spdlog::info("task {} {}{}", event.task_id, TaskEventKindName(event.kind),
               event.kind == TaskEvent::Kind::kExited ? fmt::format(" (exit code {})", event.exit_code)
               : event.message.empty()                 ? ""
                                                       : ": " + event.message);
  std::lock_guard lock(mu_);
  if (event.kind == TaskEvent::Kind::kStarted) {
    tailers_[event.task_id] =
        std::make_unique<LogTailer>(PathsForTask(options_.work_dir, event.task_id), event.attempt);
  }
  pending_events_.push_back(event);
  wake_.notify_all();
}

bool WorkerAgent::WaitForWork(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  wake_.wait_until(lock, until, [&] { return stopping_ || stream_broken_ || !pending_events_.empty(); });
  return !stopping_ && !stream_broken_;
}

Status WorkerAgent::Run() {
  auto channel = grpc::CreateChannel(options_.master, grpc::InsecureChannelCredentials());
  auto stub = v1::WorkerLink::NewStub(channel);
  std::chrono::milliseconds backoff{500};
  std::mt19937 rng(std::random_device{}());
  while (!stopping_) {
    Connection conn;
    conn.context.AddMetadata("authorization", "Bearer " + options_.token);
    conn.context.set_wait_for_ready(false);
    conn.stream = stub->Connect(&conn.context);
    {
      std::lock_guard lock(mu_);
      stream_broken_ = false;
    }
    Sample first = sample_();
    std::thread reader([&] { HandleMasterMessages(conn); });
    Status result = Serve(conn, first);
    // On Stop() end the call ourselves; otherwise the stream has already
    // ended and Finish() brings the master's reason (e.g. a wrong token).
    if (stopping_) conn.context.TryCancel();
    reader.join();
    grpc::Status final_status = conn.stream->Finish();
    if (stopping_) break;
    if (final_status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      spdlog::error("the master refused this worker: {}", final_status.error_message());
      return Unauthenticated(final_status.error_message());
    }
    if (result.ok()) backoff = std::chrono::milliseconds(500);  // it had been up; start over
    auto jitter = std::uniform_int_distribution<int64_t>(0, backoff.count() / 4)(rng);
    spdlog::warn("stream to the master at {} ended ({}); reconnecting in {} ms", options_.master,
                 final_status.error_message().empty() ? "stream closed" : final_status.error_message(),
                 backoff.count() + jitter);
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, backoff + std::chrono::milliseconds(jitter), [&] { return stopping_.load(); });
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  return Status::Ok();
}

Status WorkerAgent::Serve(Connection& conn, const Sample& first_sample) {
  WorkerMessage reg;
  auto* r = reg.mutable_register_();
  r->set_worker_id(options_.id);
  r->set_hostname(options_.hostname);
  r->set_cpu_cores(options_.cpu_cores);
  r->set_memory_bytes(options_.memory_bytes);
  r->set_heartbeat_interval_ms(static_cast<uint32_t>(options_.interval.count()));
  r->set_version("0.1.0");
  for (const auto& g : first_sample.gpus) {
    auto* info = r->add_gpus();
    info->set_index(g.index);
    info->set_uuid(g.uuid);
    info->set_name(g.name);
    info->set_pci_bus_id(g.pci_bus_id);
    info->set_memory_total_bytes(g.memory_total_bytes.value_or(0));
  }
  AddRunningTasks(runner_->Running(), r->mutable_running_tasks());
  if (!conn.stream->Write(reg)) return Unavailable("could not send registration");
  const std::vector<std::string> registered_gpus = GpuIdentities(first_sample);

  auto next_heartbeat = std::chrono::steady_clock::now();
  std::optional<Sample> ready = first_sample;
  std::vector<WorkerMessage> out;
  while (!stopping_) {
    // Task events, with all output of a finished task shipped before its end.
    std::deque<TaskEvent> events;
    {
      std::lock_guard lock(mu_);
      events.swap(pending_events_);
    }
    while (!events.empty()) {
      const TaskEvent& ev = events.front();
      out.clear();
      bool last = ev.kind != TaskEvent::Kind::kStarted;
      CollectOutput(out, last ? ev.task_id : std::string());
      WorkerMessage update;
      auto* u = update.mutable_task_update();
      u->set_task_id(ev.task_id);
      u->set_kind(WireKind(ev.kind));
      u->set_exit_code(ev.exit_code);
      u->set_message(ev.message);
      u->set_pid(ev.pid);
      u->set_attempt(ev.attempt);
      u->set_out_of_memory(ev.out_of_memory);
      out.push_back(std::move(update));
      for (const auto& m : out) {
        if (!conn.stream->Write(m)) {
          std::lock_guard lock(mu_);  // keep what was not sent for the next connection
          for (auto it = events.rbegin(); it != events.rend(); ++it) pending_events_.push_front(*it);
          return Unavailable("stream broke while reporting tasks");
        }
      }
      if (last) {
        std::lock_guard lock(mu_);
        tailers_.erase(ev.task_id);
      }
      events.pop_front();
    }

    out.clear();
    CollectOutput(out, std::string());
    for (const auto& m : out) {
      if (!conn.stream->Write(m)) return Unavailable("stream broke while shipping output");
    }

    auto now = std::chrono::steady_clock::now();
    if (now >= next_heartbeat) {
      Sample sample = ready ? std::move(*ready) : sample_();
      ready.reset();
      if (GpuIdentities(sample) != registered_gpus) {
        // A GPU appeared, vanished or became identifiable after NVML was
        // re-initialised: register again so the master's capacity is right.
        spdlog::info("the GPUs of this host changed ({} now); registering again", sample.gpus.size());
        conn.stream->WritesDone();
        return Status::Ok();
      }
      WorkerMessage hb;
      auto* h = hb.mutable_heartbeat();
      proto::FillHeartbeat(sample, h);
      h->set_seq(++heartbeat_seq_);
      h->set_sent_at_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
      auto running = runner_->Running();
      AddRunningTasks(running, h->mutable_running_tasks());
      if (!conn.stream->Write(hb)) return Unavailable("stream broke while sending a heartbeat");
      spdlog::info("Heartbeat sent: CPU={}, Memory={}, GPU={}, Tasks={}", FormatPercent(sample.host.cpu_percent),
                   FormatPercent(sample.host.memory_percent), FormatPercent(sample.gpu_percent), running.size());
      next_heartbeat += options_.interval;
      if (next_heartbeat < now) next_heartbeat = now + options_.interval;
    }
    auto until = std::min(next_heartbeat, std::chrono::steady_clock::now() + kOutputTick);
    if (!WaitForWork(until)) break;
  }
  conn.stream->WritesDone();
  return Status::Ok();
}

void WorkerAgent::CollectOutput(std::vector<WorkerMessage>& out, const std::string& drain_task) {
  std::lock_guard lock(mu_);
  for (auto& [task_id, tailer] : tailers_) {
    // A chatty task ships at most one chunk per stream per tick; a finished
    // one is read to its end.
    const bool drain = task_id == drain_task;
    bool more = true;
    while (more) {
      auto chunks = tailer->ReadNewOutput();
      if (!chunks.ok()) {
        spdlog::warn("cannot read output of task {}: {}", task_id, chunks.status().message());
        break;
      }
      more = drain && !chunks->empty();
      for (auto& c : *chunks) {
        WorkerMessage m;
        auto* chunk = m.mutable_log();
        chunk->set_task_id(task_id);
        chunk->set_stream(c.stream == OutputStream::kStderr ? v1::LogChunk::STDERR : v1::LogChunk::STDOUT);
        chunk->set_offset(c.offset);
        chunk->set_data(std::move(c.data));
        chunk->set_attempt(tailer->attempt());
        out.push_back(std::move(m));
      }
    }
  }
}

void WorkerAgent::HandleMasterMessages(Connection& conn) {
  MasterMessage msg;
  while (conn.stream->Read(&msg)) {
    switch (msg.body_case()) {
      case MasterMessage::kRegistered:
        spdlog::info("registered with the master at {} as '{}'", options_.master, options_.id);
        for (const auto& id : msg.registered().cancel_task_ids()) {
          spdlog::warn("the master no longer wants task {}; stopping it", id);
          (void)runner_->Cancel(id, kCancelGraceDefault);
        }
        break;
      case MasterMessage::kAck:
        break;
      case MasterMessage::kAssign:
        StartTask(msg.assign());
        break;
      case MasterMessage::kCancel: {
        const auto& c = msg.cancel();
        Status s = runner_->Cancel(c.task_id(), std::chrono::milliseconds(c.grace_ms()));
        if (s.code() == StatusCode::kNotFound) {
          // Not running here (anymore): tell the master so it can close it.
          TaskEvent ev;
          ev.kind = TaskEvent::Kind::kCancelled;
          ev.task_id = c.task_id();
          ev.message = "not running on this worker";
          OnTaskEvent(ev);
        }
        break;
      }
      default:
        break;
    }
  }
  std::lock_guard lock(mu_);
  stream_broken_ = true;
  wake_.notify_all();
}

void WorkerAgent::StartTask(const v1::Assign& a) {
  TaskLaunch launch;
  launch.task_id = a.task_id();
  launch.attempt = a.attempt();
  launch.argv.assign(a.argv().begin(), a.argv().end());
  for (const auto& [k, v] : a.env()) launch.env[k] = v;
  launch.gpu_indices.assign(a.gpu_indices().begin(), a.gpu_indices().end());
  launch.gpu_uuids.assign(a.gpu_uuids().begin(), a.gpu_uuids().end());
  launch.cpus = a.cpus();
  launch.memory_bytes = a.memory_bytes();
  spdlog::info("starting task {} (attempt {}) on GPU(s) [{}]", launch.task_id, launch.attempt,
               fmt::join(launch.gpu_indices, ","));
  Status s = runner_->Start(launch);
  if (s.code() == StatusCode::kAlreadyExists) {
    spdlog::info("task {} is already running here", launch.task_id);  // a repeat after a reconnect
  } else if (!s.ok()) {
    TaskEvent ev;
    ev.kind = TaskEvent::Kind::kFailedToStart;
    ev.task_id = launch.task_id;
    ev.attempt = launch.attempt;
    ev.message = s.message();
    OnTaskEvent(ev);
  }
}

}  // namespace gpulse::worker
