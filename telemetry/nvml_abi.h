// The part of NVIDIA's NVML C ABI that gpulse uses, declared by gpulse.
//
// gpulse never includes NVIDIA's nvml.h and never links libnvidia-ml at build
// time: the library is dlopen()ed at run time (telemetry/nvml_library.h), and
// the NVML simulator (tools/nvml-sim) implements these same symbols. Layouts,
// values and symbol names follow NVIDIA's public nvml.h; only what gpulse
// calls is declared here. Everything is C, so the simulator can export it.
#pragma once

#include <stddef.h>  // offsetof

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nvmlDevice_st* nvmlDevice_t;

typedef enum nvmlReturn_enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NO_PERMISSION = 4,
  NVML_ERROR_ALREADY_INITIALIZED = 5,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_INSUFFICIENT_POWER = 8,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_TIMEOUT = 10,
  NVML_ERROR_IRQ_ISSUE = 11,
  NVML_ERROR_LIBRARY_NOT_FOUND = 12,
  NVML_ERROR_FUNCTION_NOT_FOUND = 13,
  NVML_ERROR_CORRUPTED_INFOROM = 14,
  NVML_ERROR_GPU_IS_LOST = 15,
  NVML_ERROR_RESET_REQUIRED = 16,
  NVML_ERROR_OPERATING_SYSTEM = 17,
  NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
  NVML_ERROR_IN_USE = 19,
  NVML_ERROR_MEMORY = 20,
  NVML_ERROR_NO_DATA = 21,
  NVML_ERROR_VGPU_ECC_NOT_ENABLED = 22,
  NVML_ERROR_INSUFFICIENT_RESOURCES = 23,
  NVML_ERROR_FREQ_NOT_SUPPORTED = 24,
  NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
  NVML_ERROR_DEPRECATED = 26,
  NVML_ERROR_NOT_READY = 27,
  NVML_ERROR_GPU_NOT_FOUND = 28,
  NVML_ERROR_INVALID_STATE = 29,
  NVML_ERROR_UNKNOWN = 999
} nvmlReturn_t;

#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16

// Versioned structs carry sizeof(struct) | (version << 24) in their first field.
#define GPULSE_NVML_STRUCT_VERSION(type, ver) ((unsigned int)(sizeof(type) | ((ver) << 24U)))

