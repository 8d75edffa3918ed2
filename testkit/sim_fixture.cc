#include "testkit/sim_fixture.h"

#include <dlfcn.h>
#include <stdlib.h>

#include <stdexcept>

namespace gpulse::testkit {

std::string SimLibraryPath() { return std::string(GPULSE_SIM_LIB_DIR) + "/libnvidia-ml-sim.so"; }

std::string LegacySimLibraryPath() {
  return std::string(GPULSE_SIM_LIB_DIR) + "/libnvidia-ml-sim-legacy.so";
}

ScenarioFile::ScenarioFile(const nlohmann::json& scenario)
    : dir_("gpulse-scenario"), path_(dir_.File("scenario.json")) {
  Rewrite(scenario);
  setenv("GPULSE_NVML_SIM_SCENARIO", path_.c_str(), 1);
}

void ScenarioFile::Rewrite(const nlohmann::json& scenario) {
  if (dir_.Write("scenario.json", scenario.dump(2) + "\n").empty()) {
    throw std::runtime_error("cannot write " + path_);
  }
}

SimCounters::SimCounters(const std::string& library_path) {
  handle_ = dlopen(library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) return;
  init_count_ = reinterpret_cast<unsigned (*)()>(dlsym(handle_, "gpulseSimInitCount"));
  shutdown_count_ = reinterpret_cast<unsigned (*)()>(dlsym(handle_, "gpulseSimShutdownCount"));
  query_count_ =
      reinterpret_cast<unsigned long long (*)()>(dlsym(handle_, "gpulseSimQueryCount"));
  if (shutdown_count_ == nullptr || query_count_ == nullptr) init_count_ = nullptr;
}

SimCounters::~SimCounters() {
  if (handle_ != nullptr) dlclose(handle_);
}

nlohmann::json UniformScenario(int n, double utilization_gpu, const std::string& model) {
  nlohmann::json gpus = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    gpus.push_back({{"model", model}, {"utilization_gpu", utilization_gpu}});
  }
  return {{"driver_version", "550.54.15"}, {"gpus", gpus}};
}

}  // namespace gpulse::testkit
