// The NVML simulator as gpulse's loader sees it: each library is dlopen()ed
// with RTLD_LOCAL and every function is reached through dlsym. Each test sets
// its scenario through the environment before its first nvmlInit and drops
// every reference afterwards, so tests do not depend on their order.
#include <dlfcn.h>
#include <stdlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "telemetry/nvml_abi.h"
#include "testkit/eventually.h"
#include "testkit/temp_dir.h"

namespace gpulse::nvml_sim {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr char kScenarioEnv[] = "GPULSE_NVML_SIM_SCENARIO";
constexpr char kSeedEnv[] = "GPULSE_NVML_SIM_SEED";

template <typename Fn>
void Resolve(void* lib, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(lib, name));
}

// The simulator's functions, resolved from one loaded library; a symbol the
// library does not export stays null.
struct Api {
  explicit Api(void* lib) {
    Resolve(lib, "nvmlInit_v2", &nvmlInit_v2);
    Resolve(lib, "nvmlInit", &nvmlInit);
    Resolve(lib, "nvmlShutdown", &nvmlShutdown);
    Resolve(lib, "nvmlErrorString", &nvmlErrorString);
    Resolve(lib, "nvmlSystemGetDriverVersion", &nvmlSystemGetDriverVersion);
    Resolve(lib, "nvmlDeviceGetCount_v2", &nvmlDeviceGetCount_v2);
    Resolve(lib, "nvmlDeviceGetCount", &nvmlDeviceGetCount);
    Resolve(lib, "nvmlDeviceGetHandleByIndex_v2", &nvmlDeviceGetHandleByIndex_v2);
    Resolve(lib, "nvmlDeviceGetHandleByIndex", &nvmlDeviceGetHandleByIndex);
    Resolve(lib, "nvmlDeviceGetName", &nvmlDeviceGetName);
    Resolve(lib, "nvmlDeviceGetUUID", &nvmlDeviceGetUUID);
    Resolve(lib, "nvmlDeviceGetPciInfo_v3", &nvmlDeviceGetPciInfo_v3);
    Resolve(lib, "nvmlDeviceGetUtilizationRates", &nvmlDeviceGetUtilizationRates);
    Resolve(lib, "nvmlDeviceGetMemoryInfo", &nvmlDeviceGetMemoryInfo);
    Resolve(lib, "nvmlDeviceGetMemoryInfo_v2", &nvmlDeviceGetMemoryInfo_v2);
    Resolve(lib, "nvmlDeviceGetTemperature", &nvmlDeviceGetTemperature);
    Resolve(lib, "nvmlDeviceGetTemperatureV", &nvmlDeviceGetTemperatureV);
    Resolve(lib, "nvmlDeviceGetPowerUsage", &nvmlDeviceGetPowerUsage);
    Resolve(lib, "nvmlDeviceGetEnforcedPowerLimit", &nvmlDeviceGetEnforcedPowerLimit);
    Resolve(lib, "nvmlDeviceGetClockInfo", &nvmlDeviceGetClockInfo);
    Resolve(lib, "nvmlDeviceGetEncoderUtilization", &nvmlDeviceGetEncoderUtilization);
    Resolve(lib, "nvmlDeviceGetDecoderUtilization", &nvmlDeviceGetDecoderUtilization);
    Resolve(lib, "nvmlDeviceGetFanSpeed", &nvmlDeviceGetFanSpeed);
    Resolve(lib, "nvmlDeviceGetPcieThroughput", &nvmlDeviceGetPcieThroughput);
    Resolve(lib, "nvmlDeviceGetComputeRunningProcesses_v3", &nvmlDeviceGetComputeRunningProcesses_v3);
    Resolve(lib, "nvmlDeviceGetComputeRunningProcesses_v2", &nvmlDeviceGetComputeRunningProcesses_v2);
    Resolve(lib, "nvmlDeviceGetTotalEnergyConsumption", &nvmlDeviceGetTotalEnergyConsumption);
    Resolve(lib, "nvmlDeviceGetTotalEccErrors", &nvmlDeviceGetTotalEccErrors);
    Resolve(lib, "nvmlDeviceGetRemappedRows", &nvmlDeviceGetRemappedRows);
    Resolve(lib, "nvmlDeviceGetCurrentClocksEventReasons", &nvmlDeviceGetCurrentClocksEventReasons);
    Resolve(lib, "nvmlDeviceGetCurrentClocksThrottleReasons", &nvmlDeviceGetCurrentClocksThrottleReasons);
    Resolve(lib, "nvmlEventSetCreate", &nvmlEventSetCreate);
    Resolve(lib, "nvmlDeviceRegisterEvents", &nvmlDeviceRegisterEvents);
    Resolve(lib, "nvmlEventSetWait_v2", &nvmlEventSetWait_v2);
    Resolve(lib, "nvmlEventSetFree", &nvmlEventSetFree);
    Resolve(lib, "gpulseSimInitCount", &gpulseSimInitCount);
    Resolve(lib, "gpulseSimShutdownCount", &gpulseSimShutdownCount);
    Resolve(lib, "gpulseSimQueryCount", &gpulseSimQueryCount);
    Resolve(lib, "gpulseSimReloadCount", &gpulseSimReloadCount);
    Resolve(lib, "gpulseSimRejectedReloadCount", &gpulseSimRejectedReloadCount);
  }

