#include "master/dashboard/dashboard_routes.h"

#include <cmath>
#include <cstdlib>
#include <memory>

#include "master/api/api_json.h"
#include "master/api/http_api.h"
#include "master/dashboard/cluster_metrics_page.h"
#include "master/dashboard/live_delta.h"
#include "metrics/prometheus_writer.h"
#include "web/web_assets.h"

namespace gpulse::master {
namespace {

using nlohmann::json;
using SteadyTime = std::chrono::steady_clock::time_point;

// The page may only load from and talk to this master; anything a task name
// smuggles into the page cannot run scripts or send data elsewhere.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

void ServeAsset(const web::Asset& asset, HttpResponse& res) {
  res.SetHeader("Cache-Control", "no-cache");
  res.SetHeader("X-Content-Type-Options", "nosniff");
  if (asset.content_type.starts_with("text/html")) {
    res.SetHeader("Content-Security-Policy", kContentSecurityPolicy);
    res.SetHeader("Referrer-Policy", "no-referrer");
  }
  res.SetContent(std::string(asset.body.data(), asset.body.size()), std::string(asset.content_type));
}

// The tasks a snapshot carries: every assigned or running one (bounded by
// the fleet's capacity), and the newest ones of any state up to `limit` in
// all; in submission order. Queued tasks beyond the newest are counted in
// the summary, not carried: 10,000 of them would make every snapshot
// megabytes long.
std::vector<const Task*> SnapshotTasks(const std::vector<Task>& tasks, size_t limit) {
  std::vector<const Task*> picked;
  size_t newest_from = tasks.size() > limit ? tasks.size() - limit : 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    bool placed = tasks[i].state == TaskState::kAssigned || tasks[i].state == TaskState::kRunning;
    if (i >= newest_from || placed) picked.push_back(&tasks[i]);
  }
  return picked;
}

struct EventStream {
  LiveDelta sent;
  uint64_t seen = 0;
  bool first = true;
  SteadyTime last_snapshot{};
  SteadyTime last_write{};
};

}  // namespace

DashboardRoutes::DashboardRoutes(Cluster& cluster, const History& history, const Clock& clock,
                                 DashboardConfig config)
    : cluster_(cluster), history_(history), clock_(clock), config_(config) {}

DashboardRoutes::~DashboardRoutes() { Stop(); }

void DashboardRoutes::Register(HttpServer& server) {
  const web::Asset* index = web::FindAsset("/index.html");
  if (index != nullptr) {
    server.Get("/", [index](const HttpRequest&, HttpResponse& res) { ServeAsset(*index, res); });
  }
  for (const web::Asset& asset : web::Assets()) {
    const web::Asset* a = &asset;
    server.Get(std::string(asset.path), [a](const HttpRequest&, HttpResponse& res) { ServeAsset(*a, res); });
  }
  server.Get("/metrics", [this](const HttpRequest& req, HttpResponse& res) { ServeMetrics(req, res); });
  server.Get("/api/dashboard", [this](const HttpRequest&, HttpResponse& res) {
    res.SetHeader("Cache-Control", "no-store");
    res.SetContent(Snapshot().dump(), "application/json");
  });
  server.Get("/api/events", [this](const HttpRequest& req, HttpResponse& res) { ServeEvents(req, res); });
  server.Get("/api/workers/{id}/history",
             [this](const HttpRequest& req, HttpResponse& res) { ServeHistory(req, res); });
}

namespace {

uint64_t TasksKnown(const ClusterCounts& c) {
  uint64_t n = 0;
  for (uint64_t by_state : c.tasks_by_state) n += by_state;
  return n;
}

}  // namespace

