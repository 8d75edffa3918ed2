// ScenarioDir: a temporary folder of scenario files for tests, removed when
// the object goes away. Write() replaces a file the way the README asks
// scenario editors to: write a temporary file, then rename() it over the old
// one, so a reader never sees half a file. Not thread-safe.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace gpulse::nvml_sim {

class ScenarioDir {
 public:
  ScenarioDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "nvml-sim-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
  }
  ~ScenarioDir() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  ScenarioDir(const ScenarioDir&) = delete;
  ScenarioDir& operator=(const ScenarioDir&) = delete;

  bool ok() const { return !dir_.empty(); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Atomically replaces `name` with `text`; returns its path ("" on failure).
  std::string Write(const std::string& name, const std::string& text) const {
    std::string path = Path(name), temp = path + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << text;
      if (!out.flush()) return "";
    }
    return std::rename(temp.c_str(), path.c_str()) == 0 ? path : "";
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace gpulse::nvml_sim