  nvmlInit_fn nvmlInit_v2, nvmlInit;
  nvmlShutdown_fn nvmlShutdown;
  nvmlErrorString_fn nvmlErrorString;
  nvmlSystemGetDriverVersion_fn nvmlSystemGetDriverVersion;
  nvmlDeviceGetCount_fn nvmlDeviceGetCount_v2, nvmlDeviceGetCount;
  nvmlDeviceGetHandleByIndex_fn nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGetHandleByIndex;
  nvmlDeviceGetName_fn nvmlDeviceGetName;
  nvmlDeviceGetUUID_fn nvmlDeviceGetUUID;
  nvmlDeviceGetPciInfo_fn nvmlDeviceGetPciInfo_v3;
  nvmlDeviceGetUtilizationRates_fn nvmlDeviceGetUtilizationRates;
  nvmlDeviceGetMemoryInfo_fn nvmlDeviceGetMemoryInfo;
  nvmlDeviceGetMemoryInfo_v2_fn nvmlDeviceGetMemoryInfo_v2;
  nvmlDeviceGetTemperature_fn nvmlDeviceGetTemperature;
  nvmlDeviceGetTemperatureV_fn nvmlDeviceGetTemperatureV;
  nvmlDeviceGetPowerUsage_fn nvmlDeviceGetPowerUsage;
  nvmlDeviceGetEnforcedPowerLimit_fn nvmlDeviceGetEnforcedPowerLimit;
  nvmlDeviceGetClockInfo_fn nvmlDeviceGetClockInfo;
  nvmlDeviceGetEncoderUtilization_fn nvmlDeviceGetEncoderUtilization;
  nvmlDeviceGetDecoderUtilization_fn nvmlDeviceGetDecoderUtilization;
  nvmlDeviceGetFanSpeed_fn nvmlDeviceGetFanSpeed;
  nvmlDeviceGetPcieThroughput_fn nvmlDeviceGetPcieThroughput;
  nvmlDeviceGetComputeRunningProcesses_fn nvmlDeviceGetComputeRunningProcesses_v3;
  nvmlDeviceGetComputeRunningProcesses_fn nvmlDeviceGetComputeRunningProcesses_v2;
  nvmlDeviceGetTotalEnergyConsumption_fn nvmlDeviceGetTotalEnergyConsumption;
  nvmlDeviceGetTotalEccErrors_fn nvmlDeviceGetTotalEccErrors;
  nvmlDeviceGetRemappedRows_fn nvmlDeviceGetRemappedRows;
  nvmlDeviceGetCurrentClocksEventReasons_fn nvmlDeviceGetCurrentClocksEventReasons;
  nvmlDeviceGetCurrentClocksEventReasons_fn nvmlDeviceGetCurrentClocksThrottleReasons;
  nvmlEventSetCreate_fn nvmlEventSetCreate;
  nvmlDeviceRegisterEvents_fn nvmlDeviceRegisterEvents;
  nvmlEventSetWait_fn nvmlEventSetWait_v2;
  nvmlEventSetFree_fn nvmlEventSetFree;
  unsigned int (*gpulseSimInitCount)(void);
  unsigned int (*gpulseSimShutdownCount)(void);
  unsigned long long (*gpulseSimQueryCount)(void);
  unsigned long long (*gpulseSimReloadCount)(void);
  unsigned long long (*gpulseSimRejectedReloadCount)(void);
};

// Loaded once per process and never unloaded: the simulator keeps its state
// (counters, scenario) for the life of the library, like real NVML.
void* LoadLibrary(const char* file) {
  std::string path = std::string(GPULSE_TEST_LIB_DIR) + "/" + file;
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) ADD_FAILURE() << "dlopen " << path << ": " << dlerror();
  return lib;
}

void* MainLibrary() {
  static void* lib = LoadLibrary("libnvidia-ml-sim.so");
  return lib;
}

void* LegacyLibrary() {
  static void* lib = LoadLibrary("libnvidia-ml-sim-legacy.so");
  return lib;
}

using testkit::Eventually;

class NvmlSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(MainLibrary(), nullptr);
    nvml_ = std::make_unique<Api>(MainLibrary());
    ReleaseAll(*nvml_);
    unsetenv(kScenarioEnv);
    unsetenv(kSeedEnv);
  }

  void TearDown() override {
    ReleaseAll(*nvml_);
    if (LegacyLibrary() != nullptr) ReleaseAll(Api(LegacyLibrary()));
    unsetenv(kScenarioEnv);
    unsetenv(kSeedEnv);
  }

  // Drops every nvmlInit reference a failed test may have left behind.
  static void ReleaseAll(const Api& api) {
    while (api.nvmlShutdown() == NVML_SUCCESS) {
    }
  }

  // Makes the next first nvmlInit load `json`; returns the file's path.
  std::string UseScenario(const std::string& json) {
    std::string path = dir_.Write("scenario.json", json);
    EXPECT_FALSE(path.empty());
    setenv(kScenarioEnv, path.c_str(), 1);
    return path;
  }

  // Rewrites the scenario file in place (write + rename), as a test would.
  void RewriteScenario(const std::string& json) { ASSERT_FALSE(dir_.Write("scenario.json", json).empty()); }

  void Init() { ASSERT_EQ(nvml_->nvmlInit_v2(), NVML_SUCCESS) << nvml_->nvmlErrorString(NVML_ERROR_UNKNOWN); }

  nvmlDevice_t Device(unsigned int index) {
    nvmlDevice_t device = nullptr;
    EXPECT_EQ(nvml_->nvmlDeviceGetHandleByIndex_v2(index, &device), NVML_SUCCESS);
    return device;
  }

  unsigned int GpuUtilization(nvmlDevice_t device) {
    nvmlUtilization_t u{};
    EXPECT_EQ(nvml_->nvmlDeviceGetUtilizationRates(device, &u), NVML_SUCCESS);
    return u.gpu;
  }

  std::string Uuid(nvmlDevice_t device) {
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
    EXPECT_EQ(nvml_->nvmlDeviceGetUUID(device, uuid, sizeof(uuid)), NVML_SUCCESS);
    return uuid;
  }

  testkit::TempDir dir_{"nvml-sim-test"};
  std::unique_ptr<Api> nvml_;
};

TEST_F(NvmlSimTest, MainLibraryExportsEveryEntryPoint) {
  const Api& a = *nvml_;
  for (const void* fn :
       {(const void*)a.nvmlInit_v2, (const void*)a.nvmlInit, (const void*)a.nvmlShutdown,
        (const void*)a.nvmlErrorString, (const void*)a.nvmlSystemGetDriverVersion,
        (const void*)a.nvmlDeviceGetCount_v2, (const void*)a.nvmlDeviceGetCount,
        (const void*)a.nvmlDeviceGetHandleByIndex_v2, (const void*)a.nvmlDeviceGetHandleByIndex,
        (const void*)a.nvmlDeviceGetName, (const void*)a.nvmlDeviceGetUUID, (const void*)a.nvmlDeviceGetPciInfo_v3,
        (const void*)a.nvmlDeviceGetUtilizationRates, (const void*)a.nvmlDeviceGetMemoryInfo,
        (const void*)a.nvmlDeviceGetMemoryInfo_v2, (const void*)a.nvmlDeviceGetTemperature,
        (const void*)a.nvmlDeviceGetTemperatureV, (const void*)a.nvmlDeviceGetPowerUsage,
        (const void*)a.nvmlDeviceGetEnforcedPowerLimit, (const void*)a.nvmlDeviceGetClockInfo,
        (const void*)a.nvmlDeviceGetEncoderUtilization, (const void*)a.nvmlDeviceGetDecoderUtilization,
        (const void*)a.nvmlDeviceGetFanSpeed, (const void*)a.nvmlDeviceGetPcieThroughput,
        (const void*)a.nvmlDeviceGetComputeRunningProcesses_v3,
        (const void*)a.nvmlDeviceGetComputeRunningProcesses_v2, (const void*)a.nvmlDeviceGetTotalEnergyConsumption,
        (const void*)a.nvmlDeviceGetTotalEccErrors, (const void*)a.nvmlDeviceGetRemappedRows,
        (const void*)a.nvmlDeviceGetCurrentClocksEventReasons, (const void*)a.nvmlDeviceGetCurrentClocksThrottleReasons,
        (const void*)a.nvmlEventSetCreate, (const void*)a.nvmlDeviceRegisterEvents, (const void*)a.nvmlEventSetWait_v2,
        (const void*)a.nvmlEventSetFree, (const void*)a.gpulseSimInitCount,
        (const void*)a.gpulseSimShutdownCount, (const void*)a.gpulseSimQueryCount}) {
    EXPECT_NE(fn, nullptr);
  }
  // Internals stay hidden.
  EXPECT_EQ(dlsym(MainLibrary(), "_ZN6gpulse8nvml_sim9Simulator8InstanceEv"), nullptr);
}

