// Issue 9, observation 1 ("a fake master gets the token and root"), end to
// end: a real gpulse-worker pointed at masters it must not trust — one with
// a certificate from another cluster's CA, one that speaks plaintext, one
// whose certificate names another host — sends them nothing that contains
// the token and never registers (so they can make it run nothing); a master
// started without flags serves only TLS; --insecure is refused off
// loopback, and still works on it.
#include <arpa/inet.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using std::chrono::seconds;
using testkit::ReadFileOrEmpty;

// A gRPC server that accepts any call on any method and writes down every
// piece of call metadata it receives (where a worker puts its token), then
// ends the call UNAVAILABLE so that a worker keeps retrying. With TLS it
// serves the given key and certificate chain.
class FakeGrpcMaster {
 public:
  FakeGrpcMaster(const std::string& address, const std::string& key_pem, const std::string& chain_pem) {
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
    if (!chain_pem.empty()) {
      grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
      ssl.pem_key_cert_pairs.push_back({key_pem, chain_pem});
      credentials = grpc::SslServerCredentials(ssl);
    }
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, credentials, &port_);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeGrpcMaster() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + seconds(1));
  }
  int port() const { return port_; }
  int calls() const { return service_.calls(); }
  std::string received() const { return service_.received(); }

 private:
  class Service final : public grpc::CallbackGenericService {
   public:
    grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override {
      {
        std::lock_guard lock(mu_);
        ++calls_;
        received_ += std::string(context->method()) + "\n";
        for (const auto& [key, value] : context->client_metadata()) {
          received_ += std::string(key.data(), key.size()) + ": " + std::string(value.data(), value.size()) + "\n";
        }
      }
      class Reactor : public grpc::ServerGenericBidiReactor {
       public:
        Reactor() { Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake master")); }
        void OnDone() override { delete this; }
      };
      return new Reactor;
    }
    int calls() const {
      std::lock_guard lock(mu_);
      return calls_;
    }
    std::string received() const {
      std::lock_guard lock(mu_);
      return received_;
    }

   private:
    mutable std::mutex mu_;
    int calls_ = 0;
    std::string received_;
  };

  Service service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// A plain TCP listener on loopback that keeps every byte any client sends
// (it never answers): what a plaintext impostor would learn.
class ByteRecorder {
 public:
  ByteRecorder() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 16);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ByteRecorder() {
    stop_ = true;
    thread_.join();
    for (int c : clients_) close(c);
    close(fd_);
  }
  int port() const { return port_; }
  int connections() const {
    std::lock_guard lock(mu_);
    return connections_;
  }
  std::string bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }

 private:
  void Serve() {
    while (!stop_) {
      std::vector<pollfd> fds{{fd_, POLLIN, 0}};
      for (int c : clients_) fds.push_back({c, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          clients_.push_back(c);
          std::lock_guard lock(mu_);
          ++connections_;
        }
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
        char buf[4096];
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          std::lock_guard lock(mu_);
          bytes_.append(buf, static_cast<size_t>(n));
        }
      }
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> clients_;  // only the serving thread
  mutable std::mutex mu_;
  int connections_ = 0;
  std::string bytes_;
  std::thread thread_;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override { master_ = std::make_unique<MasterProcess>(dir_.File("master")); }

  // gpulse-worker "w" pointed at `address` with the real cluster's token,
  // trusting the master as `trust` says.
  // A worker "w" of its own work dir, or of `work_dir` (one an earlier
  // worker left, with the certificate it was given) when set.
  std::unique_ptr<Process> StartWorker(const std::string& address, std::vector<std::string> trust,
                                       const std::string& work_dir = "") {
    const std::string scenario = dir_.File("w-scenario.json");
    WriteScenario(scenario, SimScenario("w", {0}));
    ++workers_;
    std::vector<std::string> argv = {BinPath("gpulse-worker"), "--master", address, "--id", "w", "--token-file",
                                     master_->token_file(), "--work-dir",
                                     work_dir.empty() ? dir_.File("w-work-" + std::to_string(workers_)) : work_dir,
                                     "--interval", "1", "--containment", "process"};
    argv.insert(argv.end(), trust.begin(), trust.end());
    return std::make_unique<Process>("worker", argv,
                                     std::map<std::string, std::string>{
                                         {"GPULSE_NVML_LIBRARY", testkit::SimLibraryPath()},
                                         {"GPULSE_NVML_SIM_SCENARIO", scenario}},
                                     dir_.File("w-" + std::to_string(workers_) + ".log"));
  }

  // The key and certificate chain (certificate, then its CA) of a master of
  // another cluster: one more gpulse-master, with a data dir of its own.
  std::pair<std::string, std::string> ForeignServerKeyAndChain() {
    MasterProcess foreign(dir_.File("foreign"));
    return {ReadFileOrEmpty(dir_.File("foreign/pki/server.key")),
            ReadFileOrEmpty(dir_.File("foreign/pki/server.crt")) + ReadFileOrEmpty(dir_.File("foreign/pki/ca.crt"))};
  }
  std::pair<std::string, std::string> OwnServerKeyAndChain() {
    return {ReadFileOrEmpty(dir_.File("master/pki/server.key")),
            ReadFileOrEmpty(dir_.File("master/pki/server.crt")) + ReadFileOrEmpty(dir_.File("master/pki/ca.crt"))};
  }
  std::string CaPin() {
    static const std::regex kPin("--ca-pin (sha256:[0-9a-f]{64})");
    std::smatch m;
    std::string log = master_->process().Log();
    return std::regex_search(log, m, kPin) ? m[1].str() : "";
  }
  // Whether the worker's log says it tried to connect at least `n` times.
  static bool Retried(Process& worker, int n) {
    std::string log = worker.Log();
    int found = 0;
    for (size_t at = log.find("reconnecting"); at != std::string::npos; at = log.find("reconnecting", at + 1)) ++found;
    return found >= n;
  }

  testkit::TempDir dir_{"gpulse-tls"};
  std::unique_ptr<MasterProcess> master_;
  int workers_ = 0;
};

