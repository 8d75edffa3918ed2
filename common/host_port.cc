#include "common/host_port.h"

#include <arpa/inet.h>

#include <cstdlib>

namespace gpulse {

Result<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return InvalidArgument("'" + address + "' is not HOST:PORT");
  std::string host = address.substr(0, colon);
  std::string port_text = address.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
    return InvalidArgument("'" + address + "' has no valid port");
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, static_cast<int>(port));
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace gpulse
