#include "worker/worker_agent.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <random>
#include <thread>

#include "link/messages.h"
#include "link/protocol.h"
#include "pki/ca_discovery.h"
#include "proto/gpulse.grpc.pb.h"
#include "proto/worker_messages.h"
#include "worker/gpu_process_owners.h"
#include "worker/identity_join.h"
#include "worker/registered_gpus.h"
#include "worker/tasks/attempt_files.h"
#include "worker/tasks/supervised_task_runner.h"
#include "worker/tasks/task_paths.h"

namespace gpulse::worker {
namespace {

using gpulse::v1::MasterMessage;
using gpulse::v1::WorkerMessage;

constexpr auto kOutputTick = std::chrono::milliseconds(250);
// How long output the master refused waits before it is sent again; doubles
// while refusals go on, up to the longest.
constexpr std::chrono::milliseconds kFirstOutputPause{1000};
constexpr std::chrono::milliseconds kLongestOutputPause{10000};
constexpr std::chrono::milliseconds kCancelGraceDefault{10000};

std::string FormatPercent(const std::optional<double>& v) {
  return v ? fmt::format("{:.1f}%", *v) : "n/a";
}

// The task runner's event as the link reports it (proto/ puts it on the wire).
link::TaskUpdate UpdateFor(const TaskEvent& event) {
  link::TaskUpdate::Kind kind = link::TaskUpdate::Kind::kStarted;
  switch (event.kind) {
    case TaskEvent::Kind::kStarted: kind = link::TaskUpdate::Kind::kStarted; break;
    case TaskEvent::Kind::kExited: kind = link::TaskUpdate::Kind::kExited; break;
    case TaskEvent::Kind::kFailedToStart: kind = link::TaskUpdate::Kind::kFailedToStart; break;
    case TaskEvent::Kind::kCancelled: kind = link::TaskUpdate::Kind::kCancelled; break;
  }
  return {event.task_id, kind, event.exit_code, event.message, event.attempt, event.pid, event.out_of_memory};
}

link::TaskUpdate NumberedUpdate(const TaskEvent& event, uint64_t seq) {
  link::TaskUpdate update = UpdateFor(event);
  update.event_seq = seq;
  return update;
}

link::OutputStream LinkStream(OutputStream stream) {
  return stream == OutputStream::kStderr ? link::OutputStream::kStderr : link::OutputStream::kStdout;
}

std::vector<link::RunningTask> LinkRunningTasks(const std::vector<RunningTaskInfo>& running) {
  std::vector<link::RunningTask> tasks;
  tasks.reserve(running.size());
  for (const auto& t : running) tasks.push_back({t.task_id, t.attempt, t.pid, t.gpu_uuids});
  return tasks;
}

// Why this worker cannot run tasks now, or "" (CheckTaskDirectories);
// logged when it changes.
WorkerMessage RegisterMessage(const WorkerOptions& options, const std::vector<GpuIdentity>& gpus,
                              const std::vector<RunningTaskInfo>& running, std::vector<link::TaskUpdate> updates,
                              std::string unhealthy_reason) {
  link::Registration r;
  r.worker_id = options.id;
  r.capacity = {options.hostname, options.cpu_cores, options.memory_bytes};
  r.heartbeat_interval = options.interval;
  r.version = "0.1.0";
  r.protocol_version = link::kProtocolVersion;
  r.gpus = gpus;
  r.running_tasks = LinkRunningTasks(running);
  r.task_updates = std::move(updates);
  r.unhealthy_reason = std::move(unhealthy_reason);
  r.resends_refused_output = true;
  WorkerMessage reg;
  proto::ToProto(r, reg.mutable_register_());
  return reg;
}

WorkerMessage TaskUpdateMessage(const TaskEvent& ev, uint64_t seq) {
  WorkerMessage update;
  proto::ToProto(NumberedUpdate(ev, seq), update.mutable_task_update());
  return update;
}

WorkerMessage HeartbeatMessage(Sample sample, uint64_t seq, const std::vector<RunningTaskInfo>& running,
                               std::string unhealthy_reason) {
  link::Heartbeat heartbeat{seq, std::chrono::system_clock::now(), std::move(sample), LinkRunningTasks(running),
                            std::move(unhealthy_reason)};
  WorkerMessage hb;
  proto::ToProto(heartbeat, hb.mutable_heartbeat());
  return hb;
}

// gRPC's reason a stream ended, with what to do when it is about trust.
std::string ExplainStreamEnd(const std::string& reason) {
  if (reason.empty()) return "stream closed";
  if (reason.find("not in peer certificate") != std::string::npos) {
    return reason + " — the master's certificate does not name the host in --master: dial a name it holds, or "
                    "start the master with --tls-san <that host>";
  }
  if (reason.find("CERTIFICATE_VERIFY_FAILED") != std::string::npos ||
      reason.find("certificate verify failed") != std::string::npos) {
    return reason + " — the master's certificate is not from the cluster CA this worker trusts (another cluster, "
                    "or someone in between): nothing was sent";
  }
  return reason;
}

}  // namespace

// The per-connection objects: a fresh context and stream each time, over
// the one channel the agent keeps; and what was registered on it.
struct WorkerAgent::Connection {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<WorkerMessage, MasterMessage>> stream;
  // Taken before registering; the first heartbeat sends it.
  std::optional<Sample> first_sample;
  std::optional<RegisteredGpus> registered_gpus;
  std::chrono::steady_clock::time_point next_heartbeat;
};

WorkerAgent::WorkerAgent(WorkerOptions options, telemetry::Sampler& sampler, TaskExecutor& runner,
                         SampleObserver on_sample)
    : options_(std::move(options)), sampler_(sampler), runner_(runner), on_sample_(std::move(on_sample)) {
  for (const RunningTaskInfo& task : runner_.Running()) {
    tailers_[task.task_id] = std::make_unique<LogTailer>(PathsForTask(options_.work_dir, task.task_id), task.attempt,
                                                         options_.max_task_output_bytes);
  }
}

WorkerAgent::~WorkerAgent() { Stop(); }

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
  // An attempt that ended while no worker watched it (re-adopted) has no
  // tailer yet: its whole output goes before its end.
  if (event.kind == TaskEvent::Kind::kStarted || (event.pid != 0 && tailers_.count(event.task_id) == 0)) {
    tailers_[event.task_id] =
        std::make_unique<LogTailer>(PathsForTask(options_.work_dir, event.task_id), event.attempt,
                                    options_.max_task_output_bytes);
  }
  outbox_.push_back({next_event_seq_++, event});
  wake_.notify_all();
}