TEST_F(TlsTest, AMasterOfAnotherClusterReceivesNothingFromAWorkerWithTheCaFile) {
  auto [key, chain] = ForeignServerKeyAndChain();
  FakeGrpcMaster impostor("127.0.0.1:0", key, chain);
  ASSERT_GT(impostor.port(), 0);
  auto worker = StartWorker("127.0.0.1:" + std::to_string(impostor.port()), {"--ca-file", master_->ca_file()});
  ASSERT_TRUE(Eventually([&] { return Retried(*worker, 2); }, seconds(30))) << worker->Log();
  EXPECT_EQ(impostor.calls(), 0) << impostor.received();
  EXPECT_EQ(impostor.received().find(master_->token()), std::string::npos);
  EXPECT_EQ(worker->Log().find("registered with the master"), std::string::npos) << worker->Log();
}

TEST_F(TlsTest, AMasterOfAnotherClusterFailsThePinAndTheWorkerGivesUp) {
  auto [key, chain] = ForeignServerKeyAndChain();
  FakeGrpcMaster impostor("127.0.0.1:0", key, chain);
  const std::string pin = CaPin();
  ASSERT_FALSE(pin.empty()) << master_->process().Log();
  auto worker = StartWorker("127.0.0.1:" + std::to_string(impostor.port()), {"--ca-pin", pin});
  ASSERT_TRUE(worker->WaitExit(seconds(30)).has_value()) << worker->Log();
  EXPECT_NE(worker->Log().find("not trusting the master"), std::string::npos) << worker->Log();
  EXPECT_EQ(impostor.calls(), 0) << impostor.received();
}

TEST_F(TlsTest, APlaintextMasterReceivesOnlyATlsHandshake) {
  ByteRecorder plaintext;
  auto worker = StartWorker("127.0.0.1:" + std::to_string(plaintext.port()), {"--ca-file", master_->ca_file()});
  ASSERT_TRUE(Eventually([&] { return plaintext.connections() >= 1 && !plaintext.bytes().empty(); }, seconds(30)))
      << worker->Log();
  worker->Signal(SIGKILL);
  const std::string bytes = plaintext.bytes();
  EXPECT_EQ(bytes.find(master_->token()), std::string::npos);
  EXPECT_EQ(bytes.find("authorization"), std::string::npos);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x16) << "not a TLS handshake record";

  // And one that speaks gRPC in plaintext gets no call at all.
  FakeGrpcMaster grpc_plaintext("127.0.0.1:0", "", "");
  auto second = StartWorker("127.0.0.1:" + std::to_string(grpc_plaintext.port()), {"--ca-file", master_->ca_file()});
  ASSERT_TRUE(Eventually([&] { return Retried(*second, 2); }, seconds(30))) << second->Log();
  EXPECT_EQ(grpc_plaintext.calls(), 0) << grpc_plaintext.received();
}