json DashboardRoutes::Snapshot() const {
  // The version first: a change racing with the copies below is then seen
  // again by the next snapshot rather than lost.
  uint64_t version = cluster_.Version();
  ClusterCounts c = cluster_.Counts();
  std::vector<Worker> workers = cluster_.Workers();
  std::vector<Task> tasks = cluster_.Tasks();
  WallTime now = clock_.WallNow();

  json task_states = json::object();
  for (int s = 0; s <= static_cast<int>(TaskState::kCancelled); ++s) {
    task_states[TaskStateName(static_cast<TaskState>(s))] = c.tasks_by_state[s];
  }
  json out_workers = json::array();
  for (const Worker& w : workers) out_workers.push_back(WorkerToJson(w, now));
  json out_tasks = json::array();
  for (const Task* t : SnapshotTasks(tasks, config_.snapshot_tasks)) out_tasks.push_back(TaskToJson(*t));
  return {
      {"version", version},
      {"now", TimeToJson(now)},
      {"summary",
       {{"workers",
         {{"healthy", c.workers_healthy}, {"suspect", c.workers_suspect}, {"dead", c.workers_dead}}},
        {"gpus",
         {{"total", c.gpus_total},
          {"allocated", c.gpus_allocated},
          {"busy", c.gpus_busy},
          {"unhealthy", c.gpus_unhealthy}}},
        {"tasks", task_states},
        {"efficiency", EfficiencyToJson(c)},
        {"heartbeats_received", c.heartbeats_received}}},
      {"workers", std::move(out_workers)},
      {"tasks", std::move(out_tasks)},
      // Every task the master knows, also those it serves from the store
      // only; the page asks the API for pages past the snapshot's.
      {"tasks_total", TasksKnown(c)},
  };
}

void DashboardRoutes::ServeMetrics(const HttpRequest&, HttpResponse& res) const {
  res.SetContent(RenderClusterMetrics(cluster_, clock_.WallNow()), metrics::kPrometheusContentType);
}

void DashboardRoutes::ServeEvents(const HttpRequest&, HttpResponse& res) {
  if (active_streams_.fetch_add(1) >= config_.max_event_streams) {
    active_streams_.fetch_sub(1);
    res.SetHeader("Retry-After", "30");
    return ReplyError(res, 503, "too many live dashboards are open; poll GET /api/dashboard instead");
  }
  res.SetHeader("Cache-Control", "no-store");
  res.SetHeader("X-Accel-Buffering", "no");
  res.content_type = "text/event-stream";
  auto stream = std::make_shared<EventStream>();
  // Never blocks: with nothing to send it says kWait and is asked again at
  // the server's next tick. The first call sends a snapshot, later ones
  // only what changed (LiveDelta).
  res.stream = [this, stream](std::string& out) {
    if (stopping_) return StreamStep::kEnd;
    const SteadyTime now = std::chrono::steady_clock::now();
    if (stream->first) {
      stream->first = false;
      // Reconnect after 2 s if the stream drops.
      out = "retry: 2000\n\n";
    } else if (cluster_.Version() <= stream->seen || now - stream->last_snapshot < config_.min_event_gap) {
      if (now - stream->last_write < config_.keepalive) return StreamStep::kWait;
      stream->last_write = now;
      out = ": keepalive\n\n";
      return StreamStep::kData;
    }
    json snapshot = Snapshot();
    stream->seen = snapshot["version"].get<uint64_t>();
    stream->last_snapshot = std::chrono::steady_clock::now();
    std::optional<LiveEvent> event = stream->sent.Next(snapshot);
    if (event) {
      out += "event: " + event->name + "\ndata: " + event->data.dump() + "\n\n";
    } else if (out.empty()) {
      if (stream->last_snapshot - stream->last_write < config_.keepalive) return StreamStep::kWait;
      out = ": keepalive\n\n";
    }
    stream->last_write = stream->last_snapshot;
    return StreamStep::kData;
  };
  res.on_stream_end = [this] { active_streams_.fetch_sub(1); };
}

void DashboardRoutes::ServeHistory(const HttpRequest& req, HttpResponse& res) const {
  const std::string id = req.Param("id");
  std::optional<WallTime> since;
  if (req.HasQuery("since")) {
    const std::string text = req.Query("since");
    char* end = nullptr;
    double seconds = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(seconds >= 0) || seconds > 1e12) {
      return ReplyError(res, 400, "since must be a time in seconds since the Unix epoch");
    }
    // Points are kept to the millisecond; rounding makes a `t` read back from
    // a response name exactly that point.
    since = WallTime(std::chrono::milliseconds(std::llround(seconds * 1000.0)));
  }
  std::optional<WorkerHistory> history = history_.Get(id, since);
  if (!history) {
    std::optional<Worker> worker = cluster_.GetWorker(id);
    if (!worker) return ReplyError(res, 404, "no worker '" + id + "'");
    history = WorkerHistory{};
    history->interval = worker->heartbeat_interval;
  }
  res.SetHeader("Cache-Control", "no-store");
  res.SetContent(HistoryToJson(id, *history, history_.config().window).dump(), "application/json");
}

}  // namespace gpulse::master
