#include "master/store/log_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string_view>

#include "common/private_file.h"
#include "common/posix_error.h"
#include "common/unique_fd.h"

namespace gpulse::master {
namespace {

// Only ids that name one file inside the log directory (no '/', no "..").
bool SafeTaskId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

const char* StreamSuffix(LogStream stream) { return stream == LogStream::kStdout ? "stdout" : "stderr"; }

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// The size of `path`; 0 when it does not exist yet.
Result<uint64_t> StoredSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return static_cast<uint64_t>(st.st_size);
  if (errno == ENOENT) return uint64_t{0};
  return PosixError("stat '" + path + "'", errno);
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PosixError("write '" + path + "'", errno);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status AppendToFile(const std::string& path, std::string_view bytes) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return PosixError("open '" + path + "'", errno);
  return WriteAll(fd.get(), bytes, path);
}

// How far the worker's stream offsets run ahead of the stored file's
// offsets (negative when notes took more bytes than were lost); 0 until a
// gap is noted.
Result<int64_t> ReadShift(const std::string& shift_path) {
  UniqueFd fd(::open(shift_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return int64_t{0};
    return PosixError("open '" + shift_path + "'", errno);
  }
  char text[32];
  ssize_t n;
  do {
    n = ::read(fd.get(), text, sizeof text);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return PosixError("read '" + shift_path + "'", errno);
  int64_t shift = 0;
  auto [end, ec] = std::from_chars(text, text + n, shift);
  if (ec != std::errc() || (end != text + n && *end != '\n')) {
    return Internal("'" + shift_path + "' does not hold an offset difference");
  }
  return shift;
}

// Replaces the shift file whole (write a sibling, rename it over).
Status WriteShift(const std::string& shift_path, int64_t shift) {
  const std::string temp = shift_path + ".tmp";
  {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return PosixError("open '" + temp + "'", errno);
    RETURN_IF_ERROR(WriteAll(fd.get(), std::to_string(shift) + "\n", temp));
  }
  if (::rename(temp.c_str(), shift_path.c_str()) != 0) return PosixError("rename '" + temp + "'", errno);
  return Status::Ok();
}

std::string GapNote(uint64_t lost_bytes) {
  std::string note = "\n[gpulse: ";
  note += std::to_string(lost_bytes);
  note += " bytes of output were lost here]\n";
  return note;
}

// The count of dropped stream bytes in a .dropped file; 0 when there is none.
Result<uint64_t> ReadDropped(const std::string& dropped_path) {
  std::ifstream in(dropped_path);
  if (!in) return uint64_t{0};
  uint64_t dropped = 0;
  if (!(in >> dropped)) return Internal("'" + dropped_path + "' does not hold a byte count");
  return dropped;
}

}  // namespace

std::string LogStore::DroppedMarker(uint64_t dropped_bytes) {
  return "\n[gpulse: " + std::to_string(dropped_bytes) + " bytes of output dropped: over the output cap]\n";
}

Result<std::unique_ptr<LogStore>> LogStore::Open(const std::string& dir, uint64_t max_stream_bytes) {
  // Task output may hold anything a task printed: only the master's user
  // reads it (folders 0700, files 0600).
  if (Status s = EnsurePrivateDir(dir); !s.ok()) {
    return Unavailable("cannot create log directory " + dir + ": " + s.message());
  }
  return std::unique_ptr<LogStore>(new LogStore(dir, max_stream_bytes));
}

std::string LogStore::PathFor(const std::string& task_id, uint32_t attempt, LogStream stream) const {
  std::string path = dir_ + "/" + task_id + "/" + std::to_string(attempt) + "." + StreamSuffix(stream);
  if (attempt == 1 && !Exists(path)) {
    std::string before_attempts = dir_ + "/" + task_id + "." + StreamSuffix(stream);
    if (Exists(before_attempts)) return before_attempts;
  }
  return path;
}

Status LogStore::Append(const std::string& task_id, uint32_t attempt, LogStream stream, uint64_t offset,
                        const std::string& data, uint64_t dropped_after) {
  if (!SafeTaskId(task_id)) return InvalidArgument("bad task id in log chunk");
  if (attempt == 0) attempt = 1;
  std::lock_guard lock(mu_);
  const std::string task_dir = dir_ + "/" + task_id;
  if (::mkdir(task_dir.c_str(), 0700) != 0 && errno != EEXIST) return PosixError("mkdir '" + task_dir + "'", errno);
  const std::string path = PathFor(task_id, attempt, stream);
  const std::string shift_path = path + ".shift";
  const std::string dropped_path = path + ".dropped";

  ASSIGN_OR_RETURN(uint64_t stored, StoredSize(path));
  ASSIGN_OR_RETURN(int64_t shift, ReadShift(shift_path));
  ASSIGN_OR_RETURN(uint64_t dropped, ReadDropped(dropped_path));
  const uint64_t marker_size = dropped > 0 ? DroppedMarker(dropped).size() : 0;
  if (stored < marker_size) return Internal("'" + dropped_path + "' does not match '" + path + "'");
  const uint64_t content_end = stored - marker_size;  // the file without its marker
  const int64_t expected_signed = static_cast<int64_t>(content_end) + shift + static_cast<int64_t>(dropped);
  if (expected_signed < 0) return Internal("'" + shift_path + "' does not match '" + path + "'");
  const uint64_t expected = static_cast<uint64_t>(expected_signed);

  const uint64_t end = offset + data.size() + dropped_after;
  if (end <= expected) return Status::Ok();  // stored already
  const uint64_t lost = offset > expected ? offset - expected : 0;
  const uint64_t from = std::max(offset, expected);  // where the new part of the stream starts
  const std::string_view fresh =
      from - offset < data.size() ? std::string_view(data).substr(static_cast<size_t>(from - offset))
                                  : std::string_view();
  const uint64_t fresh_dropped = end - from - fresh.size();  // of the worker's dropped_after
  const uint64_t room = max_stream_bytes_ == 0 ? UINT64_MAX
                        : content_end < max_stream_bytes_ ? max_stream_bytes_ - content_end : 0;
  const std::string note = lost > 0 ? GapNote(lost) : std::string();

  if (dropped == 0 && fresh_dropped == 0 && note.size() + fresh.size() <= room) {
    if (lost == 0) return AppendToFile(path, fresh);
    // A gap: note it, store the chunk, and remember that the note is no
    // part of the worker's stream.
    RETURN_IF_ERROR(AppendToFile(path, note + std::string(fresh)));
    return WriteShift(shift_path, shift + static_cast<int64_t>(lost) - static_cast<int64_t>(note.size()));
  }
  // Over the cap (or the worker dropped bytes): keep what fits while nothing
  // was dropped yet and there is no gap, count the rest, and keep one marker
  // at the end of the file saying how much was dropped in all.
  const uint64_t kept = dropped == 0 && lost == 0 ? std::min<uint64_t>(fresh.size(), room) : 0;
  const uint64_t now_dropped = dropped + lost + (fresh.size() - kept) + fresh_dropped;
  if (marker_size > 0 && ::truncate(path.c_str(), static_cast<off_t>(content_end)) != 0) {
    return PosixError("truncate '" + path + "'", errno);
  }
  RETURN_IF_ERROR(AppendToFile(path, std::string(fresh.substr(0, static_cast<size_t>(kept))) +
                                         DroppedMarker(now_dropped)));
  const std::string temp = dropped_path + ".tmp";
  {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return PosixError("open '" + temp + "'", errno);
    RETURN_IF_ERROR(WriteAll(fd.get(), std::to_string(now_dropped) + "\n", temp));
  }
  if (::rename(temp.c_str(), dropped_path.c_str()) != 0) return PosixError("rename '" + temp + "'", errno);
  return Status::Ok();
}

Result<uint64_t> LogStore::NextStreamOffset(const std::string& task_id, uint32_t attempt, LogStream stream) {
  if (!SafeTaskId(task_id)) return InvalidArgument("bad task id");
  if (attempt == 0) attempt = 1;
  std::lock_guard lock(mu_);
  const std::string path = PathFor(task_id, attempt, stream);
  ASSIGN_OR_RETURN(uint64_t stored, StoredSize(path));
  ASSIGN_OR_RETURN(int64_t shift, ReadShift(path + ".shift"));
  ASSIGN_OR_RETURN(uint64_t dropped, ReadDropped(path + ".dropped"));
  const uint64_t marker_size = dropped > 0 ? DroppedMarker(dropped).size() : 0;
  if (stored < marker_size) return Internal("'" + path + ".dropped' does not match '" + path + "'");
  const int64_t expected = static_cast<int64_t>(stored - marker_size) + shift + static_cast<int64_t>(dropped);
  if (expected < 0) return Internal("'" + path + ".shift' does not match '" + path + "'");
  return static_cast<uint64_t>(expected);
}

Result<LogStore::Slice> LogStore::Read(const std::string& task_id, uint32_t attempt, LogStream stream,
                                       uint64_t offset, size_t max_bytes) const {
  if (!SafeTaskId(task_id)) return InvalidArgument("bad task id");
  if (attempt == 0) return InvalidArgument("attempts count from 1");
  Slice slice;
  slice.next_offset = offset;
  std::ifstream in(PathFor(task_id, attempt, stream), std::ios::binary);
  if (!in) return slice;
  in.seekg(0, std::ios::end);
  uint64_t size = static_cast<uint64_t>(in.tellg());
  if (offset >= size) {
    slice.next_offset = std::max(offset, size);
    return slice;
  }
  size_t n = static_cast<size_t>(std::min<uint64_t>(size - offset, max_bytes));
  slice.data.resize(n);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(slice.data.data(), static_cast<std::streamsize>(n));
  slice.data.resize(static_cast<size_t>(in.gcount()));
  slice.next_offset = offset + slice.data.size();
  return slice;
}

}  // namespace gpulse::master
