// "HOST:PORT" addresses as the daemons take them on the command line.
#pragma once

#include <string>
#include <utility>

#include "common/status.h"

namespace gpulse {

// "127.0.0.1:8080" -> ("127.0.0.1", 8080); "[::1]:80" -> ("::1", 80).
// Port 0 is allowed (pick a free one). InvalidArgument when malformed.
Result<std::pair<std::string, int>> SplitHostPort(const std::string& address);

}  // namespace gpulse
