#include "master/master_server.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <optional>
#include <thread>

#include "common/clock.h"
#include "common/host_port.h"
#include "common/http_server.h"
#include "common/private_file.h"
#include "common/token.h"
#include "master/core/cluster.h"
#include "master/core/cluster_link_handler.h"
#include "master/core/history.h"
#include "master/api/http_api.h"
#include "master/store/log_store.h"
#include "master/store/store_probe.h"
#include "master/core/placement.h"
#include "master/store/task_store.h"
#include "master/dashboard/dashboard_routes.h"
#include "master/link/worker_link_service.h"
#include "master/join_command.h"
#include "master/master_tls.h"
#include "master/store/worker_key_store.h"
#include "master/worker_identity_registry.h"
#include "pki/cluster_ca.h"

namespace gpulse::master {

MasterServer::MasterServer(MasterOptions options) : options_(std::move(options)) {}

MasterServer::~MasterServer() { Stop(); }

namespace {

// --insecure serves plaintext: only where no other machine can listen in.
Status CheckPlaintextAllowed(const std::string& listen, const char* what) {
  ASSIGN_OR_RETURN(auto address, SplitHostPort(listen));
  if (IsLoopbackHost(address.first)) return Status::Ok();
  return InvalidArgument(std::string("--insecure serves plaintext and is refused on the non-loopback ") + what +
                         " address " + listen + ": the cluster token and every task would cross the network in "
                         "clear. Drop --insecure (TLS is the default), or listen on 127.0.0.1");
}

}  // namespace

Status MasterServer::Start() {
  if (options_.insecure) {
    RETURN_IF_ERROR(CheckPlaintextAllowed(options_.grpc_listen, "--listen"));
    RETURN_IF_ERROR(CheckPlaintextAllowed(options_.http_listen, "--http"));
  }
  // The data dir holds the tokens, the database (every task's command and
  // environment) and task output: the master's user alone may enter it.
  if (Status s = EnsurePrivateDir(options_.data_dir); !s.ok()) {
    return Unavailable("cannot create data directory " + options_.data_dir + ": " + s.message());
  }
  auto lock = DataDirLock::Acquire(options_.data_dir);
  if (!lock.ok()) return lock.status();
  data_dir_lock_.emplace(std::move(*lock));
  std::string token_file = options_.token_file.empty() ? options_.data_dir + "/token" : options_.token_file;
  // Strict: a token file others may read, or a guessable token, is refused
  // with the command that fixes it.
  ASSIGN_OR_RETURN(std::string token, options_.token_file.empty()
                                          ? LoadOrCreateToken(token_file, TokenFileCheck::kStrict)
                                          : ReadToken(token_file, TokenFileCheck::kStrict));
  std::string read_token_file =
      options_.read_token_file.empty() ? options_.data_dir + "/read-token" : options_.read_token_file;
  ASSIGN_OR_RETURN(std::string read_token, options_.read_token_file.empty()
                                               ? LoadOrCreateToken(read_token_file, TokenFileCheck::kStrict)
                                               : ReadToken(read_token_file, TokenFileCheck::kStrict));
  if (TokensEqual(read_token, token)) {
    return InvalidArgument("the read token (" + read_token_file + ") is the admin token (" + token_file +
                           "): give the read token its own value, e.g. openssl rand -hex 32 > " + read_token_file);
  }
  ASSIGN_OR_RETURN(store_, OpenSqliteTaskStore(options_.data_dir + "/gpulse.db"));
  ASSIGN_OR_RETURN(logs_, LogStore::Open(options_.data_dir + "/logs", options_.max_task_log_bytes));

  ClusterConfig config;
  if (options_.heartbeat_timeout_seconds > 0) {
    config.heartbeat_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(options_.heartbeat_timeout_seconds * 1000));
  }
  config.task_lease = std::chrono::milliseconds(static_cast<int64_t>(options_.task_lease_seconds * 1000));
  config.cancel_grace = std::chrono::milliseconds(static_cast<int64_t>(options_.cancel_grace_seconds * 1000));
  config.heartbeat_interval_bounds.min = options_.min_heartbeat_interval;
  config.finished_task_retention =
      std::chrono::milliseconds(static_cast<int64_t>(options_.finished_task_retention_seconds * 1000));
  config.max_finished_tasks_in_memory = options_.max_finished_tasks_in_memory;
  config.idle_threshold_percent = options_.idle_threshold_percent;
  config.idle_period = std::chrono::milliseconds(static_cast<int64_t>(options_.idle_period_seconds * 1000));
  if (options_.idle_action == "cancel") {
    config.idle_action = ClusterConfig::IdleAction::kCancel;
  } else if (options_.idle_action != "none") {
    return InvalidArgument("--idle-action must be none or cancel, not '" + options_.idle_action + "'");
  }
  policy_ = NewLeastLoadedPolicy();
  cluster_ = std::make_unique<Cluster>(*store_, *policy_, SystemClock::Instance(), config);
  RETURN_IF_ERROR(cluster_->Recover());

