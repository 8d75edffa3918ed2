// Issue 9, observation 5 ("twenty connections take the HTTP API down"), end
// to end against the real gpulse-master over TLS: 500 idle keep-alive
// connections and 20 slowloris connections (a header line every 2 s, never
// finishing the head) leave /healthz and /api/workers answering within 1 s,
// and the slowloris connections are closed by the 10 s head deadline.
// Also: a full disk under the data dir makes /healthz unhealthy (503) and a
// submission 507.
#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fstream>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gpulse::integration {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

int ConnectTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A TLS client that completes the handshake and then drips a request head,
// one header line at a time, forever. It does not check the certificate:
// an attacker would not either.
class Slowloris {
 public:
  Slowloris(SSL_CTX* ctx, int port) {
    fd_ = ConnectTcp(port);
    if (fd_ < 0) return;
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) return;
    connected_ = Write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  }
  ~Slowloris() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  // One more header line; false once the server has closed the connection.
  bool Drip() { return Write("X-Slow: " + std::to_string(++lines_) + "\r\n") && !PeerClosed(); }

 private:
  bool Write(const std::string& text) { return SSL_write(ssl_, text.data(), static_cast<int>(text.size())) > 0; }
  bool PeerClosed() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    char buf[256];
    return SSL_read(ssl_, buf, sizeof(buf)) <= 0;
  }
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  int lines_ = 0;
};

// A keep-alive TLS connection that made one request, read its answer and
// then stays silent. One SSL_CTX for all, so 500 of them are quick to make.
class IdleKeepAlive {
 public:
  IdleKeepAlive(SSL_CTX* ctx, int port) {
    fd_ = ConnectTcp(port);
    if (fd_ < 0) return;
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) return;
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return;
    char buf[1024];
    int n = SSL_read(ssl_, buf, sizeof(buf));
    answered_ = n > 0 && std::string(buf, n).starts_with("HTTP/1.1 200");
  }
  ~IdleKeepAlive() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool answered() const { return answered_; }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool answered_ = false;
};

// How long one fresh HTTPS request takes, and its status (0: no answer).
std::pair<int, std::chrono::milliseconds> TimedGet(int port, const std::string& ca_file, const std::string& path,
                                                   const std::string& token) {
  httplib::Client client("https://127.0.0.1:" + std::to_string(port));
  client.set_ca_cert_path(ca_file.c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5s);
  client.set_read_timeout(5s);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  const auto start = SteadyClock::now();
  auto r = client.Get(path, headers);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  return {r ? r->status : 0, took};
}

TEST(SlowClientsTest, IdleAndSlowlorisConnectionsDoNotStopTheApi) {
  testkit::TempDir dir("gpulse-slow-clients");
  MasterProcess master(dir.File("data"));
  master.Start();
  const int port = master.http_port();
  const std::string ca = master.ca_file();
  const std::string token = master.read_token();

  // 500 idle keep-alive connections: each made one request, then stays.
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  std::vector<std::unique_ptr<IdleKeepAlive>> idle;
  for (int i = 0; i < 500; ++i) {
    idle.push_back(std::make_unique<IdleKeepAlive>(ctx.get(), port));
    ASSERT_TRUE(idle.back()->answered()) << "idle connection " << i << " could not be made";
  }
  // 20 slowloris connections.
  std::vector<std::unique_ptr<Slowloris>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<Slowloris>(ctx.get(), port));
    ASSERT_TRUE(slow.back()->connected()) << "slowloris " << i;
  }
  const auto attack_start = SteadyClock::now();
  auto next_drip = attack_start + 2s;
  size_t open_slow = slow.size();
  std::chrono::milliseconds worst{0};
  int probes = 0;
  // Until the head deadline (10 s) has closed every slowloris connection,
  // or 16 s: probe the API while dripping a line on each every 2 s.
  while (open_slow > 0 && SteadyClock::now() - attack_start < 16s) {
    if (SteadyClock::now() >= next_drip) {
      open_slow = 0;
      for (auto& s : slow) {
        if (s && !s->Drip()) s.reset();
        if (s) ++open_slow;
      }
      next_drip += 2s;
    }
    for (const char* path : {"/healthz", "/api/workers"}) {
      auto [status, took] = TimedGet(port, ca, path, token);
      EXPECT_EQ(status, 200) << path;
      EXPECT_LT(took, 1s) << path << " with " << open_slow << " slowloris and 500 idle connections";
      worst = std::max(worst, took);
      ++probes;
    }
    std::this_thread::sleep_for(200ms);  // probe pacing, not a wait for a condition
  }
  const auto held = SteadyClock::now() - attack_start;
  EXPECT_EQ(open_slow, 0u) << "slowloris connections were still open after 16 s";
  EXPECT_GE(held, 9s) << "slowloris connections were closed before the 10 s head deadline";
  EXPECT_GT(probes, 20);
  std::cout << "worst answer under attack: " << worst.count() << " ms over " << probes << " requests\n";
}

TEST(SlowClientsTest, AFullDiskIsUnhealthyAndRefusesSubmissionsWith507) {
  testkit::TempDir dir("gpulse-full-disk");
  const std::string data = dir.File("data");
  {
    TinyDisk disk(data);
    if (!disk.mounted()) GTEST_SKIP() << "mount -t tmpfs is not permitted here (needs root); full-disk test skipped";
    MasterProcess master(data);
    master.Start();
    const int port = master.http_port();
    ASSERT_EQ(HttpGet(port, "/healthz").status, 200);
    disk.Fill();
    // The probe runs at most every 5 s.
    bool unhealthy = testkit::Eventually([&] { return HttpGet(port, "/healthz").status == 503; }, 15s, 100ms);
    HttpReply health = HttpGet(port, "/healthz");
    EXPECT_TRUE(unhealthy) << health.body;
    EXPECT_NE(health.body.find("cannot be written"), std::string::npos) << health.body;
    // Submissions big enough to need new pages fail with 507, never 422.
    const std::string big(200 * 1024, 'a');
    const std::string body = R"({"argv": ["/bin/echo", ")" + big + R"("], "allow_unfit": true})";
    HttpReply reply;
    for (int i = 0; i < 40; ++i) {
      reply = HttpPost(port, "/api/tasks", body, master.token());
      if (reply.status != 201) break;
    }
    EXPECT_EQ(reply.status, 507) << reply.body;
    EXPECT_NE(reply.body.find("disk is full"), std::string::npos) << reply.body;
    master.process().Signal(SIGTERM);
    master.process().WaitExit(10s);
  }
}

}  // namespace
}  // namespace gpulse::integration
