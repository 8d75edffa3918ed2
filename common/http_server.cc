#include "common/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/host_port.h"
#include "common/posix_error.h"
#include "common/unique_fd.h"

namespace gpulse {

using SteadyClock = std::chrono::steady_clock;

// One accepted socket. `deadline` is when it is closed unless it has moved
// on: waiting for a head, or reading a body; none while a response is out.
struct HttpServer::Connection {
  int fd = -1;
  SteadyClock::time_point deadline = SteadyClock::time_point::max();  // guarded by connections_mu_
  bool shut = false;                                                  // guarded by connections_mu_
};

// One request between its head and its response.
struct HttpServer::Pending {
  HttpRequest req;
  bool too_large = false;  // the body is read and dropped, then 413
  bool answered = false;
};

// A streamed body: bytes the producer gave that the socket has not taken.
struct HttpServer::Stream {
  HttpServer* server = nullptr;
  MHD_Connection* connection = nullptr;
  StreamProducer producer;
  std::function<void()> on_end;
  std::string buffered;
  size_t sent = 0;
};

namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty() || path == "/") return out;
  if (path.front() == '/') path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    out.emplace_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

void DefaultErrorBody(int status, const std::string& message, HttpResponse& res) {
  res.status = status;
  res.SetContent(message + "\n", "text/plain; charset=utf-8");
}

// The last thing libmicrohttpd logged: the reason for a failed start.
struct MhdLog {
  std::mutex mu;
  std::string last;
};
MhdLog& TheMhdLog() {
  static MhdLog log;
  return log;
}

void OnMhdLog(void*, const char* format, va_list args) {
  char text[512];
  std::vsnprintf(text, sizeof(text), format, args);
  std::string line(text);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  std::lock_guard lock(TheMhdLog().mu);
  TheMhdLog().last = std::move(line);
}

// The one translation of libmicrohttpd's failures into a Status: it reports
// them only as a NULL daemon, a MHD_NO and a log line.
Status MhdFailure(const std::string& doing) {
  std::string reason;
  {
    std::lock_guard lock(TheMhdLog().mu);
    reason = TheMhdLog().last;
  }
  return Internal("HTTP server: " + doing + (reason.empty() ? "" : ": " + reason));
}

Result<UniqueFd> BindListener(const std::string& listen) {
  ASSIGN_OR_RETURN(auto address, SplitHostPort(listen));
  auto [host, port] = address;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(port);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints, &found); rc != 0) {
    return InvalidArgument("cannot listen on " + listen + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, &freeaddrinfo);
  Status last = Unavailable("cannot listen on " + listen);
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd.valid()) {
      last = PosixError("socket for " + listen, errno);
      continue;
    }
    int yes = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 1024) != 0) {
      last = Unavailable("cannot listen on " + listen + " (address in use?): " + ErrnoText(errno));
      continue;
    }
    return fd;
  }
  return last;
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

int FamilyOf(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return AF_INET;
  return addr.ss_family;
}

std::string ClientAddress(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return {};
  char text[INET6_ADDRSTRLEN] = {};
  const sockaddr* addr = info->client_addr;
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, text, sizeof(text));
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, text, sizeof(text));
  }
  return text;
}

HttpServer::Connection* ConnectionOf(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info == nullptr ? nullptr : static_cast<HttpServer::Connection*>(info->socket_context);
}

MHD_Result CollectHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  static_cast<HttpRequest*>(cls)->headers.emplace(key, value == nullptr ? "" : value);
  return MHD_YES;
}

MHD_Result CollectQuery(void* cls, MHD_ValueKind, const char* key, const char* value) {
  static_cast<HttpRequest*>(cls)->query.emplace(key, value == nullptr ? "" : value);
  return MHD_YES;
}

}  // namespace

// The C callbacks libmicrohttpd calls, with access to the server's insides.
struct HttpServerCallbacks {
  static void SetDeadline(HttpServer* self, MHD_Connection* connection, SteadyClock::time_point deadline) {
    HttpServer::Connection* conn = ConnectionOf(connection);
    if (conn == nullptr) return;
    std::lock_guard lock(self->connections_mu_);
    conn->deadline = deadline;
  }

