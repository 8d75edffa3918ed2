// LogTailer: reads a task attempt's stdout.log and stderr.log a piece at a
// time, so the worker can ship new output in bounded chunks.
//
// Each stream has its own offset: every read returns the bytes that follow
// the previous read, at most `max_bytes` of them, so one chatty task cannot
// flood the worker's stream to the master. Output is read from the files, so
// nothing is lost when the task has exited: keep reading until a read
// returns no bytes (see TaskRunner for when that is complete).
//
// One LogTailer per attempt, which it is told so that its chunks can say whose
// output they are: a new attempt truncates the files, and a tailer whose file
// shrank below its offset reports kFailedPrecondition rather than re-sending
// bytes at offsets already shipped.
//
// A tailer may cap each stream at `max_stream_bytes` (the worker's
// --max-task-output; 0: no cap): it never returns bytes past the cap, and
// once the task has ended (ReadNewOutput(..., task_ended=true)) it returns,
// once per capped stream, an empty chunk at the cap whose dropped_bytes says
// how many bytes past it the file holds. The master turns that into one
// marker line in the log. The file itself is the task's and is not cut.
//
// Thread-safe: calls are serialised by an internal mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/tasks/task_paths.h"
#include "common/unique_fd.h"

namespace gpulse::worker {

enum class OutputStream { kStdout, kStderr };

struct OutputChunk {
  OutputStream stream = OutputStream::kStdout;
  uint64_t offset = 0;  // where `data` starts in the stream
  std::string data;     // raw bytes; empty when there is nothing new
  // Bytes of the stream after `data` that were dropped under the cap (only
  // in the last chunk of a capped stream of an ended task).
  uint64_t dropped_bytes = 0;
};

class LogTailer {
 public:
  static constexpr size_t kDefaultMaxChunkBytes = 64 * 1024;

  LogTailer(std::filesystem::path stdout_path, std::filesystem::path stderr_path, uint32_t attempt,
            uint64_t max_stream_bytes = 0);
  LogTailer(const TaskPaths& paths, uint32_t attempt, uint64_t max_stream_bytes = 0)
      : LogTailer(paths.stdout_log, paths.stderr_log, attempt, max_stream_bytes) {}

  LogTailer(const LogTailer&) = delete;
  LogTailer& operator=(const LogTailer&) = delete;

  // Returns the next at most `max_bytes` bytes of `stream` and advances its
  // offset past them. A file that does not exist yet reads as empty. On
  // failure (the file cannot be opened or read, or it shrank) returns the
  // error and leaves the offset where it was.
  Result<OutputChunk> ReadNew(OutputStream stream, size_t max_bytes = kDefaultMaxChunkBytes);

  // Reads both streams once, as ReadNew does, and returns the non-empty
  // chunks (stdout first; a chunk with dropped_bytes counts as non-empty).
  // `task_ended`: the files are complete, so a capped stream that has been
  // read up to its cap returns its dropped count (see above). Fails if
  // either read fails; the other stream's bytes are then still returned by
  // the next call.
  Result<std::vector<OutputChunk>> ReadNewOutput(size_t max_bytes_per_stream = kDefaultMaxChunkBytes,
                                                 bool task_ended = false);

  // Makes the next read of `stream` start at `offset` again when that is
  // before where it is now (the master did not store what followed; a
  // capped stream's end is then returned again); otherwise does nothing.
  void Rewind(OutputStream stream, uint64_t offset);

  // How many bytes of `stream` have been returned so far.
  uint64_t offset(OutputStream stream) const;

  // The attempt whose output this tailer reads.
  uint32_t attempt() const { return attempt_; }

 private:
  struct Tail {
    std::filesystem::path path;
    UniqueFd fd;          // opened on the first read that finds the file
    uint64_t offset = 0;
    bool dropped_reported = false;  // the capped stream's end was returned
  };

  Result<OutputChunk> ReadLocked(Tail& tail, OutputStream stream, size_t max_bytes, bool task_ended = false);
  Tail& TailOf(OutputStream stream) { return stream == OutputStream::kStdout ? stdout_ : stderr_; }

  const uint32_t attempt_;
  const uint64_t max_stream_bytes_;
  mutable std::mutex mu_;
  Tail stdout_;  // guarded by mu_
  Tail stderr_;  // guarded by mu_
};

}  // namespace gpulse::worker
