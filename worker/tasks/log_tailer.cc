#include "worker/tasks/log_tailer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/posix_error.h"

namespace gpulse::worker {

LogTailer::LogTailer(std::filesystem::path stdout_path, std::filesystem::path stderr_path, uint32_t attempt,
                     uint64_t max_stream_bytes)
    : attempt_(attempt), max_stream_bytes_(max_stream_bytes) {
  stdout_.path = std::move(stdout_path);
  stderr_.path = std::move(stderr_path);
}

Result<OutputChunk> LogTailer::ReadNew(OutputStream stream, size_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  return ReadLocked(TailOf(stream), stream, max_bytes);
}

Result<std::vector<OutputChunk>> LogTailer::ReadNewOutput(size_t max_bytes_per_stream, bool task_ended) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<OutputChunk> chunks;
  for (OutputStream stream : {OutputStream::kStdout, OutputStream::kStderr}) {
    Tail& tail = TailOf(stream);
    const uint64_t offset_before = tail.offset;
    Result<OutputChunk> chunk = ReadLocked(tail, stream, max_bytes_per_stream, task_ended);
    if (!chunk.ok()) {
      // Undo the other stream's read so its bytes come back next time.
      for (const OutputChunk& earlier : chunks) {
        TailOf(earlier.stream).offset = earlier.offset;
        if (earlier.dropped_bytes > 0) TailOf(earlier.stream).dropped_reported = false;
      }
      tail.offset = offset_before;
      return chunk.status();
    }
    if (!chunk->data.empty() || chunk->dropped_bytes > 0) chunks.push_back(std::move(*chunk));
  }
  return chunks;
}

void LogTailer::Rewind(OutputStream stream, uint64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  Tail& tail = TailOf(stream);
  if (offset >= tail.offset) return;
  tail.offset = offset;
  tail.dropped_reported = false;
}

uint64_t LogTailer::offset(OutputStream stream) const {
  std::lock_guard<std::mutex> lock(mu_);
  return stream == OutputStream::kStdout ? stdout_.offset : stderr_.offset;
}

Result<OutputChunk> LogTailer::ReadLocked(Tail& tail, OutputStream stream, size_t max_bytes, bool task_ended) {
  OutputChunk chunk;
  chunk.stream = stream;
  chunk.offset = tail.offset;
  if (tail.dropped_reported) return chunk;  // a capped stream says nothing after its end

  if (!tail.fd.valid()) {
    int fd = ::open(tail.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);  // the task user may own the folder
    if (fd < 0) {
      if (errno == ENOENT) return chunk;  // not created yet: nothing to ship
      return PosixError("open '" + tail.path.string() + "'", errno);
    }
    tail.fd.Reset(fd);
  }

  struct stat info;
  if (::fstat(tail.fd.get(), &info) != 0) return PosixError("stat '" + tail.path.string() + "'", errno);
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  if (size < tail.offset) {
    return FailedPrecondition("'" + tail.path.string() + "' shrank to " + std::to_string(size) +
                              " bytes, below the " + std::to_string(tail.offset) +
                              " already read; was the task restarted?");
  }

  // Never past the cap; the rest of a capped stream is only counted.
  const uint64_t readable = max_stream_bytes_ > 0 ? std::min(size, max_stream_bytes_) : size;
  if (readable <= tail.offset) {
    if (task_ended && max_stream_bytes_ > 0 && size > max_stream_bytes_ && tail.offset == max_stream_bytes_) {
      chunk.dropped_bytes = size - max_stream_bytes_;
      tail.dropped_reported = true;
    }
    return chunk;
  }
  const size_t wanted = static_cast<size_t>(std::min<uint64_t>(max_bytes, readable - tail.offset));
  chunk.data.resize(wanted);
  size_t got = 0;
  while (got < wanted) {
    ssize_t n = ::pread(tail.fd.get(), chunk.data.data() + got, wanted - got,
                        static_cast<off_t>(tail.offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("read '" + tail.path.string() + "'", errno);
    }
    if (n == 0) break;  // truncated under us; the next read reports it
    got += static_cast<size_t>(n);
  }
  chunk.data.resize(got);
  tail.offset += got;
  return chunk;
}

}  // namespace gpulse::worker
