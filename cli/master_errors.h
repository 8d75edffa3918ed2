// How a failed call to the master reaches the user of `gpulse`: the Status
// for each HTTP status the master's API (or a proxy in front of it) can
// answer with, and the exit status of a command that failed with a Status.
//
// Stateless and thread-safe.
#pragma once

#include <string>

#include "common/status.h"

namespace gpulse::cli {

// The Status for a reply whose HTTP status `http_status` is not a success
// (anything outside 200-299). `api_message` is the API's {"error": ...}
// text, empty when the body held none. The code says what kind of failure it
// is (4xx: the request was refused; 401/403: the token; 408, 429, 502-504:
// the master cannot answer now; other 5xx: the master failed); the message
// is the API's own when it gave one, and otherwise says what happened and
// what to do, naming the HTTP status. Never OK.
Status StatusFromHttp(int http_status, const std::string& api_message);

// The exit status of a command that failed with `status` (kExitOk for OK);
// see command_exit.h for the values.
int ExitCodeFor(const Status& status);

}  // namespace gpulse::cli
