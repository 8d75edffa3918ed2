#include "common/token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "common/posix_error.h"
#include "common/private_file.h"

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

Result<std::string> ReadToken(const std::string& path, TokenFileCheck check) {
  if (::access(path.c_str(), F_OK) != 0) return NotFound("token file " + path + " does not exist");
  std::string token;
  if (check == TokenFileCheck::kStrict) {
    ASSIGN_OR_RETURN(std::string text, ReadOwnerOnlyFile(path, "token file", 64 * 1024));
    token = Trim(std::move(text));
  } else {
    std::ifstream in(path);
    if (!in) return PermissionDenied("cannot read token file " + path + ": " + ErrnoText(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    token = Trim(ss.str());
  }
  if (token.empty()) return InvalidArgument("token file " + path + " is empty");
  // It travels as "Bearer <token>" in an HTTP header and in gRPC metadata,
  // which take printable ASCII only (gRPC refuses the call otherwise).
  for (char c : token) {
    if (c < '!' || c > '~') {
      return InvalidArgument("token file " + path +
                             " holds a byte that is not printable ASCII (space, control or non-ASCII); a token is "
                             "sent in HTTP headers: replace it with a random one: openssl rand -hex 32 > " + path);
    }
  }
  if (check == TokenFileCheck::kStrict) RETURN_IF_ERROR(CheckTokenStrength(token, path));
  return token;
}

Result<std::string> LoadOrCreateToken(const std::string& path, TokenFileCheck check) {
  auto existing = ReadToken(path, check);
  if (existing.ok() || existing.status().code() != StatusCode::kNotFound) return existing;
  ASSIGN_OR_RETURN(std::string token, RandomHex(32));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return ReadToken(path, check);  // another process won the race
    return PermissionDenied("cannot create token file " + path + ": " + ErrnoText(errno));
  }
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = (::fsync(fd) == 0) && ok;
  ::close(fd);
  if (!ok) return Internal("cannot write token file " + path);
  return token;
}

int EstimatedTokenBits(std::string_view token) {
  while (!token.empty() && token.back() == '=') token.remove_suffix(1);
  bool all_hex = true;
  for (char c : token) all_hex = all_hex && std::isxdigit(static_cast<unsigned char>(c));
  return static_cast<int>(token.size()) * (all_hex ? 4 : 6);
}

Status CheckTokenStrength(std::string_view token, const std::string& path) {
  int bits = EstimatedTokenBits(token);
  if (bits >= kMinTokenBits) return Status::Ok();
  return InvalidArgument("the token in " + path + " is too weak (about " + std::to_string(bits) + " bits; at least " +
                         std::to_string(kMinTokenBits) +
                         " are needed, e.g. 32 hex or 22 base64 characters); replace it with a random one: "
                         "openssl rand -hex 32 > " + path + " && chmod 600 " + path +
                         " (then give the new token to every worker and client)");
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
