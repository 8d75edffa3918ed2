// The one line an operator runs on a new worker machine to join it to this
// master: `gpulse-worker --join 'gpulse-join://HOST:PORT?ca=sha256:…&token=…'`
// (pki/join_string.h). Printed by `gpulse-master --print-join` and served
// to the admin token by GET /api/join (`gpulse join-command`).
//
// The line holds the cluster token: callers print it to stdout or send it
// to an admin only, and never log it. Stateless and thread-safe.
#pragma once

#include <string>

#include "common/status.h"

namespace gpulse::master {

// The address a worker dials: `listen` (HOST:PORT) with this host's name in
// place of a wildcard (0.0.0.0, ::); `listen` itself when malformed.
std::string AdvertisedAddress(const std::string& listen);

// The join line for a master whose workers' listener is `grpc_listen`,
// whose cluster CA is the PEM file `ca_file` and whose admin (cluster)
// token is in `token_file`. NotFound when the CA file is missing (the
// master never started with this data dir); the token file's or the pin's
// error otherwise, never quoting the token.
Result<std::string> JoinCommandLine(const std::string& grpc_listen, const std::string& ca_file,
                                    const std::string& token_file);

}  // namespace gpulse::master
