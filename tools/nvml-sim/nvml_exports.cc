// The exported C entry points of the NVML simulator (libnvidia-ml-sim.so).
//
// Each function has the signature that telemetry/nvml_abi.h gives it (checked
// below) and behaves as real NVML does for the cases gpulse meets: errors
// before nvmlInit, bad handles, short buffers, struct version checks, the
// count-in/count-out process list. Built with GPULSE_NVML_SIM_LEGACY, the
// library leaves out the newer versioned and optional symbols, like an old
// driver. Thread-safe (see simulator.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>

#include "telemetry/nvml_abi.h"
#include "tools/nvml-sim/simulator.h"

using gpulse::nvml_sim::SimCall;
using gpulse::nvml_sim::SimQuery;
using gpulse::nvml_sim::Simulator;

namespace {

constexpr unsigned long long kMiB = 1ULL << 20;

// An enum argument's value as the caller passed it. A C caller may pass any
// int; reading it as the enum type would be undefined for values outside
// the enum's range, so it is copied out as bytes.
template <typename Enum>
int RawEnum(const Enum* value) {
  static_assert(sizeof(Enum) == sizeof(int));
  int raw = 0;
  std::memcpy(&raw, value, sizeof raw);
  return raw;
}

nvmlReturn_t CopyString(const std::string& value, char* buffer, unsigned int length) {
  if (buffer == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (length < value.size() + 1) return NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(buffer, value.c_str(), value.size() + 1);
  return NVML_SUCCESS;
}

nvmlReturn_t GetCount(SimCall call, unsigned int* count) {
  SimQuery q(call);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *count = static_cast<unsigned int>(q.scenario().gpus.size());
  return NVML_SUCCESS;
}

nvmlReturn_t GetHandleByIndex(SimCall call, unsigned int index, nvmlDevice_t* device) {
  SimQuery q = SimQuery::ForIndex(call, index);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (device == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *device = Simulator::HandleOf(index);
  return NVML_SUCCESS;
}

nvmlReturn_t GetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  SimQuery q(SimCall::kDeviceGetMemoryInfo, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (memory == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  // The v1 struct has no "reserved": NVML counts it as used.
  const unsigned long long total = q.gpu().memory_total_mib * kMiB;
  const unsigned long long used = (q.Whole(q.gpu().memory_used_mib) + q.gpu().memory_reserved_mib) * kMiB;
  memory->total = total;
  memory->used = used;
  memory->free = total - used;
  return NVML_SUCCESS;
}

nvmlReturn_t GetTemperature(nvmlDevice_t device, int sensor, unsigned int* temp) {
  SimQuery q(SimCall::kDeviceGetTemperature, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (temp == nullptr || sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  *temp = q.Whole(q.gpu().temperature_c);
  return NVML_SUCCESS;
}

nvmlReturn_t GetProcesses(SimCall call, nvmlDevice_t device, unsigned int* count, nvmlProcessInfo_t* infos) {
  SimQuery q(call, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (count == nullptr || (infos == nullptr && *count != 0)) return NVML_ERROR_INVALID_ARGUMENT;
  const auto& processes = q.gpu().processes;
  const unsigned int capacity = *count;
  *count = static_cast<unsigned int>(processes.size());
  if (capacity < processes.size()) return NVML_ERROR_INSUFFICIENT_SIZE;
  for (size_t i = 0; i < processes.size(); ++i) {
    infos[i].pid = processes[i].pid;
    infos[i].usedGpuMemory =
        processes[i].used_memory_mib ? *processes[i].used_memory_mib * kMiB : NVML_VALUE_NOT_AVAILABLE_ULL;
    infos[i].gpuInstanceId = 0xFFFFFFFFu;  // not a MIG instance
    infos[i].computeInstanceId = 0xFFFFFFFFu;
  }
  return NVML_SUCCESS;
}

// Unused by the legacy variant, which has no encoder/decoder symbols.
[[maybe_unused]] nvmlReturn_t GetCodecUtilization(SimCall call, nvmlDevice_t device, unsigned int* percent,
                                 unsigned int* sampling_period_us) {
  SimQuery q(call, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (percent == nullptr || sampling_period_us == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const auto& model =
      call == SimCall::kDeviceGetEncoderUtilization ? q.gpu().encoder_percent : q.gpu().decoder_percent;
  *percent = q.Whole(model, 100);
  *sampling_period_us = q.gpu().codec_sampling_period_us;
  return NVML_SUCCESS;
}

[[maybe_unused]] nvmlReturn_t GetClocksEventReasons(SimCall call, nvmlDevice_t device, unsigned long long* reasons) {
  SimQuery q(call, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (reasons == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *reasons = q.gpu().clock_event_reasons;
  return NVML_SUCCESS;
}

}  // namespace

extern "C" {

#define GPULSE_SIM_EXPORT __attribute__((visibility("default")))

GPULSE_SIM_EXPORT nvmlReturn_t nvmlInit(void) { return Simulator::Instance().Init(); }

GPULSE_SIM_EXPORT nvmlReturn_t nvmlShutdown(void) { return Simulator::Instance().Shutdown(); }

GPULSE_SIM_EXPORT const char* nvmlErrorString(nvmlReturn_t result) {
  return Simulator::Instance().ErrorString(result);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  SimQuery q(SimCall::kSystemGetDriverVersion);
  if (q.status() != NVML_SUCCESS) return q.status();
  return CopyString(q.scenario().driver_version, version, length);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int* count) {
  return GetCount(SimCall::kDeviceGetCount, count);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t* device) {
  return GetHandleByIndex(SimCall::kDeviceGetHandleByIndex, index, device);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  SimQuery q(SimCall::kDeviceGetName, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  return CopyString(q.gpu().name, name, length);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  SimQuery q(SimCall::kDeviceGetUUID, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  return CopyString(q.gpu().uuid, uuid, length);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  SimQuery q(SimCall::kDeviceGetPciInfoV3, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (pci == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const auto& gpu = q.gpu();
  std::memset(pci, 0, sizeof(*pci));
  std::snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04X:%02X:%02X.0", gpu.pci_domain & 0xFFFF,
                gpu.pci_bus, gpu.pci_device);
  std::snprintf(pci->busId, sizeof(pci->busId), "%s", gpu.pci_bus_id.c_str());
  pci->domain = gpu.pci_domain;
  pci->bus = gpu.pci_bus;
  pci->device = gpu.pci_device;
  pci->pciDeviceId = gpu.pci_device_id;
  pci->pciSubSystemId = gpu.pci_subsystem_id;
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t* u) {
  SimQuery q(SimCall::kDeviceGetUtilizationRates, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (u == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  u->gpu = q.Whole(q.gpu().utilization_gpu, 100);
  u->memory = q.Whole(q.gpu().utilization_memory, 100);
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  return GetMemoryInfo(device, memory);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensor,
                                                        unsigned int* temp) {
  return GetTemperature(device, RawEnum(&sensor), temp);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* milliwatts) {
  SimQuery q(SimCall::kDeviceGetPowerUsage, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (milliwatts == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *milliwatts = static_cast<unsigned int>(std::max(0.0, q.Value(q.gpu().power_w)) * 1000 + 0.5);
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int* milliwatts) {
  SimQuery q(SimCall::kDeviceGetEnforcedPowerLimit, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (milliwatts == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *milliwatts = static_cast<unsigned int>(std::max(0.0, q.Value(q.gpu().power_limit_w)) * 1000 + 0.5);
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type,
                                                      unsigned int* mhz) {
  SimQuery q(SimCall::kDeviceGetClockInfo, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (mhz == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const auto& gpu = q.gpu();
  switch (RawEnum(&type)) {
    case NVML_CLOCK_GRAPHICS: *mhz = q.Whole(gpu.clock_graphics_mhz); return NVML_SUCCESS;
    case NVML_CLOCK_SM: *mhz = q.Whole(gpu.clock_sm_mhz); return NVML_SUCCESS;
    case NVML_CLOCK_MEM: *mhz = q.Whole(gpu.clock_mem_mhz); return NVML_SUCCESS;
    case NVML_CLOCK_VIDEO: *mhz = q.Whole(gpu.clock_video_mhz); return NVML_SUCCESS;
  }
  return NVML_ERROR_INVALID_ARGUMENT;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t device, nvmlPcieUtilCounter_t counter,
                                                           unsigned int* kilobytes_per_s) {
  SimQuery q(SimCall::kDeviceGetPcieThroughput, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (kilobytes_per_s == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const int which = RawEnum(&counter);
  if (which != NVML_PCIE_UTIL_TX_BYTES && which != NVML_PCIE_UTIL_RX_BYTES) return NVML_ERROR_INVALID_ARGUMENT;
  // Real NVML samples the link for about 20 ms before answering.
  if (q.gpu().pcie_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(q.gpu().pcie_delay_ms));
  *kilobytes_per_s = q.Whole(which == NVML_PCIE_UTIL_TX_BYTES ? q.gpu().pcie_tx_kbps : q.gpu().pcie_rx_kbps);
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int* count,
                                                                       nvmlProcessInfo_t* infos) {
  return GetProcesses(SimCall::kDeviceGetComputeRunningProcessesV2, device, count, infos);
}

#ifndef GPULSE_NVML_SIM_LEGACY

GPULSE_SIM_EXPORT nvmlReturn_t nvmlInit_v2(void) { return Simulator::Instance().Init(); }

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  return GetCount(SimCall::kDeviceGetCountV2, count);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  return GetHandleByIndex(SimCall::kDeviceGetHandleByIndexV2, index, device);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t* memory) {
  SimQuery q(SimCall::kDeviceGetMemoryInfoV2, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (memory == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (memory->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  const unsigned long long total = q.gpu().memory_total_mib * kMiB;
  const unsigned long long reserved = q.gpu().memory_reserved_mib * kMiB;
  const unsigned long long used = q.Whole(q.gpu().memory_used_mib) * kMiB;
  memory->total = total;
  memory->reserved = reserved;
  memory->used = used;
  memory->free = total - reserved - used;
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_v1_t* temperature) {
  SimQuery q(SimCall::kDeviceGetTemperatureV, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (temperature == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (temperature->version != nvmlTemperature_v1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  if (temperature->sensorType != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  temperature->temperature = static_cast<int>(std::lround(q.Value(q.gpu().temperature_c)));
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int* percent,
                                                               unsigned int* sampling_period_us) {
  return GetCodecUtilization(SimCall::kDeviceGetEncoderUtilization, device, percent, sampling_period_us);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int* percent,
                                                               unsigned int* sampling_period_us) {
  return GetCodecUtilization(SimCall::kDeviceGetDecoderUtilization, device, percent, sampling_period_us);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int* percent) {
  SimQuery q(SimCall::kDeviceGetFanSpeed, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (percent == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *percent = q.Whole(q.gpu().fan_percent, 100);
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int* count,
                                                                       nvmlProcessInfo_t* infos) {
  return GetProcesses(SimCall::kDeviceGetComputeRunningProcessesV3, device, count, infos);
}

// ---- Health: energy, ECC, row remapping, clock event reasons, events. ----

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                                   unsigned long long* energy_mj) {
  SimQuery q(SimCall::kDeviceGetTotalEnergyConsumption, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (energy_mj == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *energy_mj = Simulator::Instance().health().Energy(q.index(), q.gpu(), q.Value(q.gpu().power_w), q.now_s());
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t error_type,
                                                           nvmlEccCounterType_t counter_type,
                                                           unsigned long long* ecc_counts) {
  SimQuery q(SimCall::kDeviceGetTotalEccErrors, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (ecc_counts == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (counter_type != NVML_VOLATILE_ECC && counter_type != NVML_AGGREGATE_ECC) return NVML_ERROR_INVALID_ARGUMENT;
  // The simulator keeps one count per error type: aggregate equals volatile.
  switch (error_type) {
    case NVML_MEMORY_ERROR_TYPE_CORRECTED: *ecc_counts = q.gpu().ecc_corrected_volatile; return NVML_SUCCESS;
    case NVML_MEMORY_ERROR_TYPE_UNCORRECTED: *ecc_counts = q.gpu().ecc_uncorrected_volatile; return NVML_SUCCESS;
  }
  return NVML_ERROR_INVALID_ARGUMENT;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int* corr_rows,
                                                         unsigned int* unc_rows, unsigned int* is_pending,
                                                         unsigned int* failure_occurred) {
  SimQuery q(SimCall::kDeviceGetRemappedRows, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (corr_rows == nullptr || unc_rows == nullptr || is_pending == nullptr || failure_occurred == nullptr) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  *corr_rows = q.gpu().remapped_rows_correctable;
  *unc_rows = q.gpu().remapped_rows_uncorrectable;
  *is_pending = q.gpu().remap_pending ? 1 : 0;
  *failure_occurred = q.gpu().remap_failure ? 1 : 0;
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device,
                                                                      unsigned long long* reasons) {
  return GetClocksEventReasons(SimCall::kDeviceGetCurrentClocksEventReasons, device, reasons);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device,
                                                                         unsigned long long* reasons) {
  return GetClocksEventReasons(SimCall::kDeviceGetCurrentClocksThrottleReasons, device, reasons);
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t* set) {
  SimQuery q(SimCall::kEventSetCreate);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (set == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *set = Simulator::Instance().health().CreateSet();
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long event_types,
                                                        nvmlEventSet_t set) {
  SimQuery q(SimCall::kDeviceRegisterEvents, device);
  if (q.status() != NVML_SUCCESS) return q.status();
  if (!Simulator::Instance().health().Register(set, q.index(), event_types)) return NVML_ERROR_INVALID_ARGUMENT;
  return NVML_SUCCESS;
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t* data,
                                                   unsigned int timeout_ms) {
  // Events come from scenario changes, which the simulator adopts during
  // queries: look every few milliseconds until one is due or time is up.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    {
      SimQuery q(SimCall::kEventSetWait);
      if (q.status() != NVML_SUCCESS) return q.status();
      if (data == nullptr || !Simulator::Instance().health().IsLiveSet(set)) return NVML_ERROR_INVALID_ARGUMENT;
      if (Simulator::Instance().health().TakeEvent(set, q.scenario(), data)) return NVML_SUCCESS;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return NVML_ERROR_TIMEOUT;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(deadline - now,
                                                                              std::chrono::milliseconds(10)));
  }
}

GPULSE_SIM_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  if (!Simulator::Instance().initialized()) return NVML_ERROR_UNINITIALIZED;
  return Simulator::Instance().health().FreeSet(set) ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

#endif  // GPULSE_NVML_SIM_LEGACY

// ---- Test hooks (not part of NVML). ----

// Successful nvmlInit/nvmlInit_v2 calls since the library was loaded.
GPULSE_SIM_EXPORT unsigned int gpulseSimInitCount(void) { return Simulator::Instance().init_count(); }

// Successful nvmlShutdown calls since the library was loaded.
GPULSE_SIM_EXPORT unsigned int gpulseSimShutdownCount(void) { return Simulator::Instance().shutdown_count(); }

// Calls to any query function (everything but init, shutdown and
// nvmlErrorString), successful or not, since the library was loaded.
GPULSE_SIM_EXPORT unsigned long long gpulseSimQueryCount(void) { return Simulator::Instance().query_count(); }

// Changed scenario files adopted since the library was loaded.
GPULSE_SIM_EXPORT unsigned long long gpulseSimReloadCount(void) {
  return Simulator::Instance().source().reload_count();
}

// Changed scenario files rejected as malformed (the previous scenario stayed).
GPULSE_SIM_EXPORT unsigned long long gpulseSimRejectedReloadCount(void) {
  return Simulator::Instance().source().rejected_count();
}

}  // extern "C"

// Every export has exactly the type that gpulse's loader casts it to.
static_assert(std::is_same_v<decltype(&nvmlInit), nvmlInit_fn>);
static_assert(std::is_same_v<decltype(&nvmlShutdown), nvmlShutdown_fn>);
static_assert(std::is_same_v<decltype(&nvmlErrorString), nvmlErrorString_fn>);
static_assert(std::is_same_v<decltype(&nvmlSystemGetDriverVersion), nvmlSystemGetDriverVersion_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetCount), nvmlDeviceGetCount_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetHandleByIndex), nvmlDeviceGetHandleByIndex_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetName), nvmlDeviceGetName_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetUUID), nvmlDeviceGetUUID_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetPciInfo_v3), nvmlDeviceGetPciInfo_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetUtilizationRates), nvmlDeviceGetUtilizationRates_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetMemoryInfo), nvmlDeviceGetMemoryInfo_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetTemperature), nvmlDeviceGetTemperature_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetPowerUsage), nvmlDeviceGetPowerUsage_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetEnforcedPowerLimit), nvmlDeviceGetEnforcedPowerLimit_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetClockInfo), nvmlDeviceGetClockInfo_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetPcieThroughput), nvmlDeviceGetPcieThroughput_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetComputeRunningProcesses_v2),
                             nvmlDeviceGetComputeRunningProcesses_fn>);
#ifndef GPULSE_NVML_SIM_LEGACY
static_assert(std::is_same_v<decltype(&nvmlInit_v2), nvmlInit_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetCount_v2), nvmlDeviceGetCount_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetHandleByIndex_v2), nvmlDeviceGetHandleByIndex_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetMemoryInfo_v2), nvmlDeviceGetMemoryInfo_v2_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetTemperatureV), nvmlDeviceGetTemperatureV_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetEncoderUtilization), nvmlDeviceGetEncoderUtilization_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetDecoderUtilization), nvmlDeviceGetDecoderUtilization_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetFanSpeed), nvmlDeviceGetFanSpeed_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetComputeRunningProcesses_v3),
                             nvmlDeviceGetComputeRunningProcesses_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetTotalEnergyConsumption),
                             nvmlDeviceGetTotalEnergyConsumption_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetTotalEccErrors), nvmlDeviceGetTotalEccErrors_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetRemappedRows), nvmlDeviceGetRemappedRows_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetCurrentClocksEventReasons),
                             nvmlDeviceGetCurrentClocksEventReasons_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetCurrentClocksThrottleReasons),
                             nvmlDeviceGetCurrentClocksEventReasons_fn>);
static_assert(std::is_same_v<decltype(&nvmlEventSetCreate), nvmlEventSetCreate_fn>);
static_assert(std::is_same_v<decltype(&nvmlDeviceRegisterEvents), nvmlDeviceRegisterEvents_fn>);
static_assert(std::is_same_v<decltype(&nvmlEventSetWait_v2), nvmlEventSetWait_fn>);
static_assert(std::is_same_v<decltype(&nvmlEventSetFree), nvmlEventSetFree_fn>);
#endif
