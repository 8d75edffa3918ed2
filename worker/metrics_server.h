// MetricsServer: a worker's own Prometheus endpoint (gpulse-worker
// --metrics-listen HOST:PORT), so a node can be scraped without the master.
// GET /metrics serves the worker's latest sample with the same series the
// master exports for it: dcgm-exporter-style DCGM_FI_DEV_* per GPU, host CPU
// and memory, and the collector's health (metrics/sample_metrics.h).
//
// Served by an HttpServer (common/http_server.h) with one polling thread, so
// slow or idle scrapers hold no thread. Thread-safe: Update() may be called
// from the sampling thread while the server's thread serves scrapes. Start()
// and Stop() from one thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/http_server.h"
#include "common/status.h"
#include "sample/sample.h"

namespace gpulse::worker {

class MetricsServer {
 public:
  // `worker_id` and `hostname` label every series.
  MetricsServer(std::string worker_id, std::string hostname);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Listens on `listen` ("127.0.0.1:9400"; port 0 picks a free one) and
  // serves on a thread of its own. InvalidArgument for a malformed address,
  // Unavailable when it cannot be bound (in use, not local). Nothing runs
  // after a failure.
  Status Start(const std::string& listen);
  // Stops serving and joins the thread. Safe to call twice.
  void Stop();
  // The bound port after a successful Start().
  int port() const { return port_; }

  // Makes `sample` the one served.
  void Update(const Sample& sample);
  // The page GET /metrics serves; nullopt before the first Update() (the
  // endpoint then answers 503, which Prometheus records as a failed scrape).
  std::optional<std::string> Render() const;

 private:
  const std::string worker_id_;
  const std::string hostname_;
  mutable std::mutex mu_;
  std::optional<Sample> latest_;  // guarded by mu_
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

}  // namespace gpulse::worker
