// HttpApi: the master's HTTP/JSON API (docs/api.md) on an httplib::Server.
//
// Every call but /healthz needs a token ("Authorization: Bearer <token>"):
// the read token or the admin token to read, the admin token to change
// anything (ApiAccess, master/api/api_access.h, checks each request before
// it is routed, also for the dashboard's routes on the same server). Every
// error is a 4xx/5xx with a
// body {"error": "..."}; no input can bring the master down. Handlers run on
// httplib's worker threads and only talk to the thread-safe Cluster and
// LogStore.
#pragma once

#include <httplib.h>

#include <functional>
#include <string>

#include "master/api/api_access.h"
#include "master/core/cluster.h"
#include "master/store/log_store.h"

namespace gpulse::master {

constexpr size_t kMaxRequestBodyBytes = 1 << 20;

class HttpApi {
 public:
  HttpApi(Cluster& cluster, LogStore& logs, const Clock& clock, ApiAccessConfig access)
      : cluster_(cluster), logs_(logs), clock_(clock), access_(std::move(access)) {}

  // What GET /api/join answers (admin only): the one line that joins a new
  // worker (master/join_command.h). Unset: 409, the master has none
  // (--insecure). Call before Register; `fn` is called from the server's
  // threads.
  void SetJoinCommand(std::function<Result<std::string>()> fn) { join_command_ = std::move(fn); }

  // Adds the /healthz and /api/... routes, the access check of every
  // request (ApiAccess::Install), the body limit and the JSON error
  // handlers to `server`.
  void Register(httplib::Server& server);

 private:
  void ListWorkers(const httplib::Request& req, httplib::Response& res);
  void GetWorker(const httplib::Request& req, httplib::Response& res);
  void SubmitTask(const httplib::Request& req, httplib::Response& res);
  void ListTasks(const httplib::Request& req, httplib::Response& res);
  void GetTask(const httplib::Request& req, httplib::Response& res);
  void GetTaskLogs(const httplib::Request& req, httplib::Response& res);
  void CancelTask(const httplib::Request& req, httplib::Response& res);
  void DrainWorker(const httplib::Request& req, httplib::Response& res);
  void GetJoinCommand(const httplib::Request& req, httplib::Response& res);
  // POST /api/workers/{id}/gpus/{index}/clear (admin): Cluster::ClearGpuFaults;
  // answers the worker as GET /api/workers/{id} does.
  void ClearGpu(const httplib::Request& req, httplib::Response& res);

  Cluster& cluster_;
  LogStore& logs_;
  const Clock& clock_;
  const ApiAccess access_;
  std::function<Result<std::string>()> join_command_;
};

// Writes {"error": message} with `status`.
void ReplyError(httplib::Response& res, int status, const std::string& message);
// The HTTP status for a gpulse Status code (400, 401, 404, 409, 500, 503).
int HttpStatusFor(const Status& status);

}  // namespace gpulse::master
