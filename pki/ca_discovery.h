// FetchPinnedCa: how a worker that was given only the cluster CA's pin
// (--ca-pin, or the pin in a join string) learns the CA itself, before it
// trusts the master with anything (the kubeadm
// `--discovery-token-ca-cert-hash` flow, without a bootstrap token).
//
// It opens one TLS connection to the master, accepts whatever chain the
// master presents *only for the length of the handshake*, and then checks
// it: some certificate in the chain must be a CA whose pin is `pin`, and
// the master's own certificate must chain to that CA for serverAuth. The
// connection is then closed without a byte of application data: nothing
// secret (no token, no request) is ever written on it. The caller then
// dials the real connection with the returned CA as its only root, which
// also checks the server's name.
//
// Why two connections: gRPC's channel credentials verify a peer against
// root certificates fixed before the handshake, and gRPC 1.51 has no hook
// to compare a pin during its handshake. Fetching first costs one extra
// handshake per worker start (not per heartbeat) and keeps the secret-
// bearing channel on gRPC's ordinary, fully verified TLS.
//
// Stateless and thread-safe; blocks for at most about `timeout`.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gpulse::pki {

// The PEM of the CA with pin `pin` that issued the certificate of the TLS
// server at `address` ("host:port", "[v6]:port").
//   - InvalidArgument: a malformed address or pin;
//   - Unavailable: the master cannot be reached, or the TLS handshake fails
//     (retry: it may be starting);
//   - PermissionDenied: the master presents no CA with this pin, or its
//     certificate was not issued by that CA (a different master, or a
//     man in the middle: retrying will not help). The message gives the
//     pins it saw (pins are not secret).
Result<std::string> FetchPinnedCa(const std::string& address, std::string_view pin,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace gpulse::pki
