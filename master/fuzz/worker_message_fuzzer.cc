// libFuzzer target for what a worker sends on its stream: the input is the
// bytes of one gpulse.v1.WorkerMessage (Register, Heartbeat, TaskUpdate or
// LogChunk), handled as WorkerLinkService does — parsed, converted with
// proto/ and handed to the master's ClusterLinkHandler in front of a
// FuzzCluster — so the master's validation and bounds run, not only
// protobuf parsing. A Register comes on a new stream (its own session); the
// other messages on the stream of the registered worker w1, which then
// closes. Besides not crashing or leaking: afterwards every worker the
// master keeps stays within the bounds of worker_report_limits.h (GPU
// count, capacity, granted heartbeat interval, percentages 0..100).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include <google/protobuf/stubs/logging.h>

#include "master/core/worker_report_limits.h"
#include "master/fuzz/fuzz_cluster.h"
#include "proto/gpulse.pb.h"
#include "proto/worker_messages.h"

namespace {

using gpulse::master::WorkerSession;
using gpulse::v1::WorkerMessage;

// As WorkerLinkService's stream does with one message; the status is the
// handler's (an error would end the stream) and needs no check here.
void Handle(gpulse::master::fuzz::FuzzCluster& fixture, const WorkerMessage& msg) {
  auto& handler = *fixture.handler;
  switch (msg.body_case()) {
    case WorkerMessage::kRegister: {
      gpulse::master::fuzz::DiscardingChannel channel;
      WorkerSession session;
      session.channel = &channel;
      session.peer = "ipv4:10.0.0.9:50001";
      (void)handler.OnRegister(session, gpulse::proto::FromProto(msg.register_()));
      handler.OnDisconnect(session);
      return;
    }
    case WorkerMessage::kHeartbeat:
      (void)handler.OnHeartbeat(fixture.w1_session, gpulse::proto::FromProto(msg.heartbeat()));
      break;
    case WorkerMessage::kTaskUpdate:
      (void)handler.OnTaskUpdate(fixture.w1_session, gpulse::proto::FromProto(msg.task_update()));
      break;
    case WorkerMessage::kLog:
      (void)handler.OnLogChunk(fixture.w1_session, gpulse::proto::FromProto(msg.log()));
      break;
    default:
      break;
  }
  handler.OnDisconnect(fixture.w1_session);
}

void CheckPercent(const std::optional<double>& value) {
  if (value && !(*value >= 0 && *value <= 100)) std::abort();
}

void CheckWorkers(const gpulse::master::Cluster& cluster) {
  using namespace gpulse::master;
  const HeartbeatIntervalBounds bounds;
  for (const Worker& w : cluster.Workers()) {
    if (w.gpus.size() > kMaxGpusPerWorker) std::abort();
    if (w.capacity.cpu_cores > kMaxWorkerCpuCores || w.capacity.memory_bytes > kMaxWorkerMemoryBytes) std::abort();
    if (w.heartbeat_interval < bounds.min || w.heartbeat_interval > bounds.max) std::abort();
    CheckPercent(w.host.cpu_percent);
    CheckPercent(w.host.memory_percent);
    CheckPercent(w.gpu_percent);
    for (const WorkerGpu& gpu : w.gpus) {
      CheckPercent(gpu.live.utilization_gpu);
      CheckPercent(gpu.live.utilization_memory);
      CheckPercent(gpu.live.fan_percent);
      if (gpu.live.temperature_c && !std::isfinite(*gpu.live.temperature_c)) std::abort();
    }
  }
}

}  // namespace

// The master's log lines and protobuf's complaints about each bad input
// would only slow the fuzzer down.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gpulse::master::fuzz::SilenceLogs();
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  WorkerMessage msg;
  if (!msg.ParseFromArray(data, static_cast<int>(size))) return 0;  // gRPC would refuse it
  gpulse::master::fuzz::FuzzCluster fixture;
  Handle(fixture, msg);
  CheckWorkers(*fixture.cluster);
  return 0;
}
