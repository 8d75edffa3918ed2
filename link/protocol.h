// The worker link's protocol version, and which workers a master accepts.
//
// A master accepts workers that speak its version or the one before it, so
// the documented upgrade order — the master first, then the workers one at a
// time — never leaves a worker refused. A worker newer than its master, or
// more than one version older, is refused at registration with a message
// that says which side to upgrade. Registrations from workers that predate
// the version field carry 0, which is version 1.
//
// Bump kProtocolVersion when a message changes meaning (not when a field is
// added that an older peer may ignore), and keep the master able to serve the
// version before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace gpulse::link {

inline constexpr uint32_t kProtocolVersion = 1;

// At most this many task updates travel in one Register; a master refuses
// a registration with more. A worker with more unacknowledged updates sends
// the oldest this many in its Register and the rest afterwards, one by one.
inline constexpr size_t kMaxTaskUpdatesPerRegister = 4096;

// What a registration's protocol_version field means.
inline uint32_t SpokenVersion(uint32_t field) { return field == 0 ? 1 : field; }

// OK if a master speaking `master_version` serves a worker whose registration
// said `worker_field`; FailedPrecondition naming both versions and what to
// upgrade otherwise.
inline Status CheckWorkerProtocol(uint32_t worker_field, uint32_t master_version = kProtocolVersion) {
  const uint32_t worker = SpokenVersion(worker_field);
  const std::string versions =
      " (worker protocol " + std::to_string(worker) + ", master protocol " + std::to_string(master_version) + ")";
  if (worker > master_version) {
    return FailedPrecondition("this worker is newer than the master: upgrade the master first" + versions);
  }
  if (worker + 1 < master_version) {
    return FailedPrecondition("this worker is too old for the master: upgrade the worker" + versions);
  }
  return Status::Ok();
}

}  // namespace gpulse::link