void WorkerAgent::Acknowledge(uint64_t seq) {
  std::vector<std::pair<std::string, uint32_t>> collect;
  {
    std::lock_guard lock(mu_);
    while (!outbox_.empty() && outbox_.front().seq <= seq) {
      const NumberedEvent& numbered = outbox_.front();
      const TaskEvent& event = numbered.event;
      if (event.kind != TaskEvent::Kind::kStarted) {
        auto ended = ended_.find(event.task_id);
        if (ended != ended_.end() && ended->second.event_seq == numbered.seq) {
          ended->second.event_acked = true;  // collected once its output is stored too
        } else if (ended == ended_.end()) {
          collect.emplace_back(event.task_id, event.attempt);  // no output of its own here
        }
      }
      outbox_.pop_front();
      if (sent_ > 0) --sent_;
    }
    for (auto& settled : TakeSettledLocked()) collect.push_back(std::move(settled));
  }
  CollectAll(collect);
}

void WorkerAgent::CollectAll(const std::vector<std::pair<std::string, uint32_t>>& attempts) {
  for (const auto& [task_id, attempt] : attempts) runner_.Collected(task_id, attempt);
}

std::vector<std::pair<std::string, uint32_t>> WorkerAgent::TakeSettledLocked() {
  std::vector<std::pair<std::string, uint32_t>> settled;
  for (auto it = ended_.begin(); it != ended_.end();) {
    const EndedTask& e = it->second;
    if (!e.event_acked || !e.output_stored) {
      ++it;
      continue;
    }
    settled.emplace_back(it->first, e.attempt);
    auto tailer = tailers_.find(it->first);
    if (tailer != tailers_.end() && tailer->second->attempt() == e.attempt) {
      tailers_.erase(tailer);
      refused_output_.erase(it->first);
    }
    it = ended_.erase(it);
  }
  return settled;
}

