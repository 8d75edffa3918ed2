// LogStore: the master's copy of every task's stdout and stderr, shipped by
// workers in LogChunks and kept as files under <data-dir>/logs/.
//
// Thread-safe. Chunks may repeat after a reconnect: bytes already stored
// (by offset) are skipped, so a log is never duplicated.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace gpulse::master {

enum class LogStream { kStdout, kStderr };

class LogStore {
 public:
  // Creates `dir` if needed.
  static Result<std::unique_ptr<LogStore>> Open(const std::string& dir);

  // Stores `data`, which starts at byte `offset` of the stream. Bytes before
  // the current end are skipped; a gap (offset past the end) is filled with
  // nothing and noted in the log.
  Status Append(const std::string& task_id, LogStream stream, uint64_t offset, const std::string& data);

  struct Slice {
    std::string data;
    uint64_t next_offset = 0;  // where the next read should start
  };
  // Up to `max_bytes` from `offset`. An unknown task reads as empty.
  Result<Slice> Read(const std::string& task_id, LogStream stream, uint64_t offset, size_t max_bytes) const;

 private:
  explicit LogStore(std::string dir) : dir_(std::move(dir)) {}
  std::string PathFor(const std::string& task_id, LogStream stream) const;

  std::string dir_;
  mutable std::mutex mu_;  // serialises appends to one file at a time
};

}  // namespace gpulse::master
