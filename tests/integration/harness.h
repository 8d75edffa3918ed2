// Test harness for integration tests: starts the real gpulse binaries on
// loopback with the NVML simulator, and waits on conditions with deadlines.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "testkit/eventually.h"
#include "testkit/sim_fixture.h"
#include "testkit/temp_dir.h"

namespace gpulse::integration {

using testkit::Eventually;

// A child process whose stdout+stderr go to a log file. Killed (SIGKILL) on
// destruction if still running.
class Process {
 public:
  Process(std::string name, std::vector<std::string> argv, std::map<std::string, std::string> env,
          std::string log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `sig` and, for SIGKILL/SIGTERM, waits for the exit. Returns the
  // exit status as a shell would print it (128+N for signal N).
  int Signal(int sig);
  // Waits up to `timeout` for the process to exit; its exit code, or nullopt.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  std::string Log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

std::string BinPath(const std::string& name);  // build/bin/<name>

// Writes a simulator scenario atomically (temp file + rename).
void WriteScenario(const std::string& path, const nlohmann::json& scenario);

// HttpGet/HttpPost speak https to a port a MasterProcess serves with TLS
// (verified with its CA, as the CLI does) and plain http to any other.
struct HttpReply {
  int status = 0;  // 0 when the connection failed
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};
// `token` empty: no Authorization header (the API then answers 401, but
// /healthz and the dashboard page answer).
HttpReply HttpGet(int port, const std::string& path, const std::string& token = "");
// From now on HttpGet/HttpPost speak https to `port`, verified with the CA
// in `ca_file` (MasterProcess does this itself; for an in-process master).
void UseHttpsForPort(int port, const std::string& ca_file);
HttpReply HttpPost(int port, const std::string& path, const std::string& body, const std::string& token);

// Runs a command to completion; returns exit code and stdout.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A master on loopback with its own data dir, with --task-lease 8 unless
// extra_args says otherwise (tests see lost workers' tasks requeued soon),
// serving TLS with the cluster
// CA it creates there unless extra_args has --insecure. The first start asks for
// port 0 on both listeners and reads the ports the master bound from its
// --ports-file, so parallel tests never race for a port. A restart asks
// for the same ports again, so that workers find it where it was; if
// another process took one meanwhile, the master refuses to start (it
// never shares a port) and the test fails with its log.
class MasterProcess {
 public:
  explicit MasterProcess(const std::string& data_dir, std::vector<std::string> extra_args = {});
  // Starts (again); waits until the ports file is written and /healthz
  // answers. A failure is a fatal test failure with the master's log.
  void Start();
  int Kill9();
  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  std::string grpc_address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  std::string http_url() const {
    return (tls() ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(http_port_);
  }
  // Whether it serves TLS (no --insecure), and the CA to trust it by.
  bool tls() const;
  std::string ca_file() const;
  // GPULSE_MASTER, GPULSE_TOKEN_FILE (the admin token) and GPULSE_CA_FILE
  // (or nothing) for the CLI, as an operator would set them.
  std::map<std::string, std::string> cli_env() const;
  // --token-file when given in extra_args, else <data-dir>/token.
  std::string token_file() const;
  std::string token() const;  // the admin (cluster) token
  // --read-token-file when given in extra_args, else <data-dir>/read-token.
  std::string read_token_file() const;
  std::string read_token() const;
  Process& process() { return *process_; }

 private:
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  int http_port_ = 0;
  int grpc_port_ = 0;
  int starts_ = 0;
  std::unique_ptr<Process> process_;
};

// Reads {"grpc_port": N, "http_port": M} as gpulse-master --ports-file
// writes it; nullopt until the file exists.
std::optional<std::pair<int, int>> ReadPortsFile(const std::string& path);

// A worker on the NVML simulator with its own scenario file and work dir,
// heartbeating every second unless extra_args has an --interval. It trusts
// the master by --ca-file (or --insecure for an --insecure master) unless
// extra_args says how (--ca-file, --ca-pin, --join, --insecure).
class WorkerProcess {
 public:
  WorkerProcess(const MasterProcess& master, const std::string& id, const nlohmann::json& scenario,
                const std::string& dir, std::vector<std::string> extra_args = {});
  // Kills the worker (SIGKILL) and then the task supervisors it left (their
  // tasks run on after a worker by design): each is told to cancel at once
  // and waited for, up to 10 s.
  ~WorkerProcess();
  const std::string& id() const { return id_; }
  // --work-dir: <dir>/<id>-work. A WorkerProcess with the same id and dir
  // is the same worker restarted (it re-adopts the tasks left there).
  const std::string& work_dir() const { return work_dir_; }
  const std::string& scenario_path() const { return scenario_path_; }
  Process& process() { return *process_; }
  // The port of --metrics-listen (start it with "127.0.0.1:0"), from the
  // worker's "serving metrics on" line; 0 if it has not said within
  // `timeout`.
  int MetricsPort(std::chrono::milliseconds timeout = std::chrono::seconds(20));

 private:
  std::string id_;
  std::string scenario_path_;
  std::string work_dir_;
  std::unique_ptr<Process> process_;
};

// A tmpfs of `size` (mount's size=, e.g. "8m") mounted on `path` (created
// if needed), unmounted (lazily) on destruction; Fill() fills it up, Free()
// removes what Fill() wrote. Mounting needs root: check mounted().
class TinyDisk {
 public:
  explicit TinyDisk(const std::string& path, const std::string& size = "8m");
  ~TinyDisk();
  TinyDisk(const TinyDisk&) = delete;
  TinyDisk& operator=(const TinyDisk&) = delete;
  bool mounted() const { return mounted_; }
  void Fill();
  void Free();

 private:
  std::string path_;
  bool mounted_ = false;
};

// Whether the tests run in CI (CI set to anything but "", "false" or "0",
// as GitHub Actions, GitLab CI and .ci/run's callers do): there a missing
// privilege or tool is a failure, not a skip.
bool RunningInCi();

// A scenario with `gpus` GPUs of `model`, each at the given utilization.
nlohmann::json SimScenario(const std::string& host_seed, const std::vector<double>& utilization,
                           const std::string& model = "NVIDIA H100 80GB HBM3");

}  // namespace gpulse::integration
