// gpulse-loadgen: heartbeat ingest under load, over real gRPC on loopback.
//
// Starts a master in-process (SQLite store in a temp dir, loopback ports),
// connects N simulated workers — each its own bidirectional stream, as real
// workers do — registers them with 8 GPUs each, and has every worker send
// heartbeats back to back with at most --window unacknowledged. Reports
// heartbeats acknowledged per second and the latency from send to ack
// (p50/p99). The same load then runs against a bare gRPC service that only
// acknowledges, in the same process: the ceiling to compare with. The
// master runs twice in the one process, plaintext (--insecure) and then
// with TLS as by default, so the two figures and their ratio come from the
// same run; so does the time a fresh worker connection takes to register
// (connect, handshake, first stream) with each.
//
//   build/bin/gpulse-loadgen --workers 200 --seconds 10 --window 8
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/token.h"
#include "master/master_server.h"
#include "proto/gpulse.grpc.pb.h"

namespace gpulse::bench {
namespace {

using Clock = std::chrono::steady_clock;
using v1::MasterMessage;
using v1::WorkerMessage;

struct Options {
  int workers = 200;
  double seconds = 10;
  int window = 8;
  int gpus = 8;
};

// Latency samples in microseconds, one vector per worker (no sharing).
struct Stats {
  std::atomic<uint64_t> acked{0};
  std::atomic<bool> measuring{false};
};

WorkerMessage MakeHeartbeat(int gpus, const std::string& uuid_prefix) {
  WorkerMessage m;
  auto* hb = m.mutable_heartbeat();
  hb->set_cpu_percent(23.5);
  hb->set_memory_percent(41.2);
  hb->set_gpu_percent(57.0);
  hb->set_nvml_available(true);
  hb->set_driver_version("580.65.06");
  for (int i = 0; i < gpus; ++i) {
    auto* g = hb->add_gpus();
    g->set_index(i);
    g->set_uuid(uuid_prefix + std::to_string(i));
    g->set_name("NVIDIA H100 80GB HBM3");
    g->set_pci_bus_id("00000000:18:00.0");
    g->set_utilization_gpu(40 + i);
    g->set_utilization_memory(20 + i);
    g->set_memory_total_bytes(85520809984ULL);
    g->set_memory_used_bytes(1073741824ULL * (i + 1));
    g->set_memory_free_bytes(85520809984ULL - 1073741824ULL * (i + 1));
    g->set_temperature_c(50 + i);
    g->set_power_w(300.5 + i);
    g->set_power_limit_w(700);
    g->set_clock_sm_mhz(1980);
    g->set_clock_mem_mhz(2619);
    g->set_processes_known(true);
  }
  return m;
}

// One simulated worker: registers, then keeps `window` heartbeats in flight.
class SimWorker final : public grpc::ClientBidiReactor<WorkerMessage, MasterMessage> {
 public:
  SimWorker(v1::WorkerLink::Stub* stub, const std::string& token, int id, const Options& opt, Stats& stats)
      : opt_(opt), stats_(stats) {
    context_.AddMetadata("authorization", "Bearer " + token);
    std::string name = "load-" + std::to_string(id);
    auto* r = reg_.mutable_register_();
    r->set_worker_id(name);
    r->set_hostname(name);
    r->set_cpu_cores(64);
    r->set_memory_bytes(512ULL << 30);
    r->set_heartbeat_interval_ms(5000);
    for (int i = 0; i < opt.gpus; ++i) {
      auto* g = r->add_gpus();
      g->set_index(i);
      g->set_uuid("GPU-" + name + "-" + std::to_string(i));
      g->set_name("NVIDIA H100 80GB HBM3");
      g->set_memory_total_bytes(85520809984ULL);
    }
    hb_ = MakeHeartbeat(opt.gpus, "GPU-" + name + "-");
    sent_at_.resize(1 << 16);
    latencies_.reserve(1 << 16);
    stub->async()->Connect(&context_, this);
    StartRead(&in_);
    writing_ = true;
    StartWrite(&reg_);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    writing_ = false;
    if (!ok || stopping_) return;
    MaybeSendLocked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    std::unique_lock lock(mu_);
    if (in_.has_registered()) {
      registered_ = true;
    } else if (in_.has_ack()) {
      uint64_t seq = in_.ack().seq();
      auto now = Clock::now();
      if (stats_.measuring) {
        latencies_.push_back(std::chrono::duration<double, std::micro>(now - sent_at_[seq & 0xffff]).count());
        stats_.acked.fetch_add(1, std::memory_order_relaxed);
      }
      --in_flight_;
    }
    MaybeSendLocked();
    lock.unlock();
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& status) override {
    std::lock_guard lock(mu_);
    final_ = status;
    done_ = true;
    done_cv_.notify_all();
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

  bool registered() {
    std::lock_guard lock(mu_);
    return registered_;
  }
  const std::vector<double>& latencies() const { return latencies_; }

 private:
  void MaybeSendLocked() {
    if (writing_ || stopping_ || !registered_ || in_flight_ >= opt_.window) return;
    uint64_t seq = ++seq_;
    hb_.mutable_heartbeat()->set_seq(seq);
    sent_at_[seq & 0xffff] = Clock::now();
    ++in_flight_;
    writing_ = true;
    StartWrite(&hb_);
  }

  const Options& opt_;
  Stats& stats_;
  grpc::ClientContext context_;
  WorkerMessage reg_;
  WorkerMessage hb_;
  MasterMessage in_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool writing_ = false, registered_ = false, stopping_ = false, done_ = false;
  int in_flight_ = 0;
  uint64_t seq_ = 0;
  std::vector<Clock::time_point> sent_at_;
  std::vector<double> latencies_;
  grpc::Status final_;
};

// The ceiling: a service that registers nobody and only acknowledges.
class BareAckService final : public v1::WorkerLink::CallbackService {
  grpc::ServerBidiReactor<WorkerMessage, MasterMessage>* Connect(grpc::CallbackServerContext*) override {
    class Reactor final : public grpc::ServerBidiReactor<WorkerMessage, MasterMessage> {
     public:
      Reactor() { StartRead(&in_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          std::lock_guard lock(mu_);
          if (writing_) finish_ = true; else Finish(grpc::Status::OK);
          return;
        }
        MasterMessage m;
        if (in_.has_register_()) m.mutable_registered();
        else m.mutable_ack()->set_seq(in_.heartbeat().seq());
        {
          std::lock_guard lock(mu_);
          out_.push_back(std::move(m));
          if (!writing_) {
            writing_ = true;
            StartWrite(&out_.front());
          }
        }
        StartRead(&in_);
      }
      void OnWriteDone(bool) override {
        std::lock_guard lock(mu_);
        out_.pop_front();
        if (!out_.empty()) {
          StartWrite(&out_.front());
          return;
        }
        writing_ = false;
        if (finish_) Finish(grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      WorkerMessage in_;
      std::mutex mu_;
      std::deque<MasterMessage> out_;
      bool writing_ = false, finish_ = false;
    };
    return new Reactor();
  }
};

struct RunResult {
  double per_second = 0, p50_ms = 0, p99_ms = 0;
  uint64_t acked = 0;
};

RunResult Drive(const std::string& address, const std::string& token, const Options& opt,
                const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  // A few channels, as many machines would have their own connections.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::WorkerLink::Stub>> stubs;
  for (int i = 0; i < 4; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", i);  // distinct channels, not one shared subchannel
    channels.push_back(grpc::CreateCustomChannel(address, credentials, args));
    stubs.push_back(v1::WorkerLink::NewStub(channels.back()));
  }
  Stats stats;
  std::vector<std::unique_ptr<SimWorker>> workers;
  for (int i = 0; i < opt.workers; ++i) {
    workers.push_back(std::make_unique<SimWorker>(stubs[i % stubs.size()].get(), token, i, opt, stats));
  }
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline &&
         !std::all_of(workers.begin(), workers.end(), [](auto& w) { return w->registered(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // warm-up
  stats.measuring = true;
  auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(opt.seconds));
  stats.measuring = false;
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  RunResult r;
  r.acked = stats.acked.load();
  for (auto& w : workers) w->Stop();
  std::vector<double> all;
  for (auto& w : workers) all.insert(all.end(), w->latencies().begin(), w->latencies().end());
  std::sort(all.begin(), all.end());
  r.per_second = static_cast<double>(r.acked) / elapsed;
  if (!all.empty()) {
    r.p50_ms = all[all.size() / 2] / 1000.0;
    r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)] / 1000.0;
  }
  return r;
}

// Median milliseconds from a new channel to its worker's registration
// acknowledged: what a worker's first join costs in connection set-up.
double FirstJoinMs(const std::string& address, const std::string& token, const Options& opt,
                   const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", 1000 + i);
    auto start = Clock::now();
    auto channel = grpc::CreateCustomChannel(address, credentials, args);
    auto stub = v1::WorkerLink::NewStub(channel);
    Stats stats;
    Options one = opt;
    one.window = 1;
    SimWorker worker(stub.get(), token, 100000 + i, one, stats);
    while (!worker.registered() && Clock::now() - start < std::chrono::seconds(10)) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    worker.Stop();
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

}  // namespace
}  // namespace gpulse::bench

int main(int argc, char** argv) {
  using namespace gpulse::bench;
  Options opt;
  CLI::App app{"gpulse-loadgen: heartbeat ingest throughput and latency over loopback gRPC"};
  app.add_option("--workers", opt.workers, "simulated workers (one stream each)")->check(CLI::Range(1, 20000));
  app.add_option("--seconds", opt.seconds, "measured seconds per run")->check(CLI::Range(1.0, 120.0));
  app.add_option("--window", opt.window, "unacknowledged heartbeats per worker")->check(CLI::Range(1, 1024));
  app.add_option("--gpus", opt.gpus, "GPUs per heartbeat")->check(CLI::Range(0, 64));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  std::string dir = std::filesystem::temp_directory_path() / ("gpulse-loadgen-" + std::to_string(getpid()));
  auto hb_size = MakeHeartbeat(opt.gpus, "GPU-load-0-").ByteSizeLong();
  std::printf("%d workers, %d GPUs per heartbeat (%zu bytes), window %d, %.0f s per run\n", opt.workers, opt.gpus,
              hb_size, opt.window, opt.seconds);
  double plaintext_per_second = 0;
  for (bool tls : {false, true}) {
    gpulse::master::MasterOptions mo;
    mo.grpc_listen = "127.0.0.1:0";
    mo.http_listen = "127.0.0.1:0";
    mo.data_dir = dir + (tls ? "/tls" : "/plain");
    mo.insecure = !tls;
    long rss_before = RssKiB();
    gpulse::master::MasterServer master(mo);
    if (auto s = master.Start(); !s.ok()) {
      std::fprintf(stderr, "cannot start master: %s\n", s.message().c_str());
      return 1;
    }
    auto token = gpulse::ReadToken(mo.data_dir + "/token");
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (tls) {
      std::ifstream in(master.ca_file());
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      credentials = grpc::SslCredentials(ssl);
    }
    const std::string address = "127.0.0.1:" + std::to_string(master.grpc_port());
    RunResult r = Drive(address, *token, opt, credentials);
    long rss_after = RssKiB();
    const double join_ms = FirstJoinMs(address, *token, opt, credentials);
    std::printf("gpulse master, %s: %10.0f heartbeats/s  p50 %6.2f ms  p99 %6.2f ms  (%llu acked)%s\n",
                tls ? "TLS      " : "plaintext", r.per_second, r.p50_ms, r.p99_ms,
                static_cast<unsigned long long>(r.acked),
                tls && plaintext_per_second > 0
                    ? (" = " + std::to_string(static_cast<int>(100 * r.per_second / plaintext_per_second + 0.5)) +
                       "% of plaintext").c_str()
                    : "");
    std::printf("  first join (new connection to registration acked): median %.2f ms\n", join_ms);
    std::printf("  process RSS growth with %d registered workers: %.1f KiB per worker (master and load clients)\n",
                opt.workers, static_cast<double>(rss_after - rss_before) / opt.workers);
    if (!tls) plaintext_per_second = r.per_second;
    master.Stop();
  }

  BareAckService bare;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&bare);
  auto server = builder.BuildAndStart();
  RunResult b = Drive("127.0.0.1:" + std::to_string(port), "unused", opt, grpc::InsecureChannelCredentials());
  std::printf("bare gRPC ack:  %10.0f heartbeats/s  p50 %6.2f ms  p99 %6.2f ms  (the ceiling)\n", b.per_second,
              b.p50_ms, b.p99_ms);
  server->Shutdown();
  std::filesystem::remove_all(dir);
  return 0;
}
