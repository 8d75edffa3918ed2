// AltName: one name a server certificate is valid for — a DNS name or an IP
// address, as an operator gives it with --tls-san and as a certificate's
// subjectAltName lists it.
//
// Plain value type; thread-safe like any value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gpulse::pki {

struct AltName {
  enum class Kind { kDns, kIp };
  Kind kind = Kind::kDns;
  // DNS names in lower case; addresses in canonical text ("::1", not "0::1").
  std::string value;

  // "DNS:localhost" or "IP:127.0.0.1", as AltNamesOf and openssl print them.
  std::string ToString() const;
  friend bool operator==(const AltName&, const AltName&) = default;
};

// "10.0.0.7", "fd00::1", "[fd00::1]" -> an IP entry; "gpu-master.lab" -> a
// DNS entry (lower-cased). InvalidArgument for anything else: empty, longer
// than 253 characters, a label that is empty, longer than 63 characters,
// starts or ends with '-', or holds a character other than letters,
// digits, '-' and '_' (wildcards are not issued).
Result<AltName> ParseAltName(std::string_view text);

// The names a master's server certificate carries: localhost, 127.0.0.1,
// ::1, `hostname` (when it is a valid DNS name: a machine's odd hostname
// must not stop the master), then each of `extra` — in that order, without
// duplicates. InvalidArgument naming the first bad entry of `extra`.
Result<std::vector<AltName>> ServerAltNames(std::string_view hostname, const std::vector<std::string>& extra);

}  // namespace gpulse::pki