void WorkerAgent::OnOutputRefused(const link::OutputRefused& refused) {
  std::lock_guard lock(mu_);
  auto tailer = tailers_.find(refused.task_id);
  if (tailer == tailers_.end() || tailer->second->attempt() != refused.attempt) return;  // nothing left to send
  tailer->second->Rewind(
      refused.stream == link::OutputStream::kStderr ? OutputStream::kStderr : OutputStream::kStdout, refused.offset);
  RefusedOutput& r = refused_output_[refused.task_id];
  ++r.refusals;
  const auto now = std::chrono::steady_clock::now();
  if (now >= r.retry_at) {  // a refusal of what was sent after the pause, not one more of the same flight
    r.pause = r.pause.count() == 0 ? kFirstOutputPause : std::min(r.pause * 2, kLongestOutputPause);
    r.retry_at = now + r.pause;
    spdlog::warn("the master did not store output of task {} ({}); sending it again from offset {} in {} ms",
                 refused.task_id, refused.reason, refused.offset, r.pause.count());
  }
  if (auto ended = ended_.find(refused.task_id); ended != ended_.end()) ended->second.settles_with_heartbeat = 0;
}

void WorkerAgent::OutputSettledBy(uint64_t heartbeat_seq) {
  std::vector<std::pair<std::string, uint32_t>> collect;
  {
    std::lock_guard lock(mu_);
    for (auto& [task_id, e] : ended_) {
      if (e.settles_with_heartbeat != 0 && heartbeat_seq >= e.settles_with_heartbeat) e.output_stored = true;
    }
    collect = TakeSettledLocked();
  }
  CollectAll(collect);
}

bool WorkerAgent::OutputPausedLocked(const std::string& task_id, std::chrono::steady_clock::time_point now) const {
  auto r = refused_output_.find(task_id);
  return r != refused_output_.end() && now < r->second.retry_at;
}

uint64_t WorkerAgent::RefusalsLocked(const std::string& task_id) const {
  auto r = refused_output_.find(task_id);
  return r == refused_output_.end() ? 0 : r->second.refusals;
}

void WorkerAgent::EndedLocked(const std::string& task_id, uint32_t attempt, uint64_t seq, uint64_t refusals_before) {
  EndedTask& e = ended_[task_id];
  e.attempt = attempt;
  if (seq != 0) {
    e.event_seq = seq;
    e.event_acked = false;
  }
  const bool refused_since = RefusalsLocked(task_id) != refusals_before ||
                             OutputPausedLocked(task_id, std::chrono::steady_clock::now());
  e.settles_with_heartbeat = refused_since ? 0 : heartbeat_seq_ + 1;  // the next heartbeat goes after it
}

Status WorkerAgent::ShipOutputEnd(Connection& conn, const std::string& task_id) {
  std::vector<WorkerMessage> out;
  {
    std::lock_guard lock(mu_);
    auto tailer = tailers_.find(task_id);
    if (tailer == tailers_.end()) return Status::Ok();
    for (OutputStream stream : {OutputStream::kStdout, OutputStream::kStderr}) {
      WorkerMessage m;
      proto::ToProto(link::LogChunk{task_id, tailer->second->attempt(), LinkStream(stream),
                                    tailer->second->offset(stream), std::string(), 0},
                     m.mutable_log());
      out.push_back(std::move(m));
    }
  }
  return Send(conn, out, "shipping output");
}

Status WorkerAgent::ShipUnsettledOutput(Connection& conn) {
  std::vector<std::string> due;
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [task_id, e] : ended_) {
      if (!e.output_stored && e.settles_with_heartbeat == 0 && !OutputPausedLocked(task_id, now)) {
        due.push_back(task_id);
      }
    }
  }
  for (const std::string& task_id : due) {
    uint64_t refusals_before;
    uint32_t attempt = 0;
    {
      std::lock_guard lock(mu_);
      refusals_before = RefusalsLocked(task_id);
      auto tailer = tailers_.find(task_id);
      if (tailer == tailers_.end()) continue;
      attempt = tailer->second->attempt();
    }
    ASSIGN_OR_RETURN(const bool all, ShipAllOutput(conn, task_id, conn.next_heartbeat));
    if (!all) return Status::Ok();  // a heartbeat is due; on from here next round
    RETURN_IF_ERROR(ShipOutputEnd(conn, task_id));
    std::lock_guard lock(mu_);
    if (ended_.count(task_id) != 0) EndedLocked(task_id, attempt, 0, refusals_before);
  }
  return Status::Ok();
}

