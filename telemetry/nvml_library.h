// NvmlLibrary: libnvidia-ml opened at run time, as a table of function
// pointers.
//
// gpulse never links NVML at build time. Open() dlopen()s the driver's
// versioned library name, libnvidia-ml.so.1 (the unversioned libnvidia-ml.so
// can resolve to the CUDA toolkit's stub, which fails every call), or the path
// in GPULSE_NVML_LIBRARY. It resolves the newest versioned symbol first and
// falls back to older ones (nvmlInit_v2 → nvmlInit, …).
//
// Required functions (init, shutdown, count, handle, name, UUID, error string)
// must resolve or Open() fails. Every other function is optional: its pointer
// is null when the library lacks it, and the metric it reads is then absent.
//
// An NvmlLibrary is immutable after Open() and safe to use from any thread
// (NVML itself is thread-safe). Destroying it dlclose()s the library (which
// stays mapped: it is opened with RTLD_NODELETE); shut NVML down first.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "telemetry/nvml_abi.h"

namespace gpulse::telemetry {

// The NVML functions gpulse calls. Required members are never null after a
// successful NvmlLibrary::Open(); optional members are null when missing.
struct NvmlFunctions {
  // Required.
  nvmlInit_fn init = nullptr;                                  // nvmlInit_v2 | nvmlInit
  nvmlShutdown_fn shutdown = nullptr;
  nvmlErrorString_fn error_string = nullptr;
  nvmlDeviceGetCount_fn device_get_count = nullptr;            // _v2 | plain
  nvmlDeviceGetHandleByIndex_fn device_get_handle_by_index = nullptr;  // _v2 | plain
  nvmlDeviceGetName_fn device_get_name = nullptr;
  nvmlDeviceGetUUID_fn device_get_uuid = nullptr;

  // Optional.
  nvmlSystemGetDriverVersion_fn system_get_driver_version = nullptr;
  nvmlDeviceGetPciInfo_fn device_get_pci_info = nullptr;      // _v3 | _v2
  nvmlDeviceGetUtilizationRates_fn device_get_utilization_rates = nullptr;
  nvmlDeviceGetMemoryInfo_v2_fn device_get_memory_info_v2 = nullptr;
  nvmlDeviceGetMemoryInfo_fn device_get_memory_info = nullptr;
  nvmlDeviceGetTemperatureV_fn device_get_temperature_v = nullptr;
  nvmlDeviceGetTemperature_fn device_get_temperature = nullptr;
  nvmlDeviceGetPowerUsage_fn device_get_power_usage = nullptr;
  nvmlDeviceGetEnforcedPowerLimit_fn device_get_enforced_power_limit = nullptr;
  nvmlDeviceGetClockInfo_fn device_get_clock_info = nullptr;
  nvmlDeviceGetEncoderUtilization_fn device_get_encoder_utilization = nullptr;
  nvmlDeviceGetDecoderUtilization_fn device_get_decoder_utilization = nullptr;
  nvmlDeviceGetFanSpeed_fn device_get_fan_speed = nullptr;
  nvmlDeviceGetPcieThroughput_fn device_get_pcie_throughput = nullptr;
  nvmlDeviceGetComputeRunningProcesses_fn device_get_compute_running_processes = nullptr;  // _v3 | _v2
  // Health, read by the slow poller and the event watcher.
  nvmlDeviceGetTotalEnergyConsumption_fn device_get_total_energy_consumption = nullptr;
  nvmlDeviceGetTotalEccErrors_fn device_get_total_ecc_errors = nullptr;
  nvmlDeviceGetRemappedRows_fn device_get_remapped_rows = nullptr;
  // nvmlDeviceGetCurrentClocksEventReasons | nvmlDeviceGetCurrentClocksThrottleReasons
  nvmlDeviceGetCurrentClocksEventReasons_fn device_get_current_clocks_event_reasons = nullptr;
  nvmlEventSetCreate_fn event_set_create = nullptr;
  nvmlDeviceRegisterEvents_fn device_register_events = nullptr;
  nvmlEventSetWait_fn event_set_wait = nullptr;  // _v2 | plain (same signature)
  nvmlEventSetFree_fn event_set_free = nullptr;
  // GPM, read by the slow poller (all five or none are used).
  nvmlGpmQueryDeviceSupport_fn gpm_query_device_support = nullptr;
  nvmlGpmSampleAlloc_fn gpm_sample_alloc = nullptr;
  nvmlGpmSampleFree_fn gpm_sample_free = nullptr;
  nvmlGpmSampleGet_fn gpm_sample_get = nullptr;
  nvmlGpmMetricsGet_fn gpm_metrics_get = nullptr;
};

class NvmlLibrary {
 public:
  // The environment variable that overrides the library path.
  static constexpr const char* kPathEnvVar = "GPULSE_NVML_LIBRARY";
  // The driver's library, found through the dynamic loader's search path.
  static constexpr const char* kDefaultPath = "libnvidia-ml.so.1";

  // $GPULSE_NVML_LIBRARY when set and non-empty, else kDefaultPath.
  static std::string DefaultPath();

  // Opens the library at `path` (DefaultPath() when empty) and resolves its
  // functions. On failure returns kUnavailable (the library cannot be
  // loaded; the message says to install the driver or set
  // GPULSE_NVML_LIBRARY) or kFailedPrecondition (a required function is
  // missing). Does not call nvmlInit.
  static Result<std::unique_ptr<NvmlLibrary>> Open(const std::string& path = "");

  ~NvmlLibrary();
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  const NvmlFunctions& functions() const { return functions_; }
  // The path Open() was given (after defaulting).
  const std::string& path() const { return path_; }
  // The symbol each function resolved to, e.g. "nvmlInit" on an old driver;
  // listed for the functions that resolved, in NvmlFunctions order.
  const std::vector<std::string>& resolved_symbols() const { return resolved_; }
  // The optional functions this library lacks, by their newest symbol name.
  const std::vector<std::string>& missing_optional() const { return missing_optional_; }

 private:
  NvmlLibrary(void* handle, std::string path) : handle_(handle), path_(std::move(path)) {}

  void* handle_;
  std::string path_;
  NvmlFunctions functions_;
  std::vector<std::string> resolved_;
  std::vector<std::string> missing_optional_;
};

}  // namespace gpulse::telemetry
