#include "tests/integration/harness.h"

#include "common/signals.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

namespace gpulse::integration {

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int out_fd,
            int err_fd) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (!env.count(key)) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env_strings) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  return pid;
}

// The CA file of each HTTP port a MasterProcess serves with TLS.
std::mutex tls_ports_mu;
std::map<int, std::string>& TlsPorts() {
  static std::map<int, std::string> ports;
  return ports;
}

std::unique_ptr<httplib::Client> ClientFor(int port) {
  IgnoreBrokenPipes();  // a master killed mid-request must fail the call, not end the test
  std::string ca_file;
  {
    std::lock_guard lock(tls_ports_mu);
    auto it = TlsPorts().find(port);
    if (it != TlsPorts().end()) ca_file = it->second;
  }
  auto client = std::make_unique<httplib::Client>((ca_file.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") +
                                                  std::to_string(port));
  if (!ca_file.empty()) {
    client->set_ca_cert_path(ca_file.c_str());
    client->enable_server_certificate_verification(true);
  }
  client->set_connection_timeout(std::chrono::seconds(2));
  return client;
}

bool HasFlag(const std::vector<std::string>& args, const std::string& flag) {
  return std::find(args.begin(), args.end(), flag) != args.end();
}

}  // namespace

Process::Process(std::string name, std::vector<std::string> argv, std::map<std::string, std::string> env,
                 std::string log_path)
    : name_(std::move(name)), log_path_(std::move(log_path)) {
  int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = Spawn(argv, env, fd, fd);
  close(fd);
}

Process::~Process() {
  if (Running()) Signal(SIGKILL);
}

bool Process::Running() {
  if (exit_code_ || pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = DecodeWaitStatus(status);
    return false;
  }
  return true;
}

int Process::Signal(int sig) {
  if (!Running()) return exit_code_.value_or(-1);
  kill(pid_, sig);
  if (sig == SIGKILL || sig == SIGTERM) {
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_code_ = DecodeWaitStatus(status);
    return *exit_code_;
  }
  return 0;
}

std::optional<int> Process::WaitExit(std::chrono::milliseconds timeout) {
  Eventually([&] { return !Running(); }, timeout);
  return exit_code_;
}

std::string Process::Log() const { return ReadFile(log_path_); }

std::string BinPath(const std::string& name) { return std::string(GPULSE_TEST_BIN_DIR) + "/" + name; }

void WriteScenario(const std::string& path, const nlohmann::json& scenario) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << scenario.dump(2);
  std::rename(tmp.c_str(), path.c_str());
}

void UseHttpsForPort(int port, const std::string& ca_file) {
  std::lock_guard lock(tls_ports_mu);
  TlsPorts()[port] = ca_file;
}

HttpReply HttpGet(int port, const std::string& path, const std::string& token) {
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  auto r = ClientFor(port)->Get(path, headers);
  if (!r) return {};
  return {r->status, r->body};
}

