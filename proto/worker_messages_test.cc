#include "proto/worker_messages.h"

#include <gtest/gtest.h>

namespace gpulse::proto {
namespace {

using std::chrono::milliseconds;

// Sends a value through its wire message and reads it back.
template <typename Wire, typename Value>
auto RoundTrip(const Value& value) {
  Wire wire;
  ToProto(value, &wire);
  std::string bytes;
  EXPECT_TRUE(wire.SerializeToString(&bytes));
  Wire parsed;
  EXPECT_TRUE(parsed.ParseFromString(bytes));
  return FromProto(parsed);
}

TEST(WorkerMessagesTest, RegistrationRoundTripsWithItsCapacityGpusAndTasks) {
  link::Registration r;
  r.worker_id = "gpu-node-7";
  r.address = "10.0.0.7";
  r.capacity = {"gpu-node-7.example", 96, uint64_t{512} << 30};
  r.gpus = {{0, "GPU-a", "NVIDIA H100 80GB HBM3", "00000000:18:00.0", uint64_t{80} << 30},
            {1, "GPU-b", "", "", std::nullopt}};
  r.running_tasks = {{"t-000003", 2, 4242, {"GPU-a"}}};
  r.heartbeat_interval = milliseconds(2500);
  r.version = "0.1.0";

  link::Registration back = RoundTrip<v1::Register>(r);
  EXPECT_EQ(back.worker_id, "gpu-node-7");
  EXPECT_EQ(back.address, "10.0.0.7");
  EXPECT_EQ(back.capacity, r.capacity);
  EXPECT_EQ(back.gpus, r.gpus);  // an unknown total memory stays unknown
  ASSERT_EQ(back.running_tasks.size(), 1u);
  EXPECT_EQ(back.running_tasks[0].task_id, "t-000003");
  EXPECT_EQ(back.running_tasks[0].attempt, 2u);
  EXPECT_EQ(back.running_tasks[0].pid, 4242);
  EXPECT_EQ(back.running_tasks[0].gpu_uuids, std::vector<std::string>{"GPU-a"});
  EXPECT_EQ(back.heartbeat_interval, milliseconds(2500));
  EXPECT_EQ(back.version, "0.1.0");
}

TEST(WorkerMessagesTest, AnUnstatedIntervalReadsAsZero) {
  EXPECT_EQ(FromProto(v1::Register{}).heartbeat_interval, milliseconds(0));
}

TEST(WorkerMessagesTest, HeartbeatCarriesTheSampleSequenceTimeAndTasks) {
  link::Heartbeat hb;
  hb.seq = 17;
  hb.sent_at = std::chrono::system_clock::time_point(milliseconds(1'800'000'000'123));
  hb.sample.host.cpu_percent = 12.5;
  hb.sample.nvml.available = true;
  GpuSample g;
  g.identity = {3, "GPU-x", "NVIDIA H100 80GB HBM3", "00000000:3B:00.0", uint64_t{80} << 30};
  g.utilization_gpu = 55;
  hb.sample.gpus.push_back(g);
  hb.sample.gpu_percent = 55;
  hb.running_tasks = {{"t-000001", 1, 99, {"GPU-x"}}, {"t-000002", 3, 100, {}}};

  link::Heartbeat back = RoundTrip<v1::Heartbeat>(hb);
  EXPECT_EQ(back.seq, 17u);
  EXPECT_EQ(back.sent_at, hb.sent_at);
  EXPECT_EQ(back.sample.host.cpu_percent, 12.5);
  EXPECT_FALSE(back.sample.host.memory_percent.has_value());
  ASSERT_EQ(back.sample.gpus.size(), 1u);
  EXPECT_EQ(back.sample.gpus[0].identity, g.identity);
  EXPECT_EQ(back.sample.gpus[0].utilization_gpu, 55);
  EXPECT_EQ(back.sample.gpu_percent, 55);
  ASSERT_EQ(back.running_tasks.size(), 2u);
  EXPECT_EQ(back.running_tasks[1].task_id, "t-000002");
  EXPECT_EQ(back.running_tasks[1].attempt, 3u);
  EXPECT_EQ(back.running_tasks[1].pid, 100);
}

TEST(WorkerMessagesTest, EveryTaskUpdateKindRoundTrips) {
  using Kind = link::TaskUpdate::Kind;
  for (Kind kind : {Kind::kStarted, Kind::kExited, Kind::kFailedToStart, Kind::kCancelled}) {
    link::TaskUpdate u{"t-000009", kind, 137, "killed by signal 9", 2, 777};
    link::TaskUpdate back = RoundTrip<v1::TaskUpdate>(u);
    EXPECT_EQ(back.kind, kind);
    EXPECT_EQ(back.task_id, "t-000009");
    EXPECT_EQ(back.exit_code, 137);
    EXPECT_EQ(back.message, "killed by signal 9");
    EXPECT_EQ(back.attempt, 2u);
    EXPECT_EQ(back.pid, 777);
  }
}

TEST(WorkerMessagesTest, AnUnknownTaskUpdateKindReadsAsAFailureToStart) {
  v1::TaskUpdate wire;
  wire.set_task_id("t-000001");
  wire.set_message("whatever the worker said");
  link::TaskUpdate u = FromProto(wire);  // KIND_UNSPECIFIED
  EXPECT_EQ(u.kind, link::TaskUpdate::Kind::kFailedToStart);
  EXPECT_EQ(u.message, "unknown task update kind");
}

TEST(WorkerMessagesTest, LogChunksKeepTheirAttemptStreamOffsetAndBytes) {
  const std::string bytes("line\n\0\xff", 7);
  for (link::OutputStream stream : {link::OutputStream::kStdout, link::OutputStream::kStderr}) {
    link::LogChunk back = RoundTrip<v1::LogChunk>(link::LogChunk{"t-000004", 3, stream, 65536, bytes});
    EXPECT_EQ(back.task_id, "t-000004");
    EXPECT_EQ(back.attempt, 3u);
    EXPECT_EQ(back.stream, stream);
    EXPECT_EQ(back.offset, 65536u);
    EXPECT_EQ(back.data, bytes);
  }
}

TEST(WorkerMessagesTest, AssignmentRoundTrips) {
  link::Assignment a{"t-000005",      4, {"python3", "train.py"}, {{"EPOCHS", "3"}, {"SEED", "7"}}, {2, 0},
                     {"GPU-c", "GPU-a"}, 8, uint64_t{64} << 30};
  link::Assignment back = RoundTrip<v1::Assign>(a);
  EXPECT_EQ(back.task_id, a.task_id);
  EXPECT_EQ(back.attempt, 4u);
  EXPECT_EQ(back.argv, a.argv);
  EXPECT_EQ(back.env, a.env);
  EXPECT_EQ(back.gpu_indices, a.gpu_indices);  // order kept: indices and UUIDs pair up
  EXPECT_EQ(back.gpu_uuids, a.gpu_uuids);
  EXPECT_EQ(back.cpus, 8u);
  EXPECT_EQ(back.memory_bytes, uint64_t{64} << 30);
}

TEST(WorkerMessagesTest, RegisteredAndCancelRoundTrip) {
  link::Registered r = RoundTrip<v1::Registered>(link::Registered{milliseconds(5000), {"t-000001", "t-000002"}});
  EXPECT_EQ(r.heartbeat_interval, milliseconds(5000));
  EXPECT_EQ(r.cancel_task_ids, (std::vector<std::string>{"t-000001", "t-000002"}));

  link::Cancel c = RoundTrip<v1::Cancel>(link::Cancel{"t-000003", milliseconds(10000)});
  EXPECT_EQ(c.task_id, "t-000003");
  EXPECT_EQ(c.grace, milliseconds(10000));
}

// Exactly-once delivery rides on these: the event number out, the acks
// back, and the unacknowledged updates inside a registration.
TEST(WorkerMessagesTest, EventNumbersAcksAndUpdatesInARegistrationRoundTrip) {
  link::TaskUpdate u{"t-000009", link::TaskUpdate::Kind::kExited, 7, "exited with code 7", 1, 4242};
  u.event_seq = 41;
  EXPECT_EQ(RoundTrip<v1::TaskUpdate>(u).event_seq, 41u);

  link::Registration r;
  r.worker_id = "w1";
  r.task_updates = {u, u};
  r.task_updates[1].event_seq = 42;
  r.unhealthy_reason = "cannot create task directories under '/w/tasks': Not a directory";
  link::Registration back = RoundTrip<v1::Register>(r);
  ASSERT_EQ(back.task_updates.size(), 2u);
  EXPECT_EQ(back.task_updates[0].event_seq, 41u);
  EXPECT_EQ(back.task_updates[1].event_seq, 42u);
  EXPECT_EQ(back.task_updates[1].exit_code, 7);
  EXPECT_EQ(back.unhealthy_reason, r.unhealthy_reason);

  link::Registered reply = RoundTrip<v1::Registered>(link::Registered{milliseconds(1000), {}, 42, milliseconds(3000)});
  EXPECT_EQ(reply.acked_event_seq, 42u);
  EXPECT_EQ(reply.reconnect_grace, milliseconds(3000));
  EXPECT_EQ(RoundTrip<v1::TaskUpdateAck>(link::TaskUpdateAck{43}).event_seq, 43u);

  link::Heartbeat hb;
  hb.unhealthy_reason = "broken";
  EXPECT_EQ(RoundTrip<v1::Heartbeat>(hb).unhealthy_reason, "broken");
}

// Issue 8: the master's refusal of output, and a worker saying it re-sends.
TEST(WorkerMessagesTest, OutputRefusedAndResendingRoundTrip) {
  const link::OutputRefused refused =
      RoundTrip<v1::OutputRefused>(link::OutputRefused{"t-000007", 2, link::OutputStream::kStderr, 65536, "full"});
  EXPECT_EQ(refused.task_id, "t-000007");
  EXPECT_EQ(refused.attempt, 2u);
  EXPECT_EQ(refused.stream, link::OutputStream::kStderr);
  EXPECT_EQ(refused.offset, 65536u);
  EXPECT_EQ(refused.reason, "full");
  link::Registration r;
  r.worker_id = "w";
  r.resends_refused_output = true;
  EXPECT_TRUE(RoundTrip<v1::Register>(r).resends_refused_output);
  EXPECT_FALSE(RoundTrip<v1::Register>(link::Registration{}).resends_refused_output);
}

}  // namespace
}  // namespace gpulse::proto