void WorkerAgent::RenewLease(int64_t sent_ns) {
  std::chrono::milliseconds lease;
  {
    std::lock_guard lock(mu_);
    lease = task_lease_;
  }
  if (lease.count() > 0 && sent_ns > 0) runner_.RenewLease(sent_ns, lease);
}

std::chrono::milliseconds WorkerAgent::MaxBackoff() {
  std::lock_guard lock(mu_);
  if (reconnect_grace_.count() <= 0) return options_.max_backoff;
  // Half the grace, less the jitter (up to a quarter more): 0.4 x grace.
  return std::max(std::chrono::milliseconds(100), std::min(options_.max_backoff, reconnect_grace_ * 2 / 5));
}

bool WorkerAgent::WaitForWork(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  wake_.wait_until(lock, until, [&] { return stopping_ || stream_broken_ || sent_ < outbox_.size(); });
  return !stopping_ && !stream_broken_;
}

std::string WorkerAgent::SelfCheck() {
  Status s = CheckTaskDirectories(options_.work_dir);
  std::string reason = s.ok() ? "" : s.message();
  if (reason != self_check_reason_) {
    if (reason.empty()) {
      spdlog::info("self-check passed: this worker can run tasks again");
    } else {
      spdlog::error("self-check failed, this worker takes no tasks: {}", reason);
    }
    self_check_reason_ = reason;
  }
  return reason;
}

Sample WorkerAgent::TakeSample() {
  Sample sample = sampler_.Take();
  MarkGpuProcessOwners(sample);
  if (on_sample_) on_sample_(sample);
  return sample;
}

std::chrono::milliseconds WorkerAgent::WaitBeforeRetry(std::chrono::milliseconds backoff) {
  thread_local std::mt19937 rng(std::random_device{}());
  auto jitter = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, backoff.count() / 4)(rng));
  {
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, backoff + jitter, [&] { return stopping_.load(); });
  }
  return std::min(backoff * 2, MaxBackoff());  // takes mu_ itself
}

Result<std::string> WorkerAgent::TrustedCa() {
  if (!options_.ca_pem.empty()) return options_.ca_pem;
  std::chrono::milliseconds backoff{500};
  while (!stopping_) {
    auto fetched = pki::FetchPinnedCa(options_.master, options_.ca_pin);
    if (fetched.ok()) {
      spdlog::info("the master at {} presents the pinned cluster CA {}", options_.master, options_.ca_pin);
      return fetched;
    }
    if (fetched.status().code() != StatusCode::kUnavailable) {
      spdlog::error("not trusting the master at {}: {}", options_.master, fetched.status().message());
      return fetched.status();
    }
    spdlog::warn("cannot fetch the cluster CA from {} ({}); retrying", options_.master, fetched.status().message());
    backoff = WaitBeforeRetry(backoff);
  }
  return std::string();
}

