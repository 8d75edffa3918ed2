// gpulse-worker: samples this host and runs tasks for the master.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "common/host_port.h"
#include "common/version.h"
#include "common/service_manager.h"
#include "common/signals.h"
#include "common/size.h"
#include "common/token.h"
#include "config/config_file.h"
#include "pki/certificate_info.h"
#include "pki/join_string.h"
#include "worker/worker_daemon.h"

namespace {

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "worker";
  return buf;
}

// How this worker trusts its master (--ca-file, --ca-pin, --join,
// --insecure), checked and put into `agent`. The error says what to pass.
gpulse::Status ResolveTrust(gpulse::worker::WorkerOptions& agent, const std::string& ca_file,
                            const std::string& ca_pin) {
  if (agent.insecure) {
    if (!ca_file.empty() || !ca_pin.empty()) {
      return gpulse::InvalidArgument("--insecure (plaintext) contradicts --ca-file/--ca-pin/--join: choose one");
    }
    ASSIGN_OR_RETURN(auto address, gpulse::SplitHostPort(agent.master));
    if (!gpulse::IsLoopbackHost(address.first)) {
      return gpulse::InvalidArgument("--insecure is refused for the non-loopback master " + agent.master +
                                     ": the token would cross the network in clear to whoever answers. Use "
                                     "--ca-file or --ca-pin (see `gpulse-master --print-join`)");
    }
    spdlog::warn("--insecure: the link to the master is PLAINTEXT and the master is not verified");
    return gpulse::Status::Ok();
  }
  if (!ca_file.empty()) {
    std::ifstream in(ca_file);
    if (!in) return gpulse::NotFound("cannot read the --ca-file " + ca_file);
    std::stringstream text;
    text << in.rdbuf();
    agent.ca_pem = text.str();
    ASSIGN_OR_RETURN(std::string pin, gpulse::pki::CaPin(agent.ca_pem));
    if (!ca_pin.empty()) RETURN_IF_ERROR(gpulse::pki::VerifyCaPin(agent.ca_pem, ca_pin));
    spdlog::info("trusting the cluster CA {} from {}", pin, ca_file);
    return gpulse::Status::Ok();
  }
  if (!ca_pin.empty()) {
    ASSIGN_OR_RETURN(agent.ca_pin, gpulse::pki::NormalizeCaPin(ca_pin));
    return gpulse::Status::Ok();
  }
  return gpulse::InvalidArgument(
      "a worker verifies its master before sending the token: pass --ca-file (the master's <data-dir>/pki/ca.crt), "
      "--ca-pin sha256:... (the master logs it at start-up), or --join '<the line `gpulse-master --print-join` "
      "prints>'; --insecure only for a plaintext master on loopback");
}

