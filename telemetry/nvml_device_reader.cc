#include "telemetry/nvml_device_reader.h"

#include <array>
#include <cstring>
#include <vector>

#include "telemetry/nvml_errors.h"

namespace gpulse::telemetry {
namespace {

// A failure that makes the whole device unreadable, whatever the query.
bool IsDeviceFailure(nvmlReturn_t rc) { return IsNvmlGpuLost(rc) || IsNvmlDriverFailure(rc); }

// True when a core query's `rc` leaves the field absent without an error.
bool IsCoreFieldUnsupported(nvmlReturn_t rc) {
  return rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_FUNCTION_NOT_FOUND;
}

// True when a versioned query failed in a way the older function may fix.
bool ShouldFallBack(nvmlReturn_t rc) {
  return rc == NVML_ERROR_ARGUMENT_VERSION_MISMATCH || rc == NVML_ERROR_NOT_SUPPORTED ||
         rc == NVML_ERROR_FUNCTION_NOT_FOUND;
}

std::string TerminatedString(const char* buffer, size_t size) {
  return std::string(buffer, strnlen(buffer, size));
}

// Reads memory total/used/free; v2 first (its "used" excludes memory the
// driver reserves, as nvidia-smi shows it), v1 as the fallback.
nvmlReturn_t ReadMemory(const NvmlFunctions& nvml, nvmlDevice_t device, GpuSample* s) {
  nvmlReturn_t rc = NVML_ERROR_FUNCTION_NOT_FOUND;
  if (nvml.device_get_memory_info_v2 != nullptr) {
    nvmlMemory_v2_t m{};
    m.version = nvmlMemory_v2;
    rc = nvml.device_get_memory_info_v2(device, &m);
    if (rc == NVML_SUCCESS) {
      s->identity.memory_total_bytes = m.total;
      s->memory_used_bytes = m.used;
      s->memory_free_bytes = m.free;
      return rc;
    }
    if (!ShouldFallBack(rc)) return rc;
  }
  if (nvml.device_get_memory_info != nullptr) {
    nvmlMemory_t m{};
    rc = nvml.device_get_memory_info(device, &m);
    if (rc == NVML_SUCCESS) {
      s->identity.memory_total_bytes = m.total;
      s->memory_used_bytes = m.used;
      s->memory_free_bytes = m.free;
    }
  }
  return rc;
}

nvmlReturn_t ReadTemperature(const NvmlFunctions& nvml, nvmlDevice_t device, GpuSample* s) {
  nvmlReturn_t rc = NVML_ERROR_FUNCTION_NOT_FOUND;
  if (nvml.device_get_temperature_v != nullptr) {
    nvmlTemperature_v1_t t{};
    t.version = nvmlTemperature_v1;
    t.sensorType = NVML_TEMPERATURE_GPU;
    rc = nvml.device_get_temperature_v(device, &t);
    if (rc == NVML_SUCCESS) {
      s->temperature_c = t.temperature;
      return rc;
    }
    if (!ShouldFallBack(rc)) return rc;
  }
  if (nvml.device_get_temperature != nullptr) {
    unsigned int celsius = 0;
    rc = nvml.device_get_temperature(device, NVML_TEMPERATURE_GPU, &celsius);
    if (rc == NVML_SUCCESS) s->temperature_c = celsius;
  }
  return rc;
}

nvmlReturn_t ReadProcesses(const NvmlFunctions& nvml, nvmlDevice_t device, GpuSample* s) {
  if (nvml.device_get_compute_running_processes == nullptr) return NVML_ERROR_FUNCTION_NOT_FOUND;
  // Most GPUs run a handful of processes; a stack buffer avoids allocating.
  std::array<nvmlProcessInfo_t, 32> stack_buffer;
  std::vector<nvmlProcessInfo_t> heap_buffer;
  nvmlProcessInfo_t* buffer = stack_buffer.data();
  unsigned int count = stack_buffer.size();
  nvmlReturn_t rc = nvml.device_get_compute_running_processes(device, &count, buffer);
  // Processes may start between the calls; grow a few times, then give up.
  for (int attempt = 0; rc == NVML_ERROR_INSUFFICIENT_SIZE && attempt < 3; ++attempt) {
    heap_buffer.resize(count + 16);
    buffer = heap_buffer.data();
    count = heap_buffer.size();
    rc = nvml.device_get_compute_running_processes(device, &count, buffer);
  }
  if (rc != NVML_SUCCESS) return rc;
  std::vector<GpuProcess> processes;
  processes.reserve(count);
  for (unsigned int i = 0; i < count; ++i) {
    GpuProcess p;
    p.pid = buffer[i].pid;
    if (buffer[i].usedGpuMemory != NVML_VALUE_NOT_AVAILABLE_ULL) {
      p.used_memory_bytes = buffer[i].usedGpuMemory;
    }
    processes.push_back(p);
  }
  s->processes = std::move(processes);
  return rc;
}

}  // namespace

void ClearMetrics(GpuSample* s) {
  GpuSample cleared;
  cleared.identity = std::move(s->identity);
  cleared.identity.memory_total_bytes.reset();  // read with the metrics, so cleared with them
  cleared.error = std::move(s->error);
  *s = std::move(cleared);
}

NvmlFailure ReadStaticInfo(const NvmlFunctions& nvml, nvmlDevice_t device, GpuIdentity* info) {
  char buffer[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = {};
  nvmlReturn_t rc = nvml.device_get_uuid(device, buffer, sizeof(buffer));
  if (rc == NVML_SUCCESS) info->uuid = TerminatedString(buffer, sizeof(buffer));
  if (IsDeviceFailure(rc)) return {rc, "nvmlDeviceGetUUID"};

  std::memset(buffer, 0, sizeof(buffer));
  rc = nvml.device_get_name(device, buffer, sizeof(buffer));
  if (rc == NVML_SUCCESS) info->name = TerminatedString(buffer, sizeof(buffer));
  if (IsDeviceFailure(rc)) return {rc, "nvmlDeviceGetName"};

  if (nvml.device_get_pci_info != nullptr) {
    nvmlPciInfo_t pci{};
    rc = nvml.device_get_pci_info(device, &pci);
    if (rc == NVML_SUCCESS) info->pci_bus_id = TerminatedString(pci.busId, sizeof(pci.busId));
    if (IsDeviceFailure(rc)) return {rc, "nvmlDeviceGetPciInfo"};
  }

  GpuSample memory;
  rc = ReadMemory(nvml, device, &memory);
  if (rc == NVML_SUCCESS) info->memory_total_bytes = memory.identity.memory_total_bytes;
  if (IsDeviceFailure(rc)) return {rc, "nvmlDeviceGetMemoryInfo"};
  return {};
}

NvmlFailure ReadFastMetrics(const NvmlFunctions& nvml, nvmlDevice_t device, GpuSample* s) {
  // Core queries: their failure (other than "not supported") makes the GPU
  // unreadable.
  nvmlReturn_t rc = NVML_ERROR_FUNCTION_NOT_FOUND;
  if (nvml.device_get_utilization_rates != nullptr) {
    nvmlUtilization_t u{};
    rc = nvml.device_get_utilization_rates(device, &u);
    if (rc == NVML_SUCCESS) {
      s->utilization_gpu = u.gpu;
      s->utilization_memory = u.memory;
    }
  }
  if (rc != NVML_SUCCESS && !IsCoreFieldUnsupported(rc)) {
    ClearMetrics(s);
    return {rc, "nvmlDeviceGetUtilizationRates"};
  }
  rc = ReadMemory(nvml, device, s);
  if (rc != NVML_SUCCESS && !IsCoreFieldUnsupported(rc)) {
    ClearMetrics(s);
    return {rc, "nvmlDeviceGetMemoryInfo"};
  }

  // Optional queries: any failure leaves the field absent, except one that
  // says the whole device or driver is gone.
  auto check = [&](nvmlReturn_t result, const char* call) -> NvmlFailure {
    if (IsDeviceFailure(result)) {
      ClearMetrics(s);
      return {result, call};
    }
    return {};
  };
  if (NvmlFailure f = check(ReadTemperature(nvml, device, s), "nvmlDeviceGetTemperature"); !f.ok()) {
    return f;
  }
  if (nvml.device_get_clock_info != nullptr) {
    unsigned int mhz = 0;
    rc = nvml.device_get_clock_info(device, NVML_CLOCK_SM, &mhz);
    if (rc == NVML_SUCCESS) s->clock_sm_mhz = mhz;
    if (NvmlFailure f = check(rc, "nvmlDeviceGetClockInfo"); !f.ok()) return f;
    rc = nvml.device_get_clock_info(device, NVML_CLOCK_MEM, &mhz);
    if (rc == NVML_SUCCESS) s->clock_mem_mhz = mhz;
    if (NvmlFailure f = check(rc, "nvmlDeviceGetClockInfo"); !f.ok()) return f;
  }
  if (nvml.device_get_encoder_utilization != nullptr) {
    unsigned int percent = 0;
    unsigned int period_us = 0;
    rc = nvml.device_get_encoder_utilization(device, &percent, &period_us);
    if (rc == NVML_SUCCESS) s->encoder_percent = percent;
    if (NvmlFailure f = check(rc, "nvmlDeviceGetEncoderUtilization"); !f.ok()) return f;
  }
  if (nvml.device_get_decoder_utilization != nullptr) {
    unsigned int percent = 0;
    unsigned int period_us = 0;
    rc = nvml.device_get_decoder_utilization(device, &percent, &period_us);
    if (rc == NVML_SUCCESS) s->decoder_percent = percent;
    if (NvmlFailure f = check(rc, "nvmlDeviceGetDecoderUtilization"); !f.ok()) return f;
  }
  if (nvml.device_get_fan_speed != nullptr) {
    unsigned int percent = 0;
    rc = nvml.device_get_fan_speed(device, &percent);
    if (rc == NVML_SUCCESS) s->fan_percent = percent;
    if (NvmlFailure f = check(rc, "nvmlDeviceGetFanSpeed"); !f.ok()) return f;
  }
  return check(ReadProcesses(nvml, device, s), "nvmlDeviceGetComputeRunningProcesses");
}

PowerReading ReadPower(const NvmlFunctions& nvml, nvmlDevice_t device) {
  PowerReading reading;
  unsigned int milliwatts = 0;
  if (nvml.device_get_power_usage != nullptr &&
      nvml.device_get_power_usage(device, &milliwatts) == NVML_SUCCESS) {
    reading.power_w = milliwatts / 1000.0;
  }
  if (nvml.device_get_enforced_power_limit != nullptr &&
      nvml.device_get_enforced_power_limit(device, &milliwatts) == NVML_SUCCESS) {
    reading.power_limit_w = milliwatts / 1000.0;
  }
  return reading;
}

PcieReading ReadPcie(const NvmlFunctions& nvml, nvmlDevice_t device) {
  PcieReading reading;
  if (nvml.device_get_pcie_throughput == nullptr) return reading;
  unsigned int kbps = 0;
  if (nvml.device_get_pcie_throughput(device, NVML_PCIE_UTIL_TX_BYTES, &kbps) == NVML_SUCCESS) {
    reading.tx_kbps = kbps;
  }
  if (nvml.device_get_pcie_throughput(device, NVML_PCIE_UTIL_RX_BYTES, &kbps) == NVML_SUCCESS) {
    reading.rx_kbps = kbps;
  }
  return reading;
}

bool IsPermanentlyUnsupported(nvmlReturn_t code) {
  return code == NVML_ERROR_NOT_SUPPORTED || code == NVML_ERROR_FUNCTION_NOT_FOUND;
}

HealthReading ReadHealth(const NvmlFunctions& nvml, nvmlDevice_t device, HealthFields wanted) {
  HealthReading r;
  if (wanted.energy) {
    unsigned long long mj = 0;
    r.energy_mj.code = nvml.device_get_total_energy_consumption == nullptr
                           ? NVML_ERROR_FUNCTION_NOT_FOUND
                           : nvml.device_get_total_energy_consumption(device, &mj);
    if (r.energy_mj.code == NVML_SUCCESS) r.energy_mj.value = mj;
  }
  if (wanted.ecc) {
    unsigned long long count = 0;
    r.ecc_dbe_volatile.code =
        nvml.device_get_total_ecc_errors == nullptr
            ? NVML_ERROR_FUNCTION_NOT_FOUND
            : nvml.device_get_total_ecc_errors(device, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, &count);
    if (r.ecc_dbe_volatile.code == NVML_SUCCESS) r.ecc_dbe_volatile.value = count;
  }
  if (wanted.remap) {
    unsigned int correctable = 0, uncorrectable = 0, pending = 0, failure = 0;
    r.remap.code = nvml.device_get_remapped_rows == nullptr
                       ? NVML_ERROR_FUNCTION_NOT_FOUND
                       : nvml.device_get_remapped_rows(device, &correctable, &uncorrectable, &pending, &failure);
    if (r.remap.code == NVML_SUCCESS) r.remap.value = RemapState{pending != 0, failure != 0};
  }
  if (wanted.clock_event_reasons) {
    unsigned long long reasons = 0;
    r.clock_event_reasons.code = nvml.device_get_current_clocks_event_reasons == nullptr
                                     ? NVML_ERROR_FUNCTION_NOT_FOUND
                                     : nvml.device_get_current_clocks_event_reasons(device, &reasons);
    if (r.clock_event_reasons.code == NVML_SUCCESS) r.clock_event_reasons.value = reasons;
  }
  return r;
}

}  // namespace gpulse::telemetry
