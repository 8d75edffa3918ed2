#include "master/store/log_store.h"

#include "common/posix_error.h"
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

namespace gpulse::master {
namespace {

bool SafeTaskId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<LogStore>> LogStore::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create log directory " + dir + ": " + ec.message());
  return std::unique_ptr<LogStore>(new LogStore(dir));
}

std::string LogStore::PathFor(const std::string& task_id, LogStream stream) const {
  return dir_ + "/" + task_id + (stream == LogStream::kStdout ? ".stdout" : ".stderr");
}

Status LogStore::Append(const std::string& task_id, LogStream stream, uint64_t offset, const std::string& data) {
  if (!SafeTaskId(task_id)) return InvalidArgument("bad task id in log chunk");
  std::lock_guard lock(mu_);
  std::string path = PathFor(task_id, stream);
  struct stat st {};
  uint64_t size = ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  uint64_t end = offset + data.size();
  if (end <= size) return Status::Ok();  // already stored
  std::ofstream out(path, std::ios::binary | std::ios::app);
  if (!out) return Unavailable("cannot write " + path + ": " + ErrnoText(errno));
  if (offset > size) {
    out << "\n[gpulse: " << (offset - size) << " bytes of output were lost here]\n";
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  } else {
    size_t skip = static_cast<size_t>(size - offset);
    out.write(data.data() + skip, static_cast<std::streamsize>(data.size() - skip));
  }
  return out ? Status::Ok() : Unavailable("cannot write " + path);
}

Result<LogStore::Slice> LogStore::Read(const std::string& task_id, LogStream stream, uint64_t offset,
                                       size_t max_bytes) const {
  if (!SafeTaskId(task_id)) return InvalidArgument("bad task id");
  Slice slice;
  slice.next_offset = offset;
  std::ifstream in(PathFor(task_id, stream), std::ios::binary);
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