HttpReply HttpPost(int port, const std::string& path, const std::string& body, const std::string& token) {
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  auto r = ClientFor(port)->Post(path, headers, body, "application/json");
  if (!r) return {};
  return {r->status, r->body};
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                         std::chrono::milliseconds timeout) {
  testkit::TempDir scratch("gpulse-cmd");
  const std::string dir = scratch.path().string();
  std::string out_path = dir + "/out", err_path = dir + "/err";
  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t pid = Spawn(argv, env, out_fd, err_fd);
  close(out_fd);
  close(err_fd);
  CommandResult result;
  int status = 0;
  bool done = Eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  result.exit_code = done ? DecodeWaitStatus(status) : -1;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

MasterProcess::MasterProcess(const std::string& data_dir, std::vector<std::string> extra_args)
    : data_dir_(data_dir), extra_args_(std::move(extra_args)) {
  Start();
}

std::optional<std::pair<int, int>> ReadPortsFile(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  nlohmann::json ports = nlohmann::json::parse(ReadFile(path), nullptr, false);
  if (!ports.is_object() || !ports["grpc_port"].is_number_integer() || !ports["http_port"].is_number_integer()) {
    return std::nullopt;
  }
  return std::make_pair(ports["grpc_port"].get<int>(), ports["http_port"].get<int>());
}

void MasterProcess::Start() {
  std::filesystem::create_directories(data_dir_);
  const std::string ports_file = data_dir_ + "/ports.json";
  std::filesystem::remove(ports_file);
  std::vector<std::string> argv = {BinPath("gpulse-master"),
                                   "--listen", "127.0.0.1:" + std::to_string(grpc_port_),
                                   "--http", "127.0.0.1:" + std::to_string(http_port_),
                                   "--data-dir", data_dir_,
                                   "--ports-file", ports_file};
  if (!HasFlag(extra_args_, "--task-lease")) argv.insert(argv.end(), {"--task-lease", "8"});
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  process_ = std::make_unique<Process>("master", argv, std::map<std::string, std::string>{},
                                       data_dir_ + "/master-" + std::to_string(++starts_) + ".log");
  std::optional<std::pair<int, int>> ports;
  bool listening = Eventually([&] { return (ports = ReadPortsFile(ports_file)).has_value() || !process_->Running(); },
                              std::chrono::seconds(20));
  ASSERT_TRUE(listening && ports) << "master did not start:\n" << process_->Log();
  grpc_port_ = ports->first;
  http_port_ = ports->second;
  if (tls()) {
    UseHttpsForPort(http_port_, ca_file());
  } else {
    std::lock_guard lock(tls_ports_mu);
    TlsPorts().erase(http_port_);
  }
  // Both listeners are up once the ports file exists; /healthz proves the
  // HTTP side answers.
  bool up = Eventually([&] { return HttpGet(http_port_, "/healthz").status == 200; }, std::chrono::seconds(20));
  ASSERT_TRUE(up) << "master does not answer /healthz:\n" << process_->Log();
}

int MasterProcess::Kill9() { return process_->Signal(SIGKILL); }

std::string MasterProcess::token_file() const {
  for (size_t i = 0; i + 1 < extra_args_.size(); ++i) {
    if (extra_args_[i] == "--token-file") return extra_args_[i + 1];
  }
  return data_dir_ + "/token";
}

bool MasterProcess::tls() const { return !HasFlag(extra_args_, "--insecure"); }

std::string MasterProcess::ca_file() const {
  for (size_t i = 0; i + 1 < extra_args_.size(); ++i) {
    if (extra_args_[i] == "--tls-ca") return extra_args_[i + 1];
  }
  return data_dir_ + "/pki/ca.crt";
}

std::map<std::string, std::string> MasterProcess::cli_env() const {
  std::map<std::string, std::string> env = {{"GPULSE_MASTER", http_url()}, {"GPULSE_TOKEN_FILE", token_file()}};
  if (tls()) env["GPULSE_CA_FILE"] = ca_file();
  return env;
}

std::string MasterProcess::token() const {
  std::string t = ReadFile(token_file());
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

std::string MasterProcess::read_token_file() const {
  for (size_t i = 0; i + 1 < extra_args_.size(); ++i) {
    if (extra_args_[i] == "--read-token-file") return extra_args_[i + 1];
  }
  return data_dir_ + "/read-token";
}

std::string MasterProcess::read_token() const {
  std::string t = ReadFile(read_token_file());
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

WorkerProcess::WorkerProcess(const MasterProcess& master, const std::string& id, const nlohmann::json& scenario,
                             const std::string& dir, std::vector<std::string> extra_args)
    : id_(id), scenario_path_(dir + "/" + id + "-scenario.json"), work_dir_(dir + "/" + id + "-work") {
  WriteScenario(scenario_path_, scenario);
  std::vector<std::string> argv = {BinPath("gpulse-worker"), "--master", master.grpc_address(), "--id", id,
                                   "--token-file", master.token_file(), "--work-dir", work_dir_};
  if (!HasFlag(extra_args, "--interval")) argv.insert(argv.end(), {"--interval", "1"});
  // Tests' tasks write marker files into the test's private (0700) temp
  // dir, so they run as the worker's user unless a test asks otherwise
  // (a root worker's default is --task-user=nobody).
  if (!HasFlag(extra_args, "--task-user")) argv.insert(argv.end(), {"--task-user", "root"});
  if (!HasFlag(extra_args, "--ca-file") && !HasFlag(extra_args, "--ca-pin") && !HasFlag(extra_args, "--join") &&
      !HasFlag(extra_args, "--insecure")) {
    if (master.tls()) {
      argv.insert(argv.end(), {"--ca-file", master.ca_file()});
    } else {
      argv.push_back("--insecure");
    }
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<Process>(
      "worker " + id, argv,
      std::map<std::string, std::string>{{"GPULSE_NVML_LIBRARY", testkit::SimLibraryPath()},
                                         {"GPULSE_NVML_SIM_SCENARIO", scenario_path_}},
      dir + "/" + id + ".log");
}

namespace {

// A pidfd for `pid` when it is still a child of `parent` (so a reused pid
// is never taken for the task), with its process group; -1 otherwise.
int OpenTaskPidfd(pid_t pid, pid_t parent, pid_t* group) {
  if (pid <= 0) return -1;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return -1;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  // pid (comm) state ppid pgrp ...: comm may hold spaces, so read after ')'.
  const auto close_paren = line.rfind(')');
  std::istringstream rest(close_paren == std::string::npos ? "" : line.substr(close_paren + 1));
  std::string state;
  pid_t ppid = 0, pgrp = 0;
  if (!(rest >> state >> ppid >> pgrp) || ppid != parent) {
    ::close(pidfd);
    return -1;
  }
  *group = pgrp;
  return pidfd;
}

}  // namespace

WorkerProcess::~WorkerProcess() {
  if (process_->Running()) process_->Signal(SIGKILL);
  std::error_code error;
  std::vector<std::pair<pid_t, int>> supervisors;  // pid, pidfd
  struct TaskLeft {
    int pidfd;
    pid_t group;
    bool leads_group;  // the task's own process group (never the test's)
  };
  std::vector<TaskLeft> tasks;
  for (const auto& entry : std::filesystem::directory_iterator(work_dir_ + "/attempts", error)) {
    std::ifstream in(entry.path() / "state");
    nlohmann::json state = nlohmann::json::parse(in, nullptr, false);
    if (!state.is_object() || !state.contains("supervisor_pid")) continue;
    const pid_t pid = state["supervisor_pid"].get<pid_t>();
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) continue;
    std::string command;
    try {  // ESRCH when it exits meanwhile
      std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
      command.assign(std::istreambuf_iterator<char>(cmdline), std::istreambuf_iterator<char>());
    } catch (const std::exception&) {
    }
    if (command.find("gpulse-task-supervisor") == std::string::npos) {  // a reused pid: not ours
      ::close(pidfd);
      continue;
    }
    pid_t group = 0;
    const pid_t task_pid = state.value("task_pid", 0);
    const int task_pidfd = OpenTaskPidfd(task_pid, pid, &group);
    if (task_pidfd >= 0) tasks.push_back({task_pidfd, group, group == task_pid && group != ::getpgrp()});
    std::ofstream(entry.path() / "cancel") << "0\n";
    ::syscall(SYS_pidfd_send_signal, pidfd, SIGUSR1, nullptr, 0);
    supervisors.emplace_back(pid, pidfd);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const auto& [pid, pidfd] : supervisors) {
    pollfd p{pidfd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count()))) <= 0) ::kill(pid, SIGKILL);
    ::close(pidfd);
  }
  // A supervisor killed above leaves its task behind (the process backend's
  // task outlives a dead supervisor): end what is left of each task's group.
  for (const auto& [pidfd, group, leads_group] : tasks) {
    pollfd p{pidfd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) {
      // The group first, while its leader still holds the group id.
      if (leads_group) ::kill(-group, SIGKILL);
      ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    }
    ::close(pidfd);
  }
}

