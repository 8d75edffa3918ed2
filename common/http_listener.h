// Starting an httplib::Server the way gpulse's daemons need it.
#pragma once

#include <httplib.h>

#include <string>
#include <thread>

#include "common/status.h"

namespace gpulse {

// Binds `server` to `listen` ("HOST:PORT"; port 0 picks a free one) with
// SO_REUSEADDR only — httplib's default also sets SO_REUSEPORT, which would
// let a second process share the port silently — then serves it on a new
// thread stored in `thread`, returning once it accepts connections (so an
// immediate server.stop() cannot be lost). Returns the bound port, or
// InvalidArgument/Unavailable ("address in use?").
Result<int> StartHttpListener(httplib::Server& server, const std::string& listen, std::thread& thread);

}  // namespace gpulse
