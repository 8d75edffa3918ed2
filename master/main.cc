// gpulse-master: the cluster's control plane. See README.md and docs/api.md.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "common/posix_error.h"
#include "common/signals.h"
#include "master/master_server.h"

namespace {

// Writes {"grpc_port": N, "http_port": M} to `path` atomically (a sibling
// file renamed over it), so that whoever waits for the file never reads
// half of it.
gpulse::Status WritePortsFile(const std::string& path, int grpc_port, int http_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"grpc_port\": " << grpc_port << ", \"http_port\": " << http_port << "}\n";
    out.flush();
    if (!out) return gpulse::Unavailable("cannot write the ports file " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return gpulse::Unavailable("cannot write the ports file " + path + ": " + gpulse::ErrnoText(errno));
  }
  return gpulse::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  gpulse::BlockStopSignals();
  gpulse::master::MasterOptions opts;
  CLI::App app{"gpulse-master: tracks GPU workers, places tasks, serves the API and dashboard"};
  app.add_option("--listen", opts.grpc_listen, "HOST:PORT for worker streams (gRPC)")->capture_default_str();
  app.add_option("--http", opts.http_listen, "HOST:PORT for the HTTP API, dashboard and metrics")
      ->capture_default_str();
  app.add_option("--data-dir", opts.data_dir, "where tasks, logs and the cluster token are kept")
      ->capture_default_str();
  app.add_option("--token-file", opts.token_file,
                 "admin token file, also the workers' cluster token (default: <data-dir>/token, created)");
  app.add_option("--read-token-file", opts.read_token_file,
                 "read-only token file for the API, dashboard and /metrics (default: <data-dir>/read-token, created)");
  app.add_flag("--public-reads", opts.public_reads,
               "let anyone read the API, the dashboard's data and /metrics without a token (trusted networks only)");
  app.add_flag("--public-metrics", opts.public_metrics, "let anyone read /metrics without a token");
  app.add_option("--heartbeat-timeout", opts.heartbeat_timeout_seconds,
                 "seconds without a heartbeat before a worker is dead (default: 3 of its intervals)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--cancel-grace", opts.cancel_grace_seconds, "seconds between SIGTERM and SIGKILL on cancel")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--history-window", opts.history_window_seconds,
                 "seconds of per-GPU history kept for the dashboard's charts")
      ->check(CLI::Range(10.0, 7 * 86400.0))
      ->capture_default_str();
  std::string ports_file;
  app.add_option("--ports-file", ports_file,
                 "once both listeners are up, write their ports here as JSON (useful with port 0)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  gpulse::master::MasterServer server(opts);
  if (gpulse::Status s = server.Start(); !s.ok()) {
    spdlog::error("cannot start: {}", s.message());
    return 1;
  }
  if (!ports_file.empty()) {
    if (gpulse::Status s = WritePortsFile(ports_file, server.grpc_port(), server.http_port()); !s.ok()) {
      spdlog::error("{}", s.message());
      server.Stop();
      return 1;
    }
  }
  int sig = gpulse::WaitForStopSignal();
  spdlog::info("signal {}: stopping", sig);
  server.Stop();
  return 0;
}