Status WorkerAgent::Run() {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options_.insecure) {
    ASSIGN_OR_RETURN(std::string ca_pem, TrustedCa());
    if (stopping_) return Status::Ok();
    link_started_ = std::chrono::steady_clock::now();
    // This worker's own key and certificate (asked for at its first join).
    auto client = LoadOrJoinIdentity({options_.master, options_.id, options_.token, options_.work_dir, ca_pem},
                                     [this] { return stopping_.load(); },
                                     [this](std::chrono::milliseconds backoff) { return WaitBeforeRetry(backoff); });
    if (!client.ok()) {
      spdlog::error("worker identity: {}", client.status().message());
      return client.status();
    }
    if (stopping_) return Status::Ok();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_pem;  // the cluster CA only, never the system's roots
    if (!client->certificate_pem.empty()) {  // mutual TLS: the master binds this id to the key
      ssl.pem_private_key = client->key_pem;
      ssl.pem_cert_chain = client->certificate_pem;
    }
    identity_note_ = client->certificate_pem.empty() ? "token only"
                     : client->issued_now        ? "mutual TLS, certificate issued at this start"
                                                 : "mutual TLS, kept certificate";
    credentials = grpc::SslCredentials(ssl);
  }
  // gRPC checks the master's certificate against the host in --master
  // (DNS name or IP address) during the handshake, before any call
  // metadata (the token) is written.
  // gRPC's own reconnect backoff grows to 120 s by default: a master down
  // for a minute would then be retried long after its grace ran out.
  // Keep the channel's under 1 s; the loop below paces the streams.
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is not a backoff but the time each
  // connection attempt gets to finish its TCP and TLS handshakes (gRPC's
  // default is 20 s): it stays long, or a master slow to handshake (just
  // restarted, on a loaded host) would be cut off at every attempt
  // ("tcp handshaker shutdown") and never reached.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20000);
  auto channel = grpc::CreateCustomChannel(options_.master, credentials, args);
  auto stub = v1::WorkerLink::NewStub(channel);
  std::chrono::milliseconds backoff{500};
  while (!stopping_) {
    Connection conn;
    conn.context.AddMetadata("authorization", "Bearer " + options_.token);
    conn.context.set_wait_for_ready(false);
    conn.stream = stub->Connect(&conn.context);
    {
      std::lock_guard lock(mu_);
      stream_broken_ = false;
      sent_ = 0;  // a new stream: everything unacknowledged goes out again
    }
    conn.first_sample = TakeSample();
    std::thread reader([&] { HandleMasterMessages(conn); });
    Status result = Serve(conn);
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
    if (final_status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      // Its identity: another key holds this id, or the id needs this
      // worker's certificate. Retrying cannot help; an operator must act.
      spdlog::error("the master refused this worker's identity: {}", final_status.error_message());
      return PermissionDenied(final_status.error_message());
    }
    const bool id_taken = final_status.error_code() == grpc::StatusCode::ALREADY_EXISTS;
    if (id_taken) {
      // Another stream holds this id (a clone with the same --id, or this
      // worker's previous connection the master has not seen close yet):
      // keep trying, backing off, until the master releases the id.
      spdlog::error("the master refused this worker's id: {}", final_status.error_message());
    }
    if (result.ok() && !id_taken) backoff = std::chrono::milliseconds(500);  // it had been up; start over
    spdlog::warn("stream to the master at {} ended ({}); reconnecting in about {} ms", options_.master,
                 ExplainStreamEnd(final_status.error_message()),
                 backoff.count());
    backoff = WaitBeforeRetry(backoff);
  }
  return Status::Ok();
}

Status WorkerAgent::Serve(Connection& conn) {
  RETURN_IF_ERROR(Register(conn));
  conn.next_heartbeat = std::chrono::steady_clock::now();
  while (!stopping_) {
    RETURN_IF_ERROR(ShipTaskEvents(conn));
    RETURN_IF_ERROR(ShipOutput(conn));
    RETURN_IF_ERROR(ShipUnsettledOutput(conn));
    ASSIGN_OR_RETURN(const HeartbeatOutcome heartbeat, MaybeSendHeartbeat(conn));
    if (heartbeat == HeartbeatOutcome::kGpusChanged) break;
    auto until = std::min(conn.next_heartbeat, std::chrono::steady_clock::now() + kOutputTick);
    if (!WaitForWork(until)) break;
  }
  conn.stream->WritesDone();
  return Status::Ok();
}

