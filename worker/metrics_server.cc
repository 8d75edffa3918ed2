#include "worker/metrics_server.h"

#include <chrono>
#include <cstdlib>

#include "metrics/prometheus_writer.h"
#include "metrics/sample_metrics.h"

namespace gpulse::worker {
MetricsServer::MetricsServer(std::string worker_id, std::string hostname)
    : worker_id_(std::move(worker_id)), hostname_(std::move(hostname)) {}

MetricsServer::~MetricsServer() { Stop(); }

Status MetricsServer::Start(const std::string& listen) {
  HttpServerOptions options;
  options.threads = 1;
  options.max_connections = 256;
  options.max_connections_per_address = 64;
  auto server = std::make_unique<HttpServer>(options);
  server->Get("/metrics", [this](const HttpRequest&, HttpResponse& res) {
    std::optional<std::string> page = Render();
    if (!page) {
      res.status = 503;
      res.SetContent("no sample taken yet\n", "text/plain; charset=utf-8");
      return;
    }
    res.SetContent(std::move(*page), metrics::kPrometheusContentType);
  });
  server->Get("/", [](const HttpRequest&, HttpResponse& res) {
    res.SetContent("gpulse-worker: metrics at /metrics\n", "text/plain; charset=utf-8");
  });
  auto port = server->Start(listen);
  if (!port.ok()) return Status(port.status().code(), "metrics: " + port.status().message());
  port_ = *port;
  server_ = std::move(server);
  return Status::Ok();
}

void MetricsServer::Stop() {
  if (server_) server_->Stop();
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
