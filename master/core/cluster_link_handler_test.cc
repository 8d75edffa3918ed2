// ClusterLinkHandler: what a worker says on its stream reaches the Cluster,
// History and LogStore — tested without gRPC.
#include "master/core/cluster_link_handler.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(handler_->OnLogChunk(s, {"t-000001", 1, link::OutputStream::kStdout, 0, "hi"}).code(),
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
  WorkerSession s = Registered("w1", 0);
  ASSERT_OK(handler_->OnLogChunk(s, {"t-000001", 1, link::OutputStream::kStdout, 0, "out\n"}));
  ASSERT_OK(handler_->OnLogChunk(s, {"t-000001", 1, link::OutputStream::kStderr, 0, "err\n"}));
  ASSERT_OK(handler_->OnLogChunk(s, {"t-000001", 2, link::OutputStream::kStdout, 0, "again\n"}));
  auto out = logs_->Read("t-000001", 1, LogStream::kStdout, 0, 1024);
  auto err = logs_->Read("t-000001", 1, LogStream::kStderr, 0, 1024);
  auto retry = logs_->Read("t-000001", 2, LogStream::kStdout, 0, 1024);
  ASSERT_OK(out);
  ASSERT_OK(err);
  ASSERT_OK(retry);
  EXPECT_EQ(out->data, "out\n");
  EXPECT_EQ(err->data, "err\n");
  EXPECT_EQ(retry->data, "again\n");
}

TEST_F(ClusterLinkHandlerTest, DisconnectOfTheCurrentStreamDisconnectsTheWorker) {
  WorkerSession old_stream = Registered("w1", 1);
  FakeWorkerChannel newer_channel;
  WorkerSession newer = Session("w1");
  newer.channel = &newer_channel;
  ASSERT_OK(handler_->OnRegister(newer, MakeRegister("w1", 1)));

  handler_->OnDisconnect(old_stream);  // the first stream closes late
  EXPECT_TRUE(GetWorker("w1").connected);
  handler_->OnDisconnect(newer);
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