int WorkerProcess::MetricsPort(std::chrono::milliseconds timeout) {
  static const std::regex kServing(R"(serving metrics on http://[^ ]*:([0-9]+)/metrics)");
  int port = 0;
  Eventually([&] {
    std::smatch m;
    std::string log = process_->Log();
    if (std::regex_search(log, m, kServing)) port = std::stoi(m[1]);
    return port != 0;
  }, timeout);
  return port;
}

nlohmann::json SimScenario(const std::string& host_seed, const std::vector<double>& utilization,
                           const std::string& model) {
  nlohmann::json gpus = nlohmann::json::array();
  for (size_t i = 0; i < utilization.size(); ++i) {
    size_t h = std::hash<std::string>{}(host_seed + "/" + std::to_string(i));
    char uuid[64];
    std::snprintf(uuid, sizeof uuid, "GPU-%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(h),
                  static_cast<unsigned>((h >> 32) & 0xffff), static_cast<unsigned>(i),
                  static_cast<unsigned>((h >> 48) & 0xffff), static_cast<unsigned long long>(h & 0xffffffffffffULL));
    gpus.push_back({{"name", model}, {"uuid", uuid}, {"utilization_gpu", utilization[i]},
                    {"memory_total_mib", 81559}, {"memory_used_mib", 1024}});
  }
  return {{"driver_version", "580.65.06"}, {"gpus", gpus}};
}

TinyDisk::TinyDisk(const std::string& path, const std::string& size) : path_(path) {
  std::filesystem::create_directories(path);
  mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size + ",mode=0700").c_str()) == 0;
}

TinyDisk::~TinyDisk() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
}

void TinyDisk::Fill() {
  std::ofstream out(path_ + "/filler", std::ios::binary);
  const std::string block(64 * 1024, 'x');
  while (out.write(block.data(), block.size()) && out.flush()) {
  }
  std::ofstream small(path_ + "/filler-small", std::ios::binary);
  while (small.write("x", 1) && small.flush()) {
  }
}

void TinyDisk::Free() {
  std::error_code ignored;
  std::filesystem::remove(path_ + "/filler", ignored);
  std::filesystem::remove(path_ + "/filler-small", ignored);
}

bool RunningInCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0' && std::string(ci) != "false" && std::string(ci) != "0";
}

}  // namespace gpulse::integration
