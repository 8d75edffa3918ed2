// ClusterLinkHandler: what a worker says on its stream reaches the Cluster,
// History and LogStore — tested without gRPC.
#include "master/core/cluster_link_handler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "link/protocol.h"
#include "master/core/cluster_test_util.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

using namespace std::chrono_literals;

class ClusterLinkHandlerTest : public ClusterFixture {
 protected:
  void SetUp() override {
    ClusterFixture::SetUp();
    auto logs = LogStore::Open(dir_.File("logs"));
    ASSERT_OK(logs);
    logs_ = std::move(*logs);
    handler_ = std::make_unique<ClusterLinkHandler>(*cluster_, history_, *logs_, clock_);
  }

  // A stream that opened for `worker` (its channel is the fixture's).
  WorkerSession Session(const std::string& worker) {
    WorkerSession s;
    s.channel = &Channel(worker);
    s.peer = "ipv4:10.0.0.1:4242";
    return s;
  }

  // A session whose worker registered with `gpus` GPUs.
  WorkerSession Registered(const std::string& worker, size_t gpus) {
    WorkerSession s = Session(worker);
    EXPECT_OK(handler_->OnRegister(s, MakeRegister(worker, gpus)));
    return s;
  }

  testkit::TempDir dir_;
  History history_;
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<ClusterLinkHandler> handler_;
};

TEST_F(ClusterLinkHandlerTest, RegistrationRegistersTheWorkerAndBindsTheSession) {
  WorkerSession s = Session("w1");
  link::Registration r = MakeRegister("w1", 2);
  r.running_tasks.push_back({"t-999999", 1, 0, {}});
  auto reply = handler_->OnRegister(s, r);
  ASSERT_OK(reply);
  EXPECT_EQ(reply->heartbeat_interval, 1000ms);
  EXPECT_EQ(reply->cancel_task_ids, std::vector<std::string>{"t-999999"});  // nobody knows it
  EXPECT_EQ(s.worker_id, "w1");
  EXPECT_EQ(s.heartbeat_interval, 1000ms);
  Worker w = GetWorker("w1");
  EXPECT_TRUE(w.connected);
  EXPECT_EQ(w.capacity, r.capacity);
  ASSERT_EQ(w.gpus.size(), 2u);
  EXPECT_EQ(w.gpus[1].identity, r.gpus[1]);
}

