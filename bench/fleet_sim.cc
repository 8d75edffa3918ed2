// gpulse-fleet-sim: many simulated workers in one process, for the
// dashboard's fleet view (web/e2e/fleet.test.mjs) and the live-update
// measure (docs/benchmarks.md). Each worker is its own bidirectional gRPC
// stream to a real gpulse-master, speaking the wire protocol as
// gpulse-worker does: Register with its GPUs, a Heartbeat every --interval
// with every GPU's figures, STARTED for each task assigned (and CANCELLED
// when cancelled; its tasks never end on their own) and the running tasks in
// each heartbeat. 200 workers × 8 GPUs cost one process and a few threads
// instead of 200 processes.
//
// The figures come from --scenario (JSON, re-read when the file changes):
//   {"util": 40,                                   every GPU (default: a fixed spread 0–99)
//    "gpus": {"sim-0007/3": {"util": 95},          one GPU's utilization
//             "sim-0010/2": {"error": "GPU is lost"}}}  one GPU that cannot be read
//
// Prints "ready N" once N workers are registered; runs until SIGTERM/SIGINT.
//
//   build/bin/gpulse-fleet-sim --master 127.0.0.1:7070 --token-file gpulse-data/token --insecure --workers 200
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/gpulse.grpc.pb.h"

namespace gpulse::bench {
namespace {

using v1::MasterMessage;
using v1::WorkerMessage;

struct Options {
  std::string master;
  std::string token_file;
  std::string ca_file;
  bool insecure = false;
  int workers = 200;
  int gpus = 8;
  double interval_s = 1;
  std::string scenario;
  std::string prefix = "sim-";
};

// What one GPU reports.
struct GpuFigures {
  double util = 0;
  std::string error;  // non-empty: the GPU cannot be read
};

// The scenario file, re-read when its modification time changes.
class Scenario {
 public:
  explicit Scenario(std::string path) : path_(std::move(path)) {}

  void Reload() {
    if (path_.empty()) return;
    struct stat st {};
    if (stat(path_.c_str(), &st) != 0) return;
    std::lock_guard lock(mu_);
    if (st.st_mtim.tv_sec == mtime_.tv_sec && st.st_mtim.tv_nsec == mtime_.tv_nsec) return;
    std::ifstream in(path_);
    nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return;  // half-written: next tick
    mtime_ = st.st_mtim;
    doc_ = std::move(j);
  }

  GpuFigures Figures(const std::string& worker, int worker_no, int gpu) {
    std::lock_guard lock(mu_);
    GpuFigures f;
    f.util = (worker_no * 37 + gpu * 13) % 100;
    if (doc_.contains("util")) f.util = doc_["util"].get<double>();
    std::string key = worker + "/" + std::to_string(gpu);
    if (doc_.contains("gpus") && doc_["gpus"].contains(key)) {
      const nlohmann::json& g = doc_["gpus"][key];
      if (g.contains("util")) f.util = g["util"].get<double>();
      if (g.contains("error")) f.error = g["error"].get<std::string>();
    }
    return f;
  }

 private:
  std::string path_;
  std::mutex mu_;
  timespec mtime_{};
  nlohmann::json doc_ = nlohmann::json::object();
};

// One simulated worker on its own stream; writes are queued and sent one at
// a time, as gRPC's reactor allows.
class SimWorker final : public grpc::ClientBidiReactor<WorkerMessage, MasterMessage> {
 public:
  SimWorker(v1::WorkerLink::Stub* stub, const std::string& token, int no, const Options& opt, Scenario& scenario)
      : no_(no), opt_(opt), scenario_(scenario) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%04d", opt.prefix.c_str(), no);
    name_ = name;
    context_.AddMetadata("authorization", "Bearer " + token);
    WorkerMessage reg;
    auto* r = reg.mutable_register_();
    r->set_worker_id(name_);
    r->set_hostname(name_);
    r->set_cpu_cores(64);
    r->set_memory_bytes(512ULL << 30);
    r->set_heartbeat_interval_ms(static_cast<uint32_t>(opt.interval_s * 1000));
    for (int i = 0; i < opt.gpus; ++i) {
      auto* g = r->add_gpus();
      g->set_index(i);
      g->set_uuid(Uuid(i));
      g->set_name("NVIDIA H100 80GB HBM3");
      g->set_memory_total_bytes(85520809984ULL);
      g->set_pci_bus_id("00000000:18:00.0");
    }
    stub->async()->Connect(&context_, this);
    StartRead(&in_);
    Send(std::move(reg));
    StartCall();
  }

