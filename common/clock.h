// Clock: the source of time for everything that times out or expires.
//
// Liveness, backoff and history code take a Clock& so tests can drive time
// by hand (ManualClock) instead of sleeping. SystemClock is thread-safe;
// ManualClock is thread-safe too (its time is an atomic).
#pragma once

#include <atomic>
#include <chrono>

namespace gpulse {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  // Monotonic time, for deadlines and intervals.
  virtual TimePoint Now() const = 0;
  // Wall-clock time, for timestamps shown to users.
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
  // A process-wide instance for production wiring.
  static SystemClock& Instance() {
    static SystemClock clock;
    return clock;
  }
};

// A clock that moves only when told to. Starts at an arbitrary fixed point.
class ManualClock final : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(Duration(ticks_.load())); }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(Duration(ticks_.load())));
  }
  void Advance(Duration d) { ticks_ += d.count(); }

 private:
  std::atomic<Duration::rep> ticks_{Duration(std::chrono::hours(1000)).count()};
};

}  // namespace gpulse
