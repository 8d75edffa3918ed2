// LogStore: the master's copy of the stdout and stderr of every attempt of
// every task, shipped by workers in LogChunks and kept as files:
//
//   <dir>/<task_id>/<attempt>.stdout   (and .stderr)   the output as stored
//   <dir>/<task_id>/<attempt>.stdout.shift             only once a gap was noted
//
// Attempts are kept apart: a retried task's output is stored beside, never
// over, its earlier attempts'. Attempts count from 1, as Task::attempts does.
//
// Two kinds of offsets. Append takes the worker's offset in the attempt's
// stream; Read takes and returns offsets in the stored file. They are the
// same until bytes are lost: when a chunk starts past the next expected
// stream offset, the store writes a note ("[gpulse: N bytes of output were
// lost here]") and then the chunk. The note takes file bytes but no stream
// bytes, so the store keeps the difference (the .shift file, written only
// on a gap) and goes on expecting the worker's next stream offset. A chunk
// that ends at or before the expected offset was stored already (workers
// may repeat chunks after a reconnect) and is skipped; one that overlaps it
// is stored from the expected offset on. A log is never duplicated.
//
// Each stream of each attempt is capped at `max_stream_bytes` stored bytes
// (0: no cap; the master's --max-task-log). Past the cap the store keeps no
// more output; it counts the stream bytes it drops (the .dropped file) and
// keeps one marker line, DroppedMarker(total), at the end of the file,
// rewritten as the total grows. Bytes a worker dropped under its own cap
// (Append's `dropped_after`) are counted and marked the same way. The
// marker never counts against the cap. A stream that dropped bytes stores
// nothing more, not even after a gap.
//
// Logs written before attempts were kept (<dir>/<task_id>.stdout) are read
// and appended to as attempt 1 of their task, while the task has no
// <dir>/<task_id>/1.stdout.
//
// Failures: file system errors come back as Status (kUnavailable when the
// log directory cannot be made, otherwise PosixError's codes); a task id
// that could escape the directory is refused with kInvalidArgument. If the
// master dies between storing a gap's note and its .shift file, the next
// chunk after a restart may be taken for a further gap or partly skipped;
// nothing else is lost.
//
// Thread-safe: appends and reads may come from any thread; appends are
// serialised by one mutex.
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
  // 100 MiB per stream of each attempt, the master's default.
  static constexpr uint64_t kDefaultMaxStreamBytes = uint64_t{100} << 20;

  // Opens the store at `dir`, creating the folder if needed. Streams are
  // capped at `max_stream_bytes` (0: no cap).
  static Result<std::unique_ptr<LogStore>> Open(const std::string& dir,
                                                uint64_t max_stream_bytes = kDefaultMaxStreamBytes);

  // The line that ends a stream from which `dropped_bytes` were dropped:
  // "\n[gpulse: N bytes of output dropped: over the output cap]\n".
  static std::string DroppedMarker(uint64_t dropped_bytes);

  // Stores `data`, which starts at the worker's stream offset `offset` of
  // `attempt`'s `stream`, as described above. `attempt` 0 means attempt 1:
  // workers older than LogChunk.attempt send none, and they ship only their
  // first attempt's output correctly. On failure the chunk may be stored in
  // part or not at all; what is missing shows as a gap before the next one.
  // `dropped_after` stream bytes that follow `data` were dropped by the
  // worker (LogChunk.dropped_bytes): counted and marked, never stored.
  Status Append(const std::string& task_id, uint32_t attempt, LogStream stream, uint64_t offset,
                const std::string& data, uint64_t dropped_after = 0);

  // The worker's stream offset the next Append of `attempt`'s `stream`
  // should start at: everything before it is stored (or counted as
  // dropped, or noted as lost). 0 for a stream with nothing stored yet.
  // Reads only (works on a full disk). kInvalidArgument for a bad task id;
  // a file system error as PosixError's codes.
  Result<uint64_t> NextStreamOffset(const std::string& task_id, uint32_t attempt, LogStream stream);

  struct Slice {
    std::string data;
    uint64_t next_offset = 0;  // the file offset the next read should start at
  };
  // Up to `max_bytes` of the stored file from file offset `offset`. An
  // attempt with no output yet reads as empty. kInvalidArgument for a bad
  // task id or attempt 0.
  Result<Slice> Read(const std::string& task_id, uint32_t attempt, LogStream stream, uint64_t offset,
                     size_t max_bytes) const;

 private:
  LogStore(std::string dir, uint64_t max_stream_bytes) : dir_(std::move(dir)), max_stream_bytes_(max_stream_bytes) {}
  // The file holding `attempt`'s `stream` (the pre-attempt file for attempt
  // 1 where that is the one in use).
  std::string PathFor(const std::string& task_id, uint32_t attempt, LogStream stream) const;

  const std::string dir_;
  const uint64_t max_stream_bytes_;
  std::mutex mu_;  // serialises appends, so each file has one writer at a time
};

}  // namespace gpulse::master
