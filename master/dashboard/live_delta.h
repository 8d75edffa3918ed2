// LiveDelta: what one /api/events stream has sent so far, and the next event
// for it — the whole snapshot the first time, then only what changed since
// the last event: for each worker and task whose JSON differs (keyed by id)
// a patch of the values that changed, or the whole object when it is new or
// lost a key; the ids that left; the summary's changed values.
//
// A patch is an object of the changed keys; a nested object is patched the
// same way, an array of unchanged length as an object of the changed
// positions ({"3": {...}}); anything else is the new value whole. So a
// heartbeat that moves one GPU's utilization costs that one figure, the
// heartbeat time and count: about 100 bytes, not the worker's 4 KB.
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

// Writes to `patch` what turns `before` into `after`, as above; false when
// a patch cannot say it (a key left, an array became an object) and the
// whole `after` must be sent instead.
bool MakePatch(const nlohmann::json& before, const nlohmann::json& after, nlohmann::json& patch);

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
  uint64_t tasks_total_ = 0;
  nlohmann::json summary_json_;
  std::map<std::string, nlohmann::json> workers_;  // id -> its JSON as sent
  std::map<std::string, nlohmann::json> tasks_;    // id -> its JSON as sent
};

}  // namespace gpulse::master