TEST_F(NvmlSimTest, CallsBeforeInitAreUninitialized) {
  unsigned int count = 0;
  char version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  nvmlDevice_t device = nullptr;
  EXPECT_EQ(nvml_->nvmlDeviceGetCount_v2(&count), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(nvml_->nvmlSystemGetDriverVersion(version, sizeof(version)), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(nvml_->nvmlDeviceGetHandleByIndex_v2(0, &device), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(nvml_->nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
  EXPECT_STREQ(nvml_->nvmlErrorString(NVML_ERROR_UNINITIALIZED), "Uninitialized");
}

TEST_F(NvmlSimTest, DefaultScenarioIsTwoH100s) {
  Init();
  unsigned int count = 0;
  ASSERT_EQ(nvml_->nvmlDeviceGetCount_v2(&count), NVML_SUCCESS);
  ASSERT_EQ(count, 2u);
  char version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  ASSERT_EQ(nvml_->nvmlSystemGetDriverVersion(version, sizeof(version)), NVML_SUCCESS);
  EXPECT_STREQ(version, "580.65.06");

  nvmlDevice_t gpu0 = Device(0), gpu1 = Device(1);
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
  ASSERT_EQ(nvml_->nvmlDeviceGetName(gpu1, name, sizeof(name)), NVML_SUCCESS);
  EXPECT_STREQ(name, "NVIDIA H100 80GB HBM3");
  EXPECT_THAT(Uuid(gpu0), StartsWith("GPU-"));
  EXPECT_NE(Uuid(gpu0), Uuid(gpu1));
  EXPECT_EQ(GpuUtilization(gpu0), 40u);
  EXPECT_EQ(GpuUtilization(gpu1), 85u);
  unsigned int mw = 0;
  ASSERT_EQ(nvml_->nvmlDeviceGetPowerUsage(gpu1, &mw), NVML_SUCCESS);
  EXPECT_EQ(mw, 520000u);
  ASSERT_EQ(nvml_->nvmlDeviceGetEnforcedPowerLimit(gpu1, &mw), NVML_SUCCESS);
  EXPECT_EQ(mw, 700000u);
}

TEST_F(NvmlSimTest, FileScenarioDrivesEveryQuery) {
  UseScenario(R"({
    "driver_version": "550.54.15",
    "gpus": [
      {"model": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-aaaa", "pci_bus_id": "00000000:3B:00.0",
       "memory_total_mib": 81920, "memory_reserved_mib": 512, "memory_used_mib": 2048,
       "utilization_gpu": 61, "utilization_memory": 22, "temperature_c": 51, "power_w": 201.5,
       "power_limit_w": 400, "clock_sm_mhz": 1410, "clock_graphics_mhz": 1400, "clock_mem_mhz": 1593,
       "clock_video_mhz": 1275, "encoder_percent": 9, "decoder_percent": 13, "codec_sampling_period_us": 1000,
       "fan_percent": 44, "pcie_tx_kbps": 1234, "pcie_rx_kbps": 5678,
       "processes": [{"pid": 100, "used_memory_mib": 1000}, {"pid": 101}]},
      {"name": "Second"}
    ]})");
  Init();
  unsigned int count = 0;
  ASSERT_EQ(nvml_->nvmlDeviceGetCount(&count), NVML_SUCCESS);
  EXPECT_EQ(count, 2u);
  char text[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
  ASSERT_EQ(nvml_->nvmlSystemGetDriverVersion(text, sizeof(text)), NVML_SUCCESS);
  EXPECT_STREQ(text, "550.54.15");

  nvmlDevice_t d = Device(0);
  nvmlDevice_t plain = nullptr;
  ASSERT_EQ(nvml_->nvmlDeviceGetHandleByIndex(0, &plain), NVML_SUCCESS);
  EXPECT_EQ(plain, d);
  ASSERT_EQ(nvml_->nvmlDeviceGetName(d, text, sizeof(text)), NVML_SUCCESS);
  EXPECT_STREQ(text, "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(Uuid(d), "GPU-aaaa");

  nvmlPciInfo_t pci{};
  ASSERT_EQ(nvml_->nvmlDeviceGetPciInfo_v3(d, &pci), NVML_SUCCESS);
  EXPECT_STREQ(pci.busId, "00000000:3B:00.0");
  EXPECT_STREQ(pci.busIdLegacy, "0000:3B:00.0");
  EXPECT_EQ(pci.bus, 0x3Bu);
  EXPECT_EQ(pci.pciDeviceId, 0x20B210DEu);

  EXPECT_EQ(GpuUtilization(d), 61u);
  nvmlUtilization_t u{};
  ASSERT_EQ(nvml_->nvmlDeviceGetUtilizationRates(d, &u), NVML_SUCCESS);
  EXPECT_EQ(u.memory, 22u);

  constexpr unsigned long long kMiB = 1 << 20;
  nvmlMemory_t m1{};
  ASSERT_EQ(nvml_->nvmlDeviceGetMemoryInfo(d, &m1), NVML_SUCCESS);
  EXPECT_EQ(m1.total, 81920 * kMiB);
  EXPECT_EQ(m1.used, (2048 + 512) * kMiB);
  EXPECT_EQ(m1.free, (81920 - 2048 - 512) * kMiB);
  nvmlMemory_v2_t m2{};
  m2.version = nvmlMemory_v2;
  ASSERT_EQ(nvml_->nvmlDeviceGetMemoryInfo_v2(d, &m2), NVML_SUCCESS);
  EXPECT_EQ(m2.total, 81920 * kMiB);
  EXPECT_EQ(m2.reserved, 512 * kMiB);
  EXPECT_EQ(m2.used, 2048 * kMiB);
  EXPECT_EQ(m2.free, (81920 - 2048 - 512) * kMiB);

  unsigned int value = 0, period = 0;
  ASSERT_EQ(nvml_->nvmlDeviceGetTemperature(d, NVML_TEMPERATURE_GPU, &value), NVML_SUCCESS);
  EXPECT_EQ(value, 51u);
  nvmlTemperature_v1_t t{};
  t.version = nvmlTemperature_v1;
  t.sensorType = NVML_TEMPERATURE_GPU;
  ASSERT_EQ(nvml_->nvmlDeviceGetTemperatureV(d, &t), NVML_SUCCESS);
  EXPECT_EQ(t.temperature, 51);
  ASSERT_EQ(nvml_->nvmlDeviceGetPowerUsage(d, &value), NVML_SUCCESS);
  EXPECT_EQ(value, 201500u);
  ASSERT_EQ(nvml_->nvmlDeviceGetEnforcedPowerLimit(d, &value), NVML_SUCCESS);
  EXPECT_EQ(value, 400000u);
  for (auto [type, mhz] : {std::pair{NVML_CLOCK_SM, 1410u}, std::pair{NVML_CLOCK_GRAPHICS, 1400u},
                           std::pair{NVML_CLOCK_MEM, 1593u}, std::pair{NVML_CLOCK_VIDEO, 1275u}}) {
    ASSERT_EQ(nvml_->nvmlDeviceGetClockInfo(d, type, &value), NVML_SUCCESS);
    EXPECT_EQ(value, mhz) << type;
  }
  ASSERT_EQ(nvml_->nvmlDeviceGetEncoderUtilization(d, &value, &period), NVML_SUCCESS);
  EXPECT_EQ(value, 9u);
  EXPECT_EQ(period, 1000u);
  ASSERT_EQ(nvml_->nvmlDeviceGetDecoderUtilization(d, &value, &period), NVML_SUCCESS);
  EXPECT_EQ(value, 13u);
  ASSERT_EQ(nvml_->nvmlDeviceGetFanSpeed(d, &value), NVML_SUCCESS);
  EXPECT_EQ(value, 44u);
  ASSERT_EQ(nvml_->nvmlDeviceGetPcieThroughput(d, NVML_PCIE_UTIL_TX_BYTES, &value), NVML_SUCCESS);
  EXPECT_EQ(value, 1234u);
  ASSERT_EQ(nvml_->nvmlDeviceGetPcieThroughput(d, NVML_PCIE_UTIL_RX_BYTES, &value), NVML_SUCCESS);
  EXPECT_EQ(value, 5678u);

  nvmlProcessInfo_t procs[4] = {};
  unsigned int n = 4;
  ASSERT_EQ(nvml_->nvmlDeviceGetComputeRunningProcesses_v3(d, &n, procs), NVML_SUCCESS);
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(procs[0].pid, 100u);
  EXPECT_EQ(procs[0].usedGpuMemory, 1000 * kMiB);
  EXPECT_EQ(procs[1].pid, 101u);
  EXPECT_EQ(procs[1].usedGpuMemory, NVML_VALUE_NOT_AVAILABLE_ULL);

  ASSERT_EQ(nvml_->nvmlDeviceGetName(Device(1), text, sizeof(text)), NVML_SUCCESS);
  EXPECT_STREQ(text, "Second");
}

TEST_F(NvmlSimTest, VaryingUtilizationChangesWithinItsRange) {
  UseScenario(R"({"gpus": [{"utilization_gpu": {"min": 10, "max": 90, "period_s": 0.2, "shape": "triangle"}}]})");
  Init();
  nvmlDevice_t d = Device(0);
  std::set<unsigned int> seen;
  bool varied = Eventually([&] {
    unsigned int u = GpuUtilization(d);
    EXPECT_GE(u, 10u);
    EXPECT_LE(u, 90u);
    seen.insert(u);
    return seen.size() >= 5;
  });
  EXPECT_TRUE(varied) << "only " << seen.size() << " distinct values";
}

TEST_F(NvmlSimTest, RewrittenScenarioIsPickedUp) {
  UseScenario(R"({"gpus": [{"utilization_gpu": 10}, {"utilization_gpu": 20}]})");
  Init();
  nvmlDevice_t d0 = Device(0), d1 = Device(1);
  ASSERT_EQ(GpuUtilization(d0), 10u);
  unsigned long long reloads = nvml_->gpulseSimReloadCount();

  RewriteScenario(R"({"gpus": [{"utilization_gpu": 77}, {"utilization_gpu": 20, "lost": true}]})");
  EXPECT_TRUE(Eventually([&] { return GpuUtilization(d0) == 77; }));
  EXPECT_GT(nvml_->gpulseSimReloadCount(), reloads);
  nvmlUtilization_t u{};
  EXPECT_EQ(nvml_->nvmlDeviceGetUtilizationRates(d1, &u), NVML_ERROR_GPU_IS_LOST);
}

TEST_F(NvmlSimTest, MalformedRewriteKeepsTheLastGoodScenario) {
  UseScenario(R"({"gpus": [{"utilization_gpu": 10}]})");
  Init();
  nvmlDevice_t d = Device(0);
  unsigned long long rejected = nvml_->gpulseSimRejectedReloadCount();
  RewriteScenario(R"({"gpus": [{"utilization_gpu": )");
  EXPECT_TRUE(Eventually([&] {
    GpuUtilization(d);  // queries are what trigger the check
    return nvml_->gpulseSimRejectedReloadCount() > rejected;
  }));
  EXPECT_EQ(GpuUtilization(d), 10u);
}

TEST_F(NvmlSimTest, ShrinkingScenarioInvalidatesRemovedHandles) {
  UseScenario(R"({"gpu_count": 2})");
  Init();
  nvmlDevice_t d1 = Device(1);
  RewriteScenario(R"({"gpu_count": 1})");
  unsigned int count = 0;
  EXPECT_TRUE(Eventually([&] { return nvml_->nvmlDeviceGetCount_v2(&count) == NVML_SUCCESS && count == 1; }));
  nvmlUtilization_t u{};
  EXPECT_EQ(nvml_->nvmlDeviceGetUtilizationRates(d1, &u), NVML_ERROR_INVALID_ARGUMENT);
}

TEST_F(NvmlSimTest, InjectedErrorsAffectOnlyTheirGpuAndCall) {
  UseScenario(R"({"gpus": [
    {"errors": {"nvmlDeviceGetFanSpeed": "NOT_SUPPORTED", "nvmlDeviceGetMemoryInfo": "NVML_ERROR_NO_PERMISSION",
                "nvmlDeviceGetTemperatureV": "TIMEOUT"}},
    {}
  ]})");
  Init();
  nvmlDevice_t d0 = Device(0), d1 = Device(1);
  unsigned int value = 0;
  EXPECT_EQ(nvml_->nvmlDeviceGetFanSpeed(d0, &value), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(nvml_->nvmlDeviceGetFanSpeed(d1, &value), NVML_SUCCESS);
  nvmlMemory_t m1{};
  nvmlMemory_v2_t m2{};
  m2.version = nvmlMemory_v2;
  EXPECT_EQ(nvml_->nvmlDeviceGetMemoryInfo(d0, &m1), NVML_ERROR_NO_PERMISSION);
  EXPECT_EQ(nvml_->nvmlDeviceGetMemoryInfo_v2(d0, &m2), NVML_ERROR_NO_PERMISSION);
  nvmlTemperature_v1_t t{};
  t.version = nvmlTemperature_v1;
  EXPECT_EQ(nvml_->nvmlDeviceGetTemperatureV(d0, &t), NVML_ERROR_TIMEOUT);
  EXPECT_EQ(nvml_->nvmlDeviceGetTemperature(d0, NVML_TEMPERATURE_GPU, &value), NVML_SUCCESS);
  EXPECT_EQ(nvml_->nvmlDeviceGetPowerUsage(d0, &value), NVML_SUCCESS);
  EXPECT_STREQ(nvml_->nvmlErrorString(NVML_ERROR_NOT_SUPPORTED), "Not Supported");
}

TEST_F(NvmlSimTest, LostGpuFailsEveryQueryButKeepsItsHandle) {
  UseScenario(R"({"gpus": [{}, {"lost": true}, {}]})");
  Init();
  nvmlDevice_t lost = Device(1);
  ASSERT_NE(lost, nullptr);
  char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
  unsigned int value = 0, period = 0;
  nvmlUtilization_t u{};
  nvmlMemory_t m{};
  nvmlPciInfo_t pci{};
  EXPECT_EQ(nvml_->nvmlDeviceGetName(lost, text, sizeof(text)), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetUUID(lost, text, sizeof(text)), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetPciInfo_v3(lost, &pci), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetUtilizationRates(lost, &u), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetMemoryInfo(lost, &m), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetTemperature(lost, NVML_TEMPERATURE_GPU, &value), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetPowerUsage(lost, &value), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetClockInfo(lost, NVML_CLOCK_SM, &value), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetEncoderUtilization(lost, &value, &period), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetFanSpeed(lost, &value), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_->nvmlDeviceGetPcieThroughput(lost, NVML_PCIE_UTIL_TX_BYTES, &value), NVML_ERROR_GPU_IS_LOST);
  unsigned int n = 0;
  EXPECT_EQ(nvml_->nvmlDeviceGetComputeRunningProcesses_v3(lost, &n, nullptr), NVML_ERROR_GPU_IS_LOST);
  EXPECT_STREQ(nvml_->nvmlErrorString(NVML_ERROR_GPU_IS_LOST), "GPU is lost");
  EXPECT_EQ(GpuUtilization(Device(2)), 10u);
}

TEST_F(NvmlSimTest, InitErrorFailsInitWithoutTakingAReference) {
  UseScenario(R"({"gpu_count": 1, "init_error": "DRIVER_NOT_LOADED"})");
  unsigned int inits = nvml_->gpulseSimInitCount();
  EXPECT_EQ(nvml_->nvmlInit_v2(), NVML_ERROR_DRIVER_NOT_LOADED);
  EXPECT_EQ(nvml_->nvmlInit(), NVML_ERROR_DRIVER_NOT_LOADED);
  EXPECT_EQ(nvml_->gpulseSimInitCount(), inits);
  unsigned int count = 0;
  EXPECT_EQ(nvml_->nvmlDeviceGetCount_v2(&count), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(nvml_->nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
  EXPECT_STREQ(nvml_->nvmlErrorString(NVML_ERROR_DRIVER_NOT_LOADED), "Driver Not Loaded");
}

TEST_F(NvmlSimTest, InitIsReferenceCounted) {
  unsigned int inits = nvml_->gpulseSimInitCount(), shutdowns = nvml_->gpulseSimShutdownCount();
  unsigned int count = 0;
  ASSERT_EQ(nvml_->nvmlInit_v2(), NVML_SUCCESS);
  ASSERT_EQ(nvml_->nvmlInit(), NVML_SUCCESS);
  EXPECT_EQ(nvml_->gpulseSimInitCount(), inits + 2);
  EXPECT_EQ(nvml_->nvmlShutdown(), NVML_SUCCESS);
  EXPECT_EQ(nvml_->nvmlDeviceGetCount_v2(&count), NVML_SUCCESS);  // one reference left
  EXPECT_EQ(nvml_->nvmlShutdown(), NVML_SUCCESS);
  EXPECT_EQ(nvml_->nvmlDeviceGetCount_v2(&count), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(nvml_->nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(nvml_->gpulseSimShutdownCount(), shutdowns + 2);
}

TEST_F(NvmlSimTest, EnvironmentIsReadAgainAfterFullShutdown) {
  UseScenario(R"({"gpu_count": 1})");
  Init();
  unsigned int count = 0;
  ASSERT_EQ(nvml_->nvmlDeviceGetCount_v2(&count), NVML_SUCCESS);
  EXPECT_EQ(count, 1u);
  ASSERT_EQ(nvml_->nvmlShutdown(), NVML_SUCCESS);

  ASSERT_FALSE(dir_.Write("other.json", R"({"gpu_count": 3})").empty());
  setenv(kScenarioEnv, dir_.File("other.json").c_str(), 1);
  Init();
  ASSERT_EQ(nvml_->nvmlDeviceGetCount_v2(&count), NVML_SUCCESS);
  EXPECT_EQ(count, 3u);
}

TEST_F(NvmlSimTest, SeedEnvironmentChoosesDefaultUuids) {
  setenv(kSeedEnv, "worker-a", 1);
  Init();
  std::string a = Uuid(Device(0));
  ASSERT_EQ(nvml_->nvmlShutdown(), NVML_SUCCESS);
  setenv(kSeedEnv, "worker-b", 1);
  Init();
  std::string b = Uuid(Device(0));
  ASSERT_EQ(nvml_->nvmlShutdown(), NVML_SUCCESS);
  setenv(kSeedEnv, "worker-a", 1);
  Init();
  EXPECT_NE(a, b);
  EXPECT_EQ(Uuid(Device(0)), a);
}

TEST_F(NvmlSimTest, ProcessListUsesInsufficientSizeProtocol) {
  UseScenario(R"({"gpus": [
    {"processes": [{"pid": 1, "used_memory_mib": 1}, {"pid": 2, "used_memory_mib": 2}, {"pid": 3}]}, {}]})");
  Init();
  nvmlDevice_t d = Device(0);
  for (auto get : {nvml_->nvmlDeviceGetComputeRunningProcesses_v3, nvml_->nvmlDeviceGetComputeRunningProcesses_v2}) {
    unsigned int n = 0;
    EXPECT_EQ(get(d, &n, nullptr), NVML_ERROR_INSUFFICIENT_SIZE);
    EXPECT_EQ(n, 3u);
    nvmlProcessInfo_t infos[5] = {};
    n = 1;
    EXPECT_EQ(get(d, &n, infos), NVML_ERROR_INSUFFICIENT_SIZE);
    EXPECT_EQ(n, 3u);
    n = 5;
    ASSERT_EQ(get(d, &n, infos), NVML_SUCCESS);
    ASSERT_EQ(n, 3u);
    EXPECT_EQ(infos[2].pid, 3u);
    EXPECT_EQ(infos[1].usedGpuMemory, 2ULL << 20);
    n = 3;
    EXPECT_EQ(get(d, &n, nullptr), NVML_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(get(d, nullptr, infos), NVML_ERROR_INVALID_ARGUMENT);
  }
  unsigned int n = 0;
  EXPECT_EQ(nvml_->nvmlDeviceGetComputeRunningProcesses_v3(Device(1), &n, nullptr), NVML_SUCCESS);
  EXPECT_EQ(n, 0u);
}

TEST_F(NvmlSimTest, VersionedStructsCheckTheirVersion) {
  Init();
  nvmlDevice_t d = Device(0);
  nvmlMemory_v2_t m{};
  m.version = 0;
  EXPECT_EQ(nvml_->nvmlDeviceGetMemoryInfo_v2(d, &m), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  m.version = GPULSE_NVML_STRUCT_VERSION(nvmlMemory_v2_t, 1);
  EXPECT_EQ(nvml_->nvmlDeviceGetMemoryInfo_v2(d, &m), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  nvmlTemperature_v1_t t{};
  t.version = GPULSE_NVML_STRUCT_VERSION(nvmlTemperature_v1_t, 2);
  EXPECT_EQ(nvml_->nvmlDeviceGetTemperatureV(d, &t), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  EXPECT_STREQ(nvml_->nvmlErrorString(NVML_ERROR_ARGUMENT_VERSION_MISMATCH), "Argument version mismatch");
}

TEST_F(NvmlSimTest, ShortBuffersAreInsufficientSize) {
  Init();
  nvmlDevice_t d = Device(0);
  char small[8];
  EXPECT_EQ(nvml_->nvmlDeviceGetName(d, small, sizeof(small)), NVML_ERROR_INSUFFICIENT_SIZE);
  EXPECT_EQ(nvml_->nvmlDeviceGetUUID(d, small, sizeof(small)), NVML_ERROR_INSUFFICIENT_SIZE);
  EXPECT_EQ(nvml_->nvmlSystemGetDriverVersion(small, sizeof(small)), NVML_ERROR_INSUFFICIENT_SIZE);
  char exact[10];  // "580.65.06" and its terminator
  EXPECT_EQ(nvml_->nvmlSystemGetDriverVersion(exact, sizeof(exact)), NVML_SUCCESS);
}

TEST_F(NvmlSimTest, BadHandlesAndArgumentsAreInvalidArgument) {
  Init();
  nvmlDevice_t device = nullptr;
  EXPECT_EQ(nvml_->nvmlDeviceGetHandleByIndex_v2(2, &device), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvml_->nvmlDeviceGetHandleByIndex_v2(0, nullptr), NVML_ERROR_INVALID_ARGUMENT);
  nvmlUtilization_t u{};
  int not_a_device = 0;
  EXPECT_EQ(nvml_->nvmlDeviceGetUtilizationRates(nullptr, &u), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvml_->nvmlDeviceGetUtilizationRates(reinterpret_cast<nvmlDevice_t>(&not_a_device), &u),
            NVML_ERROR_INVALID_ARGUMENT);
  nvmlDevice_t d = Device(0);
  unsigned int value = 0;
  EXPECT_EQ(nvml_->nvmlDeviceGetUtilizationRates(d, nullptr), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvml_->nvmlDeviceGetClockInfo(d, static_cast<nvmlClockType_t>(9), &value), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvml_->nvmlDeviceGetPcieThroughput(d, static_cast<nvmlPcieUtilCounter_t>(5), &value),
            NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvml_->nvmlDeviceGetTemperature(d, static_cast<nvmlTemperatureSensors_t>(1), &value),
            NVML_ERROR_INVALID_ARGUMENT);
}

TEST_F(NvmlSimTest, MalformedScenarioAtInitFailsWithTheReason) {
  std::string path = UseScenario(R"({"gpus": [{"utilization_gpu": 150}]})");
  EXPECT_EQ(nvml_->nvmlInit_v2(), NVML_ERROR_UNKNOWN);
  const char* why = nvml_->nvmlErrorString(NVML_ERROR_UNKNOWN);
  EXPECT_THAT(why, HasSubstr(path));
  EXPECT_THAT(why, HasSubstr("gpus[0].utilization_gpu"));

  setenv(kScenarioEnv, dir_.File("missing.json").c_str(), 1);
  EXPECT_EQ(nvml_->nvmlInit_v2(), NVML_ERROR_UNKNOWN);
  EXPECT_THAT(nvml_->nvmlErrorString(NVML_ERROR_UNKNOWN), HasSubstr("missing.json"));
  unsigned int count = 0;
  EXPECT_EQ(nvml_->nvmlDeviceGetCount_v2(&count), NVML_ERROR_UNINITIALIZED);
}

TEST_F(NvmlSimTest, PcieThroughputBlocksForTheConfiguredDelay) {
  UseScenario(R"({"gpus": [{"pcie_delay_ms": 30}]})");
  Init();
  nvmlDevice_t d = Device(0);
  unsigned int kbps = 0;
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(nvml_->nvmlDeviceGetPcieThroughput(d, NVML_PCIE_UTIL_TX_BYTES, &kbps), NVML_SUCCESS);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
}

TEST_F(NvmlSimTest, QueryCountCountsQueriesOnly) {
  Init();
  unsigned long long before = nvml_->gpulseSimQueryCount();
  unsigned int count = 0;
  nvml_->nvmlDeviceGetCount_v2(&count);
  GpuUtilization(Device(0));  // two queries: handle + utilization
  nvml_->nvmlErrorString(NVML_SUCCESS);
  EXPECT_EQ(nvml_->gpulseSimQueryCount(), before + 3);
}

TEST_F(NvmlSimTest, QueriesRacingReloadsSeeOnlyPublishedValues) {
  UseScenario(R"({"gpu_count": 2, "gpu_defaults": {"utilization_gpu": 0}})");
  Init();
  nvmlDevice_t d = Device(1);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  auto reader = [&] {
    while (!stop.load()) {
      nvmlUtilization_t u{};
      // Every published scenario has a multiple of 10; anything else means a
      // query read a scenario that was half-built or already freed.
      if (nvml_->nvmlDeviceGetUtilizationRates(d, &u) != NVML_SUCCESS || u.gpu % 10 != 0) bad.fetch_add(1);
    }
  };
  std::thread r1(reader), r2(reader);
  for (int level = 1; level <= 5; ++level) {
    unsigned long long reloads = nvml_->gpulseSimReloadCount();
    RewriteScenario(R"({"gpu_count": 2, "gpu_defaults": {"utilization_gpu": )" + std::to_string(level * 10) + "}}");
    EXPECT_TRUE(Eventually([&] { return nvml_->gpulseSimReloadCount() > reloads; }));
  }
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(GpuUtilization(d), 50u);
}

// ---- Health: energy, ECC, remapped rows, clock event reasons, events. ----

TEST_F(NvmlSimTest, EnergyStartsAtTheScenarioValueAndGrowsWithPower) {
  UseScenario(R"({"gpus": [{"energy_start_mj": 5000, "power_w": 0}, {"energy_start_mj": 7000, "power_w": 500}]})");
  Init();
  unsigned long long idle = 0, busy = 0;
  ASSERT_EQ(nvml_->nvmlDeviceGetTotalEnergyConsumption(Device(0), &idle), NVML_SUCCESS);
  ASSERT_EQ(nvml_->nvmlDeviceGetTotalEnergyConsumption(Device(1), &busy), NVML_SUCCESS);
  EXPECT_EQ(idle, 5000u);
  EXPECT_EQ(busy, 7000u);
  // 500 W is 500 mJ per ms: the counter passes 7000 + 10 000 within moments.
  EXPECT_TRUE(Eventually([&] {
    unsigned long long now = 0;
    return nvml_->nvmlDeviceGetTotalEnergyConsumption(Device(1), &now) == NVML_SUCCESS && now > 17000;
  }));
  ASSERT_EQ(nvml_->nvmlDeviceGetTotalEnergyConsumption(Device(0), &idle), NVML_SUCCESS);
  EXPECT_EQ(idle, 5000u);  // no power, no energy
  EXPECT_EQ(nvml_->nvmlDeviceGetTotalEnergyConsumption(Device(0), nullptr), NVML_ERROR_INVALID_ARGUMENT);
}

TEST_F(NvmlSimTest, EccCountsRemappedRowsAndClockReasonsFollowTheScenario) {
  UseScenario(R"({"gpus": [
    {"ecc_corrected_volatile": 12, "ecc_uncorrected_volatile": 3,
     "remapped_rows": {"correctable": 4, "uncorrectable": 2, "pending": true, "failure": false},
     "clock_event_reasons": ["hw_thermal", "sw_power_cap"]},
    {"clock_event_reasons": "0x88"}]})");
  Init();
  unsigned long long count = 0;
  ASSERT_EQ(nvml_->nvmlDeviceGetTotalEccErrors(Device(0), NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC,
                                               &count),
            NVML_SUCCESS);
  EXPECT_EQ(count, 3u);
  ASSERT_EQ(nvml_->nvmlDeviceGetTotalEccErrors(Device(0), NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC,
                                               &count),
            NVML_SUCCESS);
  EXPECT_EQ(count, 12u);
  unsigned int corr = 0, unc = 0, pending = 0, failure = 9;
  ASSERT_EQ(nvml_->nvmlDeviceGetRemappedRows(Device(0), &corr, &unc, &pending, &failure), NVML_SUCCESS);
  EXPECT_EQ(corr, 4u);
  EXPECT_EQ(unc, 2u);
  EXPECT_EQ(pending, 1u);
  EXPECT_EQ(failure, 0u);
  unsigned long long reasons = 0;
  ASSERT_EQ(nvml_->nvmlDeviceGetCurrentClocksEventReasons(Device(0), &reasons), NVML_SUCCESS);
  EXPECT_EQ(reasons, 0x40u | 0x04u);
  ASSERT_EQ(nvml_->nvmlDeviceGetCurrentClocksThrottleReasons(Device(1), &reasons), NVML_SUCCESS);
  EXPECT_EQ(reasons, 0x88u);
}

TEST_F(NvmlSimTest, HealthCallsTakeInjectedErrors) {
  UseScenario(R"({"gpus": [{"errors": {"nvmlDeviceGetTotalEnergyConsumption": "NOT_SUPPORTED",
                                       "nvmlDeviceGetTotalEccErrors": "NOT_SUPPORTED",
                                       "nvmlDeviceGetRemappedRows": "NOT_SUPPORTED",
                                       "nvmlDeviceGetCurrentClocksEventReasons": "NOT_SUPPORTED",
                                       "nvmlDeviceRegisterEvents": "NOT_SUPPORTED"}}]})");
  Init();
  unsigned long long value = 0;
  unsigned int a = 0, b = 0, c = 0, d = 0;
  EXPECT_EQ(nvml_->nvmlDeviceGetTotalEnergyConsumption(Device(0), &value), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(nvml_->nvmlDeviceGetTotalEccErrors(Device(0), NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC,
                                               &value),
            NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(nvml_->nvmlDeviceGetRemappedRows(Device(0), &a, &b, &c, &d), NVML_ERROR_NOT_SUPPORTED);
  // The family name covers the older symbol too.
  EXPECT_EQ(nvml_->nvmlDeviceGetCurrentClocksEventReasons(Device(0), &value), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(nvml_->nvmlDeviceGetCurrentClocksThrottleReasons(Device(0), &value), NVML_ERROR_NOT_SUPPORTED);
  nvmlEventSet_t set = nullptr;
  ASSERT_EQ(nvml_->nvmlEventSetCreate(&set), NVML_SUCCESS);
  EXPECT_EQ(nvml_->nvmlDeviceRegisterEvents(Device(0), nvmlEventTypeXidCriticalError, set),
            NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(nvml_->nvmlEventSetFree(set), NVML_SUCCESS);
}

TEST_F(NvmlSimTest, EachScenarioXidIsDeliveredOnce) {
  UseScenario(R"({"gpus": [{}, {"xids": [79, 13]}]})");
  Init();
  nvmlEventSet_t set = nullptr;
  ASSERT_EQ(nvml_->nvmlEventSetCreate(&set), NVML_SUCCESS);
  for (unsigned int i = 0; i < 2; ++i) {
    ASSERT_EQ(nvml_->nvmlDeviceRegisterEvents(Device(i), nvmlEventTypeXidCriticalError | nvmlEventTypeDoubleBitEccError,
                                              set),
              NVML_SUCCESS);
  }
  nvmlEventData_t event{};
  ASSERT_EQ(nvml_->nvmlEventSetWait_v2(set, &event, 1000), NVML_SUCCESS);
  EXPECT_EQ(event.device, Device(1));
  EXPECT_EQ(event.eventType, nvmlEventTypeXidCriticalError);
  EXPECT_EQ(event.eventData, 79u);
  EXPECT_EQ(event.gpuInstanceId, 0xFFFFFFFFu);
  ASSERT_EQ(nvml_->nvmlEventSetWait_v2(set, &event, 1000), NVML_SUCCESS);
  EXPECT_EQ(event.eventData, 13u);
  // Both delivered: the next wait times out after about its timeout.
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(nvml_->nvmlEventSetWait_v2(set, &event, 50), NVML_ERROR_TIMEOUT);
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 2s);

  // An XID appended to the file, and a double-bit ECC error, arrive once each.
  RewriteScenario(R"({"gpus": [{"ecc_uncorrected_volatile": 1}, {"xids": [79, 13, 48]}]})");
  std::multiset<std::pair<unsigned long long, unsigned long long>> got;
  EXPECT_TRUE(Eventually([&] {
    if (nvml_->nvmlEventSetWait_v2(set, &event, 100) == NVML_SUCCESS) got.insert({event.eventType, event.eventData});
    return got.size() >= 2;
  }));
  EXPECT_EQ(got, (std::multiset<std::pair<unsigned long long, unsigned long long>>{
                     {nvmlEventTypeDoubleBitEccError, 0}, {nvmlEventTypeXidCriticalError, 48}}));
  EXPECT_EQ(nvml_->nvmlEventSetWait_v2(set, &event, 100), NVML_ERROR_TIMEOUT);
  EXPECT_EQ(nvml_->nvmlEventSetFree(set), NVML_SUCCESS);
  EXPECT_EQ(nvml_->nvmlEventSetFree(set), NVML_ERROR_INVALID_ARGUMENT);
}

TEST_F(NvmlSimTest, EventsGoOnlyToSetsRegisteredForTheirType) {
  UseScenario(R"({"gpus": [{"xids": [31], "ecc_uncorrected_volatile": 1}]})");
  Init();
  nvmlEventSet_t set = nullptr;
  ASSERT_EQ(nvml_->nvmlEventSetCreate(&set), NVML_SUCCESS);
  ASSERT_EQ(nvml_->nvmlDeviceRegisterEvents(Device(0), nvmlEventTypeDoubleBitEccError, set), NVML_SUCCESS);
  nvmlEventData_t event{};
  ASSERT_EQ(nvml_->nvmlEventSetWait_v2(set, &event, 1000), NVML_SUCCESS);
  EXPECT_EQ(event.eventType, nvmlEventTypeDoubleBitEccError);
  EXPECT_EQ(nvml_->nvmlEventSetWait_v2(set, &event, 30), NVML_ERROR_TIMEOUT);  // the XID is not for this set
  EXPECT_EQ(nvml_->nvmlEventSetWait_v2(set, nullptr, 30), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvml_->nvmlEventSetFree(set), NVML_SUCCESS);
}

TEST_F(NvmlSimTest, LegacyLibraryExportsOnlyTheOlderSymbols) {
  void* lib = LegacyLibrary();
  ASSERT_NE(lib, nullptr);
  for (const char* absent :
       {"nvmlInit_v2", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetMemoryInfo_v2",
        "nvmlDeviceGetTemperatureV", "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetEncoderUtilization",
        "nvmlDeviceGetDecoderUtilization", "nvmlDeviceGetFanSpeed", "nvmlDeviceGetTotalEnergyConsumption",
        "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetRemappedRows", "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons", "nvmlEventSetCreate", "nvmlDeviceRegisterEvents",
        "nvmlEventSetWait_v2", "nvmlEventSetFree"}) {
    EXPECT_EQ(dlsym(lib, absent), nullptr) << absent;
  }
  for (const char* present :
       {"nvmlInit", "nvmlShutdown", "nvmlErrorString", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
        "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetTemperature", "nvmlDeviceGetComputeRunningProcesses_v2",
        "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetPciInfo_v3", "gpulseSimInitCount"}) {
    EXPECT_NE(dlsym(lib, present), nullptr) << present;
  }
}

TEST_F(NvmlSimTest, LegacyLibraryWorksThroughItsFallbacks) {
  ASSERT_NE(LegacyLibrary(), nullptr);
  Api legacy(LegacyLibrary());
  UseScenario(R"({"gpu_count": 3, "model": "NVIDIA A100-SXM4-40GB"})");
  unsigned int inits = legacy.gpulseSimInitCount();
  ASSERT_EQ(legacy.nvmlInit(), NVML_SUCCESS);
  EXPECT_EQ(legacy.gpulseSimInitCount(), inits + 1);
  unsigned int count = 0, temp = 0;
  ASSERT_EQ(legacy.nvmlDeviceGetCount(&count), NVML_SUCCESS);
  EXPECT_EQ(count, 3u);
  nvmlDevice_t d = nullptr;
  ASSERT_EQ(legacy.nvmlDeviceGetHandleByIndex(2, &d), NVML_SUCCESS);
  nvmlMemory_t m{};
  ASSERT_EQ(legacy.nvmlDeviceGetMemoryInfo(d, &m), NVML_SUCCESS);
  EXPECT_EQ(m.total, 40960ULL << 20);
  EXPECT_EQ(legacy.nvmlDeviceGetTemperature(d, NVML_TEMPERATURE_GPU, &temp), NVML_SUCCESS);
  unsigned int n = 0;
  EXPECT_EQ(legacy.nvmlDeviceGetComputeRunningProcesses_v2(d, &n, nullptr), NVML_SUCCESS);
  // Its state is its own: the main library was not initialised.
  EXPECT_EQ(nvml_->nvmlDeviceGetCount(&count), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(legacy.nvmlShutdown(), NVML_SUCCESS);
}

}  // namespace
}  // namespace gpulse::nvml_sim
