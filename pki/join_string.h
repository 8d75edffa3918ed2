// The join string: everything a new worker needs to join a cluster, in one
// line an operator pastes (as `kubeadm join` takes an address, a token and
// the CA's hash):
//
//   gpulse-join://<host>:<port>?ca=sha256:<64 hex digits>&token=<token>
//
// <host> is a DNS name, an IPv4 address or a bracketed IPv6 address; the
// pin is CaPin of the cluster CA (the worker fetches the CA and trusts it
// only if it has this pin, before it sends the token); the token is
// percent-encoded where needed (FormatJoinString does it), so any token
// fits. The parameters may come in either order; nothing else is allowed.
//
// The token is a secret: no error message ever contains it, nor any part of
// the query, where it might be.
//
// Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace gpulse::pki {

inline constexpr std::string_view kJoinScheme = "gpulse-join://";
// Longer strings are refused before they are read.
inline constexpr size_t kMaxJoinStringBytes = 4096;

struct JoinString {
  std::string master;  // "host:port", "[v6]:port"
  std::string ca_pin;  // "sha256:<hex>", canonical (NormalizeCaPin)
  std::string token;   // decoded

  friend bool operator==(const JoinString&, const JoinString&) = default;
};

// The one-line form of `join`. InvalidArgument when a field is not valid
// (the same checks ParseJoinString makes; never quoting the token).
Result<std::string> FormatJoinString(const JoinString& join);

// Reads a join string (surrounding whitespace, e.g. a pasted newline, is
// ignored). InvalidArgument, saying what is wrong and what was expected,
// for anything but the form above: another scheme, a missing or bad
// address or port (1-65535), a user part, path or fragment, a missing,
// repeated or unknown parameter, a malformed pin, an empty or badly
// percent-encoded token, or more than kMaxJoinStringBytes.
Result<JoinString> ParseJoinString(std::string_view text);

}  // namespace gpulse::pki
