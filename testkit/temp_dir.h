// TempDir: a fresh folder under the system temp dir for one test or
// benchmark, removed with everything in it when the object goes away; and
// small file helpers. For tests only: a folder that cannot be made aborts
// the test program (there is nothing sensible to test without it).
// Not thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace gpulse::testkit {

class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "gpulse-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path()/name, as a string.
  std::string File(std::string_view name) const;
  // Replaces path()/name with `text` the way scenario editors must: write a
  // sibling, then rename() it over, so a reader never sees half a file.
  // Returns the file's path, or "" when it could not be written.
  std::string Write(std::string_view name, std::string_view text) const;

 private:
  std::filesystem::path path_;
};

// The whole file, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::filesystem::path& path);
// Writes (or with std::ios::app, appends) `data`; returns whether it worked.
bool WriteFile(const std::filesystem::path& path, std::string_view data,
               std::ios::openmode mode = std::ios::trunc);

}  // namespace gpulse::testkit
