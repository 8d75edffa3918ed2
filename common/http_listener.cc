#include "common/http_listener.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "common/host_port.h"

namespace gpulse {

Result<int> StartHttpListener(httplib::Server& server, const std::string& listen, std::thread& thread) {
  ASSIGN_OR_RETURN(auto address, SplitHostPort(listen));
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  auto [host, port] = address;
  int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return Unavailable("cannot listen on " + listen + " (address in use?)");
  auto returned = std::make_shared<std::atomic<bool>>(false);
  thread = std::thread([&server, returned] {
    server.listen_after_bind();
    *returned = true;
  });
  // stop() does nothing until the accept loop runs; wait for it (microseconds).
  while (!server.is_running() && !*returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return bound;
}

}  // namespace gpulse
