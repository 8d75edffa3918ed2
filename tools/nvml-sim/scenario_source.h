// ScenarioSource: the scenario currently in force, reloaded from its file
// whenever the file changes.
//
// Thread-safe. Current() never blocks (an atomic shared_ptr). MaybeReload()
// costs one relaxed atomic load until a check is due; then one caller (the
// others carry on) stat()s the file and, when its identity (device, inode,
// size, mtime, ctime) changed, reads and parses it and publishes the result.
// So the file is examined at most once per check interval, and never by a
// caller that finds the check already in progress. A file that cannot be read
// or parsed leaves the last good scenario in force and is reported once
// through the warning callback, until the file changes again.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

struct stat;

#include "common/status.h"
#include "tools/nvml-sim/scenario.h"
#include "tools/nvml-sim/scenario_parser.h"

namespace gpulse::nvml_sim {

struct ScenarioSourceConfig {
  std::string path;  // empty: the built-in DefaultScenario(), never reloaded
  ScenarioParseOptions parse;
  int64_t check_interval_ns = 50'000'000;
  // Receives each warning as one line without newline; when empty, warnings
  // go to stderr prefixed with "gpulse nvml-sim: ".
  std::function<void(const std::string&)> warn;
};

class ScenarioSource {
 public:
  ScenarioSource() = default;
  ScenarioSource(const ScenarioSource&) = delete;
  ScenarioSource& operator=(const ScenarioSource&) = delete;

  // Loads the scenario that `config` names, now. On success it becomes
  // current and later reloads follow `config`. On failure returns a Status
  // saying why ("scenario /x.json: gpus[0].name: expected a string") and
  // changes nothing.
  Status Open(ScenarioSourceConfig config, int64_t now_ns);

  // Re-examines the file if a check is due at `now_ns` (any monotonic
  // nanosecond count; the same base as Open's). Never fails: problems become
  // one warning each.
  void MaybeReload(int64_t now_ns);

  // The scenario in force; null before the first successful Open.
  std::shared_ptr<const Scenario> Current() const { return current_.load(std::memory_order_acquire); }
  // Goes up each time a scenario is published (0: none yet), so callers can
  // cache Current() and refresh only when this changes.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Scenarios published by MaybeReload, and changed files it rejected.
  uint64_t reload_count() const { return reloads_.load(std::memory_order_relaxed); }
  uint64_t rejected_count() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  struct FileIdentity {
    uint64_t device = 0, inode = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
    static FileIdentity Of(const struct stat& st);
  };
  struct LoadedFile {
    FileIdentity identity;
    Result<Scenario> scenario;
  };

  // Reads and parses `path`. Fails (as a Status) only when the file cannot be
  // opened; a parse failure is in the returned scenario.
  Result<LoadedFile> LoadFile(const std::string& path) const;
  void CheckFileLocked();
  void PublishLocked(Scenario scenario);
  void Warn(const std::string& message) const;

  std::mutex mu_;  // serialises Open and reloads
  ScenarioSourceConfig config_;               // guarded by mu_
  std::optional<FileIdentity> seen_;          // guarded by mu_; last file version examined
  bool warned_unreadable_ = false;            // guarded by mu_
  std::atomic<int64_t> next_check_ns_{std::numeric_limits<int64_t>::max()};
  std::atomic<std::shared_ptr<const Scenario>> current_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace gpulse::nvml_sim