Status WorkerAgent::Register(Connection& conn) {
  // Read after the connection's first sample: Take() is where NVML is
  // initialised again, and only this thread calls it.
  conn.registered_gpus.emplace(sampler_.GpuInventory(), sampler_.nvml_generation(),
                               conn.first_sample->nvml.available);
  // Running tasks first, then the outbox: a task that ends in between is
  // then in the outbox, never in neither.
  const std::vector<RunningTaskInfo> running = runner_.Running();
  std::vector<link::TaskUpdate> updates;
  std::vector<NumberedEvent> finished;
  uint64_t last_seq = 0;
  {
    std::lock_guard lock(mu_);
    for (const NumberedEvent& e : outbox_) {
      // The rest go out one by one after this (ShipTaskEvents).
      if (updates.size() == link::kMaxTaskUpdatesPerRegister) break;
      updates.push_back(NumberedUpdate(e.event, e.seq));
      if (e.event.kind != TaskEvent::Kind::kStarted) {
        auto tailer = tailers_.find(e.event.task_id);
        if (tailer != tailers_.end() && tailer->second->attempt() == e.event.attempt) {
          finished.push_back(e);
          // Before Register goes: its acknowledgement finds the entry.
          EndedTask& ended = ended_[e.event.task_id];
          ended.attempt = e.event.attempt;
          ended.event_seq = e.seq;
          ended.event_acked = false;
        }
      }
      last_seq = e.seq;
    }
    // What went out on the old stream may not have arrived: ship the end of
    // each ended task's output again (ShipUnsettledOutput).
    for (auto& [task_id, e] : ended_) {
      if (!e.output_stored) e.settles_with_heartbeat = 0;
    }
  }
  {
    std::lock_guard lock(mu_);
    register_sent_ns_ = MonotonicNowNs();
    heartbeat_sent_ns_.clear();
  }
  RETURN_IF_ERROR(Send(conn, {RegisterMessage(options_, conn.registered_gpus->gpus(), running, std::move(updates),
                                              SelfCheck())},
                       "registering"));
  MarkSentUpTo(last_seq);
  // The output of tasks that ended meanwhile, to its end; their attempts
  // are collected once the master has their output too.
  for (const NumberedEvent& e : finished) {
    uint64_t refusals_before;
    {
      std::lock_guard lock(mu_);
      refusals_before = RefusalsLocked(e.event.task_id);
    }
    RETURN_IF_ERROR(ShipAllOutput(conn, e.event.task_id).status());
    RETURN_IF_ERROR(ShipOutputEnd(conn, e.event.task_id));
    std::lock_guard lock(mu_);
    if (ended_.count(e.event.task_id) != 0) EndedLocked(e.event.task_id, e.event.attempt, 0, refusals_before);
  }
  return Status::Ok();
}

Status WorkerAgent::ShipTaskEvents(Connection& conn) {
  while (true) {
    std::optional<NumberedEvent> next;
    {
      std::lock_guard lock(mu_);
      if (sent_ < outbox_.size()) next = outbox_[sent_];
    }
    if (!next) return Status::Ok();
    ASSIGN_OR_RETURN(const bool sent, ShipTaskEvent(conn, next->event, next->seq));
    if (!sent) return Status::Ok();  // a heartbeat is due; the rest next round
    MarkSentUpTo(next->seq);
  }
}

void WorkerAgent::MarkSentUpTo(uint64_t seq) {
  std::lock_guard lock(mu_);
  // Acks may have removed some meanwhile: count by number, not position.
  size_t i = 0;
  while (i < outbox_.size() && outbox_[i].seq <= seq) ++i;
  sent_ = std::max(sent_, i);
}

Result<bool> WorkerAgent::ShipTaskEvent(Connection& conn, const TaskEvent& event, uint64_t seq) {
  // A finished task's output all goes before its end (unless the master
  // refused it lately: then the end goes now and the output after the pause).
  const bool last = event.kind != TaskEvent::Kind::kStarted;
  bool has_output = false;
  bool paused = false;
  uint64_t refusals_before = 0;
  if (last) {
    std::lock_guard lock(mu_);
    auto tailer = tailers_.find(event.task_id);
    has_output = tailer != tailers_.end() && tailer->second->attempt() == event.attempt;
    paused = OutputPausedLocked(event.task_id, std::chrono::steady_clock::now());
    refusals_before = RefusalsLocked(event.task_id);
  }
  if (has_output && !paused) {
    ASSIGN_OR_RETURN(const bool all, ShipAllOutput(conn, event.task_id, conn.next_heartbeat));
    if (!all) return false;
    RETURN_IF_ERROR(ShipOutputEnd(conn, event.task_id));
  }
  if (has_output) {
    // Before the event goes: its acknowledgement finds the entry.
    std::lock_guard lock(mu_);
    EndedLocked(event.task_id, event.attempt, seq, refusals_before);
  }
  std::vector<WorkerMessage> out;
  out.push_back(TaskUpdateMessage(event, seq));
  RETURN_IF_ERROR(Send(conn, out, "reporting tasks"));
  return true;
}

