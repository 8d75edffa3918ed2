// DashboardRoutes: the master's web dashboard and the endpoints behind it,
// added to the master's HttpServer next to the JSON API:
//
//   GET /                                the dashboard (embedded web/static/)
//   GET /<asset>                         its scripts and styles
//   GET /metrics                         Prometheus text format (master/dashboard/cluster_metrics_page.h)
//   GET /api/dashboard                   one snapshot: summary, workers, recent tasks
//   GET /api/events                      server-sent events: that snapshot first,
//                                        then deltas (master/dashboard/live_delta.h)
//                                        whenever the cluster changes
//   GET /api/workers/{id}/history[?since=UNIX_SECONDS]
//                                        the worker's recent figures (master/core/history.h)
//
// An event stream holds no thread: its producer never blocks (it says "wait"
// and the server suspends the connection until its next tick), but each one
// builds a snapshot per change, so at most `max_event_streams` are served at
// once; past that /api/events answers 503 and the page polls /api/dashboard
// instead.
//
// Thread-safe: handlers run on the server's polling threads and only read
// Cluster and History. The object must outlive the server (stop it before
// destroying this).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/http_server.h"
#include "master/core/cluster.h"
#include "master/core/history.h"

namespace gpulse::master {

struct DashboardConfig {
  // Concurrent /api/events streams (each costs a delta per change, no thread).
  size_t max_event_streams = 32;
  // Events on one stream are at least this far apart, however often the
  // cluster changes (every heartbeat changes it).
  std::chrono::milliseconds min_event_gap{500};
  // A comment line is sent after this much silence, so proxies keep the
  // stream open and a vanished browser is noticed.
  std::chrono::milliseconds keepalive{10000};
  // Tasks in a snapshot: every assigned or running one, plus the newest of
  // any state up to this many in all.
  size_t snapshot_tasks = 200;
};

class DashboardRoutes {
 public:
  DashboardRoutes(Cluster& cluster, const History& history, const Clock& clock, DashboardConfig config = {});
  ~DashboardRoutes();

  // Adds the routes above to `server`.
  void Register(HttpServer& server);
  // Ends open event streams at their next tick (also done by the server's
  // own Stop()).
  void Stop() { stopping_ = true; }

  // The snapshot that /api/dashboard serves and /api/events starts with.
  nlohmann::json Snapshot() const;

  size_t active_event_streams() const { return active_streams_.load(); }

 private:
  void ServeMetrics(const HttpRequest& req, HttpResponse& res) const;
  void ServeEvents(const HttpRequest& req, HttpResponse& res);
  void ServeHistory(const HttpRequest& req, HttpResponse& res) const;

  Cluster& cluster_;
  const History& history_;
  const Clock& clock_;
  const DashboardConfig config_;
  std::atomic<size_t> active_streams_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace gpulse::master
