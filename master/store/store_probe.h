// StoreProbe: whether the master can still write its durable state, for
// /healthz. A full disk or a file system gone read-only otherwise shows only
// when the next task is submitted.
//
// Check() writes and syncs a small file (<dir>/.healthz-probe, 4 KiB: a
// page, so that a full tmpfs or ext4 refuses it as it would a database page)
// and removes it, at most once per `min_interval` by the injected clock;
// calls in between return the last result, so probes cost nothing however
// often /healthz is polled.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace gpulse::master {

class StoreProbe {
 public:
  StoreProbe(std::string dir, const Clock& clock, std::chrono::milliseconds min_interval = std::chrono::seconds(5))
      : dir_(std::move(dir)), clock_(clock), min_interval_(min_interval) {}

  // OK when the probe file could be written and synced; otherwise the
  // write's error (kStorageFull for ENOSPC/EDQUOT, kPermissionDenied, ...).
  Status Check();

 private:
  Status Probe() const;

  const std::string dir_;
  const Clock& clock_;
  const std::chrono::milliseconds min_interval_;
  std::mutex mu_;
  std::optional<Clock::TimePoint> last_probe_;  // guarded by mu_
  Status last_ = Status::Ok();                  // guarded by mu_
};

}  // namespace gpulse::master
