#include "master/api/api_access.h"

#include "common/token.h"
#include "master/api/http_api.h"

namespace gpulse::master {

ApiNeed ApiAccess::NeedFor(std::string_view method, std::string_view path) {
  if (path == "/metrics") return ApiNeed::kMetrics;
  if (path == "/api/join") return ApiNeed::kAdmin;  // the join line holds the cluster token
  if (path.substr(0, 5) == "/api/" || path == "/api") {
    return method == "GET" || method == "HEAD" ? ApiNeed::kRead : ApiNeed::kAdmin;
  }
  return ApiNeed::kNothing;  // /healthz, the dashboard page and its assets
}

ApiRole ApiAccess::RoleOf(const HttpRequest& req) const {
  const std::string header = req.Header("Authorization");
  const std::string_view presented = BearerToken(header);
  if (presented.empty()) return ApiRole::kAnonymous;
  // Both compared, in constant time, whichever matches.
  const bool admin = TokensEqual(presented, config_.admin_token);
  const bool reader = !config_.read_token.empty() && TokensEqual(presented, config_.read_token);
  if (admin) return ApiRole::kAdmin;
  if (reader) return ApiRole::kReader;
  return ApiRole::kWrongToken;
}

bool ApiAccess::Allow(const HttpRequest& req, HttpResponse& res) const {
  const ApiNeed need = NeedFor(req.method, req.path);
  if (need == ApiNeed::kNothing) return true;
  if (need == ApiNeed::kRead && config_.public_reads) return true;
  if (need == ApiNeed::kMetrics && (config_.public_reads || config_.public_metrics)) return true;
  switch (RoleOf(req)) {
    case ApiRole::kAdmin: return true;
    case ApiRole::kReader:
      if (need != ApiNeed::kAdmin) return true;
      ReplyError(res, 403,
                 "the read-only token cannot change anything: this call needs the admin token "
                 "(<data-dir>/token on the master)");
      return false;
    case ApiRole::kWrongToken:
      ReplyError(res, 401, "wrong token: it is neither the master's admin token nor its read token");
      return false;
    case ApiRole::kAnonymous: break;
  }
  ReplyError(res, 401,
             need == ApiNeed::kAdmin
                 ? "this call needs the admin token: send 'Authorization: Bearer <token>' "
                   "(<data-dir>/token on the master)"
                 : "this call needs a token: send 'Authorization: Bearer <token>' with the read token "
                   "(<data-dir>/read-token on the master) or the admin token");
  return false;
}

void ApiAccess::Install(HttpServer& server) const {
  server.SetBeforeRouting([this](const HttpRequest& req, HttpResponse& res) { return Allow(req, res); });
}

}  // namespace gpulse::master
