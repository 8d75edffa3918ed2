#include "proto/worker_messages.h"

#include "proto/sample_convert.h"

namespace gpulse::proto {
namespace {

using std::chrono::milliseconds;

void AddRunningTasks(const std::vector<link::RunningTask>& tasks,
                     google::protobuf::RepeatedPtrField<gpulse::v1::RunningTask>* out) {
  out->Reserve(static_cast<int>(tasks.size()));
  for (const link::RunningTask& t : tasks) {
    gpulse::v1::RunningTask* rt = out->Add();
    rt->set_task_id(t.task_id);
    rt->set_attempt(t.attempt);
    rt->set_pid(t.pid);
    for (const std::string& uuid : t.gpu_uuids) rt->add_gpu_uuids(uuid);
  }
}

std::vector<link::RunningTask> RunningTasksFrom(
    const google::protobuf::RepeatedPtrField<gpulse::v1::RunningTask>& in) {
  std::vector<link::RunningTask> tasks;
  tasks.reserve(in.size());
  for (const gpulse::v1::RunningTask& t : in) {
    tasks.push_back({t.task_id(), t.attempt(), t.pid(), {t.gpu_uuids().begin(), t.gpu_uuids().end()}});
  }
  return tasks;
}

gpulse::v1::TaskUpdate::Kind WireKind(link::TaskUpdate::Kind kind) {
  switch (kind) {
    case link::TaskUpdate::Kind::kStarted: return gpulse::v1::TaskUpdate::STARTED;
    case link::TaskUpdate::Kind::kExited: return gpulse::v1::TaskUpdate::EXITED;
    case link::TaskUpdate::Kind::kFailedToStart: return gpulse::v1::TaskUpdate::FAILED_TO_START;
    case link::TaskUpdate::Kind::kCancelled: return gpulse::v1::TaskUpdate::CANCELLED;
  }
  return gpulse::v1::TaskUpdate::KIND_UNSPECIFIED;
}

}  // namespace

void ToProto(const link::Registration& in, gpulse::v1::Register* out) {
  out->set_worker_id(in.worker_id);
  out->set_hostname(in.capacity.hostname);
  out->set_address(in.address);
  out->set_cpu_cores(in.capacity.cpu_cores);
  out->set_memory_bytes(in.capacity.memory_bytes);
  out->mutable_gpus()->Reserve(static_cast<int>(in.gpus.size()));
  for (const GpuIdentity& g : in.gpus) ToProto(g, out->add_gpus());
  AddRunningTasks(in.running_tasks, out->mutable_running_tasks());
  out->set_heartbeat_interval_ms(static_cast<uint32_t>(in.heartbeat_interval.count()));
  out->set_version(in.version);
  out->set_protocol_version(in.protocol_version);
  for (const link::TaskUpdate& u : in.task_updates) ToProto(u, out->add_task_updates());
  out->set_unhealthy_reason(in.unhealthy_reason);
  out->set_resends_refused_output(in.resends_refused_output);
}

link::Registration FromProto(const gpulse::v1::Register& in) {
  link::Registration r;
  r.worker_id = in.worker_id();
  r.address = in.address();
  r.capacity = {in.hostname(), in.cpu_cores(), in.memory_bytes()};
  r.gpus.reserve(in.gpus_size());
  for (const gpulse::v1::GpuInfo& g : in.gpus()) r.gpus.push_back(FromProto(g));
  r.running_tasks = RunningTasksFrom(in.running_tasks());
  r.heartbeat_interval = milliseconds(in.heartbeat_interval_ms());
  r.version = in.version();
  r.protocol_version = in.protocol_version();
  r.task_updates.reserve(in.task_updates_size());
  for (const gpulse::v1::TaskUpdate& u : in.task_updates()) r.task_updates.push_back(FromProto(u));
  r.unhealthy_reason = in.unhealthy_reason();
  r.resends_refused_output = in.resends_refused_output();
  return r;
}

void ToProto(const link::Heartbeat& in, gpulse::v1::Heartbeat* out) {
  FillHeartbeat(in.sample, out);
  out->set_seq(in.seq);
  out->set_sent_at_unix_ms(std::chrono::duration_cast<milliseconds>(in.sent_at.time_since_epoch()).count());
  AddRunningTasks(in.running_tasks, out->mutable_running_tasks());
  out->set_unhealthy_reason(in.unhealthy_reason);
}

link::Heartbeat FromProto(const gpulse::v1::Heartbeat& in) {
  link::Heartbeat hb;
  hb.seq = in.seq();
  hb.sent_at = std::chrono::system_clock::time_point(milliseconds(in.sent_at_unix_ms()));
  hb.sample = SampleFromHeartbeat(in);
  hb.running_tasks = RunningTasksFrom(in.running_tasks());
  hb.unhealthy_reason = in.unhealthy_reason();
  return hb;
}

void ToProto(const link::TaskUpdate& in, gpulse::v1::TaskUpdate* out) {
  out->set_task_id(in.task_id);
  out->set_kind(WireKind(in.kind));
  out->set_exit_code(in.exit_code);
  out->set_message(in.message);
  out->set_pid(in.pid);
  out->set_attempt(in.attempt);
  out->set_out_of_memory(in.out_of_memory);
  out->set_event_seq(in.event_seq);
}

link::TaskUpdate FromProto(const gpulse::v1::TaskUpdate& in) {
  link::TaskUpdate u;
  u.task_id = in.task_id();
  u.exit_code = in.exit_code();
  u.message = in.message();
  u.attempt = in.attempt();
  u.out_of_memory = in.out_of_memory();
  u.pid = in.pid();
  u.event_seq = in.event_seq();
  switch (in.kind()) {
    case gpulse::v1::TaskUpdate::STARTED: u.kind = link::TaskUpdate::Kind::kStarted; break;
    case gpulse::v1::TaskUpdate::EXITED: u.kind = link::TaskUpdate::Kind::kExited; break;
    case gpulse::v1::TaskUpdate::FAILED_TO_START: u.kind = link::TaskUpdate::Kind::kFailedToStart; break;
    case gpulse::v1::TaskUpdate::CANCELLED: u.kind = link::TaskUpdate::Kind::kCancelled; break;
    default:
      u.kind = link::TaskUpdate::Kind::kFailedToStart;
      u.message = "unknown task update kind";
      break;
  }
  return u;
}

void ToProto(const link::LogChunk& in, gpulse::v1::LogChunk* out) {
  out->set_task_id(in.task_id);
  out->set_attempt(in.attempt);
  out->set_stream(in.stream == link::OutputStream::kStderr ? gpulse::v1::LogChunk::STDERR
                                                           : gpulse::v1::LogChunk::STDOUT);
  out->set_offset(in.offset);
  out->set_data(in.data);
  out->set_dropped_bytes(in.dropped_bytes);
}

link::LogChunk FromProto(const gpulse::v1::LogChunk& in) {
  return {in.task_id(), in.attempt(),
          in.stream() == gpulse::v1::LogChunk::STDERR ? link::OutputStream::kStderr : link::OutputStream::kStdout,
          in.offset(), in.data(), in.dropped_bytes()};
}

void ToProto(const link::Registered& in, gpulse::v1::Registered* out) {
  out->set_heartbeat_interval_ms(static_cast<uint32_t>(in.heartbeat_interval.count()));
  for (const std::string& id : in.cancel_task_ids) out->add_cancel_task_ids(id);
  out->set_acked_event_seq(in.acked_event_seq);
  out->set_reconnect_grace_ms(static_cast<uint32_t>(in.reconnect_grace.count()));
  out->set_task_lease_ms(static_cast<uint32_t>(in.task_lease.count()));
}

link::Registered FromProto(const gpulse::v1::Registered& in) {
  return {milliseconds(in.heartbeat_interval_ms()),
          {in.cancel_task_ids().begin(), in.cancel_task_ids().end()},
          in.acked_event_seq(),
          milliseconds(in.reconnect_grace_ms()),
          milliseconds(in.task_lease_ms())};
}

void ToProto(const link::TaskUpdateAck& in, gpulse::v1::TaskUpdateAck* out) { out->set_event_seq(in.event_seq); }

link::TaskUpdateAck FromProto(const gpulse::v1::TaskUpdateAck& in) { return {in.event_seq()}; }

void ToProto(const link::OutputRefused& in, gpulse::v1::OutputRefused* out) {
  out->set_task_id(in.task_id);
  out->set_attempt(in.attempt);
  out->set_stream(in.stream == link::OutputStream::kStderr ? gpulse::v1::LogChunk::STDERR
                                                           : gpulse::v1::LogChunk::STDOUT);
  out->set_offset(in.offset);
  out->set_reason(in.reason);
}

link::OutputRefused FromProto(const gpulse::v1::OutputRefused& in) {
  return {in.task_id(), in.attempt(),
          in.stream() == gpulse::v1::LogChunk::STDERR ? link::OutputStream::kStderr : link::OutputStream::kStdout,
          in.offset(), in.reason()};
}

void ToProto(const link::Assignment& in, gpulse::v1::Assign* out) {
  out->set_task_id(in.task_id);
  for (const std::string& arg : in.argv) out->add_argv(arg);
  for (const auto& [name, value] : in.env) (*out->mutable_env())[name] = value;
  for (uint32_t i : in.gpu_indices) out->add_gpu_indices(i);
  for (const std::string& uuid : in.gpu_uuids) out->add_gpu_uuids(uuid);
  out->set_cpus(in.cpus);
  out->set_memory_bytes(in.memory_bytes);
  out->set_attempt(in.attempt);
}

link::Assignment FromProto(const gpulse::v1::Assign& in) {
  link::Assignment a;
  a.task_id = in.task_id();
  a.attempt = in.attempt();
  a.argv.assign(in.argv().begin(), in.argv().end());
  a.env.insert(in.env().begin(), in.env().end());
  a.gpu_indices.assign(in.gpu_indices().begin(), in.gpu_indices().end());
  a.gpu_uuids.assign(in.gpu_uuids().begin(), in.gpu_uuids().end());
  a.cpus = in.cpus();
  a.memory_bytes = in.memory_bytes();
  return a;
}

void ToProto(const link::Cancel& in, gpulse::v1::Cancel* out) {
  out->set_task_id(in.task_id);
  out->set_grace_ms(static_cast<uint32_t>(in.grace.count()));
}

link::Cancel FromProto(const gpulse::v1::Cancel& in) { return {in.task_id(), milliseconds(in.grace_ms())}; }

}  // namespace gpulse::proto
