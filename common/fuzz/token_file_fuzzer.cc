// libFuzzer target for the token file parser (common/token.h): ReadToken,
// lenient and strict, on a file of the input's bytes (mode 0600, as an
// operator's file should be), and BearerToken on the input as an
// Authorization header. Besides not crashing: a token read is non-empty,
// trimmed and part of the file; a strict read is at least as strong as
// kMinTokenBits and agrees with the lenient one; a token holds printable
// ASCII only (it travels in headers); a bearer token is part of the header
// and equals itself.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/token.h"

namespace {

// One file per process, rewritten for every input; its folder is removed
// at exit.
const std::string& TokenPath() {
  static const std::string* path = [] {
    std::string dir = (std::filesystem::temp_directory_path() / "gpulse-token-fuzz-XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) std::abort();
    static std::string folder = dir;
    std::atexit([] { std::filesystem::remove_all(folder); });
    return new std::string(dir + "/token");
  }();
  return *path;
}

void WriteFile(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) std::abort();
  ::close(fd);
}

void CheckToken(const std::string& token, std::string_view file) {
  if (token.empty()) std::abort();
  for (char c : token) {
    if (c < '!' || c > '~') std::abort();
  }
  if (file.find(token) == std::string_view::npos) std::abort();
  if (!gpulse::TokensEqual(token, token)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string& path = TokenPath();
  WriteFile(path, input);

  auto lenient = gpulse::ReadToken(path, gpulse::TokenFileCheck::kLenient);
  if (lenient.ok()) CheckToken(*lenient, input);
  auto strict = gpulse::ReadToken(path, gpulse::TokenFileCheck::kStrict);
  if (strict.ok()) {
    CheckToken(*strict, input);
    if (gpulse::EstimatedTokenBits(*strict) < gpulse::kMinTokenBits) std::abort();
    if (!lenient.ok() || *lenient != *strict) std::abort();
  }

  std::string_view bearer = gpulse::BearerToken(input);
  if (!bearer.empty()) {
    if (input.find(bearer) == std::string_view::npos) std::abort();
    if (!gpulse::TokensEqual(bearer, bearer)) std::abort();
  }
  return 0;
}
