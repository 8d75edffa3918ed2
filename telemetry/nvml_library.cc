#include "telemetry/nvml_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <initializer_list>

#include "telemetry/nvml_errors.h"

namespace gpulse::telemetry {
namespace {

// Resolves the first of `names` that `handle` exports into `*slot`; records
// which one. Returns false when none resolves.
template <typename Fn>
bool Resolve(void* handle, Fn* slot, std::initializer_list<const char*> names,
             std::vector<std::string>* resolved) {
  for (const char* name : names) {
    if (void* symbol = dlsym(handle, name)) {
      *slot = reinterpret_cast<Fn>(symbol);
      resolved->emplace_back(name);
      return true;
    }
  }
  return false;
}

}  // namespace

std::string NvmlLibrary::DefaultPath() {
  const char* env = std::getenv(kPathEnvVar);
  if (env != nullptr && env[0] != '\0') return env;
  return kDefaultPath;
}

Result<std::unique_ptr<NvmlLibrary>> NvmlLibrary::Open(const std::string& path) {
  const std::string resolved_path = path.empty() ? DefaultPath() : path;
  dlerror();  // clear any stale error
  // RTLD_NODELETE: the driver's library is never unmapped, even after the
  // last dlclose(); NVML may leave threads or handlers behind after
  // nvmlShutdown, and a later Open() finds it already loaded.
  void* handle = dlopen(resolved_path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* error = dlerror();
    return NvmlLibraryNotFound(resolved_path, error != nullptr ? error : "");
  }
  std::unique_ptr<NvmlLibrary> library(new NvmlLibrary(handle, resolved_path));
  NvmlFunctions& f = library->functions_;
  std::vector<std::string>& resolved = library->resolved_;

  struct Required {
    bool ok;
    const char* name;
  };
  const Required required[] = {
      {Resolve(handle, &f.init, {"nvmlInit_v2", "nvmlInit"}, &resolved), "nvmlInit_v2"},
      {Resolve(handle, &f.shutdown, {"nvmlShutdown"}, &resolved), "nvmlShutdown"},
      {Resolve(handle, &f.error_string, {"nvmlErrorString"}, &resolved), "nvmlErrorString"},
      {Resolve(handle, &f.device_get_count, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"},
               &resolved),
       "nvmlDeviceGetCount_v2"},
      {Resolve(handle, &f.device_get_handle_by_index,
               {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"}, &resolved),
       "nvmlDeviceGetHandleByIndex_v2"},
      {Resolve(handle, &f.device_get_name, {"nvmlDeviceGetName"}, &resolved), "nvmlDeviceGetName"},
      {Resolve(handle, &f.device_get_uuid, {"nvmlDeviceGetUUID"}, &resolved), "nvmlDeviceGetUUID"},
  };
  for (const Required& r : required) {
    if (!r.ok) return NvmlSymbolMissing(resolved_path, r.name);
  }

  std::vector<std::string>& missing = library->missing_optional_;
  auto optional = [&](auto* slot, std::initializer_list<const char*> names) {
    if (!Resolve(handle, slot, names, &resolved)) missing.emplace_back(*names.begin());
  };
  optional(&f.system_get_driver_version, {"nvmlSystemGetDriverVersion"});
  optional(&f.device_get_pci_info, {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2"});
  optional(&f.device_get_utilization_rates, {"nvmlDeviceGetUtilizationRates"});
  optional(&f.device_get_memory_info_v2, {"nvmlDeviceGetMemoryInfo_v2"});
  optional(&f.device_get_memory_info, {"nvmlDeviceGetMemoryInfo"});
  optional(&f.device_get_temperature_v, {"nvmlDeviceGetTemperatureV"});
  optional(&f.device_get_temperature, {"nvmlDeviceGetTemperature"});
  optional(&f.device_get_power_usage, {"nvmlDeviceGetPowerUsage"});
  optional(&f.device_get_enforced_power_limit, {"nvmlDeviceGetEnforcedPowerLimit"});
  optional(&f.device_get_clock_info, {"nvmlDeviceGetClockInfo"});
  optional(&f.device_get_encoder_utilization, {"nvmlDeviceGetEncoderUtilization"});
  optional(&f.device_get_decoder_utilization, {"nvmlDeviceGetDecoderUtilization"});
  optional(&f.device_get_fan_speed, {"nvmlDeviceGetFanSpeed"});
  optional(&f.device_get_pcie_throughput, {"nvmlDeviceGetPcieThroughput"});
  optional(&f.device_get_compute_running_processes,
           {"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2"});
  optional(&f.device_get_total_energy_consumption, {"nvmlDeviceGetTotalEnergyConsumption"});
  optional(&f.device_get_total_ecc_errors, {"nvmlDeviceGetTotalEccErrors"});
  optional(&f.device_get_remapped_rows, {"nvmlDeviceGetRemappedRows"});
  optional(&f.device_get_current_clocks_event_reasons,
           {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"});
  optional(&f.event_set_create, {"nvmlEventSetCreate"});
  optional(&f.device_register_events, {"nvmlDeviceRegisterEvents"});
  optional(&f.event_set_wait, {"nvmlEventSetWait_v2", "nvmlEventSetWait"});
  optional(&f.event_set_free, {"nvmlEventSetFree"});
  optional(&f.gpm_query_device_support, {"nvmlGpmQueryDeviceSupport"});
  optional(&f.gpm_sample_alloc, {"nvmlGpmSampleAlloc"});
  optional(&f.gpm_sample_free, {"nvmlGpmSampleFree"});
  optional(&f.gpm_sample_get, {"nvmlGpmSampleGet"});
  optional(&f.gpm_metrics_get, {"nvmlGpmMetricsGet"});
  return library;
}

NvmlLibrary::~NvmlLibrary() {
  if (handle_ != nullptr) dlclose(handle_);
}

}  // namespace gpulse::telemetry
