// The cluster token: a shared secret every worker RPC and every mutating
// API call must present ("authorization: Bearer <token>").
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace gpulse {

// How strictly a token file is checked when it is read.
enum class TokenFileCheck {
  // Any non-empty token in any readable file: what the daemons accept
  // until the TLS work (issue 9) switches them to kStrict.
  kLenient,
  // Also refuses a file that group or others may read or change, and a
  // token of fewer than 128 bits (EstimatedTokenBits), each with a message
  // that says how to fix it. Error messages never contain the token.
  kStrict,
};

// The smallest token strength kStrict accepts, in bits.
inline constexpr int kMinTokenBits = 128;

// Reads the token from `path` (surrounding spaces, tabs and line ends
// trimmed). Fails with NotFound if the file is missing, PermissionDenied if
// unreadable (or, with kStrict, readable by others), InvalidArgument if
// empty, if it holds a byte outside printable ASCII '!'..'~' (it could not
// be sent in a header), or, with kStrict, if too weak.
Result<std::string> ReadToken(const std::string& path, TokenFileCheck check = TokenFileCheck::kLenient);

// Reads the token at `path`, or, if the file does not exist, creates it with
// mode 0600 holding 32 random bytes in hex (256 bits). Returns the token.
// Any number of token files may be kept this way (e.g. an admin token and
// a read-only one), each with its own random token. An existing file is
// checked as ReadToken checks it.
Result<std::string> LoadOrCreateToken(const std::string& path, TokenFileCheck check = TokenFileCheck::kLenient);

// The strength of `token` estimated from its length and alphabet, as if each
// character were drawn at random: 4 bits a character when all are hex
// digits, 6 otherwise (base64, base64url or other printable text; '='
// padding at the end counts for nothing). An estimate, not a measurement: a
// human-chosen token is weaker than this says.
int EstimatedTokenBits(std::string_view token);

// OK when EstimatedTokenBits(token) >= kMinTokenBits; otherwise
// InvalidArgument naming `path` and how to make a strong token, never
// quoting the token.
Status CheckTokenStrength(std::string_view token, const std::string& path);

// Compares in time independent of where the strings differ.
bool TokensEqual(std::string_view a, std::string_view b);

// "Bearer <token>" -> "<token>"; empty if the header has another form.
std::string_view BearerToken(std::string_view authorization_header);

}  // namespace gpulse