typedef struct nvmlMemory_st {
  unsigned long long total;  // bytes
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlMemory_v2_st {
  unsigned int version;  // nvmlMemory_v2
  unsigned long long total;
  unsigned long long reserved;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_v2_t;
#define nvmlMemory_v2 GPULSE_NVML_STRUCT_VERSION(nvmlMemory_v2_t, 2)

typedef struct nvmlUtilization_st {
  unsigned int gpu;     // % of the last sample period a kernel ran
  unsigned int memory;  // % of the last sample period device memory was read or written
} nvmlUtilization_t;

typedef enum nvmlTemperatureSensors_enum { NVML_TEMPERATURE_GPU = 0 } nvmlTemperatureSensors_t;

typedef struct nvmlTemperature_v1_st {
  unsigned int version;  // nvmlTemperature_v1
  nvmlTemperatureSensors_t sensorType;
  int temperature;  // °C
} nvmlTemperature_v1_t;
#define nvmlTemperature_v1 GPULSE_NVML_STRUCT_VERSION(nvmlTemperature_v1_t, 1)

typedef enum nvmlClockType_enum {
  NVML_CLOCK_GRAPHICS = 0,
  NVML_CLOCK_SM = 1,
  NVML_CLOCK_MEM = 2,
  NVML_CLOCK_VIDEO = 3
} nvmlClockType_t;

typedef enum nvmlPcieUtilCounter_enum {
  NVML_PCIE_UTIL_TX_BYTES = 0,
  NVML_PCIE_UTIL_RX_BYTES = 1
} nvmlPcieUtilCounter_t;

typedef struct nvmlPciInfo_st {
  char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];  // "00000000:3B:00.0"
} nvmlPciInfo_t;

// The layout that nvmlDeviceGetComputeRunningProcesses_v2 and _v3 fill.
// (One NVML 12 header briefly appended a field here; drivers did not ship it,
// and NVIDIA's Python bindings use this 24-byte layout for _v3.)
typedef struct nvmlProcessInfo_st {
  unsigned int pid;  // host PID
  unsigned long long usedGpuMemory;  // bytes, or NVML_VALUE_NOT_AVAILABLE
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
} nvmlProcessInfo_t;
#define NVML_VALUE_NOT_AVAILABLE_ULL (~0ULL)

// ---- Health: energy, ECC, row remapping, clock event reasons, events. ----

typedef enum nvmlMemoryErrorType_enum {
  NVML_MEMORY_ERROR_TYPE_CORRECTED = 0,    // single-bit ECC errors
  NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1,  // double-bit ECC errors
} nvmlMemoryErrorType_t;

typedef enum nvmlEccCounterType_enum {
  NVML_VOLATILE_ECC = 0,   // reset when the driver loads
  NVML_AGGREGATE_ECC = 1,  // for the lifetime of the device
} nvmlEccCounterType_t;

// Bits of nvmlDeviceGetCurrentClocksEventReasons (formerly "throttle reasons").
#define GPULSE_NVML_CLOCKS_EVENT_REASON_GPU_IDLE 0x0000000000000001ULL
#define GPULSE_NVML_CLOCKS_EVENT_REASON_APPLICATIONS_CLOCKS_SETTING 0x0000000000000002ULL
#define GPULSE_NVML_CLOCKS_EVENT_REASON_SW_POWER_CAP 0x0000000000000004ULL
#define GPULSE_NVML_CLOCKS_EVENT_REASON_HW_SLOWDOWN 0x0000000000000008ULL
#define GPULSE_NVML_CLOCKS_EVENT_REASON_SYNC_BOOST 0x0000000000000010ULL
#define GPULSE_NVML_CLOCKS_EVENT_REASON_SW_THERMAL 0x0000000000000020ULL
#define GPULSE_NVML_CLOCKS_EVENT_REASON_HW_THERMAL 0x0000000000000040ULL
#define GPULSE_NVML_CLOCKS_EVENT_REASON_HW_POWER_BRAKE 0x0000000000000080ULL
#define GPULSE_NVML_CLOCKS_EVENT_REASON_DISPLAY_CLOCK_SETTING 0x0000000000000100ULL

// Event types for nvmlDeviceRegisterEvents (a bit mask) and nvmlEventData_t.eventType.
#define nvmlEventTypeSingleBitEccError 0x0000000000000001ULL
#define nvmlEventTypeDoubleBitEccError 0x0000000000000002ULL
#define nvmlEventTypeXidCriticalError 0x0000000000000008ULL

typedef struct nvmlEventSet_st* nvmlEventSet_t;

typedef struct nvmlEventData_st {
  nvmlDevice_t device;               // the GPU the event happened on
  unsigned long long eventType;      // one nvmlEventType* bit
  unsigned long long eventData;      // the XID for nvmlEventTypeXidCriticalError (999: unknown); else 0
  unsigned int gpuInstanceId;        // MIG instance, or 0xFFFFFFFF
  unsigned int computeInstanceId;    // MIG compute instance, or 0xFFFFFFFF
} nvmlEventData_t;

// ---- GPM (GPU Performance Monitoring; Hopper and later). ----
// Metrics are computed from two samples of the GPU's counters taken some
// time apart (NVML wants more than 100 ms): nvmlGpmSampleGet twice, then
// nvmlGpmMetricsGet over the pair. Values are percentages, 0.0 - 100.0.

// The metric ids gpulse asks for (nvmlGpmMetricId_t; there are many more).
#define NVML_GPM_METRIC_GRAPHICS_UTIL 1    // % of time any compute/graphics work was active
#define NVML_GPM_METRIC_SM_UTIL 2          // % of SMs that were busy
#define NVML_GPM_METRIC_SM_OCCUPANCY 3     // % of warps active vs the theoretical maximum
#define NVML_GPM_METRIC_ANY_TENSOR_UTIL 5  // % of time the SMs ran any tensor operation
// The length of nvmlGpmMetricsGet_t.metrics in the newest public nvml.h
// (older headers had 98, then 210). NVML reads and writes only the first
// numMetrics entries; the array is this long so that the struct is at least
// as large as any driver's.
#define NVML_GPM_METRIC_MAX 333

typedef struct nvmlGpmSample_st* nvmlGpmSample_t;

typedef struct nvmlGpmMetric_st {
  unsigned int metricId;    // IN: an NVML_GPM_METRIC_* id
  nvmlReturn_t nvmlReturn;  // OUT: this metric's outcome; value is valid only on NVML_SUCCESS
  double value;             // OUT
  struct {
    char* shortName;
    char* longName;
    char* unit;
  } metricInfo;  // OUT: owned by NVML; may be null
} nvmlGpmMetric_t;

// Versioned by a plain number, not by sizeof | version << 24.
typedef struct nvmlGpmMetricsGet_st {
  unsigned int version;     // IN: NVML_GPM_METRICS_GET_VERSION
  unsigned int numMetrics;  // IN: how many entries of metrics[] to compute
  nvmlGpmSample_t sample1;  // IN: the earlier sample
  nvmlGpmSample_t sample2;  // IN: the later sample
  nvmlGpmMetric_t metrics[NVML_GPM_METRIC_MAX];  // IN: metricId; OUT: nvmlReturn, value
} nvmlGpmMetricsGet_t;
#define NVML_GPM_METRICS_GET_VERSION 1

typedef struct nvmlGpmSupport_st {
  unsigned int version;            // IN: NVML_GPM_SUPPORT_VERSION
  unsigned int isSupportedDevice;  // OUT: non-zero when the device supports GPM
} nvmlGpmSupport_t;
#define NVML_GPM_SUPPORT_VERSION 1

#ifdef __cplusplus
// The layout NVIDIA's header gives on LP64 (x86-64, aarch64): a wrong one
// corrupts memory on a real GPU.
static_assert(sizeof(nvmlGpmMetric_t) == 40, "nvmlGpmMetric_t layout");
static_assert(offsetof(nvmlGpmMetric_t, value) == 8, "nvmlGpmMetric_t layout");
static_assert(offsetof(nvmlGpmMetric_t, metricInfo) == 16, "nvmlGpmMetric_t layout");
static_assert(offsetof(nvmlGpmMetricsGet_t, sample1) == 8, "nvmlGpmMetricsGet_t layout");
static_assert(offsetof(nvmlGpmMetricsGet_t, metrics) == 24, "nvmlGpmMetricsGet_t layout");
static_assert(sizeof(nvmlGpmSupport_t) == 8, "nvmlGpmSupport_t layout");
#endif

// ---- Function types, one per symbol gpulse resolves. ----
typedef nvmlReturn_t (*nvmlInit_fn)(void);  // nvmlInit_v2, nvmlInit
typedef nvmlReturn_t (*nvmlShutdown_fn)(void);
typedef const char* (*nvmlErrorString_fn)(nvmlReturn_t result);
typedef nvmlReturn_t (*nvmlSystemGetDriverVersion_fn)(char* version, unsigned int length);
typedef nvmlReturn_t (*nvmlDeviceGetCount_fn)(unsigned int* count);  // _v2, plain
typedef nvmlReturn_t (*nvmlDeviceGetHandleByIndex_fn)(unsigned int index, nvmlDevice_t* device);
typedef nvmlReturn_t (*nvmlDeviceGetName_fn)(nvmlDevice_t device, char* name, unsigned int length);
typedef nvmlReturn_t (*nvmlDeviceGetUUID_fn)(nvmlDevice_t device, char* uuid, unsigned int length);
typedef nvmlReturn_t (*nvmlDeviceGetPciInfo_fn)(nvmlDevice_t device, nvmlPciInfo_t* pci);  // _v3
typedef nvmlReturn_t (*nvmlDeviceGetUtilizationRates_fn)(nvmlDevice_t device, nvmlUtilization_t* u);
typedef nvmlReturn_t (*nvmlDeviceGetMemoryInfo_fn)(nvmlDevice_t device, nvmlMemory_t* m);
typedef nvmlReturn_t (*nvmlDeviceGetMemoryInfo_v2_fn)(nvmlDevice_t device, nvmlMemory_v2_t* m);
typedef nvmlReturn_t (*nvmlDeviceGetTemperature_fn)(nvmlDevice_t device, nvmlTemperatureSensors_t s,
                                                    unsigned int* temp);
typedef nvmlReturn_t (*nvmlDeviceGetTemperatureV_fn)(nvmlDevice_t device, nvmlTemperature_v1_t* t);
typedef nvmlReturn_t (*nvmlDeviceGetPowerUsage_fn)(nvmlDevice_t device, unsigned int* milliwatts);
typedef nvmlReturn_t (*nvmlDeviceGetEnforcedPowerLimit_fn)(nvmlDevice_t device, unsigned int* milliwatts);
typedef nvmlReturn_t (*nvmlDeviceGetClockInfo_fn)(nvmlDevice_t device, nvmlClockType_t type,
                                                  unsigned int* mhz);
typedef nvmlReturn_t (*nvmlDeviceGetEncoderUtilization_fn)(nvmlDevice_t device, unsigned int* percent,
                                                           unsigned int* sampling_period_us);
typedef nvmlReturn_t (*nvmlDeviceGetDecoderUtilization_fn)(nvmlDevice_t device, unsigned int* percent,
                                                           unsigned int* sampling_period_us);
typedef nvmlReturn_t (*nvmlDeviceGetFanSpeed_fn)(nvmlDevice_t device, unsigned int* percent);
typedef nvmlReturn_t (*nvmlDeviceGetPcieThroughput_fn)(nvmlDevice_t device, nvmlPcieUtilCounter_t counter,
                                                       unsigned int* kilobytes_per_s);
// _v3, _v2: infoCount in/out; NVML_ERROR_INSUFFICIENT_SIZE when the array is short.
typedef nvmlReturn_t (*nvmlDeviceGetComputeRunningProcesses_fn)(nvmlDevice_t device, unsigned int* count,
                                                                nvmlProcessInfo_t* infos);
// Millijoules since the driver was last reloaded.
typedef nvmlReturn_t (*nvmlDeviceGetTotalEnergyConsumption_fn)(nvmlDevice_t device, unsigned long long* energy_mj);
typedef nvmlReturn_t (*nvmlDeviceGetTotalEccErrors_fn)(nvmlDevice_t device, nvmlMemoryErrorType_t error_type,
                                                       nvmlEccCounterType_t counter_type,
                                                       unsigned long long* ecc_counts);
typedef nvmlReturn_t (*nvmlDeviceGetRemappedRows_fn)(nvmlDevice_t device, unsigned int* corr_rows,
                                                     unsigned int* unc_rows, unsigned int* is_pending,
                                                     unsigned int* failure_occurred);
// nvmlDeviceGetCurrentClocksEventReasons, and its older name
// nvmlDeviceGetCurrentClocksThrottleReasons (same signature and bits).
typedef nvmlReturn_t (*nvmlDeviceGetCurrentClocksEventReasons_fn)(nvmlDevice_t device,
                                                                  unsigned long long* reasons);
typedef nvmlReturn_t (*nvmlEventSetCreate_fn)(nvmlEventSet_t* set);
typedef nvmlReturn_t (*nvmlDeviceRegisterEvents_fn)(nvmlDevice_t device, unsigned long long event_types,
                                                    nvmlEventSet_t set);
// NVML_ERROR_TIMEOUT when no event arrived within timeout_ms.
typedef nvmlReturn_t (*nvmlEventSetWait_fn)(nvmlEventSet_t set, nvmlEventData_t* data, unsigned int timeout_ms);
typedef nvmlReturn_t (*nvmlEventSetFree_fn)(nvmlEventSet_t set);
typedef nvmlReturn_t (*nvmlGpmQueryDeviceSupport_fn)(nvmlDevice_t device, nvmlGpmSupport_t* support);
typedef nvmlReturn_t (*nvmlGpmSampleAlloc_fn)(nvmlGpmSample_t* sample);
typedef nvmlReturn_t (*nvmlGpmSampleFree_fn)(nvmlGpmSample_t sample);
typedef nvmlReturn_t (*nvmlGpmSampleGet_fn)(nvmlDevice_t device, nvmlGpmSample_t sample);
typedef nvmlReturn_t (*nvmlGpmMetricsGet_fn)(nvmlGpmMetricsGet_t* metrics_get);

#ifdef __cplusplus
}  // extern "C"
#endif
