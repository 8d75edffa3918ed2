#include "master/dashboard/dashboard_routes.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <httplib.h>
#include <gtest/gtest.h>

#include "master/core/cluster_test_util.h"
#include "master/api/http_api.h"
#include "master/store/log_store.h"
#include "metrics/prometheus_writer.h"
#include "testkit/eventually.h"

namespace gpulse::master {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A real httplib server on a free loopback port with the dashboard routes
// over a fixture cluster.
class WebRoutesTest : public ClusterFixture {
 protected:
  // Keepalives every 100 ms let a test's departed reader be noticed quickly.
  static DashboardConfig FastConfig() {
    DashboardConfig config;
    config.keepalive = milliseconds(100);
    return config;
  }

  // One polling thread, so a stream that held it would starve every test's
  // other requests.
  static HttpServerOptions FastServer() {
    HttpServerOptions options;
    options.threads = 1;
    options.tick = milliseconds(20);
    return options;
  }

  void StartServer(DashboardConfig config = FastConfig()) {
    routes_ = std::make_unique<DashboardRoutes>(*cluster_, history_, clock_, config);
    routes_->Register(server_);
    auto port = server_.Start("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
  }

  void TearDown() override {
    server_.Stop();
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(seconds(5));
    return client.Get(path);
  }

  History history_{HistoryConfig{seconds(60), 1000, milliseconds(1000)}};
  std::unique_ptr<DashboardRoutes> routes_;
  HttpServer server_{FastServer()};
  int port_ = 0;
};

// Reads server-sent events on a thread of its own until told to stop.
class EventReader {
 public:
  EventReader(int port) {
    thread_ = std::thread([this, port] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(seconds(10));
      auto r = client.Get("/api/events", [this](const char* data, size_t n) {
        std::lock_guard lock(mu_);
        buffer_.append(data, n);
        size_t end;
        while ((end = buffer_.find("\n\n")) != std::string::npos) {
          std::string event = buffer_.substr(0, end);
          buffer_.erase(0, end + 2);
          auto data_at = event.find("data: ");
          if ((event.starts_with("event: snapshot") || event.starts_with("event: delta")) &&
              data_at != std::string::npos) {
            events_.push_back(event.substr(7, event.find('\n') - 7));
            snapshots_.push_back(json::parse(event.substr(data_at + 6)));
          }
        }
        changed_.notify_all();
        return !stop_;
      });
      std::lock_guard lock(mu_);
      status_ = r ? r->status : -1;
      done_ = true;
      changed_.notify_all();
    });
  }
  ~EventReader() {
    Stop();
    thread_.join();
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  // The name of the n-th event (1-based): "snapshot" or "delta".
  std::string EventName(size_t n) {
    std::lock_guard lock(mu_);
    return events_.size() >= n ? events_[n - 1] : "";
  }
  // Waits for the n-th event (1-based) and returns its data; null on timeout.
  json WaitSnapshot(size_t n, milliseconds timeout) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, timeout, [&] { return snapshots_.size() >= n || done_; });
    return snapshots_.size() >= n ? snapshots_[n - 1] : json();
  }
  int WaitDone(milliseconds timeout) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, timeout, [&] { return done_; });
    return done_ ? status_ : 0;
  }

 private:
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::string buffer_;
  std::vector<json> snapshots_;
  std::vector<std::string> events_;
  bool stop_ = false;
  bool done_ = false;
  int status_ = 0;
};

