#include "tools/nvml-sim/sim_calls.h"

namespace gpulse::nvml_sim {
namespace {

constexpr SimCallInfo kCalls[] = {
    {SimCall::kSystemGetDriverVersion, "nvmlSystemGetDriverVersion", "nvmlSystemGetDriverVersion", false},
    {SimCall::kDeviceGetCount, "nvmlDeviceGetCount", "nvmlDeviceGetCount", false},
    {SimCall::kDeviceGetCountV2, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount", false},
    {SimCall::kEventSetCreate, "nvmlEventSetCreate", "nvmlEventSetCreate", false},
    {SimCall::kEventSetWait, "nvmlEventSetWait_v2", "nvmlEventSetWait", false},
    {SimCall::kDeviceGetHandleByIndex, "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetHandleByIndex", true},
    {SimCall::kDeviceGetHandleByIndexV2, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex", true},
    {SimCall::kDeviceGetName, "nvmlDeviceGetName", "nvmlDeviceGetName", true},
    {SimCall::kDeviceGetUUID, "nvmlDeviceGetUUID", "nvmlDeviceGetUUID", true},
    {SimCall::kDeviceGetPciInfoV3, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo", true},
    {SimCall::kDeviceGetUtilizationRates, "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetUtilizationRates",
     true},
    {SimCall::kDeviceGetMemoryInfo, "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMemoryInfo", true},
    {SimCall::kDeviceGetMemoryInfoV2, "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetMemoryInfo", true},
    {SimCall::kDeviceGetTemperature, "nvmlDeviceGetTemperature", "nvmlDeviceGetTemperature", true},
    {SimCall::kDeviceGetTemperatureV, "nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperature", true},
    {SimCall::kDeviceGetPowerUsage, "nvmlDeviceGetPowerUsage", "nvmlDeviceGetPowerUsage", true},
    {SimCall::kDeviceGetEnforcedPowerLimit, "nvmlDeviceGetEnforcedPowerLimit",
     "nvmlDeviceGetEnforcedPowerLimit", true},
    {SimCall::kDeviceGetClockInfo, "nvmlDeviceGetClockInfo", "nvmlDeviceGetClockInfo", true},
    {SimCall::kDeviceGetEncoderUtilization, "nvmlDeviceGetEncoderUtilization",
     "nvmlDeviceGetEncoderUtilization", true},
    {SimCall::kDeviceGetDecoderUtilization, "nvmlDeviceGetDecoderUtilization",
     "nvmlDeviceGetDecoderUtilization", true},
    {SimCall::kDeviceGetFanSpeed, "nvmlDeviceGetFanSpeed", "nvmlDeviceGetFanSpeed", true},
    {SimCall::kDeviceGetPcieThroughput, "nvmlDeviceGetPcieThroughput", "nvmlDeviceGetPcieThroughput", true},
    {SimCall::kDeviceGetComputeRunningProcessesV2, "nvmlDeviceGetComputeRunningProcesses_v2",
     "nvmlDeviceGetComputeRunningProcesses", true},
    {SimCall::kDeviceGetComputeRunningProcessesV3, "nvmlDeviceGetComputeRunningProcesses_v3",
     "nvmlDeviceGetComputeRunningProcesses", true},
    {SimCall::kDeviceGetTotalEnergyConsumption, "nvmlDeviceGetTotalEnergyConsumption",
     "nvmlDeviceGetTotalEnergyConsumption", true},
    {SimCall::kDeviceGetTotalEccErrors, "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetTotalEccErrors", true},
    {SimCall::kDeviceGetRemappedRows, "nvmlDeviceGetRemappedRows", "nvmlDeviceGetRemappedRows", true},
    {SimCall::kDeviceGetCurrentClocksEventReasons, "nvmlDeviceGetCurrentClocksEventReasons",
     "nvmlDeviceGetCurrentClocksEventReasons", true},
    {SimCall::kDeviceGetCurrentClocksThrottleReasons, "nvmlDeviceGetCurrentClocksThrottleReasons",
     "nvmlDeviceGetCurrentClocksEventReasons", true},
    {SimCall::kDeviceRegisterEvents, "nvmlDeviceRegisterEvents", "nvmlDeviceRegisterEvents", true},
    {SimCall::kGpmQueryDeviceSupport, "nvmlGpmQueryDeviceSupport", "nvmlGpmQueryDeviceSupport", true},
    {SimCall::kGpmSampleGet, "nvmlGpmSampleGet", "nvmlGpmSampleGet", true},
    {SimCall::kGpmMetricsGet, "nvmlGpmMetricsGet", "nvmlGpmMetricsGet", true},
};
static_assert(std::size(kCalls) == kSimCallCount, "one table entry per SimCall");

}  // namespace

std::span<const SimCallInfo> SimCallTable() { return kCalls; }

std::vector<SimCall> SimCallsNamed(std::string_view key, bool per_device) {
  std::vector<SimCall> calls;
  for (const SimCallInfo& info : kCalls) {
    if (info.per_device != per_device) continue;
    if (key == info.symbol || key == info.family) calls.push_back(info.call);
  }
  return calls;
}

}  // namespace gpulse::nvml_sim
