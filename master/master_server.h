// MasterServer: one running master — durable store, cluster state, the gRPC
// worker link, the HTTP API and the control loop that runs liveness checks
// and placement. `gpulse-master` is a thin main() around it; the load
// generator and tests can run one in-process.
//
// Start() and Stop() are called from one thread; everything else inside is
// thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "master/data_dir_lock.h"

namespace gpulse {
class HttpServer;
}
namespace grpc {
class Server;
}

namespace gpulse::master {

class Cluster;
class ClusterLinkHandler;
class DashboardRoutes;
class History;
class HttpApi;
class LogStore;
class PlacementPolicy;
class StoreProbe;
class TaskStore;
class WorkerKeyStore;
class WorkerIdentityRegistry;
class WorkerLinkService;

struct MasterOptions {
  std::string grpc_listen = "127.0.0.1:7070";
  std::string http_listen = "127.0.0.1:8080";
  std::string data_dir = "./gpulse-data";
  // The admin token (also the workers' cluster token); default
  // <data_dir>/token, created on first start.
  std::string token_file;
  // The read-only token of the HTTP API (master/api/api_access.h); default
  // <data_dir>/read-token, created on first start.
  std::string read_token_file;
  // Anyone may read the API, the dashboard's data and /metrics without a
  // token (a trusted network only).
  bool public_reads = false;
  // Anyone may read /metrics without a token (for a Prometheus that cannot
  // send one).
  bool public_metrics = false;
  // Dead after this long without a heartbeat; default 3 heartbeat intervals.
  double heartbeat_timeout_seconds = 0;
  // The task lease (ClusterConfig::task_lease): a lost worker's tasks are
  // requeued this long after its last heartbeat.
  double task_lease_seconds = 60;
  double cancel_grace_seconds = 10;
  // Idle GPUs (ClusterConfig): the threshold (%), the period (seconds) and
  // what happens to an idle task ("none" or "cancel").
  double idle_threshold_percent = 5;
  double idle_period_seconds = 1800;
  std::string idle_action = "none";
  // Finished tasks leave memory this long after they finished, or sooner
  // beyond this many; they stay in the store and the API serves them from
  // it (ClusterConfig::finished_task_retention).
  double finished_task_retention_seconds = 3600;
  size_t max_finished_tasks_in_memory = 10000;
  // How far back the dashboard's charts reach (per-worker history rings).
  double history_window_seconds = 3600;
  // Live dashboards (server-sent event streams) served at once; past it a
  // page polls /api/dashboard instead.
  size_t max_live_dashboards = 32;
  // TLS is on unless `insecure`: both listeners (worker link and HTTP) are
  // served with one server certificate, by default issued by the cluster
  // CA kept in <data_dir>/pki (created on first start, see master_tls.h),
  // valid for localhost, 127.0.0.1, ::1, the hostname and `tls_sans`; or
  // the operator's own certificate, key and CA (all three).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  std::vector<std::string> tls_sans;
  // Plaintext on both listeners, for development: refused unless both
  // listen on a loopback address.
  bool insecure = false;
  // Each stream of each task attempt's stored log is capped at this many
  // bytes (master/store/log_store.h); 0: no cap.
  uint64_t max_task_log_bytes = uint64_t{100} << 20;
  // The shortest heartbeat interval granted to a worker (the longest is
  // 60 s; see HeartbeatIntervalBounds). In-process tests lower it.
  std::chrono::milliseconds min_heartbeat_interval{1000};
};

class MasterServer {
 public:
  explicit MasterServer(MasterOptions options);
  ~MasterServer();

  // Opens the store, recovers state, and starts serving. Port 0 in either
  // address picks a free port (grpc_port() and http_port() say which).
  // Neither port is shared: a port another process holds is an error, never
  // SO_REUSEPORT. Fails with a clear Status (e.g. "address in use", "cannot
  // open database") and leaves nothing running.
  Status Start();
  // Stops serving and joins every thread. Safe to call twice.
  void Stop();

  // The bound ports, after a successful Start().
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  // After a successful Start() with TLS: the CA file workers and the CLI
  // trust (--ca-file) and its pin (--ca-pin). Empty with `insecure`.
  const std::string& ca_file() const { return ca_file_; }
  const std::string& ca_pin() const { return ca_pin_; }
  Cluster& cluster() { return *cluster_; }

 private:
  void ControlLoop();

  MasterOptions options_;
  // Held from the start of Start() until this object goes (one master per data dir).
  std::optional<DataDirLock> data_dir_lock_;
  std::unique_ptr<TaskStore> store_;
  std::unique_ptr<PlacementPolicy> policy_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<History> history_;
  std::unique_ptr<WorkerKeyStore> worker_keys_;
  // Per-worker identity: set when the master holds its cluster CA's key
  // (the data dir's CA, not --tls-ca), null otherwise.
  std::unique_ptr<WorkerIdentityRegistry> identities_;
  std::unique_ptr<ClusterLinkHandler> link_handler_;
  std::unique_ptr<WorkerLinkService> link_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<StoreProbe> store_probe_;
  std::unique_ptr<HttpServer> http_server_;
  std::unique_ptr<HttpApi> http_api_;
  std::unique_ptr<DashboardRoutes> dashboard_;
  std::thread control_thread_;
  std::atomic<bool> stopping_{false};
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::string ca_file_;
  std::string ca_pin_;
};

}  // namespace gpulse::master
