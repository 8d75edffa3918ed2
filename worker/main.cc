// gpulse-worker: samples this host and runs tasks for the master.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "common/clock.h"
#include "common/signals.h"
#include "common/token.h"
#include "telemetry/sampler.h"
#include "worker/metrics_server.h"
#include "worker/worker_agent.h"

namespace {

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "worker";
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  gpulse::BlockStopSignals();
  gpulse::worker::WorkerOptions opts;
  opts.hostname = Hostname();
  double interval_s = 5;
  std::string token_file;
  std::string metrics_listen;
  std::string containment = "auto";
  CLI::App app{"gpulse-worker: reports this host's CPUs, memory and GPUs to the master and runs its tasks"};
  app.add_option("--master", opts.master, "HOST:PORT of the master's worker listener")->capture_default_str();
  app.add_option("--id", opts.id, "this worker's name (default: the hostname)");
  app.add_option("--interval", interval_s, "seconds between heartbeats")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--token-file", token_file, "cluster token file (env GPULSE_TOKEN_FILE)");
  app.add_option("--work-dir", opts.work_dir, "where tasks run and keep their output")->capture_default_str();
  app.add_option("--metrics-listen", metrics_listen,
                 "HOST:PORT to serve this worker's Prometheus metrics on, e.g. 127.0.0.1:9400 (off by default)");
  app.add_option("--containment", containment, "how tasks are kept apart: auto, cgroup2, cgroup1 or process (docs/tasks.md)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (opts.id.empty()) opts.id = opts.hostname;
  opts.interval = std::chrono::milliseconds(static_cast<int64_t>(interval_s * 1000));
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
  opts.token = *token;
  auto cells = gpulse::worker::OpenContainmentFor(containment, opts.work_dir);
  if (!cells.ok()) {
    spdlog::error("{}", cells.status().message());
    return 2;
  }
  spdlog::info("task containment: {}", (*cells)->Report().summary);
  opts.containment = *cells;

  gpulse::telemetry::Sampler sampler(gpulse::telemetry::SamplerConfig{}, gpulse::SystemClock::Instance());
  gpulse::Sample probe = sampler.Take();
  opts.cpu_cores = probe.host.cpu_cores;
  opts.memory_bytes = probe.host.memory_total_bytes;
  if (!probe.nvml.available) {
    spdlog::warn("no GPU telemetry: {}", probe.nvml.error.value_or("NVML unavailable"));
  } else {
    spdlog::info("NVML {}: {} GPU(s)", probe.nvml.driver_version.value_or("?"), probe.gpus.size());
  }

  std::unique_ptr<gpulse::worker::MetricsServer> metrics;
  if (!metrics_listen.empty()) {
    metrics = std::make_unique<gpulse::worker::MetricsServer>(opts.id, opts.hostname);
    if (gpulse::Status s = metrics->Start(metrics_listen); !s.ok()) {
      spdlog::error("{}", s.message());
      return 2;
    }
    metrics->Update(probe);
    spdlog::info("serving metrics on http://{}/metrics", metrics_listen);
  }

  gpulse::worker::WorkerAgent agent(opts, [&sampler, &metrics] {
    gpulse::Sample sample = sampler.Take();
    if (metrics) metrics->Update(sample);
    return sample;
  });
  gpulse::Status result;
  std::thread runner([&] {
    result = agent.Run();
    if (!result.ok()) kill(getpid(), SIGTERM);  // wake main
  });
  int sig = gpulse::WaitForStopSignal();
  if (result.ok()) spdlog::info("signal {}: stopping (running tasks are killed)", sig);
  agent.Stop();
  runner.join();
  if (metrics) metrics->Stop();
  return result.ok() ? 0 : 1;
}
