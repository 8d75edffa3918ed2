// HttpServer on a loopback port of its own: routing, limits and deadlines
// with short settings, and streams that hold no thread.
#include "common/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "common/unique_fd.h"
#include "testkit/eventually.h"
#include "testkit/status_matchers.h"

namespace gpulse {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// A plain TCP connection to the server, for clients no library would be.
UniqueFd Connect(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return UniqueFd();
  return fd;
}

// True when the server closes `fd` (a read returns 0 or fails) within
// `timeout`; whatever it sends before is read and dropped.
bool ClosedWithin(int fd, std::chrono::milliseconds timeout) {
  const auto end = SteadyClock::now() + timeout;
  while (SteadyClock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - SteadyClock::now()).count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    char buf[4096];
    if (::recv(fd, buf, sizeof(buf), 0) <= 0) return true;
  }
  return false;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartWith(HttpServerOptions options) {
    server_ = std::make_unique<HttpServer>(options);
    server_->Get("/hello", [](const HttpRequest&, HttpResponse& res) { res.SetContent("hi", "text/plain"); });
    server_->Get("/items/{id}/parts/{part}", [](const HttpRequest& req, HttpResponse& res) {
      res.SetContent(req.Param("id") + "," + req.Param("part") + "," + req.Query("q"), "text/plain");
    });
    server_->Post("/echo", [](const HttpRequest& req, HttpResponse& res) {
      res.status = 201;
      res.SetHeader("X-Seen-Header", req.Header("x-custom"));
      res.SetContent(req.body, "application/octet-stream");
    });
    server_->Get("/throws", [](const HttpRequest&, HttpResponse&) -> void { throw std::runtime_error("boom"); });
    server_->Get("/stream", [this](const HttpRequest&, HttpResponse& res) {
      auto calls = std::make_shared<int>(0);
      res.content_type = "text/event-stream";
      res.stream = [calls](std::string& out) {
        ++*calls;
        if (*calls % 3 != 0) return StreamStep::kWait;  // nothing yet: parked until the next tick
        if (*calls > 9) return StreamStep::kEnd;
        out = "data: " + std::to_string(*calls / 3) + "\n\n";
        return StreamStep::kData;
      };
      res.on_stream_end = [this] { ++streams_ended_; };
    });
    auto port = server_->Start("127.0.0.1:0");
    ASSERT_OK(port);
    port_ = *port;
  }

  static HttpServerOptions Fast() {
    HttpServerOptions options;
    options.threads = 1;
    options.tick = 20ms;
    return options;
  }

  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::atomic<int> streams_ended_{0};
};

TEST_F(HttpServerTest, RoutesByMethodAndPathWithParametersAndQuery) {
  StartWith(Fast());
  httplib::Client client("127.0.0.1", port_);
  auto hello = client.Get("/hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  EXPECT_EQ(hello->body, "hi");
  auto item = client.Get("/items/a%20b/parts/7?q=x%26y");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->body, "a b,7,x&y");
  auto head = client.Head("/hello");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(client.Get("/nope")->status, 404);
  EXPECT_EQ(client.Get("/items//parts/7")->status, 404);
  EXPECT_EQ(client.Post("/hello", "", "text/plain")->status, 405);
  EXPECT_EQ(client.Get("/throws")->status, 500);
}

TEST_F(HttpServerTest, BodiesAndHeadersReachTheHandler) {
  StartWith(Fast());
  httplib::Client client("127.0.0.1", port_);
  auto echo = client.Post("/echo", httplib::Headers{{"X-Custom", "v"}}, std::string(1000, 'z'), "text/plain");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->status, 201);
  EXPECT_EQ(echo->body, std::string(1000, 'z'));
  EXPECT_EQ(echo->get_header_value("X-Seen-Header"), "v");
}

TEST_F(HttpServerTest, ABodyOverTheLimitIs413) {
  HttpServerOptions options = Fast();
  options.max_body_bytes = 1024;
  StartWith(options);
  httplib::Client client("127.0.0.1", port_);
  auto fits = client.Post("/echo", std::string(1024, 'a'), "text/plain");
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->status, 201);
  auto big = client.Post("/echo", std::string(1025, 'a'), "text/plain");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
}

TEST_F(HttpServerTest, BeforeRoutingCanAnswerAndErrorsUseTheErrorBody) {
  HttpServerOptions options = Fast();
  server_ = std::make_unique<HttpServer>(options);
  server_->Get("/hello", [](const HttpRequest&, HttpResponse& res) { res.SetContent("hi", "text/plain"); });
  server_->SetBeforeRouting([](const HttpRequest& req, HttpResponse& res) {
    if (req.Header("authorization") == "yes") return true;
    res.status = 401;
    return false;
  });
  server_->SetErrorBody([](int status, const std::string&, HttpResponse& res) {
    res.status = status;
    res.SetContent("{\"error\":1}", "application/json");
  });
  auto port = server_->Start("127.0.0.1:0");
  ASSERT_OK(port);
  httplib::Client client("127.0.0.1", *port);
  EXPECT_EQ(client.Get("/hello")->status, 401);
  EXPECT_EQ(client.Get("/hello", httplib::Headers{{"Authorization", "yes"}})->status, 200);
  auto missing = client.Get("/missing", httplib::Headers{{"Authorization", "yes"}});
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "{\"error\":1}");
}