Result<bool> WorkerAgent::ShipAllOutput(Connection& conn, const std::string& task_id,
                                        std::chrono::steady_clock::time_point until) {
  while (true) {
    std::vector<WorkerMessage> out;
    const bool more = CollectOutput(out, task_id);
    RETURN_IF_ERROR(Send(conn, out, "shipping output"));
    if (!more) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
  }
}

Status WorkerAgent::ShipOutput(Connection& conn) {
  std::vector<WorkerMessage> out;
  CollectOutput(out, std::string());
  return Send(conn, out, "shipping output");
}

Result<WorkerAgent::HeartbeatOutcome> WorkerAgent::MaybeSendHeartbeat(Connection& conn) {
  const auto now = std::chrono::steady_clock::now();
  if (now < conn.next_heartbeat) return HeartbeatOutcome::kNotDue;
  Sample sample = conn.first_sample ? std::move(*conn.first_sample) : TakeSample();
  conn.first_sample.reset();
  if (conn.registered_gpus->Changed(sampler_.nvml_generation(), sample.nvml.available,
                                    [this] { return sampler_.GpuInventory(); })) {
    // A GPU appeared, vanished or became identifiable after NVML was
    // re-initialised: register again so the master's capacity is right.
    spdlog::info("the GPUs of this host changed ({} now); registering again", sampler_.GpuInventory().size());
    return HeartbeatOutcome::kGpusChanged;
  }
  const std::vector<RunningTaskInfo> running = runner_.Running();
  const std::string figures = fmt::format("CPU={}, Memory={}, GPU={}, Tasks={}", FormatPercent(sample.host.cpu_percent),
                                          FormatPercent(sample.host.memory_percent),
                                          FormatPercent(sample.gpu_percent), running.size());
  {
    std::lock_guard lock(mu_);
    heartbeat_sent_ns_[heartbeat_seq_ + 1] = MonotonicNowNs();
  }
  RETURN_IF_ERROR(Send(conn, {HeartbeatMessage(std::move(sample), ++heartbeat_seq_, running, SelfCheck())},
                       "sending a heartbeat"));
  // The first heartbeat says the link works; the rest only on request (a week
  // of 5 s heartbeats is 120,000 journal lines).
  const bool at_info = options_.log_heartbeats || heartbeat_seq_ == 1;
  spdlog::log(at_info ? spdlog::level::info : spdlog::level::debug, "Heartbeat sent: {}", figures);
  const int64_t granted = granted_interval_ms_.load();
  const std::chrono::milliseconds interval = granted > 0 ? std::chrono::milliseconds(granted) : options_.interval;
  conn.next_heartbeat += interval;
  if (conn.next_heartbeat < now) conn.next_heartbeat = now + interval;
  return HeartbeatOutcome::kSent;
}

Status WorkerAgent::Send(Connection& conn, const std::vector<WorkerMessage>& messages, const char* doing) {
  for (const auto& m : messages) {
    if (!conn.stream->Write(m)) return Unavailable(std::string("stream broke while ") + doing);
  }
  return Status::Ok();
}

bool WorkerAgent::CollectOutput(std::vector<WorkerMessage>& out, const std::string& drain_task) {
  // 8 rounds of at most 64 KiB per stream: at most 1 MiB in memory per call.
  constexpr int kDrainRounds = 8;
  std::lock_guard lock(mu_);
  bool drain_has_more = false;
  const auto now = std::chrono::steady_clock::now();
  for (auto& [task_id, tailer] : tailers_) {
    // A chatty task ships at most one chunk per stream per tick; a finished
    // one is read to its end, a batch at a time. Output the master refused
    // waits for its pause; an ended task's goes only when drained.
    const bool drain = task_id == drain_task;
    if (!drain && OutputPausedLocked(task_id, now)) continue;
    if (auto ended = ended_.find(task_id);
        !drain && ended != ended_.end() && ended->second.attempt == tailer->attempt()) {
      continue;
    }
    for (int round = 0; round < (drain ? kDrainRounds : 1); ++round) {
      auto chunks = tailer->ReadNewOutput(LogTailer::kDefaultMaxChunkBytes, /*task_ended=*/drain);
      if (!chunks.ok()) {
        spdlog::warn("cannot read output of task {}: {}", task_id, chunks.status().message());
        break;
      }
      if (chunks->empty()) break;
      for (auto& c : *chunks) {
        WorkerMessage m;
        proto::ToProto(link::LogChunk{task_id, tailer->attempt(), LinkStream(c.stream), c.offset, std::move(c.data),
                                      c.dropped_bytes},
                       m.mutable_log());
        out.push_back(std::move(m));
      }
      if (drain && round + 1 == kDrainRounds) drain_has_more = true;
    }
  }
  return drain_has_more;
}

