#include "tools/nvml-sim/simulator.h"

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ctime>

#include "tools/nvml-sim/nvml_errors.h"

// The object behind an nvmlDevice_t. nvml_abi.h leaves it opaque; handles are
// addresses of entries in a fixed table, so they stay valid across reloads.
struct nvmlDevice_st {
  unsigned int index;
};

namespace gpulse::nvml_sim {
namespace {

constexpr char kScenarioEnv[] = "GPULSE_NVML_SIM_SCENARIO";
constexpr char kSeedEnv[] = "GPULSE_NVML_SIM_SEED";

constexpr auto kHandles = [] {
  std::array<nvmlDevice_st, kMaxGpus> handles{};
  for (unsigned int i = 0; i < kMaxGpus; ++i) handles[i].index = i;
  return handles;
}();

// A coarse clock (a few ms resolution) is enough for reload checks and waves,
// and is several times cheaper to read than CLOCK_MONOTONIC.
int64_t CoarseMonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

ScenarioSourceConfig ConfigFromEnvironment() {
  ScenarioSourceConfig config;
  if (const char* path = std::getenv(kScenarioEnv); path != nullptr) config.path = path;
  if (const char* seed = std::getenv(kSeedEnv); seed != nullptr && *seed != '\0') {
    config.parse.seed_override = seed;
  }
  config.parse.fallback_seed = HostName();
  return config;
}

// Each thread keeps its own reference to the scenario it last used and takes
// a new one only when the generation moves, so a steady-state query takes no
// lock and writes no cache line shared with other threads (apart from the
// query counter).
struct ThreadSnapshot {
  uint64_t generation = 0;
  std::shared_ptr<const Scenario> scenario;
};
thread_local ThreadSnapshot t_snapshot;

}  // namespace

Simulator& Simulator::Instance() {
  static Simulator* const instance = new Simulator();
  return *instance;
}

nvmlReturn_t Simulator::Init() {
  std::lock_guard lock(mu_);
  if (refcount_ == 0) {
    ScenarioSourceConfig config = ConfigFromEnvironment();
    if (config.path != last_scenario_path_) {
      health_.Reset();
      last_scenario_path_ = config.path;
    }
    Status opened = source_.Open(std::move(config), CoarseMonotonicNs());
    if (!opened.ok()) {
      std::string message = "Unknown Error (NVML simulator: " + opened.message() + ")";
      if (failure_messages_.empty() || *failure_messages_.back() != message) {
        failure_messages_.push_back(std::make_unique<const std::string>(std::move(message)));
      }
      init_failure_message_.store(failure_messages_.back()->c_str(), std::memory_order_release);
      return NVML_ERROR_UNKNOWN;
    }
    init_failure_message_.store(nullptr, std::memory_order_release);
    nvmlReturn_t init_error = source_.Current()->init_error;
    if (init_error != NVML_SUCCESS) return init_error;
    initialized_.store(true, std::memory_order_release);
  }
  ++refcount_;
  init_count_.fetch_add(1, std::memory_order_relaxed);
  return NVML_SUCCESS;
}

nvmlReturn_t Simulator::Shutdown() {
  std::lock_guard lock(mu_);
  if (refcount_ == 0) return NVML_ERROR_UNINITIALIZED;
  if (--refcount_ == 0) initialized_.store(false, std::memory_order_release);
  shutdown_count_.fetch_add(1, std::memory_order_relaxed);
  return NVML_SUCCESS;
}

const char* Simulator::ErrorString(nvmlReturn_t code) const {
  if (code == NVML_ERROR_UNKNOWN) {
    if (const char* why = init_failure_message_.load(std::memory_order_acquire); why != nullptr) return why;
  }
  return NvmlReturnMessage(code);
}

const Scenario* Simulator::BeginQuery(int64_t now_ns) {
  query_count_.fetch_add(1, std::memory_order_relaxed);
  if (!initialized()) return nullptr;
  source_.MaybeReload(now_ns);
  // Generation first: the scenario loaded after it is at least that new.
  uint64_t generation = source_.generation();
  if (generation != t_snapshot.generation) {
    t_snapshot.scenario = source_.Current();
    t_snapshot.generation = generation;
  }
  return t_snapshot.scenario.get();
}

nvmlDevice_t Simulator::HandleOf(unsigned int index) {
  // NVML's API hands out non-const handles; the simulator never writes
  // through them.
  return const_cast<nvmlDevice_t>(&kHandles[index]);
}

bool Simulator::IndexOf(nvmlDevice_t device, unsigned int* index) {
  auto address = reinterpret_cast<uintptr_t>(device);
  auto first = reinterpret_cast<uintptr_t>(kHandles.data());
  if (address < first) return false;
  uintptr_t offset = address - first;
  if (offset % sizeof(nvmlDevice_st) != 0 || offset / sizeof(nvmlDevice_st) >= kMaxGpus) return false;
  *index = static_cast<unsigned int>(offset / sizeof(nvmlDevice_st));
  return true;
}

SimQuery::SimQuery(SimCall call) {
  if (!Start()) return;
  status_ = scenario_->errors[static_cast<size_t>(call)];
}

SimQuery::SimQuery(SimCall call, nvmlDevice_t device) {
  if (!Start()) return;
  unsigned int index = 0;
  if (!Simulator::IndexOf(device, &index)) {
    status_ = NVML_ERROR_INVALID_ARGUMENT;
    return;
  }
  SelectGpu(call, index, /*lost_fails=*/true);
}

SimQuery SimQuery::ForIndex(SimCall call, unsigned int index) {
  SimQuery q;
  if (q.Start()) q.SelectGpu(call, index, /*lost_fails=*/false);
  return q;
}

bool SimQuery::Start() {
  int64_t now_ns = CoarseMonotonicNs();
  scenario_ = Simulator::Instance().BeginQuery(now_ns);
  if (scenario_ == nullptr) {
    status_ = NVML_ERROR_UNINITIALIZED;
    return false;
  }
  now_s_ = static_cast<double>(now_ns) * 1e-9;
  return true;
}

void SimQuery::SelectGpu(SimCall call, unsigned int index, bool lost_fails) {
  if (index >= scenario_->gpus.size()) {
    status_ = NVML_ERROR_INVALID_ARGUMENT;
    return;
  }
  index_ = index;
  gpu_ = &scenario_->gpus[index];
  if (lost_fails && gpu_->lost) {
    status_ = NVML_ERROR_GPU_IS_LOST;
    return;
  }
  status_ = gpu_->errors[static_cast<size_t>(call)];
}

unsigned int SimQuery::Whole(const ValueModel& model, double max) const {
  double v = std::round(model.At(now_s_));
  if (!(v > 0)) return 0;
  if (v > max) v = max;
  return static_cast<unsigned int>(v);
}

}  // namespace gpulse::nvml_sim