TEST_F(ClusterLinkHandlerTest, AStreamSpeaksForOneWorker) {
  WorkerSession s = Registered("w1", 1);
  EXPECT_OK(handler_->OnRegister(s, MakeRegister("w1", 2)));  // again, e.g. after a GPU change
  auto other = handler_->OnRegister(s, MakeRegister("w2", 1));
  EXPECT_EQ(other.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.worker_id, "w1");
  EXPECT_FALSE(cluster_->GetWorker("w2").has_value());

  WorkerSession fresh = Session("w3");
  EXPECT_EQ(handler_->OnRegister(fresh, MakeRegister("", 1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fresh.registered());
}

// The upgrade order is master first: a worker one version older is served, a
// newer one is told to wait for the master's upgrade and is not registered.
TEST_F(ClusterLinkHandlerTest, WorkersOfTheMastersProtocolOrTheOneBeforeAreServed) {
  WorkerSession older = Session("w1");
  link::Registration r = MakeRegister("w1", 1);
  r.protocol_version = link::kProtocolVersion - 1;  // 0 while there is one version: a worker from before the field
  EXPECT_OK(handler_->OnRegister(older, r));

  WorkerSession newer = Session("w2");
  link::Registration n = MakeRegister("w2", 1);
  n.protocol_version = link::kProtocolVersion + 1;
  auto reply = handler_->OnRegister(newer, n);
  EXPECT_EQ(reply.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(reply.status().message().find("upgrade the master first"), std::string::npos);
  EXPECT_FALSE(newer.registered());
  EXPECT_FALSE(cluster_->GetWorker("w2").has_value());
}

TEST_F(ClusterLinkHandlerTest, RegistrationBeforeRecoveryIsRetryable) {
  Cluster unrecovered(store_, *policy_, clock_);
  ClusterLinkHandler handler(unrecovered, history_, *logs_, clock_);
  WorkerSession s = Session("w1");
  auto reply = handler.OnRegister(s, MakeRegister("w1", 1));
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(s.registered());
}

TEST_F(ClusterLinkHandlerTest, NothingButRegisterIsTakenBeforeRegistration) {
  WorkerSession s = Session("w1");
  EXPECT_EQ(handler_->OnHeartbeat(s, MakeReport("w1", {50})).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(handler_->OnTaskUpdate(s, {"t-000001", link::TaskUpdate::Kind::kStarted, 0, "", 1, 42}).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(handler_->OnLogChunk(s, {"t-000001", 1, link::OutputStream::kStdout, 0, "hi"}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE(history_.Get("w1").has_value());
  handler_->OnDisconnect(s);  // nothing to disconnect
  EXPECT_TRUE(cluster_->Workers().empty());
}

TEST_F(ClusterLinkHandlerTest, HeartbeatGoesToHistoryAtTheInjectedClockAndToTheCluster) {
  WorkerSession s = Registered("w1", 2);
  clock_.Advance(1500ms);
  ASSERT_OK(handler_->OnHeartbeat(s, MakeReport("w1", {30, 70}, 25)));

  auto history = history_.Get("w1");
  ASSERT_TRUE(history.has_value());
  EXPECT_EQ(history->interval, 1000ms);  // as registered
  ASSERT_EQ(history->t_ms.size(), 1u);
  EXPECT_EQ(history->t_ms[0],
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch()).count());
  EXPECT_FLOAT_EQ(history->cpu_percent[0], 25.0f);
  ASSERT_EQ(history->gpus.size(), 2u);
  EXPECT_FLOAT_EQ(history->gpus[1].utilization_gpu[0], 70.0f);

  Worker w = GetWorker("w1");
  EXPECT_EQ(w.heartbeats, 1u);
  EXPECT_EQ(w.last_heartbeat, clock_.WallNow());
  EXPECT_EQ(w.gpus[0].live.utilization_gpu, 30);
}

TEST_F(ClusterLinkHandlerTest, TaskUpdatesAreAppliedAndStaleOnesIgnoredWithoutEndingTheStream) {
  WorkerSession s = Registered("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_OK(handler_->OnTaskUpdate(s, {t.id, link::TaskUpdate::Kind::kStarted, 0, "", 1, 4242}));
  EXPECT_EQ(Get(t.id).state, TaskState::kRunning);

  // About an attempt that is not the current one: refused by the Cluster,
  // but not a reason to drop the worker's stream.
  EXPECT_OK(handler_->OnTaskUpdate(s, {t.id, link::TaskUpdate::Kind::kExited, 1, "", 7, 4242}));
  EXPECT_EQ(Get(t.id).state, TaskState::kRunning);
}

TEST_F(ClusterLinkHandlerTest, LogChunksAreStoredPerAttemptAndStream) {
  WorkerSession s = Registered("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_OK(handler_->OnLogChunk(s, {t.id, 1, link::OutputStream::kStdout, 0, "out\n"}));
  ASSERT_OK(handler_->OnLogChunk(s, {t.id, 1, link::OutputStream::kStderr, 0, "err\n"}));
  auto out = logs_->Read(t.id, 1, LogStream::kStdout, 0, 1024);
  auto err = logs_->Read(t.id, 1, LogStream::kStderr, 0, 1024);
  ASSERT_OK(out);
  ASSERT_OK(err);
  EXPECT_EQ(out->data, "out\n");
  EXPECT_EQ(err->data, "err\n");
  EXPECT_TRUE(GetWorker("w1").messages_refused.empty());
}

// Issue 8: output the master cannot store is refused back to a worker that
// re-sends it (from where the store ends), the task says so until output
// is stored again, and nothing is stored twice or marked lost.
TEST_F(ClusterLinkHandlerTest, OutputThatCannotBeStoredIsRefusedForTheWorkerToResendAndTheTaskSaysSo) {
  WorkerSession s = Session("w1");
  link::Registration r = MakeRegister("w1", 1);
  r.resends_refused_output = true;
  ASSERT_OK(handler_->OnRegister(s, r));
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_OK(handler_->OnTaskUpdate(s, {t.id, link::TaskUpdate::Kind::kStarted, 0, "", 1, 4242}));
  const auto chunk = [&](uint64_t offset, std::string data) {
    return link::LogChunk{t.id, 1, link::OutputStream::kStdout, offset, std::move(data)};
  };

  // The store cannot write the task's logs (a file where its folder goes).
  const std::string task_dir = dir_.File("logs") + "/" + t.id;
  { std::ofstream blocker(task_dir); }
  auto refused = handler_->OnLogChunk(s, chunk(0, "one\n"));
  ASSERT_OK(refused);
  ASSERT_TRUE(refused->has_value());
  EXPECT_EQ((*refused)->offset, 0u);
  EXPECT_EQ((*refused)->task_id, t.id);
  const std::string said = Get(t.id).message;
  EXPECT_EQ(said.rfind("output not stored: ", 0), 0u) << said;
  EXPECT_NE(said.find("the worker will re-send"), std::string::npos) << said;
  ASSERT_OK(handler_->OnLogChunk(s, chunk(4, "two\n")));  // in flight before the worker heard

  // Space again: the worker re-sends from 0; repeats are skipped.
  std::filesystem::remove(task_dir);
  for (auto [offset, data] : {std::pair<uint64_t, const char*>{0, "one\n"}, {4, "two\n"}, {0, "one\n"}}) {
    auto stored = handler_->OnLogChunk(s, chunk(offset, data));
    ASSERT_OK(stored);
    EXPECT_FALSE(stored->has_value()) << (*stored)->reason;
  }
  EXPECT_EQ(Get(t.id).message, "");
  EXPECT_EQ(logs_->Read(t.id, 1, LogStream::kStdout, 0, 1024)->data, "one\ntwo\n");

  // A chunk past the stored end waits for the bytes before it.
  auto ahead = handler_->OnLogChunk(s, chunk(100, "later\n"));
  ASSERT_OK(ahead);
  ASSERT_TRUE(ahead->has_value());
  EXPECT_EQ((*ahead)->offset, 8u);
  EXPECT_EQ(logs_->Read(t.id, 1, LogStream::kStdout, 0, 1024)->data, "one\ntwo\n");

  // Output owed by an attempt is still taken from its worker once it finished.
  ASSERT_OK(handler_->OnTaskUpdate(s, {t.id, link::TaskUpdate::Kind::kExited, 0, "", 1, 4242}));
  ASSERT_OK(handler_->OnLogChunk(s, chunk(8, "three\n")));
  EXPECT_EQ(logs_->Read(t.id, 1, LogStream::kStdout, 0, 1024)->data, "one\ntwo\nthree\n");
}

// Observation 4 of issue 9: any worker could append to any task's log.
TEST_F(ClusterLinkHandlerTest, AWorkerMayWriteOnlyTheOutputOfItsOwnCurrentAttempts) {
  WorkerSession mine = Registered("w1", 1);
  WorkerSession other = Registered("w2", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  const std::string placed_on = Get(t.id).worker_id;
  WorkerSession& owner = placed_on == "w1" ? mine : other;
  WorkerSession& stranger = placed_on == "w1" ? other : mine;

  // Someone else's task, a made-up id, another attempt: refused (the stream
  // stays), nothing stored, each counted.
  EXPECT_OK(handler_->OnLogChunk(stranger, {t.id, 1, link::OutputStream::kStdout, 0, "forged\n"}));
  EXPECT_OK(handler_->OnLogChunk(owner, {"t-999999", 1, link::OutputStream::kStdout, 0, "made up\n"}));
  EXPECT_OK(handler_->OnLogChunk(owner, {t.id, 2, link::OutputStream::kStdout, 0, "later\n"}));
  EXPECT_FALSE(logs_->Read(t.id, 1, LogStream::kStdout, 0, 1024).ok() &&
               !logs_->Read(t.id, 1, LogStream::kStdout, 0, 1024)->data.empty());
  EXPECT_FALSE(logs_->Read("t-999999", 1, LogStream::kStdout, 0, 1024).ok() &&
               !logs_->Read("t-999999", 1, LogStream::kStdout, 0, 1024)->data.empty());
  EXPECT_EQ(GetWorker(stranger.worker_id).messages_refused.at("log_chunk"), 1u);
  EXPECT_EQ(GetWorker(owner.worker_id).messages_refused.at("log_chunk"), 2u);

  // A finished task takes no more output, even from its own worker.
  ASSERT_OK(handler_->OnLogChunk(owner, {t.id, 1, link::OutputStream::kStdout, 0, "done\n"}));
  ASSERT_OK(handler_->OnTaskUpdate(owner, {t.id, link::TaskUpdate::Kind::kExited, 0, "", 1, 42}));
  EXPECT_OK(handler_->OnLogChunk(owner, {t.id, 1, link::OutputStream::kStdout, 5, "more\n"}));
  EXPECT_EQ(logs_->Read(t.id, 1, LogStream::kStdout, 0, 1024)->data, "done\n");
  // So does a task update about someone else's task.
  EXPECT_OK(handler_->OnTaskUpdate(stranger, {t.id, link::TaskUpdate::Kind::kStarted, 0, "", 1, 42}));
  EXPECT_EQ(GetWorker(stranger.worker_id).messages_refused.at("task_update"), 1u);
}

// Observation 2 of issue 9: a ring per GPU index a heartbeat mentioned,
// sized from the interval the worker claimed (1 ms), took 400 MiB for
// three small heartbeats and then all the master's memory.
TEST_F(ClusterLinkHandlerTest, HeartbeatsNamingThousandsOfGpusAtAOneMillisecondIntervalAllocateNothing) {
  WorkerSession s = Session("w1");
  link::Registration r = MakeRegister("w1", 2);
  r.heartbeat_interval = 1ms;
  auto reply = handler_->OnRegister(s, r);
  ASSERT_OK(reply);
  EXPECT_EQ(reply->heartbeat_interval, 1000ms);  // granted, not claimed
  EXPECT_EQ(GetWorker("w1").heartbeat_interval, 1000ms);
  // The bound: one ring per registered GPU at the granted interval (3,600
  // points of the default 1 h window at 1 s): 2 GPUs x 3,600 x 20 B plus
  // the host's 3,600 x 20 B.
  const size_t registered = history_.BytesHeld();
  EXPECT_LE(registered, size_t{3 * 3600 * 20});

  for (uint64_t seq = 1; seq <= 3; ++seq) {
    link::Heartbeat hb = MakeReport("w1", {40, 60});
    for (uint32_t i = 2; i < 5000; ++i) hb.sample.gpus.push_back(MakeGpuSample("w1", i, 50));
    hb.seq = seq;
    clock_.Advance(1ms);
    ASSERT_OK(handler_->OnHeartbeat(s, std::move(hb)));
  }
  EXPECT_EQ(history_.BytesHeld(), registered);
  EXPECT_EQ(history_.Get("w1")->gpus.size(), 2u);
  Worker w = GetWorker("w1");
  EXPECT_EQ(w.gpus.size(), 2u);
  EXPECT_EQ(w.gpus[1].live.utilization_gpu, 60.0);
  // 4,998 extra GPUs per heartbeat: 4,936 beyond the limit of 64 are cut,
  // 62 more are within it but were never registered.
  EXPECT_EQ(w.values_rejected.at("gpus"), 3u * (5000 - kMaxGpusPerWorker));
  EXPECT_EQ(w.values_rejected.at("gpu.unregistered"), 3u * (kMaxGpusPerWorker - 2));

  // Liveness runs on the granted interval: dead 3 s after the last beat.
  clock_.Advance(3500ms);
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kDead);
}

// Observation 4 of issue 9: 2,000 GPUs, 2^32-1 cores, 2^64-1 bytes and
// -50 % were stored and re-exported.
TEST_F(ClusterLinkHandlerTest, AbsurdReportsAreRefusedOrDroppedNeverStored) {
  WorkerSession s = Session("liar");
  auto refused = handler_->OnRegister(s, MakeRegister("liar", 2000));
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("at most 64"), std::string::npos) << refused.status().message();
  EXPECT_EQ(handler_->OnRegister(s, MakeRegister("liar", 1, 0xFFFFFFFFu)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(s.registered());
  EXPECT_FALSE(cluster_->GetWorker("liar").has_value());

  // A worker that claims to wait a day between heartbeats is still dead
  // after 3 minutes (3 x the 60 s the master grants at most).
  link::Registration slow = MakeRegister("liar", 1);
  slow.heartbeat_interval = std::chrono::hours(24);
  auto reply = handler_->OnRegister(s, slow);
  ASSERT_OK(reply);
  EXPECT_EQ(reply->heartbeat_interval, 60000ms);

  link::Heartbeat hb = MakeReport("liar", {-50}, -50);
  hb.sample.gpus[0].temperature_c = 1e9;
  hb.sample.gpus[0].memory_used_bytes = ~uint64_t{0};
  ASSERT_OK(handler_->OnHeartbeat(s, std::move(hb)));
  Worker w = GetWorker("liar");
  EXPECT_FALSE(w.host.cpu_percent.has_value());
  EXPECT_FALSE(w.gpus[0].live.utilization_gpu.has_value());
  EXPECT_FALSE(w.gpus[0].live.temperature_c.has_value());
  EXPECT_FALSE(w.gpus[0].live.memory_used_bytes.has_value());
  EXPECT_EQ(w.values_rejected.at("host.cpu_percent"), 1u);
  EXPECT_EQ(w.values_rejected.at("gpu.utilization_gpu"), 1u);
  EXPECT_EQ(w.values_rejected.at("gpu.temperature_c"), 1u);
  auto history = history_.Get("liar");
  EXPECT_TRUE(std::isnan(history->cpu_percent[0]));
  EXPECT_TRUE(std::isnan(history->gpus[0].utilization_gpu[0]));

  clock_.Advance(std::chrono::seconds(181));
  cluster_->CheckLiveness();
  EXPECT_EQ(GetWorker("liar").state, WorkerState::kDead);
}

// Observation 3 of issue 9: a second stream registering the id of a live
// worker silently took it over, requeued its tasks onto the impostor and
// had the real worker's reports ignored as stale.
TEST_F(ClusterLinkHandlerTest, ASecondStreamCannotTakeTheIdOfAConnectedWorker) {
  WorkerSession real = Registered("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  ASSERT_OK(handler_->OnTaskUpdate(real, {t.id, link::TaskUpdate::Kind::kStarted, 0, "", 1, 4242}));

  FakeWorkerChannel impostor_channel;
  WorkerSession impostor = Session("w1");
  impostor.channel = &impostor_channel;
  auto refused = handler_->OnRegister(impostor, MakeRegister("w1", 1));  // reports no tasks
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("worker w1 is already connected"), std::string::npos)
      << refused.status().message();
  EXPECT_FALSE(impostor.registered());
  handler_->OnDisconnect(impostor);  // its stream ends; the real one is untouched

  // The task stays with the real worker, whose reports still count.
  EXPECT_EQ(Get(t.id).state, TaskState::kRunning);
  EXPECT_TRUE(GetWorker("w1").connected);
  ASSERT_OK(handler_->OnTaskUpdate(real, {t.id, link::TaskUpdate::Kind::kExited, 0, "", 1, 4242}));
  EXPECT_EQ(Get(t.id).state, TaskState::kSucceeded);
  EXPECT_TRUE(impostor_channel.assigns.empty());
  EXPECT_TRUE(impostor_channel.cancels.empty());
}

TEST_F(ClusterLinkHandlerTest, OnceTheFirstStreamClosedANewOneRegistersAndIsReconciled) {
  WorkerSession first = Registered("w1", 1);
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  handler_->OnDisconnect(first);
  EXPECT_FALSE(GetWorker("w1").connected);

  FakeWorkerChannel next_channel;
  WorkerSession next = Session("w1");
  next.channel = &next_channel;
  link::Registration r = MakeRegister("w1", 1);
  r.running_tasks.push_back({t.id, 1, 4242, {GpuUuid("w1", 0)}});
  ASSERT_OK(handler_->OnRegister(next, r));
  EXPECT_TRUE(GetWorker("w1").connected);
  EXPECT_EQ(Get(t.id).state, TaskState::kRunning);  // it still runs it
  handler_->OnDisconnect(first);  // a late close of the first stream changes nothing
  EXPECT_TRUE(GetWorker("w1").connected);
  handler_->OnDisconnect(next);
  EXPECT_FALSE(GetWorker("w1").connected);
}

TEST(AssignmentForTest, CarriesTheTaskItsAttemptAndItsGpus) {
  Task t;
  t.id = "t-000042";
  t.spec.argv = {"python3", "train.py"};
  t.spec.env = {{"SEED", "7"}};
  t.spec.cpus = 4;
  t.spec.memory_bytes = uint64_t{16} << 30;
  t.attempts = 2;
  t.gpu_indices = {3, 1};
  t.gpu_uuids = {"GPU-d", "GPU-b"};
  link::Assignment a = AssignmentFor(t);
  EXPECT_EQ(a.task_id, "t-000042");
  EXPECT_EQ(a.attempt, 2u);
  EXPECT_EQ(a.argv, t.spec.argv);
  EXPECT_EQ(a.env, t.spec.env);
  EXPECT_EQ(a.gpu_indices, t.gpu_indices);
  EXPECT_EQ(a.gpu_uuids, t.gpu_uuids);
  EXPECT_EQ(a.cpus, 4u);
  EXPECT_EQ(a.memory_bytes, uint64_t{16} << 30);
}

}  // namespace
}  // namespace gpulse::master
