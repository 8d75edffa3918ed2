// "HOST:PORT" addresses as the daemons take them on the command line.
#pragma once

#include <string>
#include <utility>

#include "common/status.h"

namespace gpulse {

// "127.0.0.1:8080" -> ("127.0.0.1", 8080); "[::1]:80" -> ("::1", 80).
// Port 0 is allowed (pick a free one). InvalidArgument when malformed.
Result<std::pair<std::string, int>> SplitHostPort(const std::string& address);

// Whether `host` (a host as SplitHostPort returns it) names this machine's
// loopback interface only: "localhost", any 127.0.0.0/8 address, "::1".
// "0.0.0.0", "::" and every other name are not loopback: they reach (or may
// reach) the network, where plaintext must never be served.
bool IsLoopbackHost(const std::string& host);

}  // namespace gpulse
