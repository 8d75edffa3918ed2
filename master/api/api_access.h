// ApiAccess: who may call what over the master's HTTP port.
//
// Two tokens, two roles, sent as "Authorization: Bearer <token>":
//   - the admin token (<data-dir>/token, also the workers' cluster token):
//     everything, including what changes state (submit, cancel, and any
//     later drain or forget) — every /api/ call other than GET or HEAD,
//     and GET /api/join (the join line holds the cluster token);
//   - the read token (<data-dir>/read-token): everything else — every GET
//     under /api/ (workers, tasks, logs, the dashboard's snapshot, events
//     and history) and /metrics.
// The admin token reads too. /healthz, the dashboard page and its scripts
// need no token (the page asks for one before it loads any data). An
// operator may open reads to anyone (public_reads), or only /metrics
// (public_metrics) for a Prometheus that cannot send a token.
//
// Answers, as JSON errors like the rest of the API: 401 without a token or
// with one that matches neither; 403 for the read token on a call that
// changes state. Tokens are compared in constant time and never echoed.
//
// Immutable after construction; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/http_server.h"

namespace gpulse::master {

struct ApiAccessConfig {
  std::string admin_token;  // required
  std::string read_token;   // empty: only the admin token reads
  bool public_reads = false;
  bool public_metrics = false;
};

// What a route needs.
enum class ApiNeed { kNothing, kRead, kMetrics, kAdmin };
// What a request's token grants.
enum class ApiRole { kAnonymous, kWrongToken, kReader, kAdmin };

class ApiAccess {
 public:
  explicit ApiAccess(ApiAccessConfig config) : config_(std::move(config)) {}

  // The need of `method` on `path` (see the top of this file).
  static ApiNeed NeedFor(std::string_view method, std::string_view path);
  // The role the request's Authorization header grants.
  ApiRole RoleOf(const HttpRequest& req) const;
  // True when `req` may go on; otherwise writes the 401 or 403 JSON error
  // into `res` and returns false.
  bool Allow(const HttpRequest& req, HttpResponse& res) const;
  // Makes the server check every request with Allow before routing it.
  // The ApiAccess must outlive the server's threads.
  void Install(HttpServer& server) const;

 private:
  const ApiAccessConfig config_;
};

}  // namespace gpulse::master
