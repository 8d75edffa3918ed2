// SimCall: the NVML query entry points whose result a scenario can override.
//
// A scenario's "errors" object maps an entry point to the error it returns.
// A key is either an exported symbol ("nvmlDeviceGetMemoryInfo_v2"), which
// affects that symbol only, or a family name without version suffix
// ("nvmlDeviceGetMemoryInfo"), which affects every version of it. Stateless;
// safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "telemetry/nvml_abi.h"

namespace gpulse::nvml_sim {

enum class SimCall {
  // System-wide calls (a scenario's top-level "errors").
  kSystemGetDriverVersion,
  kDeviceGetCount,
  kDeviceGetCountV2,
  kEventSetCreate,
  kEventSetWait,
  // Per-device calls (a GPU's "errors").
  kDeviceGetHandleByIndex,
  kDeviceGetHandleByIndexV2,
  kDeviceGetName,
  kDeviceGetUUID,
  kDeviceGetPciInfoV3,
  kDeviceGetUtilizationRates,
  kDeviceGetMemoryInfo,
  kDeviceGetMemoryInfoV2,
  kDeviceGetTemperature,
  kDeviceGetTemperatureV,
  kDeviceGetPowerUsage,
  kDeviceGetEnforcedPowerLimit,
  kDeviceGetClockInfo,
  kDeviceGetEncoderUtilization,
  kDeviceGetDecoderUtilization,
  kDeviceGetFanSpeed,
  kDeviceGetPcieThroughput,
  kDeviceGetComputeRunningProcessesV2,
  kDeviceGetComputeRunningProcessesV3,
  kDeviceGetTotalEnergyConsumption,
  kDeviceGetTotalEccErrors,
  kDeviceGetRemappedRows,
  kDeviceGetCurrentClocksEventReasons,
  kDeviceGetCurrentClocksThrottleReasons,  // the older name; same family
  kDeviceRegisterEvents,
  kGpmQueryDeviceSupport,
  kGpmSampleGet,
  kGpmMetricsGet,  // per device: the GPU of the samples
  kCount,
};
inline constexpr size_t kSimCallCount = static_cast<size_t>(SimCall::kCount);

// The injected result of each call; NVML_SUCCESS means "behave normally".
using CallErrors = std::array<nvmlReturn_t, kSimCallCount>;
inline CallErrors NoCallErrors() {
  CallErrors e;
  e.fill(NVML_SUCCESS);
  return e;
}

struct SimCallInfo {
  SimCall call;
  const char* symbol;  // "nvmlDeviceGetMemoryInfo_v2"
  const char* family;  // "nvmlDeviceGetMemoryInfo"
  bool per_device;     // configured per GPU rather than for the whole system
};

// Every SimCall, in enum order.
std::span<const SimCallInfo> SimCallTable();

// The calls that the "errors" key `key` names among those with the given
// per_device flag: one symbol, every member of a family, or none when the
// key names nothing.
std::vector<SimCall> SimCallsNamed(std::string_view key, bool per_device);

}  // namespace gpulse::nvml_sim
