// The API's paging parameters: ?limit= and the opaque ?cursor= of
// /api/tasks and /api/workers (docs/api.md).
//
// A cursor is what the previous page's "next_cursor" said; clients pass it
// back as is and never build one. A task cursor names the submission order
// at which the page stopped ("t" + decimal), a worker cursor the last
// worker id shown ("w" + the id in hex, so any id survives a query string).
// Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/http_types.h"
#include "common/status.h"

namespace gpulse::master {

inline constexpr size_t kDefaultPageLimit = 100;
inline constexpr size_t kMaxPageLimit = 1000;

// ?limit= (1..kMaxPageLimit; kDefaultPageLimit when absent).
// InvalidArgument, saying the range, for anything else.
Result<size_t> ParsePageLimit(const HttpRequest& req);

std::string TaskCursor(uint64_t before_order);
// nullopt for a string TaskCursor did not make.
std::optional<uint64_t> ParseTaskCursor(const std::string& cursor);

std::string WorkerCursor(const std::string& last_id);
std::optional<std::string> ParseWorkerCursor(const std::string& cursor);

}  // namespace gpulse::master