  static void OnConnection(void* cls, MHD_Connection* connection, void** socket_context,
                           MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<HttpServer*>(cls);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* conn = new HttpServer::Connection;
      const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
      conn->fd = info == nullptr ? -1 : info->connect_fd;
      conn->deadline = SteadyClock::now() + self->options_.head_timeout;
      *socket_context = conn;
      std::lock_guard lock(self->connections_mu_);
      self->connections_.insert(conn);
    } else {
      auto* conn = static_cast<HttpServer::Connection*>(*socket_context);
      if (conn == nullptr) return;
      {
        std::lock_guard lock(self->connections_mu_);
        self->connections_.erase(conn);
      }
      delete conn;
      *socket_context = nullptr;
    }
  }

  static MHD_Result Queue(HttpServer* self, MHD_Connection* connection, HttpResponse& res) {
    SetDeadline(self, connection, SteadyClock::time_point::max());
    MHD_Response* response = nullptr;
    if (res.stream) {
      auto* stream = new HttpServer::Stream{self, connection, std::move(res.stream), std::move(res.on_stream_end), {}, 0};
      response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, &ReadStream, stream, &FreeStream);
      if (response == nullptr) FreeStream(stream);
    } else {
      response = MHD_create_response_from_buffer(res.body.size(), res.body.data(), MHD_RESPMEM_MUST_COPY);
    }
    if (response == nullptr) return MHD_NO;
    for (const auto& [name, value] : res.headers) MHD_add_response_header(response, name.c_str(), value.c_str());
    if (!res.content_type.empty()) {
      MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, res.content_type.c_str());
    }
    MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(res.status), response);
    MHD_destroy_response(response);
    return queued;
  }

  static MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                              const char*, const char* upload_data, size_t* upload_data_size, void** req_cls) {
    auto* self = static_cast<HttpServer*>(cls);
    auto* pending = static_cast<HttpServer::Pending*>(*req_cls);
    if (pending == nullptr) {
      // The head is complete: from now on the body's deadline.
      SetDeadline(self, connection, SteadyClock::now() + self->options_.body_timeout);
      pending = new HttpServer::Pending;
      *req_cls = pending;
      HttpRequest& req = pending->req;
      req.method = method;
      req.path = url;
      req.remote_address = ClientAddress(connection);
      MHD_get_connection_values(connection, MHD_HEADER_KIND, &CollectHeader, &req);
      MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, &CollectQuery, &req);
      const std::string length = req.Header("Content-Length");
      // Too large: the body is still read (and dropped, within the body
      // deadline) so that a client that sends it all before reading gets
      // its 413 instead of a stalled socket.
      pending->too_large =
          !length.empty() && std::strtoull(length.c_str(), nullptr, 10) > self->options_.max_body_bytes;
      return MHD_YES;
    }
    if (*upload_data_size > 0) {
      if (!pending->too_large && pending->req.body.size() + *upload_data_size > self->options_.max_body_bytes) {
        pending->too_large = true;  // a chunked body that grew past the limit
        pending->req.body.clear();
      }
      if (!pending->too_large) pending->req.body.append(upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
    if (pending->answered) return MHD_YES;
    if (pending->too_large) return AnswerTooLarge(self, connection, pending);
    pending->answered = true;
    HttpResponse res;
    self->Dispatch(pending->req, res);
    return Queue(self, connection, res);
  }

  static MHD_Result AnswerTooLarge(HttpServer* self, MHD_Connection* connection, HttpServer::Pending* pending) {
    pending->answered = true;
    HttpResponse res;
    const size_t limit = self->options_.max_body_bytes;
    self->error_body_(413,
                      "request body is larger than " +
                          (limit % (1 << 20) == 0 ? std::to_string(limit >> 20) + " MiB" : std::to_string(limit) + " bytes"),
                      res);
    return Queue(self, connection, res);
  }

  static void OnCompleted(void* cls, MHD_Connection* connection, void** req_cls, MHD_RequestTerminationCode) {
    auto* self = static_cast<HttpServer*>(cls);
    delete static_cast<HttpServer::Pending*>(*req_cls);
    *req_cls = nullptr;
    // Keep-alive: the next head must come within the idle timeout.
    SetDeadline(self, connection, SteadyClock::now() + std::max<SteadyClock::duration>(self->options_.idle_timeout,
                                                                                      self->options_.head_timeout));
  }

  static ssize_t ReadStream(void* cls, uint64_t, char* buf, size_t max) {
    auto* stream = static_cast<HttpServer::Stream*>(cls);
    if (stream->sent >= stream->buffered.size()) {
      stream->buffered.clear();
      stream->sent = 0;
      StreamStep step = StreamStep::kEnd;
      try {
        step = stream->producer(stream->buffered);
      } catch (...) {
        return MHD_CONTENT_READER_END_WITH_ERROR;
      }
      if (step == StreamStep::kEnd) return MHD_CONTENT_READER_END_OF_STREAM;
      if (stream->buffered.empty()) {
        return stream->server->Park(stream->connection) ? 0 : MHD_CONTENT_READER_END_OF_STREAM;
      }
    }
    size_t n = std::min(max, stream->buffered.size() - stream->sent);
    std::memcpy(buf, stream->buffered.data() + stream->sent, n);
    stream->sent += n;
    return static_cast<ssize_t>(n);
  }

  static void FreeStream(void* cls) {
    auto* stream = static_cast<HttpServer::Stream*>(cls);
    if (stream->on_end) stream->on_end();
    delete stream;
  }
};

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)), error_body_(DefaultErrorBody) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(const std::string& method, const std::string& pattern, HttpHandler handler) {
  routes_.push_back(RouteEntry{method, SplitPath(pattern), std::move(handler)});
}