TEST_F(HttpServerTest, AHeadDrippedSlowerThanTheDeadlineIsClosed) {
  HttpServerOptions options = Fast();
  options.head_timeout = 300ms;
  StartWith(options);
  UniqueFd slow = Connect(port_);
  ASSERT_TRUE(slow.valid());
  ASSERT_GT(::send(slow.get(), "GET /hello HTTP/1.1\r\n", 21, MSG_NOSIGNAL), 0);
  // A header line every 100 ms keeps it busy but never completes the head.
  const auto start = SteadyClock::now();
  bool closed = false;
  while (!closed && SteadyClock::now() - start < 5s) {
    ::send(slow.get(), "X-Drip: 1\r\n", 11, MSG_NOSIGNAL);
    closed = ClosedWithin(slow.get(), 100ms);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(SteadyClock::now() - start, 2s);
  // Others are served all along.
  httplib::Client client("127.0.0.1", port_);
  EXPECT_EQ(client.Get("/hello")->status, 200);
}

TEST_F(HttpServerTest, ABodyDeliveredSlowerThanItsDeadlineIsClosed) {
  HttpServerOptions options = Fast();
  options.body_timeout = 300ms;
  StartWith(options);
  UniqueFd slow = Connect(port_);
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
  ASSERT_GT(::send(slow.get(), head.data(), head.size(), MSG_NOSIGNAL), 0);
  const auto start = SteadyClock::now();
  bool closed = false;
  while (!closed && SteadyClock::now() - start < 5s) {
    ::send(slow.get(), "a", 1, MSG_NOSIGNAL);
    closed = ClosedWithin(slow.get(), 50ms);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(SteadyClock::now() - start, 2s);
}

TEST_F(HttpServerTest, ConnectionsPerAddressAreCapped) {
  HttpServerOptions options = Fast();
  options.max_connections_per_address = 3;
  StartWith(options);
  std::vector<UniqueFd> held;
  for (int i = 0; i < 3; ++i) held.push_back(Connect(port_));
  ASSERT_TRUE(testkit::Eventually([&] { return server_->open_connections() == 3; }, 5s, 5ms));
  UniqueFd fourth = Connect(port_);
  ASSERT_TRUE(fourth.valid());  // the kernel accepts; the server closes it at once
  EXPECT_TRUE(ClosedWithin(fourth.get(), 2s));
  for (const UniqueFd& fd : held) EXPECT_FALSE(ClosedWithin(fd.get(), 10ms));
  held.clear();
  ASSERT_TRUE(testkit::Eventually([&] { return server_->open_connections() == 0; }, 5s, 5ms));
  httplib::Client client("127.0.0.1", port_);
  EXPECT_EQ(client.Get("/hello")->status, 200);
}

TEST_F(HttpServerTest, AStreamWaitsWithoutHoldingTheOnlyThread) {
  StartWith(Fast());  // one polling thread
  std::string received;
  std::thread reader([&] {
    httplib::Client client("127.0.0.1", port_);
    client.Get("/stream", [&](const char* data, size_t n) {
      received.append(data, n);
      return true;
    });
  });
  // While the stream waits between its events, the one thread still serves others.
  httplib::Client client("127.0.0.1", port_);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.Get("/hello")->status, 200);
  reader.join();
  EXPECT_EQ(received, "data: 1\n\ndata: 2\n\ndata: 3\n\n");
  EXPECT_TRUE(testkit::Eventually([&] { return streams_ended_ == 1; }, 5s, 5ms));
}

TEST_F(HttpServerTest, StopEndsOpenStreamsAndIdleConnections) {
  HttpServerOptions options = Fast();
  StartWith(options);
  UniqueFd idle = Connect(port_);
  std::thread reader([&] {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10s);
    client.Get("/stream", [&](const char*, size_t) { return true; });
  });
  ASSERT_TRUE(testkit::Eventually([&] { return server_->open_connections() >= 2; }, 5s, 5ms));
  const auto start = SteadyClock::now();
  server_->Stop();
  EXPECT_LT(SteadyClock::now() - start, 3s);
  reader.join();
  EXPECT_TRUE(ClosedWithin(idle.get(), 2s));
}

TEST_F(HttpServerTest, AnAddressInUseIsUnavailable) {
  StartWith(Fast());
  HttpServer second(Fast());
  auto port = second.Start("127.0.0.1:" + std::to_string(port_));
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(HttpServer(Fast()).Start("no-colon").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpulse
