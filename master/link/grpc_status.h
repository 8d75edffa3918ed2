// The one translation of our Status into the gRPC status a worker's stream
// ends with. Codes map one to one (kUnavailable -> UNAVAILABLE, which a
// worker retries; kInvalidArgument -> INVALID_ARGUMENT, which it should not
// expect to succeed unchanged); the message is kept as it is.
// Free function; thread-safe.
#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace gpulse::master {

grpc::Status ToGrpcStatus(const Status& status);

}  // namespace gpulse::master
