#include "testkit/temp_dir.h"

#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

namespace gpulse::testkit {

TempDir::TempDir(std::string_view prefix) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(std::string_view name) const { return (path_ / name).string(); }

std::string TempDir::Write(std::string_view name, std::string_view text) const {
  std::string path = File(name), temp = path + ".tmp";
  if (!WriteFile(temp, text)) return "";
  return std::rename(temp.c_str(), path.c_str()) == 0 ? path : "";
}

std::string ReadFileOrEmpty(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool WriteFile(const std::filesystem::path& path, std::string_view data, std::ios::openmode mode) {
  std::ofstream out(path, std::ios::binary | mode);
  out << data;
  return static_cast<bool>(out.flush());
}

}  // namespace gpulse::testkit
