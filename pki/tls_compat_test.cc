// The certificates pki issues, used as the daemons will use them: by gRPC
// 1.51 (the worker link, mutual TLS) and cpp-httplib (the HTTP API), both
// on the system's OpenSSL 3. In-process, loopback only.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <httplib.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "pki/certificate_info.h"
#include "pki/cluster_ca.h"
#include "pki/server_certificate.h"
#include "pki/worker_identity.h"
#include "testkit/eventually.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::pki {
namespace {

using std::chrono::seconds;

// Answers every call UNIMPLEMENTED after noting the client certificate
// gRPC verified (the auth context's PEM, as the master will read it).
class PeerRecordingService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override {
    auto certs = context->auth_context()->FindPropertyValues("x509_pem_cert");
    {
      std::lock_guard lock(mu_);
      ++calls_;
      if (!certs.empty()) peer_pem_.assign(certs.front().data(), certs.front().size());
    }
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      Reactor() { Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "reached the server")); }
      void OnDone() override { delete this; }
    };
    return new Reactor;
  }
  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::string peer_pem() const {
    std::lock_guard lock(mu_);
    return peer_pem_;
  }

 private:
  mutable std::mutex mu_;
  int calls_ = 0;
  std::string peer_pem_;
};

class TlsCompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = ClusterCa::LoadOrCreate(dir_.File("master/pki"));
    ASSERT_OK(ca);
    ca_ = std::make_unique<ClusterCa>(std::move(*ca));
    ServerCertificateOptions options;
    options.hostname = "gpu-master.lab";
    auto server = EnsureServerCertificate(*ca_, dir_.File("master/pki"), options);
    ASSERT_OK(server);
    server_ = *server;
    auto identity = WorkerIdentity::LoadOrCreate(dir_.File("worker/identity"));
    ASSERT_OK(identity);
    identity_ = std::make_unique<WorkerIdentity>(std::move(*identity));
    auto cert = ca_->SignWorkerCsr(*identity_->MakeCsr("gpu-node-07"), "gpu-node-07");
    ASSERT_OK(cert);
    ASSERT_OK(identity_->StoreCertificate(*cert, "gpu-node-07", ca_->certificate_pem()));
    auto other = ClusterCa::LoadOrCreate(dir_.File("other/pki"));
    ASSERT_OK(other);
    other_ca_ = std::make_unique<ClusterCa>(std::move(*other));
  }

  void StartGrpcServer() {
    grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    tls.pem_root_certs = ca_->certificate_pem();
    tls.pem_key_cert_pairs.push_back({testkit::ReadFileOrEmpty(server_.key_path),
                                      testkit::ReadFileOrEmpty(server_.certificate_path)});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &grpc_port_);
    builder.RegisterCallbackGenericService(&service_);
    grpc_server_ = builder.BuildAndStart();
    ASSERT_TRUE(grpc_server_ && grpc_port_ > 0);
  }

  void TearDown() override {
    if (grpc_server_) grpc_server_->Shutdown(std::chrono::system_clock::now() + seconds(1));
  }

  // One call to 127.0.0.1 from a client trusting `ca_pem`, presenting
  // `key`/`cert` (when not empty), expecting the master to be `name` (empty:
  // the address itself). Always dialling the address keeps name resolution
  // (c-ares) out of the test. Returns the call's status.
  grpc::Status Call(const std::string& ca_pem, const std::string& key, const std::string& cert,
                    const std::string& name = "localhost") {
    grpc::SslCredentialsOptions tls{ca_pem, key, cert};
    grpc::ChannelArguments args;
    if (!name.empty()) args.SetSslTargetNameOverride(name);
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(grpc_port_), grpc::SslCredentials(tls), args);
    grpc::GenericStub stub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(10));
    grpc::Slice ping("ping");
    grpc::ByteBuffer request(&ping, 1), response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/gpulse.test/Ping", grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status status) { done.set_value(status); });
    return done.get_future().get();
  }

  testkit::TempDir dir_{"gpulse-tls"};
  std::unique_ptr<ClusterCa> ca_, other_ca_;
  ServerCertificate server_;
  std::unique_ptr<WorkerIdentity> identity_;
  PeerRecordingService service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;
};

