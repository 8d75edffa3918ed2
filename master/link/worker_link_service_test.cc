// The worker link over real gRPC on a loopback port of its own: a raw
// client stream plays the worker against WorkerLinkService in front of a
// fixture cluster, so every wire message and its effect is checked.
#include "master/link/worker_link_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "master/core/cluster_link_handler.h"
#include "master/core/cluster_test_util.h"
#include "master/core/history.h"
#include "testkit/eventually.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

using gpulse::v1::MasterMessage;
using gpulse::v1::WorkerMessage;
using std::chrono::seconds;
using testkit::Eventually;

const std::string kToken(64, 'a');

std::string TokenDifferingAt(size_t at) {
  std::string t = kToken;
  t[at] = 'b';
  return t;
}

// One worker's side of a stream.
struct FakeWorker {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<WorkerMessage, MasterMessage>> stream;

  bool Write(const WorkerMessage& m) { return stream->Write(m); }
  MasterMessage Read() {
    MasterMessage m;
    EXPECT_TRUE(stream->Read(&m)) << "the master closed the stream";
    return m;
  }
  grpc::Status Close() {
    stream->WritesDone();
    MasterMessage ignored;
    while (stream->Read(&ignored)) {
    }
    return stream->Finish();
  }
};

WorkerMessage RegisterMessage(const std::string& id, int gpus) {
  WorkerMessage m;
  auto* r = m.mutable_register_();
  r->set_worker_id(id);
  r->set_hostname(id + ".example");
  r->set_cpu_cores(8);
  r->set_memory_bytes(64 * kGiB);
  r->set_heartbeat_interval_ms(1000);
  for (int i = 0; i < gpus; ++i) {
    auto* g = r->add_gpus();
    g->set_index(i);
    g->set_uuid(GpuUuid(id, i));
    g->set_name("NVIDIA H100 80GB HBM3");
    g->set_memory_total_bytes(80 * kGiB);
  }
  return m;
}

WorkerMessage HeartbeatMessage(const std::string& id, uint64_t seq, double utilization) {
  WorkerMessage m;
  auto* h = m.mutable_heartbeat();
  h->set_seq(seq);
  h->set_cpu_percent(12.5);
  h->set_nvml_available(true);
  auto* g = h->add_gpus();
  g->set_index(0);
  g->set_uuid(GpuUuid(id, 0));
  g->set_utilization_gpu(utilization);
  h->set_gpu_percent(utilization);
  return m;
}

class WorkerLinkServiceTest : public ClusterFixture {
 protected:
  void SetUp() override {
    ClusterFixture::SetUp();
    auto logs = LogStore::Open(dir_.File("logs"));
    ASSERT_OK(logs);
    logs_ = std::move(*logs);
    handler_ = std::make_unique<ClusterLinkHandler>(*cluster_, history_, *logs_, clock_);
    service_ = std::make_unique<WorkerLinkService>(*handler_, kToken, identities_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    builder.SetMaxReceiveMessageSize(kMaxWorkerMessageBytes);  // as MasterServer does
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
    stub_ = gpulse::v1::WorkerLink::NewStub(channel_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + seconds(2));
  }

  // `token` empty: no authorization metadata at all.
  std::unique_ptr<FakeWorker> Connect(const std::string& token = kToken) {
    auto w = std::make_unique<FakeWorker>();
    if (!token.empty()) w->context.AddMetadata("authorization", "Bearer " + token);
    w->context.set_deadline(std::chrono::system_clock::now() + seconds(20));
    w->stream = stub_->Connect(&w->context);
    return w;
  }

  // Connects and registers `id`; the master's Registered reply is checked.
  std::unique_ptr<FakeWorker> ConnectAs(const std::string& id, int gpus = 1) {
    auto w = Connect();
    EXPECT_TRUE(w->Write(RegisterMessage(id, gpus)));
    MasterMessage reply = w->Read();
    EXPECT_TRUE(reply.has_registered()) << reply.DebugString();
    EXPECT_EQ(reply.registered().heartbeat_interval_ms(), 1000u);
    return w;
  }

  testkit::TempDir dir_{"gpulse-link"};
  WorkerIdentities* identities_ = nullptr;  // set before SetUp to check identities
  std::unique_ptr<LogStore> logs_;
  History history_{HistoryConfig{seconds(60), 1000, std::chrono::milliseconds(1000)}};
  std::unique_ptr<ClusterLinkHandler> handler_;
  std::unique_ptr<WorkerLinkService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<gpulse::v1::WorkerLink::Stub> stub_;
};

TEST_F(WorkerLinkServiceTest, StreamsWithoutTheExactTokenAreRefused) {
  for (const std::string& wrong : {std::string(), TokenDifferingAt(0), TokenDifferingAt(63), std::string("short")}) {
    auto w = Connect(wrong);
    w->Write(RegisterMessage("intruder", 1));
    grpc::Status status = w->Close();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong;
    EXPECT_NE(status.error_message().find(wrong.empty() ? "no cluster token" : "wrong cluster token"),
              std::string::npos)
        << status.error_message();
  }
  EXPECT_TRUE(cluster_->Workers().empty());
}

TEST_F(WorkerLinkServiceTest, TheFirstMessageMustBeRegister) {
  auto w = Connect();
  w->Write(HeartbeatMessage("w1", 1, 10));
  grpc::Status status = w->Close();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("Register"), std::string::npos) << status.error_message();
  EXPECT_TRUE(cluster_->Workers().empty());
}

