// gpulse-worker: samples this host and runs tasks for the master.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <optional>

#include "common/service_manager.h"
#include "common/signals.h"
#include "config/config_file.h"
#include "common/token.h"
#include "worker/worker_daemon.h"

namespace {

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "worker";
  return buf;
}

// Fills `options` from the command line and the token file. Returns the exit
// status for main() when the worker must not start (help: 0; bad flags, no
// token: 2), nullopt when it may.
std::optional<int> ParseFlags(int argc, char** argv, gpulse::worker::WorkerDaemonOptions& options) {
  gpulse::worker::WorkerOptions& agent = options.agent;
  agent.hostname = Hostname();
  double interval_s = 5;
  std::string token_file;
  std::string containment = "auto";
  CLI::App app{"gpulse-worker: reports this host's CPUs, memory and GPUs to the master and runs its tasks"};
  app.add_option("--master", agent.master, "HOST:PORT of the master's worker listener")->capture_default_str();
  app.add_option("--id", agent.id, "this worker's name (default: the hostname)");
  app.add_option("--interval", interval_s, "seconds between heartbeats")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--token-file", token_file, "cluster token file (env GPULSE_TOKEN_FILE)");
  app.add_option("--work-dir", agent.work_dir, "where tasks run and keep their output")->capture_default_str();
  app.add_option("--metrics-listen", options.metrics_listen,
                 "HOST:PORT to serve this worker's Prometheus metrics on, e.g. 127.0.0.1:9400 (off by default)");
  app.add_flag("--log-heartbeats", agent.log_heartbeats,
               "log every heartbeat at info level (default: the first one; the rest at debug)");
  app.add_option("--containment", containment, "how tasks are kept apart: auto, cgroup2, cgroup1 or process (docs/tasks.md)")
      ->capture_default_str();
  gpulse::config::ConfigFile config(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (config.print_requested()) {
    std::cout << config.Effective(argc, argv);
    return 0;
  }
  if (agent.id.empty()) agent.id = agent.hostname;
  agent.interval = std::chrono::milliseconds(static_cast<int64_t>(interval_s * 1000));
  if (token_file.empty()) {
    if (const char* env = std::getenv("GPULSE_TOKEN_FILE"); env && *env) token_file = env;
  }
  if (token_file.empty()) {
    spdlog::error("a worker needs the cluster token: pass --token-file (the master keeps it in <data-dir>/token)");
    return 2;
  }
  auto token = gpulse::ReadToken(token_file);
  if (!token.ok()) {
    spdlog::error("{}", token.status().message());
    return 2;
  }
  agent.token = *token;
  auto cells = gpulse::worker::OpenContainmentFor(containment, agent.work_dir);
  if (!cells.ok()) {
    spdlog::error("{}", cells.status().message());
    return 2;
  }
  spdlog::info("task containment: {}", (*cells)->Report().summary);
  options.containment = *cells;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  gpulse::BlockStopSignals();
  gpulse::LogForServiceManager();
  gpulse::worker::WorkerDaemonOptions options;
  if (std::optional<int> exit_code = ParseFlags(argc, argv, options)) return *exit_code;
  // The agent gives up only when the master refuses the token: wake main.
  std::atomic<bool> agent_gave_up{false};
  options.on_agent_failure = [&agent_gave_up](const gpulse::Status&) {
    agent_gave_up = true;
    kill(getpid(), SIGTERM);
  };

  gpulse::worker::WorkerDaemon daemon(std::move(options));
  if (gpulse::Status s = daemon.Start(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  gpulse::NotifyReady();
  int sig = gpulse::WaitForStopSignal();
  gpulse::NotifyStopping();
  if (!agent_gave_up) spdlog::info("signal {}: stopping (running tasks are killed)", sig);
  return daemon.Stop().ok() ? 0 : 1;
}