TEST_F(TlsTest, TheWorkerRefusesAMasterWhoseNameDoesNotMatch) {
  // The cluster's own certificate and key, served on an address the
  // certificate does not name (127.0.0.2; it names localhost, 127.0.0.1,
  // ::1 and the hostname).
  auto [key, chain] = OwnServerKeyAndChain();
  FakeGrpcMaster elsewhere("127.0.0.2:0", key, chain);
  ASSERT_GT(elsewhere.port(), 0);
  const std::string address = "127.0.0.2:" + std::to_string(elsewhere.port());
  // A new worker's first call asks for its certificate: refused there.
  auto joining = StartWorker(address, {"--ca-file", master_->ca_file()});
  ASSERT_TRUE(Eventually([&] { return Retried(*joining, 2); }, seconds(30))) << joining->Log();
  EXPECT_NE(joining->Log().find("certificate"), std::string::npos) << joining->Log();
  joining->Signal(SIGKILL);
  EXPECT_EQ(elsewhere.calls(), 0) << elsewhere.received();

  // A worker that holds its certificate goes straight to the worker link:
  // refused there too.
  const std::string work_dir = dir_.File("w-joined");
  {
    auto first = StartWorker(master_->grpc_address(), {"--ca-file", master_->ca_file()}, work_dir);
    ASSERT_TRUE(Eventually([&] { return HttpGet(master_->http_port(), "/api/workers/w", master_->read_token()).status == 200; },
                           seconds(30)))
        << first->Log();
    first->Signal(SIGKILL);
    ASSERT_TRUE(first->WaitExit(seconds(10)).has_value());
  }
  auto kept = StartWorker(address, {"--ca-file", master_->ca_file()}, work_dir);
  ASSERT_TRUE(Eventually([&] { return Retried(*kept, 2); }, seconds(30))) << kept->Log();
  EXPECT_NE(kept->Log().find("stream to the master"), std::string::npos) << kept->Log();
  EXPECT_EQ(kept->Log().find("ask the master"), std::string::npos) << kept->Log();
  EXPECT_EQ(elsewhere.calls(), 0) << elsewhere.received();

  // The same fake on a name it holds does get the call and the token: the
  // fake would have seen it.
  FakeGrpcMaster named("127.0.0.1:0", key, chain);
  auto control = StartWorker("127.0.0.1:" + std::to_string(named.port()), {"--ca-file", master_->ca_file()});
  ASSERT_TRUE(Eventually([&] { return named.calls() >= 1; }, seconds(30))) << control->Log();
  EXPECT_NE(named.received().find("Bearer " + master_->token()), std::string::npos);
}

TEST_F(TlsTest, TheDefaultStartServesOnlyTls) {
  // HTTP: https with the cluster CA answers; plaintext and another CA do not.
  EXPECT_EQ(HttpGet(master_->http_port(), "/healthz").status, 200);
  httplib::Client plain("http://127.0.0.1:" + std::to_string(master_->http_port()));
  plain.set_connection_timeout(seconds(2));
  plain.set_read_timeout(seconds(2));
  EXPECT_FALSE(plain.Get("/healthz"));
  ForeignServerKeyAndChain();
  httplib::Client foreign("https://127.0.0.1:" + std::to_string(master_->http_port()));
  foreign.set_ca_cert_path(dir_.File("foreign/pki/ca.crt").c_str());
  foreign.enable_server_certificate_verification(true);
  EXPECT_FALSE(foreign.Get("/healthz"));

  // The worker link: a plaintext worker never registers; a verifying one does.
  auto plaintext = StartWorker(master_->grpc_address(), {"--insecure"});
  ASSERT_TRUE(Eventually([&] { return Retried(*plaintext, 2); }, seconds(30))) << plaintext->Log();
  EXPECT_EQ(HttpGet(master_->http_port(), "/api/workers/w", master_->read_token()).status, 404);
  plaintext->Signal(SIGKILL);
  auto verified = StartWorker(master_->grpc_address(), {"--ca-file", master_->ca_file()});
  EXPECT_TRUE(Eventually([&] { return HttpGet(master_->http_port(), "/api/workers/w", master_->read_token()).status == 200; }, seconds(30)))
      << verified->Log();
}

