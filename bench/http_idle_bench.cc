// gpulse-http-bench: the master's HTTP API latency with idle connections
// open, against none, in one run (docs/benchmarks.md).
//
//   build/bin/gpulse-http-bench [--requests 2000] [--idle 500]
//
// Starts a MasterServer in-process over TLS in a temp data dir, then times
// GET /api/workers (read token, one keep-alive TLS connection) `requests`
// times with no other connection, opens `idle` keep-alive TLS connections
// that each made one request and then stay silent, and times the same
// requests again. Prints p50/p99/max for both.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "master/master_server.h"

namespace {

using Micros = std::chrono::microseconds;

struct Figures {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  int failures = 0;
};

Figures TimeRequests(httplib::Client& client, const httplib::Headers& headers, int requests) {
  std::vector<Micros> took;
  Figures f;
  for (int i = 0; i < requests; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto r = client.Get("/api/workers", headers);
    took.push_back(std::chrono::duration_cast<Micros>(std::chrono::steady_clock::now() - start));
    if (!r || r->status != 200) ++f.failures;
  }
  std::sort(took.begin(), took.end());
  auto at = [&](double q) { return took[std::min(took.size() - 1, static_cast<size_t>(q * took.size()))].count() / 1000.0; };
  f.p50_ms = at(0.50);
  f.p99_ms = at(0.99);
  f.max_ms = took.back().count() / 1000.0;
  return f;
}

std::unique_ptr<httplib::Client> Connect(int port, const std::string& ca) {
  auto client = std::make_unique<httplib::Client>("https://127.0.0.1:" + std::to_string(port));
  client->set_ca_cert_path(ca.c_str());
  client->enable_server_certificate_verification(true);
  client->set_keep_alive(true);
  return client;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gpulse HTTP API latency with idle connections"};
  int requests = 2000;
  int idle_count = 500;
  app.add_option("--requests", requests, "timed requests per phase");
  app.add_option("--idle", idle_count, "idle keep-alive connections in the second phase");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("gpulse-http-bench-" + std::to_string(getpid()));
  gpulse::master::MasterOptions options;
  options.grpc_listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.data_dir = dir.string();
  gpulse::master::MasterServer master(options);
  if (auto s = master.Start(); !s.ok()) {
    std::fprintf(stderr, "cannot start the master: %s\n", s.ToString().c_str());
    return 1;
  }
  std::string token;
  std::ifstream(dir / "read-token") >> token;
  const httplib::Headers headers{{"Authorization", "Bearer " + token}};

  auto client = Connect(master.http_port(), master.ca_file());
  client->Get("/api/workers", headers);  // handshake outside the timing
  Figures none = TimeRequests(*client, headers, requests);

  std::vector<std::unique_ptr<httplib::Client>> idle;
  for (int i = 0; i < idle_count; ++i) {
    idle.push_back(Connect(master.http_port(), master.ca_file()));
    if (!idle.back()->Get("/healthz")) {
      std::fprintf(stderr, "idle connection %d could not be made\n", i);
      return 1;
    }
  }
  Figures with_idle = TimeRequests(*client, headers, requests);

  std::printf("GET /api/workers over TLS, %d requests each, one keep-alive client\n", requests);
  std::printf("%-28s %8s %8s %8s %8s\n", "", "p50 ms", "p99 ms", "max ms", "failed");
  std::printf("%-28s %8.3f %8.3f %8.3f %8d\n", "no idle connections", none.p50_ms, none.p99_ms, none.max_ms,
              none.failures);
  std::string label = std::to_string(idle_count) + " idle connections open";
  std::printf("%-28s %8.3f %8.3f %8.3f %8d\n", label.c_str(), with_idle.p50_ms, with_idle.p99_ms, with_idle.max_ms,
              with_idle.failures);
  idle.clear();
  master.Stop();
  std::filesystem::remove_all(dir);
  return none.failures + with_idle.failures == 0 ? 0 : 1;
}