  // Queues a heartbeat with the scenario's figures.
  void Beat() {
    WorkerMessage m;
    auto* hb = m.mutable_heartbeat();
    hb->set_cpu_percent(20 + no_ % 30);
    hb->set_memory_percent(35 + no_ % 20);
    hb->set_nvml_available(true);
    hb->set_driver_version("580.65.06");
    hb->set_sent_at_unix_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    double sum = 0;
    int n = 0;
    for (int i = 0; i < opt_.gpus; ++i) {
      GpuFigures f = scenario_.Figures(name_, no_, i);
      auto* g = hb->add_gpus();
      g->set_index(i);
      g->set_uuid(Uuid(i));
      g->set_name("NVIDIA H100 80GB HBM3");
      g->set_pci_bus_id("00000000:18:00.0");
      if (!f.error.empty()) {
        g->set_error(f.error);
        continue;
      }
      g->set_utilization_gpu(f.util);
      g->set_utilization_memory(f.util / 2);
      g->set_memory_total_bytes(85520809984ULL);
      g->set_memory_used_bytes(static_cast<uint64_t>(85520809984.0 * f.util / 100));
      g->set_memory_free_bytes(85520809984ULL - g->memory_used_bytes());
      g->set_temperature_c(35 + f.util / 2);
      g->set_power_w(90 + 6 * f.util);
      g->set_power_limit_w(700);
      g->set_processes_known(true);
      sum += f.util;
      ++n;
    }
    if (n > 0) hb->set_gpu_percent(sum / n);
    std::lock_guard lock(mu_);
    if (!registered_) return;
    hb->set_seq(++seq_);
    for (const auto& [id, task] : tasks_) *hb->add_running_tasks() = task;
    SendLocked(std::move(m));
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) return;
    if (!queue_.empty()) {
      out_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      StartWrite(&out_);
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      std::lock_guard lock(mu_);
      if (in_.has_registered()) {
        registered_ = true;
      } else if (in_.has_assign()) {
        const v1::Assign& a = in_.assign();
        v1::RunningTask t;
        t.set_task_id(a.task_id());
        for (const std::string& u : a.gpu_uuids()) t.add_gpu_uuids(u);
        t.set_pid(100000 + static_cast<int>(tasks_.size()));
        t.set_attempt(a.attempt());
        tasks_[a.task_id()] = t;
        SendLocked(Update(a.task_id(), v1::TaskUpdate::STARTED, t.pid(), a.attempt()));
      } else if (in_.has_cancel()) {
        auto it = tasks_.find(in_.cancel().task_id());
        if (it != tasks_.end()) {
          SendLocked(Update(it->first, v1::TaskUpdate::CANCELLED, it->second.pid(), it->second.attempt(), 143));
          tasks_.erase(it);
        }
      }
    }
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& status) override {
    std::lock_guard lock(mu_);
    if (!status.ok() && !stopping_) {
      std::fprintf(stderr, "%s: stream ended: %s\n", name_.c_str(), status.error_message().c_str());
    }
    done_ = true;
    done_cv_.notify_all();
  }