void WorkerAgent::HandleMasterMessages(Connection& conn) {
  MasterMessage msg;
  while (conn.stream->Read(&msg)) {
    switch (msg.body_case()) {
      case MasterMessage::kRegistered: {
        const link::Registered registered = proto::FromProto(msg.registered());
        if (!first_registered_.exchange(true) && link_started_) {
          spdlog::info("registered with the master at {} as '{}' ({}), {} ms after the link started", options_.master,
                       options_.id, identity_note_,
                       std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                             *link_started_)
                           .count());
        } else {
          spdlog::info("registered with the master at {} as '{}'", options_.master, options_.id);
        }
        const int64_t granted = registered.heartbeat_interval.count();
        if (granted > 0 && granted_interval_ms_.exchange(granted) != granted &&
            registered.heartbeat_interval != options_.interval) {
          spdlog::info("the master grants a heartbeat interval of {} ms (asked for {} ms)", granted,
                       options_.interval.count());
        }
        Acknowledge(registered.acked_event_seq);
        int64_t register_sent_ns;
        {
          std::lock_guard lock(mu_);
          if (registered.reconnect_grace.count() > 0) reconnect_grace_ = registered.reconnect_grace;
          if (registered.task_lease != task_lease_) {
            spdlog::info("task lease: {} ms (tasks are killed {} ms before it runs out without renewal)",
                         registered.task_lease.count(),
                         SupervisedTaskRunner::FenceMargin(registered.task_lease).count());
          }
          task_lease_ = registered.task_lease;
          register_sent_ns = register_sent_ns_;
        }
        RenewLease(register_sent_ns);
        for (const auto& id : registered.cancel_task_ids) {
          spdlog::warn("the master no longer wants task {}; stopping it", id);
          (void)runner_.Cancel(id, kCancelGraceDefault);
        }
        break;
      }
      case MasterMessage::kAck: {
        // Only this heartbeat's and later sends can renew; older ones are
        // answered already (or never will be).
        int64_t sent_ns = 0;
        {
          std::lock_guard lock(mu_);
          auto it = heartbeat_sent_ns_.find(msg.ack().seq());
          if (it != heartbeat_sent_ns_.end()) sent_ns = it->second;
          heartbeat_sent_ns_.erase(heartbeat_sent_ns_.begin(), heartbeat_sent_ns_.upper_bound(msg.ack().seq()));
        }
        RenewLease(sent_ns);
        OutputSettledBy(msg.ack().seq());
        break;
      }
      case MasterMessage::kOutputRefused:
        OnOutputRefused(proto::FromProto(msg.output_refused()));
        break;
      case MasterMessage::kTaskUpdateAck:
        Acknowledge(proto::FromProto(msg.task_update_ack()).event_seq);
        break;
      case MasterMessage::kAssign:
        StartTask(msg.assign());
        break;
      case MasterMessage::kCancel: {
        const link::Cancel c = proto::FromProto(msg.cancel());
        Status s = runner_.Cancel(c.task_id, c.grace);
        if (s.code() == StatusCode::kNotFound) {
          // Not running here (anymore): tell the master so it can close it.
          TaskEvent ev;
          ev.kind = TaskEvent::Kind::kCancelled;
          ev.task_id = c.task_id;
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

void WorkerAgent::StartTask(const v1::Assign& assign) {
  link::Assignment a = proto::FromProto(assign);
  TaskLaunch launch{std::move(a.task_id), a.attempt,   std::move(a.argv), std::move(a.env), std::move(a.gpu_indices),
                    std::move(a.gpu_uuids)};
  launch.cpus = a.cpus;
  launch.memory_bytes = a.memory_bytes;
  spdlog::info("starting task {} (attempt {}) on GPU(s) [{}]", launch.task_id, launch.attempt,
               fmt::join(launch.gpu_indices, ","));
  Status s = runner_.Start(launch);
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