// Fills `options` from the command line and the token file. Returns the exit
// status for main() when the worker must not start (help: 0; bad flags, no
// token: 2), nullopt when it may.
std::optional<int> ParseFlags(int argc, char** argv, gpulse::worker::WorkerDaemonOptions& options) {
  gpulse::worker::WorkerOptions& agent = options.agent;
  options.task_user = "nobody";
  agent.hostname = Hostname();
  double interval_s = 5;
  std::string token_file;
  std::string containment = "auto";
  std::string ca_file;
  std::string ca_pin;
  std::string join;
  bool stop_tasks_on_exit = false;
  CLI::App app{"gpulse-worker: reports this host's CPUs, memory and GPUs to the master and runs its tasks"};
  app.set_version_flag("--version", std::string("gpulse-worker ") + gpulse::kVersion)->configurable(false);
  app.add_option("--master", agent.master, "HOST:PORT of the master's worker listener")->capture_default_str();
  app.add_option("--id", agent.id, "this worker's name (default: the hostname)");
  app.add_option("--hostname", agent.hostname,
                 "the hostname reported to the master and put in the Hostname label of GPU series "
                 "(default: this machine's; set it when several workers share one machine)")
      ->capture_default_str();
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
  app.add_option("--task-user", options.task_user,
                 "when the worker runs as root, the unprivileged user tasks run as; --task-user=root runs them as "
                 "root (a warning is logged). A worker that is not root runs tasks as itself")
      ->capture_default_str();
  std::string max_task_output = "100MiB";
  app.add_option("--max-task-output", max_task_output,
                 "cap on what each stream (stdout, stderr) of a task attempt ships to the master, e.g. 100MiB; the "
                 "rest is dropped and the log says how many bytes (0: no cap)")
      ->capture_default_str();
  app.add_option("--ca-file", ca_file, "the cluster CA to verify the master by (PEM; env GPULSE_CA_FILE)");
  app.add_option("--ca-pin", ca_pin,
                 "trust the CA the master presents only if its key has this sha256:<hex> pin (the master logs it)");
  app.add_option("--join", join,
                 "gpulse-join://HOST:PORT?ca=sha256:...&token=...: master, CA pin and token in one "
                 "(`gpulse-master --print-join`)");
  app.add_flag("--stop-tasks-on-exit", stop_tasks_on_exit,
               "kill running tasks when the worker stops (default: they run on under their supervisors and the "
               "next worker on this --work-dir re-adopts them)");
  app.add_flag("--insecure", agent.insecure, "plaintext link, master not verified (a --insecure master on loopback)");
  gpulse::config::ConfigFile config(app);
  if (std::optional<int> rc = config.ParseCommandLine(argc, argv)) return *rc;
  if (agent.id.empty()) agent.id = agent.hostname;
  if (auto bytes = gpulse::ParseByteSize(max_task_output); bytes.ok()) {
    agent.max_task_output_bytes = *bytes;
  } else {
    spdlog::error("--max-task-output: {}", bytes.status().message());
    return 2;
  }
  agent.interval = std::chrono::milliseconds(static_cast<int64_t>(interval_s * 1000));
  if (!join.empty()) {
    auto parsed = gpulse::pki::ParseJoinString(join);
    if (!parsed.ok()) {
      spdlog::error("--join: {}", parsed.status().message());
      return 2;
    }
    agent.master = parsed->master;
    agent.token = parsed->token;
    if (ca_pin.empty()) ca_pin = parsed->ca_pin;
  }
  if (ca_file.empty() && ca_pin.empty() && !agent.insecure) {
    if (const char* env = std::getenv("GPULSE_CA_FILE"); env && *env) ca_file = env;
  }
  if (gpulse::Status trust = ResolveTrust(agent, ca_file, ca_pin); !trust.ok()) {
    spdlog::error("{}", trust.message());
    return 2;
  }
  if (token_file.empty()) {
    if (const char* env = std::getenv("GPULSE_TOKEN_FILE"); env && *env) token_file = env;
  }
  if (token_file.empty() && agent.token.empty()) {
    spdlog::error("a worker needs the cluster token: pass --token-file (the master keeps it in <data-dir>/token)");
    return 2;
  }
  if (!token_file.empty()) {
    auto token = gpulse::ReadToken(token_file);
    if (!token.ok()) {
      spdlog::error("{}", token.status().message());
      return 2;
    }
    agent.token = *token;
  }
  auto cells = gpulse::worker::OpenContainmentFor(containment, agent.work_dir);
  if (!cells.ok()) {
    spdlog::error("{}", cells.status().message());
    return 2;
  }
  spdlog::info("task containment: {}", (*cells)->Report().summary);
  options.containment = *cells;
  options.containment_backend = containment;
  options.supervisor = std::filesystem::path();  // gpulse-task-supervisor beside gpulse-worker
  options.stop_tasks_on_exit = stop_tasks_on_exit;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  gpulse::BlockStopSignals();
  gpulse::LogForServiceManager();
  gpulse::IgnoreBrokenPipes();  // the CA fetch's TLS writes to a master that hung up: an error, not death
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
  const bool stop_tasks = daemon.options().stop_tasks_on_exit;
  if (!agent_gave_up) {
    spdlog::info("signal {}: stopping ({})", sig,
                 stop_tasks ? "running tasks are killed"
                            : "running tasks keep running; the next worker on this work dir re-adopts them");
  }
  return daemon.Stop().ok() ? 0 : 1;
}
