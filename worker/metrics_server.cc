#include "worker/metrics_server.h"

#include <httplib.h>

#include <chrono>
#include <cstdlib>

#include "common/http_listener.h"
#include "metrics/prometheus_writer.h"
#include "metrics/sample_metrics.h"

namespace gpulse::worker {
MetricsServer::MetricsServer(std::string worker_id, std::string hostname)
    : worker_id_(std::move(worker_id)), hostname_(std::move(hostname)) {}

MetricsServer::~MetricsServer() { Stop(); }

Status MetricsServer::Start(const std::string& listen) {
  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::optional<std::string> page = Render();
    if (!page) {
      res.status = 503;
      res.set_content("no sample taken yet\n", "text/plain; charset=utf-8");
      return;
    }
    res.set_content(*page, metrics::kPrometheusContentType);
  });
  server->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("gpulse-worker: metrics at /metrics\n", "text/plain; charset=utf-8");
  });
  auto port = StartHttpListener(*server, listen, thread_);
  if (!port.ok()) return Status(port.status().code(), "metrics: " + port.status().message());
  port_ = *port;
  server_ = std::move(server);
  return Status::Ok();
}

void MetricsServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void MetricsServer::Update(const Sample& sample) {
  std::lock_guard lock(mu_);
  latest_ = sample;
}

std::optional<std::string> MetricsServer::Render() const {
  std::lock_guard lock(mu_);
  if (!latest_) return std::nullopt;
  metrics::HostLabels host{worker_id_, hostname_, latest_->nvml.driver_version};
  return metrics::RenderSampleMetrics(host, *latest_);
}

}  // namespace gpulse::worker
