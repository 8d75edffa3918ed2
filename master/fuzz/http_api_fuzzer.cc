// libFuzzer target for the master's HTTP API (master/api, and the
// dashboard's data routes beside it): request bodies (task submission JSON
// and every other body a route reads) and query strings (limit, cursor,
// state, worker, stream, offset, attempt, since), through the server's
// real routing (HttpServer::Dispatch) and access check, with the admin
// token, in front of a FuzzCluster.
//
// An input is "METHOD TARGET\nBODY": TARGET is a path with an optional
// "?k=v&k2=v2" query (taken as already percent-decoded, as libmicrohttpd
// hands it over); the rest of the input is the body. Besides not crashing:
// every answer is a status in 200..599 and never 500 (a handler that
// throws on input is a bug: bad input is a 4xx); every error answer is a
// JSON object with an "error" string; a streamed answer is run a few
// times and ended, as a server would.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/http_server.h"
#include "master/api/http_api.h"
#include "master/dashboard/dashboard_routes.h"
#include "master/fuzz/fuzz_cluster.h"

namespace {

using gpulse::HttpRequest;
using gpulse::HttpResponse;

const std::string kAdminToken(64, 'a');
const std::string kReadToken(64, 'r');

// "k=v&k2=v2" into `query`; a key without "=" has the empty value.
void ParseQuery(std::string_view text, HttpRequest& req) {
  while (!text.empty()) {
    size_t end = text.find('&');
    std::string_view pair = text.substr(0, end);
    size_t eq = pair.find('=');
    req.query.emplace(std::string(pair.substr(0, eq)),
                      eq == std::string_view::npos ? std::string() : std::string(pair.substr(eq + 1)));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

// False when the input is no request line at all.
bool ParseRequest(std::string_view input, HttpRequest& req) {
  size_t line_end = input.find('\n');
  std::string_view line = input.substr(0, line_end);
  if (line_end != std::string_view::npos) req.body = std::string(input.substr(line_end + 1));
  size_t space = line.find(' ');
  if (space == std::string_view::npos) return false;
  req.method = std::string(line.substr(0, space));
  std::string_view target = line.substr(space + 1);
  size_t question = target.find('?');
  req.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) ParseQuery(target.substr(question + 1), req);
  req.headers.emplace("Authorization", "Bearer " + kAdminToken);
  req.headers.emplace("Content-Type", "application/json");
  req.remote_address = "127.0.0.1";
  return true;
}

void CheckAnswer(const HttpResponse& res) {
  if (res.status < 200 || res.status > 599 || res.status == 500) std::abort();
  if (res.status >= 400 && !res.stream) {
    nlohmann::json body = nlohmann::json::parse(res.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("error") || !body["error"].is_string()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gpulse::master::fuzz::SilenceLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  HttpRequest req;
  if (!ParseRequest(std::string_view(reinterpret_cast<const char*>(data), size), req)) return 0;

  gpulse::master::fuzz::FuzzCluster fixture;
  gpulse::master::HttpApi api(*fixture.cluster, *fixture.logs, fixture.clock,
                              gpulse::master::ApiAccessConfig{kAdminToken, kReadToken});
  api.SetJoinCommand([] { return gpulse::Result<std::string>(std::string("gpulse-worker --join 'gpulse-join://m:1'")); });
  gpulse::master::DashboardRoutes dashboard(*fixture.cluster, fixture.history, fixture.clock);
  gpulse::HttpServer server;  // never started: Dispatch only
  api.Register(server);
  dashboard.Register(server);

  HttpResponse res;
  server.Dispatch(req, res);
  CheckAnswer(res);
  if (res.stream) {
    std::string chunk;
    for (int i = 0; i < 3; ++i) {
      chunk.clear();
      if (res.stream(chunk) == gpulse::StreamStep::kEnd) break;
    }
  }
  if (res.on_stream_end) res.on_stream_end();
  return 0;
}