void HttpServer::Dispatch(HttpRequest& req, HttpResponse& res) const {
  try {
    if (before_routing_ && !before_routing_(req, res)) return;
    const std::vector<std::string> segments = SplitPath(req.path);
    bool path_known = false;
    for (const RouteEntry& route : routes_) {
      if (route.segments.size() != segments.size()) continue;
      std::map<std::string, std::string> params;
      bool match = true;
      for (size_t i = 0; i < segments.size() && match; ++i) {
        if (IsParam(route.segments[i])) {
          if (segments[i].empty()) match = false;
          else params[route.segments[i].substr(1, route.segments[i].size() - 2)] = segments[i];
        } else {
          match = route.segments[i] == segments[i];
        }
      }
      if (!match) continue;
      path_known = true;
      if (route.method != req.method && !(route.method == "GET" && req.method == "HEAD")) continue;
      req.path_params = std::move(params);
      route.handler(req, res);
      return;
    }
    if (path_known) return error_body_(405, "method " + req.method + " is not allowed on " + req.path, res);
    error_body_(404, "no such endpoint: " + req.method + " " + req.path, res);
  } catch (const std::exception& e) {
    res = HttpResponse{};
    error_body_(500, std::string("internal error: ") + e.what(), res);
  } catch (...) {
    res = HttpResponse{};
    error_body_(500, "internal error", res);
  }
}

Result<int> HttpServer::Start(const std::string& listen) {
  ASSIGN_OR_RETURN(UniqueFd fd, BindListener(listen));
  const int port = BoundPort(fd.get());
  const bool tls = !options_.tls_cert_chain_pem.empty();
  if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    return Internal("HTTP server: this libmicrohttpd was built without TLS");
  }
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (tls) flags |= MHD_USE_TLS;
  if (FamilyOf(fd.get()) == AF_INET6) flags |= MHD_USE_IPv6;
  using Logger = void (*)(void*, const char*, va_list);
  std::vector<MHD_OptionItem> items = {
      {MHD_OPTION_LISTEN_SOCKET, fd.get(), nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(options_.max_connections), nullptr},
      {MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<intptr_t>(options_.max_connections_per_address), nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(options_.idle_timeout.count()), nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&HttpServerCallbacks::OnConnection), this},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&HttpServerCallbacks::OnCompleted), this},
      {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(static_cast<Logger>(&OnMhdLog)), nullptr},
  };
  if (options_.threads > 1) {
    items.push_back({MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(options_.threads), nullptr});
  }
  if (tls) {
    items.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(options_.tls_cert_chain_pem.c_str())});
    items.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(options_.tls_key_pem.c_str())});
  }
  items.push_back({MHD_OPTION_END, 0, nullptr});
  {
    std::lock_guard lock(park_mu_);
    stopping_ = false;
  }
  daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &HttpServerCallbacks::OnRequest, this, MHD_OPTION_ARRAY,
                             items.data(), MHD_OPTION_END);
  if (daemon_ == nullptr) {
    return MhdFailure(tls ? "cannot start with this TLS certificate and key" : "cannot start");
  }
  (void)fd.Release();  // the daemon closes it when stopped
  port_ = port;
  {
    std::lock_guard lock(ticker_mu_);
    ticker_stop_ = false;
  }
  ticker_ = std::thread([this] { Ticker(); });
  return port;
}

bool HttpServer::Park(MHD_Connection* connection) {
  std::lock_guard lock(park_mu_);
  if (stopping_) return false;
  MHD_suspend_connection(connection);
  parked_.push_back(connection);
  return true;
}

void HttpServer::Ticker() {
  std::unique_lock lock(ticker_mu_);
  while (!ticker_stop_) {
    ticker_cv_.wait_for(lock, options_.tick, [&] { return ticker_stop_; });
    {
      std::lock_guard park(park_mu_);
      for (MHD_Connection* connection : parked_) MHD_resume_connection(connection);
      parked_.clear();
    }
    // Past their deadline: shut the socket; libmicrohttpd sees the end of
    // the stream and closes the connection on its own thread.
    const auto now = SteadyClock::now();
    std::lock_guard conns(connections_mu_);
    for (Connection* conn : connections_) {
      if (!conn->shut && conn->deadline <= now && conn->fd >= 0) {
        ::shutdown(conn->fd, SHUT_RDWR);
        conn->shut = true;
      }
    }
  }
}

void HttpServer::Stop() {
  if (daemon_ == nullptr) return;
  {
    std::lock_guard lock(ticker_mu_);
    ticker_stop_ = true;
  }
  ticker_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  {
    // Streams end at their next call; nothing is suspended at the stop.
    std::lock_guard park(park_mu_);
    stopping_ = true;
    for (MHD_Connection* connection : parked_) MHD_resume_connection(connection);
    parked_.clear();
  }
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
}

size_t HttpServer::open_connections() const {
  std::lock_guard lock(connections_mu_);
  return connections_.size();
}

uint64_t RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
  }
  return limit.rlim_cur;
}

}  // namespace gpulse