TEST_F(WorkerLinkServiceTest, HeartbeatsAreAckedCountedAndRecorded) {
  auto w = ConnectAs("w1");
  Worker registered = GetWorker("w1");
  EXPECT_TRUE(registered.connected);
  EXPECT_EQ(registered.capacity.cpu_cores, 8u);
  EXPECT_EQ(registered.heartbeat_interval, std::chrono::milliseconds(1000));
  ASSERT_EQ(registered.gpus.size(), 1u);
  ASSERT_TRUE(w->Write(HeartbeatMessage("w1", 41, 75)));
  MasterMessage ack = w->Read();
  ASSERT_TRUE(ack.has_ack()) << ack.DebugString();
  EXPECT_EQ(ack.ack().seq(), 41u);
  Worker beat = GetWorker("w1");
  EXPECT_EQ(beat.heartbeats, 1u);
  EXPECT_EQ(beat.gpu_percent, 75.0);
  EXPECT_EQ(beat.host.cpu_percent, 12.5);
  EXPECT_EQ(beat.gpus[0].live.utilization_gpu, 75.0);
  auto points = history_.Get("w1");
  ASSERT_TRUE(points.has_value());
  EXPECT_EQ(points->t_ms.size(), 1u);
  EXPECT_TRUE(w->Close().ok());
}

TEST_F(WorkerLinkServiceTest, AssignmentsGoDownAndTaskUpdatesAndOutputComeBack) {
  auto w = ConnectAs("w1");
  Task t = Submit(MakeSpec(1));
  ASSERT_EQ(cluster_->Schedule(), 1u);
  MasterMessage assign = w->Read();
  ASSERT_TRUE(assign.has_assign()) << assign.DebugString();
  EXPECT_EQ(assign.assign().task_id(), t.id);
  EXPECT_EQ(assign.assign().attempt(), 1u);
  ASSERT_EQ(assign.assign().gpu_uuids_size(), 1);
  EXPECT_EQ(assign.assign().gpu_uuids(0), GpuUuid("w1", 0));
  EXPECT_EQ(assign.assign().argv(0), "/usr/bin/train");

  WorkerMessage started;
  started.mutable_task_update()->set_task_id(t.id);
  started.mutable_task_update()->set_kind(gpulse::v1::TaskUpdate::STARTED);
  started.mutable_task_update()->set_attempt(1);
  ASSERT_TRUE(w->Write(started));
  EXPECT_TRUE(Eventually([&] { return Get(t.id).state == TaskState::kRunning; }, seconds(10)));

  WorkerMessage chunk;
  chunk.mutable_log()->set_task_id(t.id);
  chunk.mutable_log()->set_stream(gpulse::v1::LogChunk::STDERR);
  chunk.mutable_log()->set_offset(0);
  chunk.mutable_log()->set_data("epoch 1\n");
  chunk.mutable_log()->set_attempt(1);
  ASSERT_TRUE(w->Write(chunk));
  EXPECT_TRUE(Eventually([&] {
    auto slice = logs_->Read(t.id, 1, LogStream::kStderr, 0, 1024);
    return slice.ok() && slice->data == "epoch 1\n";
  }, seconds(10)));

  // A cancel goes down the same stream, with the configured grace.
  ASSERT_TRUE(cluster_->Cancel(t.id).ok());
  MasterMessage cancel = w->Read();
  ASSERT_TRUE(cancel.has_cancel()) << cancel.DebugString();
  EXPECT_EQ(cancel.cancel().task_id(), t.id);
  EXPECT_EQ(cancel.cancel().grace_ms(), 10000u);

  WorkerMessage exited;
  exited.mutable_task_update()->set_task_id(t.id);
  exited.mutable_task_update()->set_kind(gpulse::v1::TaskUpdate::EXITED);
  exited.mutable_task_update()->set_exit_code(143);
  exited.mutable_task_update()->set_attempt(1);
  ASSERT_TRUE(w->Write(exited));
  EXPECT_TRUE(Eventually([&] { return Get(t.id).state == TaskState::kCancelled; }, seconds(10)));
  EXPECT_EQ(Get(t.id).exit_code, 143);
  EXPECT_TRUE(w->Close().ok());
}