TEST_F(WebRoutesTest, ServesTheEmbeddedPageWithTypesAndAStrictPolicy) {
  StartServer();
  auto page = Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_THAT(page->body, HasSubstr("<title>gpulse</title>"));
  EXPECT_THAT(page->get_header_value("Content-Security-Policy"), HasSubstr("script-src 'self'"));
  auto script = Get("/app.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  auto css = Get("/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(Get("/favicon.svg")->get_header_value("Content-Type"), "image/svg+xml");
  EXPECT_EQ(Get("/appXjs")->status, 404);  // asset paths are literal, not patterns
}

TEST_F(WebRoutesTest, MetricsPageShowsTheClusterAndEveryGpu) {
  Register("w1", 2);
  link::Heartbeat report = MakeReport("w1", {80, 40});
  report.sample.gpus[1].temperature_c.reset();
  report.sample.collector.nvml_errors_total["NVML_ERROR_TIMEOUT"] = 2;
  ASSERT_TRUE(cluster_->IngestHeartbeat("w1", report).ok());
  StartServer();
  auto r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), metrics::kPrometheusContentType);
  EXPECT_THAT(r->body, HasSubstr("gpulse_workers{state=\"healthy\"} 1\n"));
  EXPECT_THAT(r->body, HasSubstr("DCGM_FI_DEV_GPU_UTIL{gpu=\"1\",UUID=\"GPU-w1-1\""));
  EXPECT_THAT(r->body, HasSubstr("worker=\"w1\"} 40\n"));
  EXPECT_THAT(r->body, Not(HasSubstr("DCGM_FI_DEV_GPU_TEMP{gpu=\"1\"")));
  EXPECT_THAT(r->body, HasSubstr("gpulse_nvml_errors_total{worker=\"w1\",code=\"NVML_ERROR_TIMEOUT\"} 2\n"));
  EXPECT_THAT(r->body, HasSubstr("gpulse_heartbeats_received_total 1\n"));
}

