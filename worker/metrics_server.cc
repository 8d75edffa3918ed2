#include "worker/metrics_server.h"

#include <httplib.h>

#include <chrono>
#include <cstdlib>

#include "master/prometheus_writer.h"
#include "master/sample_metrics.h"

namespace gpulse::worker {
namespace {

// "host:port", "[v6]:port" -> (host, port).
Result<std::pair<std::string, int>> ParseListen(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return InvalidArgument("'" + address + "' is not HOST:PORT");
  std::string host = address.substr(0, colon);
  std::string port_text = address.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
    return InvalidArgument("'" + address + "' has no valid port");
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, static_cast<int>(port));
}

}  // namespace

MetricsServer::MetricsServer(std::string worker_id, std::string hostname)
    : worker_id_(std::move(worker_id)), hostname_(std::move(hostname)) {}

MetricsServer::~MetricsServer() { Stop(); }

Status MetricsServer::Start(const std::string& listen) {
  auto address = ParseListen(listen);
  if (!address.ok()) return address.status();
  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(2); };
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the
  // same port silently; SO_REUSEADDR alone makes "in use" an error.
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
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
  int port = address->second == 0 ? server->bind_to_any_port(address->first)
                                   : (server->bind_to_port(address->first, address->second) ? address->second : -1);
  if (port <= 0) return Unavailable("cannot listen for metrics on " + listen + " (address in use?)");
  port_ = port;
  server_ = std::move(server);
  listen_returned_ = false;
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listen_returned_ = true;
  });
  // stop() is a no-op until the server runs: wait for it, so a Stop() right
  // after Start() cannot leave the thread accepting forever.
  while (!server_->is_running() && !listen_returned_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
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
