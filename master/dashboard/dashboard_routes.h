// DashboardRoutes: the master's web dashboard and the endpoints behind it,
// added to the master's httplib::Server next to the JSON API:
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
// Event streams each hold one of the server's threads for their whole life,
// so at most `max_event_streams` are served at once; past that /api/events
// answers 503 and the page polls /api/dashboard instead.
//
// Thread-safe: handlers run on httplib's threads and only read Cluster and
// History. The object must outlive the server's threads (stop and join the
// server before destroying it).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "master/core/cluster.h"
#include "master/core/history.h"

namespace gpulse::master {

struct DashboardConfig {
  // Concurrent /api/events streams; the pool has 16 threads in all.
  size_t max_event_streams = 4;
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
  void Register(httplib::Server& server);
  // Ends open event streams within about half a second (also done by the
  // server's own stop()).
  void Stop() { stopping_ = true; }

  // The snapshot that /api/dashboard serves and /api/events starts with.
  nlohmann::json Snapshot() const;

  size_t active_event_streams() const { return active_streams_.load(); }

 private:
  void ServeMetrics(const httplib::Request& req, httplib::Response& res) const;
  void ServeEvents(const httplib::Request& req, httplib::Response& res);
  void ServeHistory(const httplib::Request& req, httplib::Response& res) const;

  Cluster& cluster_;
  const History& history_;
  const Clock& clock_;
  const DashboardConfig config_;
  std::atomic<size_t> active_streams_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace gpulse::master