TEST_F(WebRoutesTest, HistoryEndpointServesColumnsAndFiltersBySince) {
  Register("w1", 1);
  Register("quiet", 0);
  WallTime t0 = WallTime(seconds(1'800'000'000));
  history_.Register("w1", milliseconds(1000), MakeRegister("w1", 1).gpus);
  for (int i = 0; i < 3; ++i) {
    link::Heartbeat report = MakeReport("w1", {10.0 * (i + 1)});
    if (i == 1) report.sample.gpus[0].utilization_gpu.reset();
    history_.Record("w1", report.sample, t0 + seconds(i));
  }
  StartServer();
  auto all = Get("/api/workers/w1/history");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  json j = json::parse(all->body);
  EXPECT_EQ(j["worker"], "w1");
  EXPECT_EQ(j["interval_seconds"], 1.0);
  ASSERT_EQ(j["t"].size(), 3u);
  EXPECT_EQ(j["gpus"][0]["utilization_gpu"], json::parse("[10.0, null, 30.0]"));
  EXPECT_EQ(j["host"]["cpu_percent"].size(), 3u);

  json later = json::parse(Get("/api/workers/w1/history?since=1800000000.5")->body);
  EXPECT_EQ(later["t"], json::parse("[1800000001.0, 1800000002.0]"));
  // A `t` read back from a response names exactly that point.
  history_.Record("w1", MakeReport("w1", {5}).sample, t0 + milliseconds(3123));
  EXPECT_TRUE(json::parse(Get("/api/workers/w1/history?since=1800000003.123")->body)["t"].empty());
  EXPECT_EQ(json::parse(Get("/api/workers/w1/history?since=1800000003.122")->body)["t"].size(), 1u);

  json quiet = json::parse(Get("/api/workers/quiet/history")->body);  // known, nothing recorded
  EXPECT_TRUE(quiet["t"].empty());
  EXPECT_EQ(Get("/api/workers/nobody/history")->status, 404);
  EXPECT_EQ(Get("/api/workers/w1/history?since=yesterday")->status, 400);
  EXPECT_EQ(Get("/api/workers/w1/history?since=-1")->status, 400);
}

TEST_F(WebRoutesTest, SnapshotHasSummaryWorkersAndTheNewestTasks) {
  Register("w1", 2);
  Beat("w1", {60, 20});
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit(MakeSpec(0)).id);
  // The three oldest are cancelled (finished); the last two stay queued.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cluster_->Cancel(ids[i]).ok());
  DashboardConfig config = FastConfig();
  config.snapshot_tasks = 1;
  StartServer(config);
  auto r = Get("/api/dashboard");
  ASSERT_TRUE(r);
  json snap = json::parse(r->body);
  EXPECT_EQ(snap["summary"]["workers"]["healthy"], 1);
  EXPECT_EQ(snap["summary"]["gpus"]["total"], 2);
  EXPECT_EQ(snap["summary"]["gpus"]["busy"], 1);
  EXPECT_EQ(snap["summary"]["tasks"]["cancelled"], 3);
  EXPECT_EQ(snap["summary"]["tasks"]["queued"], 2);
  ASSERT_EQ(snap["workers"].size(), 1u);
  EXPECT_EQ(snap["workers"][0]["gpus"][0]["utilization_gpu"], 60.0);
  // Only the newest: queued tasks beyond them are counted, not carried.
  ASSERT_EQ(snap["tasks"].size(), 1u);
  EXPECT_EQ(snap["tasks"][0]["id"], ids[4]);
  EXPECT_EQ(snap["tasks_total"], 5);
  EXPECT_TRUE(snap["now"].is_number());
  EXPECT_GT(snap["version"].get<uint64_t>(), 0u);
}

TEST_F(WebRoutesTest, EventStreamPushesASnapshotAtOnceAndThenOnlyWhatChanged) {
  Register("w1", 1);
  Beat("w1", {10});
  StartServer();
  EventReader reader(port_);
  json first = reader.WaitSnapshot(1, seconds(5));
  ASSERT_FALSE(first.is_null());
  EXPECT_EQ(first["workers"][0]["gpus"][0]["utilization_gpu"], 10.0);
  auto beat_at = std::chrono::steady_clock::now();
  Beat("w1", {95});
  json second = reader.WaitSnapshot(2, seconds(5));
  ASSERT_FALSE(second.is_null());
  EXPECT_LT(std::chrono::steady_clock::now() - beat_at, seconds(2));
  EXPECT_EQ(reader.EventName(1), "snapshot");
  EXPECT_EQ(reader.EventName(2), "delta");
  EXPECT_EQ(second["base"], first["version"]);
  EXPECT_GT(second["version"].get<uint64_t>(), first["version"].get<uint64_t>());
  // Only what changed: the GPU's figure (a patch by position), not the worker.
  EXPECT_FALSE(second.contains("workers"));
  EXPECT_EQ(second["worker_patches"]["w1"]["gpus"]["0"]["utilization_gpu"], 95.0);
  EXPECT_FALSE(second.contains("tasks"));  // no task changed
}

TEST_F(WebRoutesTest, EventStreamsAreCappedAndTheSlotIsFreedWhenAClientLeaves) {
  DashboardConfig config = FastConfig();
  config.max_event_streams = 1;
  StartServer(config);
  auto one = std::make_unique<EventReader>(port_);
  ASSERT_FALSE(one->WaitSnapshot(1, seconds(5)).is_null());
  EXPECT_EQ(routes_->active_event_streams(), 1u);
  auto refused = Get("/api/events");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_THAT(refused->body, HasSubstr("/api/dashboard"));
  // The browser goes away; the next keepalive write finds out.
  one.reset();
  EXPECT_TRUE(testkit::Eventually([&] { return routes_->active_event_streams() == 0; }, seconds(5)));
  EventReader two(port_);
  EXPECT_FALSE(two.WaitSnapshot(1, seconds(5)).is_null());
}

TEST_F(WebRoutesTest, StoppingTheServerEndsOpenStreamsPromptly) {
  StartServer();
  EventReader reader(port_);
  ASSERT_FALSE(reader.WaitSnapshot(1, seconds(5)).is_null());
  auto start = std::chrono::steady_clock::now();
  server_.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
  EXPECT_NE(reader.WaitDone(seconds(5)), 0);
}

}  // namespace
}  // namespace gpulse::master
