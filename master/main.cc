// gpulse-master: the cluster's control plane. See README.md and docs/api.md.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <optional>
#include <fstream>

#include <unistd.h>

#include "common/host_port.h"
#include "common/version.h"
#include "common/posix_error.h"
#include "common/service_manager.h"
#include "common/signals.h"
#include "common/size.h"
#include "common/token.h"
#include "config/config_file.h"
#include "master/join_command.h"
#include "master/master_server.h"
#include "master/master_tls.h"
#include "master/store/sqlite_backup.h"

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

// --print-join: the one line an operator pastes on a new worker (it holds
// the token: printed only when asked, to stdout). Needs the CA and token
// of an earlier start; does not start a master.
int PrintJoin(const gpulse::master::MasterOptions& opts) {
  const std::string ca_file = opts.tls_ca.empty() ? gpulse::master::DefaultCaFile(opts.data_dir) : opts.tls_ca;
  auto line = gpulse::master::JoinCommandLine(opts.grpc_listen, ca_file,
                                              opts.token_file.empty() ? opts.data_dir + "/token" : opts.token_file);
  if (!line.ok()) {
    spdlog::error("{}", line.status().message());
    return 1;
  }
  std::printf("%s\n", line->c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  gpulse::BlockStopSignals();
  gpulse::LogForServiceManager();
  gpulse::IgnoreBrokenPipes();  // TLS clients that hang up must not end the master
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
  app.add_option("--task-lease", opts.task_lease_seconds,
                 "seconds after a lost worker's last heartbeat before its tasks are requeued; its task "
                 "supervisors kill them before (must exceed the heartbeat timeout; docs/tasks.md)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--cancel-grace", opts.cancel_grace_seconds, "seconds between SIGTERM and SIGKILL on cancel")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--idle-threshold", opts.idle_threshold_percent,
                 "GPU utilization (%) below which a running task's GPUs count as idle")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--idle-period", opts.idle_period_seconds,
                 "seconds a running task's GPUs must all stay below --idle-threshold before it is marked idle")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--idle-action", opts.idle_action, "what happens to an idle task: none (marked only) or cancel")
      ->check(CLI::IsMember({"none", "cancel"}))
      ->capture_default_str();
  app.add_option("--max-live-dashboards", opts.max_live_dashboards,
                 "dashboards served live (server-sent events) at once; more poll instead")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--finished-task-retention", opts.finished_task_retention_seconds,
                 "seconds a finished task stays in the master's memory; after that it is served from the store "
                 "(docs/api.md)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-finished-tasks", opts.max_finished_tasks_in_memory,
                 "finished tasks kept in the master's memory at most; the oldest-finished leave it first")
      ->check(CLI::Range(size_t{0}, size_t{10000000}))
      ->capture_default_str();
  app.add_option("--history-window", opts.history_window_seconds,
                 "seconds of per-GPU history kept for the dashboard's charts")
      ->check(CLI::Range(10.0, 7 * 86400.0))
      ->capture_default_str();
  app.add_option("--tls-cert", opts.tls_cert, "the server certificate to serve (PEM; with --tls-key and --tls-ca; "
                 "default: one issued by the cluster CA in <data-dir>/pki)");
  app.add_option("--tls-key", opts.tls_key, "its private key (PEM, mode 0600)");
  app.add_option("--tls-ca", opts.tls_ca, "the CA that issued --tls-cert, which workers trust");
  app.add_option("--tls-san", opts.tls_sans,
                 "another DNS name or IP address for the generated server certificate (repeatable)");
  app.add_flag("--insecure", opts.insecure,
               "serve plaintext, without TLS (development only; refused unless both listeners are on loopback)");
  std::string max_task_log = "100MiB";
  app.add_option("--max-task-log", max_task_log,
                 "cap on each stream (stdout, stderr) of each task attempt's stored log, e.g. 100MiB; past it output "
                 "is dropped and one line says how many bytes (0: no cap)")
      ->capture_default_str();
  bool print_join = false;
  app.add_flag("--print-join", print_join,
               "print the command that joins a worker to this master (with the CA pin and the token), and exit");
  std::string ports_file;
  app.add_option("--ports-file", ports_file,
                 "once both listeners are up, write their ports here as JSON (useful with port 0)");
  // Offline commands on the data dir, e.g. `gpulse-master --config
  // /etc/gpulse/master.toml backup --to /backups/gpulse-$(date +%F).db`.
  std::string backup_to, restore_from;
  CLI::App* backup = app.add_subcommand("backup", "copy the state (tasks, events, workers) to a new file; safe while the "
                                                  "master runs (SQLite online backup)");
  backup->add_option("--to", backup_to, "the new file")->required();
  backup->fallthrough();
  CLI::App* restore = app.add_subcommand("restore", "make a backup the database of a new --data-dir (master stopped)");
  restore->add_option("--from", restore_from, "the backup file")->required();
  restore->fallthrough();
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("gpulse-master ") + gpulse::kVersion)->configurable(false);
  gpulse::config::ConfigFile config(app);
  if (std::optional<int> rc = config.ParseCommandLine(argc, argv)) return *rc;
  if (auto bytes = gpulse::ParseByteSize(max_task_log); bytes.ok()) {
    opts.max_task_log_bytes = *bytes;
  } else {
    std::cerr << "--max-task-log: " << bytes.status().message() << "\n";
    return 2;
  }
  if (opts.heartbeat_timeout_seconds > 0 && opts.task_lease_seconds <= opts.heartbeat_timeout_seconds) {
    spdlog::error("--task-lease ({} s) must be longer than --heartbeat-timeout ({} s): a worker is declared dead "
                  "first, and its tasks are requeued only when their lease has run out",
                  opts.task_lease_seconds, opts.heartbeat_timeout_seconds);
    return 2;
  }
  if (*backup || *restore) {
    const std::string db = gpulse::master::DatabasePath(opts.data_dir);
    gpulse::Status s = *backup ? gpulse::master::BackupDatabase(db, backup_to)
                               : gpulse::master::RestoreDatabase(restore_from, opts.data_dir);
    if (!s.ok()) {
      spdlog::error("{}", s.message());
      return 1;
    }
    std::cout << (*backup ? "backed up " + db + " to " + backup_to : "restored " + restore_from + " as " + db) << "\n";
    return 0;
  }

  if (print_join) return PrintJoin(opts);

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
  gpulse::NotifyReady();
  int sig = gpulse::WaitForStopSignal();
  gpulse::NotifyStopping();
  spdlog::info("signal {}: stopping", sig);
  server.Stop();
  return 0;
}
