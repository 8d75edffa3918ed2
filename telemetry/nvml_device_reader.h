// Reads of one NVML device: its static identity, its fast metrics (for every
// sample) and its slow metrics (for the background poller).
//
// Free functions over an NvmlFunctions table and a device handle; they keep
// no state and are as thread-safe as NVML itself. A metric whose query says
// NOT_SUPPORTED, or whose function the library lacks, is left absent: that is
// data, not an error.
#pragma once

#include <cstdint>
#include <optional>

#include "sample/gpu_identity.h"
#include "telemetry/nvml_abi.h"
#include "telemetry/nvml_library.h"
#include "sample/sample.h"

namespace gpulse::telemetry {

// Why a device could not be read: the NVML code and the call that returned
// it. `code == NVML_SUCCESS` means the device was read.
struct NvmlFailure {
  nvmlReturn_t code = NVML_SUCCESS;
  const char* call = "";

  bool ok() const { return code == NVML_SUCCESS; }
};

// Fills `info` (whose `index` the caller set) with the device's UUID, name,
// PCI bus id and total memory. Fields NVML cannot provide stay empty.
// Returns a failure only when a query says the GPU is lost or the driver
// failed; `info` is then partly filled.
NvmlFailure ReadStaticInfo(const NvmlFunctions& nvml, nvmlDevice_t device, GpuIdentity* info);

// Fills the per-sample metrics of `sample`: utilization, memory, temperature,
// clocks, encoder/decoder, fan and compute processes. Power and PCIe are left
// alone (they come from the slow poller). On a failure — the GPU is lost, the
// driver failed, or a core query (utilization, memory) failed for a reason
// other than "not supported" — every metric of `sample` is cleared and the
// failure is returned; the caller decides what to do with it.
NvmlFailure ReadFastMetrics(const NvmlFunctions& nvml, nvmlDevice_t device, GpuSample* sample);

struct PowerReading {
  std::optional<double> power_w;        // current draw
  std::optional<double> power_limit_w;  // enforced limit
};

struct PcieReading {
  std::optional<uint64_t> tx_kbps;  // KB/s
  std::optional<uint64_t> rx_kbps;
};

// Power draw and enforced limit. Absent fields on any error.
PowerReading ReadPower(const NvmlFunctions& nvml, nvmlDevice_t device);

// PCIe throughput in both directions. Blocks about 20 ms per direction on
// real hardware: call it off the sample path. Absent fields on any error.
PcieReading ReadPcie(const NvmlFunctions& nvml, nvmlDevice_t device);

// Which health figures ReadHealth() should read; the slow poller turns off
// those a GPU does not support.
struct HealthFields {
  bool energy = true;
  bool ecc = true;
  bool remap = true;
  bool clock_event_reasons = true;
  bool gpm = true;  // GPM metrics, read through NvmlSession::ReadGpm (not by ReadHealth)
};

// One health figure: its value, or the NVML code that kept it absent
// (NVML_ERROR_FUNCTION_NOT_FOUND when the library lacks the call;
// NVML_SUCCESS with no value when it was not asked for).
template <typename T>
struct HealthField {
  std::optional<T> value;
  nvmlReturn_t code = NVML_SUCCESS;
};

struct RemapState {
  bool pending = false;  // a remap waits for a GPU reset
  bool failure = false;  // a remap has failed
};

struct HealthReading {
  HealthField<uint64_t> energy_mj;            // nvmlDeviceGetTotalEnergyConsumption
  HealthField<uint64_t> ecc_dbe_volatile;     // nvmlDeviceGetTotalEccErrors(UNCORRECTED, VOLATILE)
  HealthField<RemapState> remap;              // nvmlDeviceGetRemappedRows
  HealthField<uint64_t> clock_event_reasons;  // nvmlDeviceGetCurrentClocksEventReasons
};

// Reads the `wanted` health figures. Never fails as a whole: each figure
// carries its own outcome.
HealthReading ReadHealth(const NvmlFunctions& nvml, nvmlDevice_t device, HealthFields wanted);

// True when `code` says a figure can never be read on this GPU with this
// driver: the library lacks the call, or the GPU does not support it.
bool IsPermanentlyUnsupported(nvmlReturn_t code);

// Clears every metric of `sample` (total memory included: it is read with
// them), keeping the rest of its identity and its error.
void ClearMetrics(GpuSample* sample);

}  // namespace gpulse::telemetry
