// Helpers for tests and benchmarks that run gpulse against the NVML
// simulator (tools/nvml-sim): where the built simulator libraries are, a
// scenario file that can be rewritten atomically, and the simulator's
// counters.
//
// The simulator is process-global state: it reads GPULSE_NVML_SIM_SCENARIO
// when its init count goes from 0 to 1, and re-reads the file when it
// changes. Give each test its own ScenarioFile and session.
// Not thread-safe (setenv).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "testkit/temp_dir.h"

namespace gpulse::testkit {

// The simulator built in this build tree, and its variant without the newer
// versioned symbols.
std::string SimLibraryPath();
std::string LegacySimLibraryPath();

// A scenario file in a fresh temporary directory, removed on destruction.
// Failing to write it throws (tests only).
class ScenarioFile {
 public:
  // Writes `scenario` and points GPULSE_NVML_SIM_SCENARIO at it.
  explicit ScenarioFile(const nlohmann::json& scenario);
  ScenarioFile(const ScenarioFile&) = delete;
  ScenarioFile& operator=(const ScenarioFile&) = delete;

  // Replaces the file's content atomically (write a sibling, rename over).
  void Rewrite(const nlohmann::json& scenario);
  const std::string& path() const { return path_; }
  std::string dir() const { return dir_.path().string(); }

 private:
  TempDir dir_;
  std::string path_;
};

// The simulator's exported counters, through a dlopen of the same path the
// code under test loads (dlopen hands back the same, already loaded copy).
// Holding it keeps the library loaded.
class SimCounters {
 public:
  explicit SimCounters(const std::string& library_path);
  ~SimCounters();
  SimCounters(const SimCounters&) = delete;
  SimCounters& operator=(const SimCounters&) = delete;

  bool ok() const { return init_count_ != nullptr; }
  unsigned init_count() const { return init_count_(); }
  unsigned shutdown_count() const { return shutdown_count_(); }
  unsigned long long query_count() const { return query_count_(); }

 private:
  void* handle_ = nullptr;
  unsigned (*init_count_)() = nullptr;
  unsigned (*shutdown_count_)() = nullptr;
  unsigned long long (*query_count_)() = nullptr;
};

// A scenario of `n` identical GPUs of `model`, each with the given
// utilization.
nlohmann::json UniformScenario(int n, double utilization_gpu,
                               const std::string& model = "NVIDIA H100 80GB HBM3");

}  // namespace gpulse::testkit
