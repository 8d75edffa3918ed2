#include "common/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "common/posix_error.h"
#include "common/unique_fd.h"

namespace gpulse {
namespace {

constexpr mode_t kGroupOrOthers = 077;

std::string Octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

Status CheckMode(const struct stat& st, const std::string& path, std::string_view what) {
  if ((st.st_mode & kGroupOrOthers) == 0) return Status::Ok();
  return PermissionDenied(std::string(what) + " " + path + " may be read or changed by other users (mode " +
                          Octal(st.st_mode) + "); make it private with: chmod 600 " + path);
}

std::string ParentOf(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PosixError("write '" + path + "'", errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Status RequireOwnerOnly(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return PosixError(std::string(what) + " " + path, errno);
  return CheckMode(st, path, what);
}

Result<std::string> ReadOwnerOnlyFile(const std::string& path, std::string_view what, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return PosixError("cannot open " + std::string(what) + " " + path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return PosixError("cannot stat " + std::string(what) + " " + path, errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument(std::string(what) + " " + path + " is not a regular file");
  RETURN_IF_ERROR(CheckMode(st, path, what));
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return InvalidArgument(std::string(what) + " " + path + " is " + std::to_string(st.st_size) +
                           " bytes, more than the " + std::to_string(max_bytes) + " such a file can be");
  }
  std::string data;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PosixError("cannot read " + std::string(what) + " " + path, errno);
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > max_bytes) return InvalidArgument(std::string(what) + " " + path + " grew while being read");
  }
  return data;
}

Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode) {
  std::string temp = path + ".tmp-XXXXXX";
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd.valid()) return PosixError("cannot create a temporary file beside '" + path + "'", errno);
  Status status = ::fchmod(fd.get(), mode) == 0 ? Status::Ok() : PosixError("chmod '" + temp + "'", errno);
  if (status.ok()) status = WriteAll(fd.get(), data, temp);
  if (status.ok() && ::fsync(fd.get()) != 0) status = PosixError("fsync '" + temp + "'", errno);
  fd.Reset();
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) status = PosixError("rename to '" + path + "'", errno);
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  // The rename is durable once the folder's entry is.
  UniqueFd dir(::open(ParentOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());
  return Status::Ok();
}

Status EnsurePrivateDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::path folder(path);
  if (folder.has_parent_path()) {
    std::filesystem::create_directories(folder.parent_path(), ec);
    if (ec) return PosixError("cannot create folder '" + folder.parent_path().string() + "'", ec.value());
  }
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return PosixError("cannot create folder '" + path + "'", errno);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return PosixError("stat '" + path + "'", errno);
  if (!S_ISDIR(st.st_mode)) return FailedPrecondition("'" + path + "' exists and is not a folder");
  if ((st.st_mode & 0777) != 0700 && ::chmod(path.c_str(), 0700) != 0) {
    return PosixError("cannot make folder '" + path + "' private (chmod 700)", errno);
  }
  return Status::Ok();
}

}  // namespace gpulse
