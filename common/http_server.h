// HttpServer: gpulse's event-driven HTTP(S) server (the master's API and
// dashboard, a worker's --metrics-listen), on libmicrohttpd.
//
// A few threads poll every connection (epoll); no thread is ever held by an
// idle, slow or dripping client:
//   - a connection must deliver a whole request head within `head_timeout`
//     of being accepted (or of its previous response, for keep-alive),
//     however it trickles the bytes; its body within `body_timeout` of the
//     head; otherwise it is closed;
//   - a connection silent for `idle_timeout` is closed (keep-alive idle);
//   - at most `max_connections` at once, `max_connections_per_address` from
//     one client address; further ones are closed on accept;
//   - a body over `max_body_bytes` is read and dropped (within the body
//     deadline), then answered 413; it is never kept;
//   - streamed responses (server-sent events) are produced by a
//     StreamProducer that never blocks: while it has nothing to say the
//     connection is suspended and the producer asked again every `tick`.
// Handlers run on the polling threads, so they must be quick (no waiting on
// the network or on a worker); they may run concurrently with each other.
//
// Routes are "METHOD /literal/{param}/..." patterns; "{name}" matches one
// non-empty path segment (HttpRequest::Param). A GET route also answers
// HEAD. Unknown paths get 404, a known path with another method 405, a
// throwing handler 500 — each through `error_body` so the whole API answers
// in one format.
//
// Thread-safety: add routes and hooks before Start(); Start() and Stop()
// from one thread. Stop() (also the destructor) ends streams, closes every
// connection and joins the threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/http_types.h"
#include "common/status.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace gpulse {

struct HttpServerOptions {
  // Serve HTTPS with this certificate chain (leaf first) and private key,
  // both PEM; empty: plain HTTP.
  std::string tls_cert_chain_pem;
  std::string tls_key_pem;
  // Polling threads; handlers of different connections run in parallel up
  // to this many.
  unsigned threads = 2;
  std::chrono::milliseconds head_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::seconds idle_timeout{30};
  // 4096 sockets cost at most ~4096 × 32 KiB of buffers (128 MiB); one
  // address may hold a quarter, enough for a NATed office of dashboards and
  // CLIs (and for the tests' 500 idle connections from 127.0.0.1) while a
  // single abuser cannot fill the table alone.
  unsigned max_connections = 4096;
  unsigned max_connections_per_address = 1024;
  size_t max_body_bytes = 1 << 20;
  // How often suspended streams are asked again and deadlines checked.
  std::chrono::milliseconds tick{100};
};

class HttpServer {
 public:
  // Fills `res` for an error the server itself answers (404, 405, 413, 500).
  using ErrorBody = std::function<void(int status, const std::string& message, HttpResponse& res)>;
  // Runs before routing; returning false means `res` is the answer.
  using BeforeRouting = std::function<bool(const HttpRequest& req, HttpResponse& res)>;

  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void Get(const std::string& pattern, HttpHandler handler) { Route("GET", pattern, std::move(handler)); }
  void Post(const std::string& pattern, HttpHandler handler) { Route("POST", pattern, std::move(handler)); }
  void Route(const std::string& method, const std::string& pattern, HttpHandler handler);
  void SetBeforeRouting(BeforeRouting hook) { before_routing_ = std::move(hook); }
  void SetErrorBody(ErrorBody error_body) { error_body_ = std::move(error_body); }

  // Listens on `listen` ("HOST:PORT", port 0 picks one; SO_REUSEADDR only,
  // so a second process cannot share the port) and serves. Returns the
  // bound port; InvalidArgument for a bad address, Unavailable when it
  // cannot be bound, Internal when the TLS material is refused or
  // libmicrohttpd cannot start (with its reason). Nothing runs after a
  // failure.
  Result<int> Start(const std::string& listen);
  void Stop();
  int port() const { return port_; }

  // Open connections now (for tests and /metrics).
  size_t open_connections() const;

  // Answers `req` as if it had come on a connection (the before-routing
  // hook, the routes, the error bodies; a throwing handler is a 500), but
  // without the network: for fuzzers, which cannot afford a socket per
  // input. `req.path` and `req.query` are taken as already decoded. Safe
  // from any thread once the routes are added; a streamed response's
  // producer is the caller's to run and end.
  void Dispatch(HttpRequest& req, HttpResponse& res) const;

  // Per-connection and per-request state; public for the C callbacks only.
  struct Connection;
  struct Pending;
  struct Stream;

 private:
  friend struct HttpServerCallbacks;
  struct RouteEntry {
    std::string method;
    std::vector<std::string> segments;  // "{x}" marks a parameter
    HttpHandler handler;
  };

  void Ticker();
  // Suspends `connection` until the next tick; false when stopping (the
  // stream must end instead).
  bool Park(MHD_Connection* connection);

  const HttpServerOptions options_;
  std::vector<RouteEntry> routes_;
  BeforeRouting before_routing_;
  ErrorBody error_body_;

  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;

  mutable std::mutex connections_mu_;
  std::set<Connection*> connections_;  // guarded by connections_mu_

  std::mutex park_mu_;
  std::vector<MHD_Connection*> parked_;  // guarded by park_mu_; suspended streams
  bool stopping_ = false;                // guarded by park_mu_

  std::mutex ticker_mu_;
  std::condition_variable ticker_cv_;
  bool ticker_stop_ = false;  // guarded by ticker_mu_
  std::thread ticker_;
};

// Raises this process's soft limit on open files to its hard limit, so that
// thousands of connections fit; returns the new soft limit (or the old one
// when it cannot be raised).
uint64_t RaiseOpenFileLimit();

}  // namespace gpulse