  ASSIGN_OR_RETURN(auto grpc_addr, SplitHostPort(options_.grpc_listen));
  ASSIGN_OR_RETURN(auto http_addr, SplitHostPort(options_.http_listen));
  std::optional<MasterTls> tls;
  if (!options_.insecure) {
    ASSIGN_OR_RETURN(tls, PrepareMasterTls({options_.data_dir, options_.tls_cert, options_.tls_key, options_.tls_ca,
                                            options_.tls_sans}));
    spdlog::info("TLS: {}; certificate valid for {}", tls->note, fmt::join(tls->names, ", "));
  }

  HistoryConfig history_config;
  history_config.window = std::chrono::seconds(static_cast<int64_t>(options_.history_window_seconds));
  history_ = std::make_unique<History>(history_config);
  link_handler_ = std::make_unique<ClusterLinkHandler>(*cluster_, *history_, *logs_, SystemClock::Instance());
  const bool own_ca = tls && options_.tls_cert.empty() && options_.tls_key.empty() && options_.tls_ca.empty();
  if (own_ca) {
    // The cluster CA signs each worker's client certificate at its first
    // join; gpulse.db keeps which key each worker id is bound to.
    ASSIGN_OR_RETURN(pki::ClusterCa ca, pki::ClusterCa::LoadOrCreate(options_.data_dir + "/pki"));
    ASSIGN_OR_RETURN(worker_keys_, OpenSqliteWorkerKeyStore(options_.data_dir + "/gpulse.db"));
    ASSIGN_OR_RETURN(identities_, WorkerIdentityRegistry::Open(std::move(ca), *worker_keys_, SystemClock::Instance()));
    spdlog::info("worker identities: {} worker id(s) bound to their keys; new workers get a client certificate at "
                 "their first join",
                 identities_->bound_count());
  } else if (tls) {
    spdlog::warn("worker identities: off (the operator's CA: this master cannot sign client certificates); "
                 "workers prove themselves with the cluster token alone");
  }
  link_service_ = std::make_unique<WorkerLinkService>(*link_handler_, token, identities_.get());
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls) {
    // A client certificate is asked for and, when presented, verified
    // against the CA; a worker's first join comes without one (it has the
    // token only, and asks for its certificate: RequestCertificate).
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = tls->ca_pem;
    // The chain ends with the CA, so a worker that knows only its pin can
    // find it (pki/ca_discovery.h).
    ssl.pem_key_cert_pairs.push_back({tls->key_pem, tls->cert_chain_pem});
    credentials = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort(options_.grpc_listen, credentials, &grpc_port_);
  builder.RegisterService(link_service_.get());
  builder.SetMaxReceiveMessageSize(kMaxWorkerMessageBytes);
  // gRPC sets SO_REUSEPORT by default: a second process could then bind
  // the same port and silently take a share of the workers' connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // A worker id is refused to a second stream while the first is open
  // (Cluster::RegisterWorker), so a connection that died without a close
  // (a host that lost power, a cut cable) must be noticed: ping after 20 s
  // of silence and drop the stream if no answer comes within 10 s. Workers
  // send a heartbeat at least every 60 s, so healthy streams are rarely
  // pinged.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_ || grpc_port_ == 0) {
    if (grpc_server_) grpc_server_->Shutdown();
    return Unavailable("cannot listen for workers on " + options_.grpc_listen + " (address in use?)");
  }

  // Event-driven: idle, slow and dripping clients hold no thread (see
  // common/http_server.h for the deadlines and connection limits).
  HttpServerOptions http_options;
  http_options.threads = 4;
  if (tls) {
    http_options.tls_cert_chain_pem = tls->cert_chain_pem;
    http_options.tls_key_pem = tls->key_pem;
  }
  const uint64_t open_files = RaiseOpenFileLimit();
  if (open_files < http_options.max_connections + 256) {
    spdlog::warn("only {} open files allowed (ulimit -n); HTTP connections beyond that are refused", open_files);
  }
  http_server_ = std::make_unique<HttpServer>(http_options);
  store_probe_ = std::make_unique<StoreProbe>(options_.data_dir, SystemClock::Instance());
  http_api_ = std::make_unique<HttpApi>(
      *cluster_, *logs_, SystemClock::Instance(),
      ApiAccessConfig{token, read_token, options_.public_reads, options_.public_metrics}, store_probe_.get());
  http_api_->SetWorkerIdentities(identities_.get());
  if (tls) {
    std::string host = grpc_addr.first.find(':') != std::string::npos ? "[" + grpc_addr.first + "]" : grpc_addr.first;
    http_api_->SetJoinCommand([listen = host + ":" + std::to_string(grpc_port_), ca = tls->ca_file, token_file] {
      return JoinCommandLine(listen, ca, token_file);
    });
  }
  http_api_->Register(*http_server_);
  DashboardConfig dashboard_config;
  dashboard_config.max_event_streams = options_.max_live_dashboards;
  dashboard_ = std::make_unique<DashboardRoutes>(*cluster_, *history_, SystemClock::Instance(), dashboard_config);
  dashboard_->Register(*http_server_);
  auto http_port = http_server_->Start(options_.http_listen);
  if (!http_port.ok()) {
    grpc_server_->Shutdown();
    return Status(http_port.status().code(), "HTTP: " + http_port.status().message());
  }
  http_port_ = *http_port;
  control_thread_ = std::thread([this] { ControlLoop(); });
  spdlog::info("master listening: workers on {}:{}{}, HTTP on {}://{}:{}/ , data in {}", grpc_addr.first, grpc_port_,
               tls ? " (TLS)" : " (PLAINTEXT, --insecure)", tls ? "https" : "http", http_addr.first, http_port_,
               options_.data_dir);
  if (tls) {
    ca_file_ = tls->ca_file;
    ca_pin_ = tls->ca_pin;
    // Nothing secret here: the token stays in its file.
    spdlog::info("a worker joins with: gpulse-worker --master {}:{} --ca-pin {} --token-file {} "
                 "(or --ca-file {}; `gpulse-master --print-join` prints it again)",
                 grpc_addr.first == "0.0.0.0" || grpc_addr.first == "::" ? "<this-host>" : grpc_addr.first, grpc_port_,
                 ca_pin_, token_file, ca_file_);
  }
  return Status::Ok();
}

// Runs liveness checks and placement whenever the cluster changes, and at
// least every 250 ms so heartbeat ages are noticed without any event. At
// most one round per 50 ms: under thousands of heartbeats a second the
// version changes constantly, and a round per change would only contend
// for the cluster's lock.
void MasterServer::ControlLoop() {
  constexpr auto kMinRoundGap = std::chrono::milliseconds(50);
  uint64_t seen = 0;
  while (!stopping_) {
    seen = cluster_->WaitForChange(seen, std::chrono::milliseconds(250));
    if (stopping_) break;
    auto round_start = std::chrono::steady_clock::now();
    cluster_->CheckLiveness();
    cluster_->ForgetFinishedTasks();
    // Schedule() places a bounded number per call; go on while it places.
    while (!stopping_ && cluster_->Schedule() > 0) {
    }
    std::this_thread::sleep_until(round_start + kMinRoundGap);
  }
}

void MasterServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (dashboard_) dashboard_->Stop();
  if (http_server_) http_server_->Stop();
  if (grpc_server_) grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (control_thread_.joinable()) control_thread_.join();
}

}  // namespace gpulse::master
