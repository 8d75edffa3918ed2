// The cluster token: a shared secret every worker RPC and every mutating
// API call must present ("authorization: Bearer <token>").
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace gpulse {

// Reads the token from `path` (surrounding whitespace trimmed). Fails with
// NotFound if the file is missing, PermissionDenied if unreadable,
// InvalidArgument if empty.
Result<std::string> ReadToken(const std::string& path);

// Reads the token at `path`, or, if the file does not exist, creates it with
// mode 0600 holding 32 random bytes in hex. Returns the token.
Result<std::string> LoadOrCreateToken(const std::string& path);

// Compares in time independent of where the strings differ.
bool TokensEqual(std::string_view a, std::string_view b);

// "Bearer <token>" -> "<token>"; empty if the header has another form.
std::string_view BearerToken(std::string_view authorization_header);

}  // namespace gpulse