TEST_F(TlsCompatTest, GrpcMutualTlsWorksAndTheMasterSeesTheWorkersIdAndKey) {
  StartGrpcServer();
  std::string worker_key = testkit::ReadFileOrEmpty(identity_->key_path());
  for (const char* name : {"localhost", "gpu-master.lab", ""}) {
    grpc::Status status = Call(ca_->certificate_pem(), worker_key, *identity_->certificate_pem(), name);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << name << ": " << status.error_message();
    EXPECT_EQ(status.error_message(), "reached the server");
  }
  std::string peer = service_.peer_pem();
  ASSERT_FALSE(peer.empty());
  auto identity = ReadPeerIdentity(peer);
  ASSERT_OK(identity);
  EXPECT_EQ(identity->common_name, "gpu-node-07");
  EXPECT_EQ(identity->key_fingerprint, identity_->public_key_fingerprint());
}

TEST_F(TlsCompatTest, GrpcClientRefusesAMasterFromAnotherCaOrUnderAnotherName) {
  StartGrpcServer();
  std::string worker_key = testkit::ReadFileOrEmpty(identity_->key_path());
  grpc::Status foreign = Call(other_ca_->certificate_pem(), worker_key, *identity_->certificate_pem());
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::UNAVAILABLE) << foreign.error_message();
  grpc::Status misnamed =
      Call(ca_->certificate_pem(), worker_key, *identity_->certificate_pem(), "not-the-master.example");
  EXPECT_EQ(misnamed.error_code(), grpc::StatusCode::UNAVAILABLE) << misnamed.error_message();
  EXPECT_EQ(service_.calls(), 0);
}

TEST_F(TlsCompatTest, GrpcServerRefusesWorkersWithoutACertificateFromItsCa) {
  StartGrpcServer();
  grpc::Status anonymous = Call(ca_->certificate_pem(), "", "");
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAVAILABLE) << anonymous.error_message();
  auto impostor = WorkerIdentity::LoadOrCreate(dir_.File("impostor"));
  ASSERT_OK(impostor);
  auto foreign_cert = other_ca_->SignWorkerCsr(*impostor->MakeCsr("gpu-node-07"), "gpu-node-07");
  ASSERT_OK(foreign_cert);
  grpc::Status foreign =
      Call(ca_->certificate_pem(), testkit::ReadFileOrEmpty(impostor->key_path()), *foreign_cert);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::UNAVAILABLE) << foreign.error_message();
  EXPECT_EQ(service_.calls(), 0);
}

TEST_F(TlsCompatTest, HttplibServesTheServerCertificateAndItsClientVerifiesIt) {
  httplib::SSLServer server(server_.certificate_path.c_str(), server_.key_path.c_str());
  ASSERT_TRUE(server.is_valid());
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok", "text/plain");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { server.listen_after_bind(); });
  ASSERT_TRUE(testkit::Eventually([&] { return server.is_running(); }, seconds(10)));

  httplib::SSLClient trusting("localhost", port);
  trusting.set_ca_cert_path(ca_->certificate_path().c_str());
  trusting.enable_server_certificate_verification(true);
  auto ok = trusting.Get("/healthz");
  EXPECT_TRUE(ok) << httplib::to_string(ok.error());
  if (ok) {
    EXPECT_EQ(ok->status, 200);
  }

  std::string other_ca_path = dir_.File("other/pki/ca.crt");
  httplib::SSLClient foreign("localhost", port);
  foreign.set_ca_cert_path(other_ca_path.c_str());
  foreign.enable_server_certificate_verification(true);
  auto refused = foreign.Get("/healthz");
  EXPECT_FALSE(refused);
  EXPECT_EQ(refused.error(), httplib::Error::SSLServerVerification);

  server.stop();
  serving.join();
}

}  // namespace
}  // namespace gpulse::pki