TEST_F(WorkerLinkServiceTest, AClosedStreamDisconnectsTheWorkerAndANewOneReconnectsIt) {
  auto first = ConnectAs("w1");
  EXPECT_TRUE(first->Close().ok());
  EXPECT_TRUE(Eventually([&] { return !GetWorker("w1").connected; }, seconds(10)));
  auto second = ConnectAs("w1");
  EXPECT_TRUE(GetWorker("w1").connected);
  EXPECT_EQ(GetWorker("w1").state, WorkerState::kHealthy);
  // A stream registers one worker id only.
  second->Write(RegisterMessage("w2", 1));
  EXPECT_EQ(second->Close().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(cluster_->GetWorker("w2").has_value());
}

// The heartbeat of the largest worker the master accepts, with every field
// at its largest plausible size (see kMaxWorkerMessageBytes).
WorkerMessage LargestHeartbeat() {
  WorkerMessage m;
  auto* h = m.mutable_heartbeat();
  h->set_seq(1);
  h->set_cpu_percent(12.5);
  h->set_memory_percent(12.5);
  h->set_gpu_percent(12.5);
  h->set_nvml_available(true);
  h->set_driver_version("580.65.06");
  for (int i = 0; i < static_cast<int>(kMaxGpusPerWorker); ++i) {
    auto* g = h->add_gpus();
    g->set_index(i);
    g->set_uuid("GPU-5b4e07f6-3a86-4340-039d-25f2a83cdc" + std::to_string(10 + i));
    g->set_name("NVIDIA H100 80GB HBM3 with a long marketing name");
    g->set_pci_bus_id("00000000:0" + std::to_string(i) + ":00.0");
    g->set_memory_total_bytes(80 * kGiB);
    g->set_utilization_gpu(99.5);
    g->set_utilization_memory(99.5);
    g->set_memory_used_bytes(80 * kGiB - 1);
    g->set_memory_free_bytes(80 * kGiB - 1);
    g->set_temperature_c(85.5);
    g->set_power_w(699.5);
    g->set_power_limit_w(700);
    g->set_clock_sm_mhz(1980);
    g->set_clock_mem_mhz(2619);
    g->set_encoder_percent(99.5);
    g->set_decoder_percent(99.5);
    g->set_fan_percent(99.5);
    g->set_pcie_tx_kbps(64'000'000);
    g->set_pcie_rx_kbps(64'000'000);
    g->set_error(std::string(256, 'e'));
    g->set_processes_known(true);
    for (int p = 0; p < 128; ++p) {
      auto* proc = g->add_processes();
      proc->set_pid(4'000'000 + p);
      proc->set_used_memory_bytes(80 * kGiB - 1);
    }
  }
  for (int t = 0; t < 1024; ++t) {
    auto* rt = h->add_running_tasks();
    rt->set_task_id("t-" + std::to_string(100000000 + t));
    rt->set_attempt(100);
    rt->set_pid(4'000'000 + t);
    if (t < 64) rt->add_gpu_uuids(h->gpus(t).uuid());
  }
  return m;
}

TEST_F(WorkerLinkServiceTest, TheLargestAllowedHeartbeatFitsTheMessageLimitAndABiggerMessageIsRefused) {
  WorkerMessage largest = LargestHeartbeat();
  EXPECT_LT(largest.ByteSizeLong(), size_t{kMaxWorkerMessageBytes} / 3) << largest.ByteSizeLong();
  auto w = ConnectAs("w1", static_cast<int>(kMaxGpusPerWorker));
  ASSERT_TRUE(w->Write(largest));
  // The master answers with a cancel for each of the 1,024 tasks it never
  // placed, then the ack.
  MasterMessage reply = w->Read();
  int cancels = 0;
  while (reply.has_cancel()) {
    ++cancels;
    reply = w->Read();
  }
  EXPECT_EQ(cancels, 1024);
  EXPECT_TRUE(reply.has_ack()) << reply.DebugString();
  EXPECT_EQ(GetWorker("w1").heartbeats, 1u);

  // More than the limit (here a heartbeat padded with 8,000 GPUs' worth of
  // errors) ends the stream before the master parses it.
  WorkerMessage huge = HeartbeatMessage("w1", 2, 10);
  for (int i = 0; i < 8000; ++i) huge.mutable_heartbeat()->add_gpus()->set_error(std::string(200, 'x'));
  ASSERT_GT(huge.ByteSizeLong(), size_t{kMaxWorkerMessageBytes});
  w->Write(huge);
  EXPECT_EQ(w->Close().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GetWorker("w1").heartbeats, 1u);
}

// Identities that sign anything as "CERT:<id>" and let only "trusted"
// register (this test's streams present no certificate).
class FakeIdentities final : public WorkerIdentities {
 public:
  Result<std::string> Issue(std::string_view worker_id, std::string_view) override {
    ++issued;
    return "CERT:" + std::string(worker_id);
  }
  Status CheckRegistration(std::string_view worker_id, std::string_view certificate) const override {
    ++checked;
    EXPECT_EQ(certificate, "");  // plaintext: no handshake certificate
    if (worker_id == "trusted") return Status::Ok();
    return PermissionDenied("worker id '" + std::string(worker_id) + "' is bound to another key");
  }
  Status Forget(const std::string&) override { return Status::Ok(); }
  int issued = 0;
  mutable std::atomic<int> checked{0};
};

class WorkerLinkIdentityTest : public WorkerLinkServiceTest {
 protected:
  void SetUp() override {
    identities_ = &fake_;
    WorkerLinkServiceTest::SetUp();
  }

  grpc::Status AskForCertificate(const std::string& token, const std::string& id, std::string& cert) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    gpulse::v1::CertificateRequest request;
    request.set_worker_id(id);
    request.set_csr_pem("CSR");
    gpulse::v1::CertificateReply reply;
    grpc::Status status = stub_->RequestCertificate(&context, request, &reply);
    cert = reply.certificate_pem();
    return status;
  }

  FakeIdentities fake_;
};

