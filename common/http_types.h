// The HTTP vocabulary gpulse's routes speak: a parsed request and the
// response a handler fills in, independent of the server library
// (common/http_server.h serves them with libmicrohttpd), so route code never
// includes a server's headers.
//
// Plain values; not thread-safe, owned by the one request being handled.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpulse {

// Header names compare without regard to case (RFC 9110 §5.1).
struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded, without the query
  std::map<std::string, std::string> path_params;            // "{id}" in the route → its value
  std::multimap<std::string, std::string> query;              // percent-decoded
  std::multimap<std::string, std::string, CaseInsensitiveLess> headers;
  std::string body;
  std::string remote_address;  // "127.0.0.1", "::1"; empty when unknown

  // The first value of header `name`, or "" when absent.
  std::string Header(std::string_view name) const;
  bool HasQuery(const std::string& name) const { return query.count(name) > 0; }
  // The first value of query parameter `name`, or "" when absent.
  std::string Query(const std::string& name) const;
  // The value of path parameter `name` ("{name}" in the route), or "".
  std::string Param(const std::string& name) const;
};

// What a streaming producer did on one call.
enum class StreamStep {
  kData,  // appended bytes to `out`
  kWait,  // nothing to send now: the server calls again a little later
          // (its tick), without holding a thread meanwhile
  kEnd,   // the stream is over
};
// Called on a server thread whenever the client can take more; must not
// block (return kWait instead). `out` is empty on entry.
using StreamProducer = std::function<StreamStep(std::string& out)>;

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // When set, the body is streamed (chunked) from the producer instead of
  // `body`; `on_stream_end` runs once when the stream ends for any reason
  // (producer's end, client gone, server stopping).
  StreamProducer stream;
  std::function<void()> on_stream_end;

  void SetHeader(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
  // The first value of header `name`, or "" when absent.
  std::string Header(std::string_view name) const;
  void SetContent(std::string content, std::string type) {
    body = std::move(content);
    content_type = std::move(type);
  }
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

}  // namespace gpulse
