// LiveDelta: what one /api/events stream has sent so far, and the next event
// for it — the whole snapshot the first time, then only what changed since
// the last event: the workers and tasks whose JSON differs (keyed by id),
// those that left, and the summary when it moved.
//
// A delta names the version it applies to (`base`) and the one it brings
// (`version`); a client whose copy is not at `base` (it missed an event)
// drops the stream and starts again from a fresh snapshot. On one stream
// nothing is missed (TCP keeps order), so `base` only guards clients that
// mix up streams.
//
// Not thread-safe: one per stream, used by the thread that writes it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace gpulse::master {

struct LiveEvent {
  std::string name;     // "snapshot" or "delta"
  nlohmann::json data;  // what follows `data:`
};

class LiveDelta {
 public:
  // `snapshot` is DashboardRoutes::Snapshot()'s JSON. The first call returns
  // it as a "snapshot" event; later calls return a "delta" against what was
  // sent before, or nullopt when nothing but the clock (`now`) changed.
  std::optional<LiveEvent> Next(const nlohmann::json& snapshot);

 private:
  bool started_ = false;
  uint64_t version_ = 0;
  std::string summary_;
  uint64_t tasks_total_ = 0;
  std::map<std::string, std::string> workers_;  // id -> its JSON as sent
  std::map<std::string, std::string> tasks_;    // id -> its JSON as sent
};

}  // namespace gpulse::master