TEST_F(WorkerLinkIdentityTest, ARefusedIdentityEndsTheStreamBeforeTheClusterHearsOfIt) {
  auto w = Connect();
  ASSERT_TRUE(w->Write(RegisterMessage("w1", 1)));
  grpc::Status status = w->Close();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("bound to another key"), std::string::npos) << status.error_message();
  EXPECT_EQ(fake_.checked.load(), 1);
  EXPECT_FALSE(cluster_->GetWorker("w1").has_value());  // never registered
  ConnectAs("trusted");
  EXPECT_TRUE(cluster_->GetWorker("trusted").has_value());
}

TEST_F(WorkerLinkIdentityTest, CertificatesAreIssuedOnlyForTheToken) {
  std::string cert;
  EXPECT_EQ(AskForCertificate("", "w1", cert).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(AskForCertificate(TokenDifferingAt(5), "w1", cert).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(fake_.issued, 0);
  grpc::Status ok = AskForCertificate(kToken, "w1", cert);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(cert, "CERT:w1");
}

TEST_F(WorkerLinkServiceTest, AMasterWithoutIdentitiesIssuesNoCertificate) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + kToken);
  gpulse::v1::CertificateRequest request;
  request.set_worker_id("w1");
  gpulse::v1::CertificateReply reply;
  EXPECT_EQ(stub_->RequestCertificate(&context, request, &reply).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace gpulse::master