  bool registered() {
    std::lock_guard lock(mu_);
    return registered_;
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    context_.TryCancel();
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return done_; });
  }

 private:
  std::string Uuid(int gpu) const { return "GPU-" + name_ + "-" + std::to_string(gpu); }

  WorkerMessage Update(const std::string& task, v1::TaskUpdate::Kind kind, int pid, uint32_t attempt, int code = 0) {
    WorkerMessage m;
    auto* u = m.mutable_task_update();
    u->set_task_id(task);
    u->set_kind(kind);
    u->set_pid(pid);
    u->set_attempt(attempt);
    u->set_exit_code(code);
    u->set_event_seq(++event_seq_);
    return m;
  }

  void Send(WorkerMessage m) {
    std::lock_guard lock(mu_);
    SendLocked(std::move(m));
  }

  void SendLocked(WorkerMessage m) {
    if (done_) return;
    if (writing_) {
      // A slow master: keep task updates, drop all but the newest heartbeat.
      if (m.has_heartbeat() && !queue_.empty() && queue_.back().has_heartbeat()) queue_.back() = std::move(m);
      else queue_.push_back(std::move(m));
      return;
    }
    out_ = std::move(m);
    writing_ = true;
    StartWrite(&out_);
  }

  const int no_;
  const Options& opt_;
  Scenario& scenario_;
  std::string name_;
  grpc::ClientContext context_;
  MasterMessage in_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  WorkerMessage out_;
  std::deque<WorkerMessage> queue_;
  bool writing_ = false, registered_ = false, stopping_ = false, done_ = false;
  uint64_t seq_ = 0, event_seq_ = 0;
  std::map<std::string, v1::RunningTask> tasks_;
};

std::atomic<bool> g_stop{false};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Run(const Options& opt) {
  std::string token = ReadFile(opt.token_file);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) {
    std::fprintf(stderr, "no token in %s\n", opt.token_file.c_str());
    return 2;
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (opt.insecure) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(opt.ca_file);
    creds = grpc::SslCredentials(ssl);
  }
  // A few channels: one HTTP/2 connection per worker would be faithful but
  // costs a socket and a handshake each; streams are what the master sees.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::WorkerLink::Stub>> stubs;
  for (int i = 0; i < 8; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", i);  // distinct channels, not one shared subchannel
    channels.push_back(grpc::CreateCustomChannel(opt.master, creds, args));
    stubs.push_back(v1::WorkerLink::NewStub(channels.back()));
  }
  Scenario scenario(opt.scenario);
  scenario.Reload();
  std::vector<std::unique_ptr<SimWorker>> workers;
  for (int i = 0; i < opt.workers; ++i) {
    workers.push_back(std::make_unique<SimWorker>(stubs[i % stubs.size()].get(), token, i, opt, scenario));
  }
  bool announced = false;
  auto interval = std::chrono::duration<double>(opt.interval_s);
  while (!g_stop) {
    auto start = std::chrono::steady_clock::now();
    int registered = 0;
    for (auto& w : workers) {
      if (g_stop) break;
      scenario.Reload();  // a stat(); the file is read only when it changed
      w->Beat();
      registered += w->registered() ? 1 : 0;
      // Spread the beats over the interval, as independent workers would.
      std::this_thread::sleep_until(start + interval * (&w - &workers[0] + 1) / workers.size());
    }
    if (!announced && registered == opt.workers) {
      std::printf("ready %d\n", registered);
      std::fflush(stdout);
      announced = true;
    }
  }
  for (auto& w : workers) w->Stop();
  return 0;
}

}  // namespace
}  // namespace gpulse::bench

int main(int argc, char** argv) {
  gpulse::bench::Options opt;
  CLI::App app{"gpulse-fleet-sim: many simulated workers on one process, over the real wire protocol"};
  app.add_option("--master", opt.master, "HOST:PORT of the master's worker listener")->required();
  app.add_option("--token-file", opt.token_file, "cluster token file")->required();
  app.add_option("--ca-file", opt.ca_file, "the cluster CA (else --insecure)");
  app.add_flag("--insecure", opt.insecure, "plaintext (a --insecure master on loopback)");
  app.add_option("--workers", opt.workers, "simulated workers")->capture_default_str();
  app.add_option("--gpus", opt.gpus, "GPUs per worker")->capture_default_str();
  app.add_option("--interval", opt.interval_s, "seconds between each worker's heartbeats")->capture_default_str();
  app.add_option("--scenario", opt.scenario, "JSON file with the GPUs' figures, re-read when it changes");
  app.add_option("--prefix", opt.prefix, "worker ids are PREFIX0000, PREFIX0001, ...")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!opt.insecure && opt.ca_file.empty()) {
    std::fprintf(stderr, "pass --ca-file (the master's <data-dir>/pki/ca.crt) or --insecure\n");
    return 2;
  }
  signal(SIGTERM, [](int) { gpulse::bench::g_stop = true; });
  signal(SIGINT, [](int) { gpulse::bench::g_stop = true; });
  return gpulse::bench::Run(opt);
}
