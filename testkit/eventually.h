// Eventually: waits for a condition that nothing signals (another process's
// files, a daemon's HTTP answer) by polling it until a deadline. Never a
// fixed sleep: it returns as soon as the condition holds. For tests only.
#pragma once

#include <chrono>
#include <thread>

namespace gpulse::testkit {

// Polls `condition` every `period` until it returns true (then true) or
// `timeout` passes (then false).
template <typename Condition>
bool Eventually(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                std::chrono::milliseconds period = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(period);
  }
  return true;
}

}  // namespace gpulse::testkit
