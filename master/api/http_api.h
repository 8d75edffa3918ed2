// HttpApi: the master's HTTP/JSON API (docs/api.md) on an HttpServer
// (common/http_server.h).
//
// Every call but /healthz needs a token ("Authorization: Bearer <token>"):
// the read token or the admin token to read, the admin token to change
// anything (ApiAccess, master/api/api_access.h, checks each request before
// it is routed, also for the dashboard's routes on the same server). Every
// error is a 4xx/5xx with a
// body {"error": "..."}; no input can bring the master down. Handlers run on
// the server's polling threads and only talk to the thread-safe Cluster,
// LogStore and StoreProbe, none of which waits on the network.
#pragma once

#include <functional>
#include <string>

#include "common/http_server.h"

#include "master/api/api_access.h"
#include "master/core/cluster.h"
#include "master/core/worker_identities.h"
#include "master/store/log_store.h"
#include "master/store/store_probe.h"

namespace gpulse::master {

constexpr size_t kMaxRequestBodyBytes = 1 << 20;

class HttpApi {
 public:
  // `probe` (optional) says whether the store can be written; /healthz
  // answers 503 with its reason when it cannot.
  HttpApi(Cluster& cluster, LogStore& logs, const Clock& clock, ApiAccessConfig access, StoreProbe* probe = nullptr)
      : cluster_(cluster), logs_(logs), clock_(clock), access_(std::move(access)), probe_(probe) {}

  // What GET /api/join answers (admin only): the one line that joins a new
  // worker (master/join_command.h). Unset: 409, the master has none
  // (--insecure). Call before Register; `fn` is called from the server's
  // threads.
  void SetJoinCommand(std::function<Result<std::string>()> fn) { join_command_ = std::move(fn); }

  // What DELETE /api/workers/{id}/identity (admin only; `gpulse workers
  // forget`) releases: a worker id's binding to its key (master/core/
  // worker_identities.h). Unset: 409, this master issues no worker
  // certificates. Call before Register; `identities` outlives the API.
  void SetWorkerIdentities(WorkerIdentities* identities) { identities_ = identities; }

  // Adds the /healthz and /api/... routes, the access check of every
  // request (ApiAccess::Install) and the JSON error bodies to `server`.
  // The server's own body limit (HttpServerOptions::max_body_bytes, 1 MiB
  // by default as kMaxRequestBodyBytes) answers 413.
  void Register(HttpServer& server);

 private:
  void ListWorkers(const HttpRequest& req, HttpResponse& res);
  void GetWorker(const HttpRequest& req, HttpResponse& res);
  void SubmitTask(const HttpRequest& req, HttpResponse& res);
  void ListTasks(const HttpRequest& req, HttpResponse& res);
  void GetTask(const HttpRequest& req, HttpResponse& res);
  void GetTaskLogs(const HttpRequest& req, HttpResponse& res);
  void CancelTask(const HttpRequest& req, HttpResponse& res);
  void DrainWorker(const HttpRequest& req, HttpResponse& res);
  void GetJoinCommand(const HttpRequest& req, HttpResponse& res);
  // DELETE /api/workers/{id}/identity: {"id": ..., "forgotten": true};
  // 404 when the id is not bound.
  void ForgetWorkerIdentity(const HttpRequest& req, HttpResponse& res);
  // POST /api/workers/{id}/gpus/{index}/clear (admin): Cluster::ClearGpuFaults;
  // answers the worker as GET /api/workers/{id} does.
  void ClearGpu(const HttpRequest& req, HttpResponse& res);

  Cluster& cluster_;
  LogStore& logs_;
  const Clock& clock_;
  const ApiAccess access_;
  std::function<Result<std::string>()> join_command_;
  WorkerIdentities* identities_ = nullptr;
  StoreProbe* const probe_;
};

// Writes {"error": message} with `status`.
void ReplyError(HttpResponse& res, int status, const std::string& message);
// The HTTP status for a gpulse Status code (400, 401, 403, 404, 409, 422,
// 500, 503; 507 when the disk holding the store is full).
int HttpStatusFor(const Status& status);

}  // namespace gpulse::master