TEST_F(TlsTest, InsecureIsRefusedOffLoopback) {
  CommandResult master = RunCommand({BinPath("gpulse-master"), "--insecure", "--listen", "0.0.0.0:0", "--http",
                                     "127.0.0.1:0", "--data-dir", dir_.File("open")},
                                    {});
  EXPECT_EQ(master.exit_code, 1);
  EXPECT_NE((master.out + master.err).find("refused on the non-loopback --listen address 0.0.0.0:0"),
            std::string::npos)
      << master.out << master.err;
  CommandResult http = RunCommand({BinPath("gpulse-master"), "--insecure", "--listen", "127.0.0.1:0", "--http",
                                   "10.1.2.3:0", "--data-dir", dir_.File("open")},
                                  {});
  EXPECT_EQ(http.exit_code, 1);
  CommandResult worker = RunCommand({BinPath("gpulse-worker"), "--insecure", "--master", "10.1.2.3:7070",
                                     "--token-file", master_->token_file(), "--work-dir", dir_.File("ww")},
                                    {});
  EXPECT_EQ(worker.exit_code, 2);
  EXPECT_NE((worker.out + worker.err).find("--insecure is refused for the non-loopback master"), std::string::npos)
      << worker.out << worker.err;
  CommandResult unverified = RunCommand({BinPath("gpulse-worker"), "--master", master_->grpc_address(),
                                         "--token-file", master_->token_file(), "--work-dir", dir_.File("ww")},
                                        {{"GPULSE_CA_FILE", ""}});
  EXPECT_EQ(unverified.exit_code, 2);
  EXPECT_NE((unverified.out + unverified.err).find("--ca-file"), std::string::npos) << unverified.err;
}

TEST_F(TlsTest, InsecureStillWorksOnLoopback) {
  MasterProcess plaintext(dir_.File("plain"), {"--insecure"});
  EXPECT_EQ(HttpGet(plaintext.http_port(), "/healthz").status, 200);
  WorkerProcess worker(plaintext, "w", SimScenario("w", {0}), dir_.path());
  EXPECT_TRUE(Eventually([&] { return HttpGet(plaintext.http_port(), "/api/workers/w", plaintext.read_token()).status == 200; }, seconds(30)))
      << worker.process().Log();
  CommandResult cli = RunCommand({BinPath("gpulse"), "workers", "--insecure"}, plaintext.cli_env());
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("w"), std::string::npos);
}

TEST_F(TlsTest, PrintJoinGivesALineThatJoinsAWorker) {
  CommandResult join = RunCommand({BinPath("gpulse-master"), "--print-join", "--data-dir", dir_.File("master"),
                                   "--listen", master_->grpc_address()},
                                  {});
  ASSERT_EQ(join.exit_code, 0) << join.err;
  static const std::regex kJoin("--join '([^']+)'");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(join.out, m, kJoin)) << join.out;
  const std::string scenario = dir_.File("j-scenario.json");
  WriteScenario(scenario, SimScenario("j", {0}));
  Process worker("worker", {BinPath("gpulse-worker"), "--join", m[1].str(), "--id", "j", "--work-dir",
                            dir_.File("j-work"), "--interval", "1", "--containment", "process"},
                 {{"GPULSE_NVML_LIBRARY", testkit::SimLibraryPath()}, {"GPULSE_NVML_SIM_SCENARIO", scenario}},
                 dir_.File("j.log"));
  EXPECT_TRUE(Eventually([&] { return HttpGet(master_->http_port(), "/api/workers/j", master_->read_token()).status == 200; }, seconds(30)))
      << worker.Log();
  // The token is in the line the operator asked for, never in a log.
  EXPECT_EQ(worker.Log().find(master_->token()), std::string::npos);
  EXPECT_EQ(master_->process().Log().find(master_->token()), std::string::npos);
}

}  // namespace
}  // namespace gpulse::integration
