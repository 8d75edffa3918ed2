#include "common/token.h"

#include "common/posix_error.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace gpulse {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

Result<std::string> RandomHex(size_t bytes) {
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Internal(std::string("cannot open /dev/urandom: ") + ErrnoText(errno));
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::read(fd, raw.data() + got, bytes - got);
    if (n <= 0) {
      ::close(fd);
      return Internal("cannot read /dev/urandom");
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

}  // namespace

Result<std::string> ReadToken(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0) return NotFound("token file " + path + " does not exist");
  std::ifstream in(path);
  if (!in) return PermissionDenied("cannot read token file " + path + ": " + ErrnoText(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = Trim(ss.str());
  if (token.empty()) return InvalidArgument("token file " + path + " is empty");
  return token;
}

Result<std::string> LoadOrCreateToken(const std::string& path) {
  auto existing = ReadToken(path);
  if (existing.ok() || existing.status().code() != StatusCode::kNotFound) return existing;
  ASSIGN_OR_RETURN(std::string token, RandomHex(32));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return ReadToken(path);  // another process won the race
    return PermissionDenied("cannot create token file " + path + ": " + ErrnoText(errno));
  }
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = (::fsync(fd) == 0) && ok;
  ::close(fd);
  if (!ok) return Internal("cannot write token file " + path);
  return token;
}

bool TokensEqual(std::string_view a, std::string_view b) {
  // The length is not secret (tokens are 64 hex digits); the content is.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string_view BearerToken(std::string_view header) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.substr(0, kPrefix.size()) != kPrefix) return {};
  header.remove_prefix(kPrefix.size());
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && (header.back() == ' ' || header.back() == '\r')) header.remove_suffix(1);
  return header;
}

}  // namespace gpulse
