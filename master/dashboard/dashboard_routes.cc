#include "master/dashboard/dashboard_routes.h"

#include <cmath>
#include <cstdlib>
#include <memory>
#include <thread>

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

// How long one call of the event-stream provider may block: bounds how long
// a stopping server waits for a stream to notice.
constexpr std::chrono::milliseconds kEventPoll{500};

void ServeAsset(const web::Asset& asset, httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Content-Type-Options", "nosniff");
  if (asset.content_type.starts_with("text/html")) {
    res.set_header("Content-Security-Policy", kContentSecurityPolicy);
    res.set_header("Referrer-Policy", "no-referrer");
  }
  res.set_content(asset.body.data(), asset.body.size(), std::string(asset.content_type).c_str());
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

// httplib routes are regular expressions: match the asset's path literally.
std::string LiteralPattern(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
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

void DashboardRoutes::Register(httplib::Server& server) {
  const web::Asset* index = web::FindAsset("/index.html");
  if (index != nullptr) {
    server.Get("/", [index](const httplib::Request&, httplib::Response& res) { ServeAsset(*index, res); });
  }
  for (const web::Asset& asset : web::Assets()) {
    const web::Asset* a = &asset;
    server.Get(LiteralPattern(asset.path), [a](const httplib::Request&, httplib::Response& res) { ServeAsset(*a, res); });
  }
  server.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) { ServeMetrics(req, res); });
  server.Get("/api/dashboard", [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(Snapshot().dump(), "application/json");
  });
  server.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) { ServeEvents(req, res); });
  server.Get(R"(/api/workers/([^/]+)/history)",
             [this](const httplib::Request& req, httplib::Response& res) { ServeHistory(req, res); });
}

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
      {"tasks_total", tasks.size()},
  };
}

void DashboardRoutes::ServeMetrics(const httplib::Request&, httplib::Response& res) const {
  res.set_content(RenderClusterMetrics(cluster_, clock_.WallNow()), metrics::kPrometheusContentType);
}

void DashboardRoutes::ServeEvents(const httplib::Request&, httplib::Response& res) {
  if (active_streams_.fetch_add(1) >= config_.max_event_streams) {
    active_streams_.fetch_sub(1);
    res.set_header("Retry-After", "30");
    return ReplyError(res, 503, "too many live dashboards are open; poll GET /api/dashboard instead");
  }
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  auto stream = std::make_shared<EventStream>();
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, stream](size_t, httplib::DataSink& sink) {
        if (stopping_) return false;
        auto write = [&](const std::string& text) {
          stream->last_write = std::chrono::steady_clock::now();
          return sink.write(text.data(), text.size());
        };
        if (stream->first) {
          stream->first = false;
          // Reconnect after 2 s if the stream drops.
          if (!write("retry: 2000\n\n")) return false;
        } else {
          uint64_t version = cluster_.WaitForChange(stream->seen, kEventPoll);
          SteadyTime now = std::chrono::steady_clock::now();
          if (version <= stream->seen) {
            if (now - stream->last_write >= config_.keepalive) return write(": keepalive\n\n");
            return true;
          }
          auto since_last = now - stream->last_snapshot;
          if (since_last < config_.min_event_gap) {
            std::this_thread::sleep_for(config_.min_event_gap - since_last);
            if (stopping_) return false;
          }
        }
        json snapshot = Snapshot();
        stream->seen = snapshot["version"].get<uint64_t>();
        stream->last_snapshot = std::chrono::steady_clock::now();
        std::optional<LiveEvent> event = stream->sent.Next(snapshot);
        if (!event) {
          if (stream->last_snapshot - stream->last_write >= config_.keepalive) return write(": keepalive\n\n");
          return true;
        }
        return write("event: " + event->name + "\ndata: " + event->data.dump() + "\n\n");
      },
      [this](bool) { active_streams_.fetch_sub(1); });
}

void DashboardRoutes::ServeHistory(const httplib::Request& req, httplib::Response& res) const {
  const std::string id = req.matches[1];
  std::optional<WallTime> since;
  if (req.has_param("since")) {
    const std::string& text = req.get_param_value("since");
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
  res.set_header("Cache-Control", "no-store");
  res.set_content(HistoryToJson(id, *history, history_.config().window).dump(), "application/json");
}

}  // namespace gpulse::master
