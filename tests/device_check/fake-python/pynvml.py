"""A fake nvidia-ml-py (pynvml) for the device check's dry run: the calls
scripts/device_check.py makes, answered from the NVML simulator's scenario
(GPULSE_NVML_SIM_SCENARIO) by tests/device_check/fake_gpu.py. Names and
constants are those of NVIDIA's package.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fake_gpu  # noqa: E402

NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_UNKNOWN = 999
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_GRAPHICS, NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_CLOCK_VIDEO = 0, 1, 2, 3
NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 0, 1
NVML_VOLATILE_ECC, NVML_AGGREGATE_ECC = 0, 1

_CODES = {"NOT_SUPPORTED": NVML_ERROR_NOT_SUPPORTED, "NO_PERMISSION": NVML_ERROR_NO_PERMISSION}
_gpus = None


class NVMLError(Exception):
    def __init__(self, value):
        Exception.__init__(self, value)
        self.value = value

    def __str__(self):
        return "NVML error %d" % self.value


class c_nvmlMemory_t:
    def __init__(self, total, free, used):
        self.total, self.free, self.used = total, free, used


def nvmlInit():
    global _gpus
    try:
        _gpus = fake_gpu.gpus()
    except fake_gpu.ScenarioError as e:
        fake_gpu.fail("fake pynvml", e)


def nvmlShutdown():
    global _gpus
    _gpus = None


def _gpu(handle, call):
    if _gpus is None:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    error = handle.error(call)
    if error:
        raise NVMLError(_CODES.get(error, NVML_ERROR_UNKNOWN))
    return handle


def nvmlDeviceGetCount():
    if _gpus is None:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    return len(_gpus)


def nvmlDeviceGetHandleByIndex(index):
    if _gpus is None:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    if not 0 <= index < len(_gpus):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return _gpus[index]


def nvmlDeviceGetUUID(handle):
    return _gpu(handle, "nvmlDeviceGetUUID").fields["uuid"]


def nvmlDeviceGetName(handle):
    return _gpu(handle, "nvmlDeviceGetName").name


def nvmlDeviceGetMemoryInfo(handle):
    g = _gpu(handle, "nvmlDeviceGetMemoryInfo")
    mib = 1024 * 1024
    total, used = g.value("memory_total_mib") * mib, g.value("memory_used_mib") * mib
    reserved = g.value("memory_reserved_mib") * mib
    return c_nvmlMemory_t(total, total - used - reserved, used + reserved)


def nvmlDeviceGetTemperature(handle, sensor):
    if sensor != NVML_TEMPERATURE_GPU:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return int(round(_gpu(handle, "nvmlDeviceGetTemperature").value("temperature_c")))


def nvmlDeviceGetEnforcedPowerLimit(handle):
    return int(round(_gpu(handle, "nvmlDeviceGetEnforcedPowerLimit").value("power_limit_w") * 1000))


def nvmlDeviceGetClockInfo(handle, clock):
    key = {NVML_CLOCK_GRAPHICS: "clock_graphics_mhz", NVML_CLOCK_SM: "clock_sm_mhz",
           NVML_CLOCK_MEM: "clock_mem_mhz"}.get(clock)
    if key is None:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return int(round(_gpu(handle, "nvmlDeviceGetClockInfo").value(key)))


def nvmlDeviceGetFanSpeed(handle):
    return int(round(_gpu(handle, "nvmlDeviceGetFanSpeed").value("fan_percent")))


def nvmlDeviceGetTotalEccErrors(handle, error_type, counter_type):
    g = _gpu(handle, "nvmlDeviceGetTotalEccErrors")
    if counter_type not in (NVML_VOLATILE_ECC, NVML_AGGREGATE_ECC):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    key = {NVML_MEMORY_ERROR_TYPE_CORRECTED: "ecc_corrected_volatile",
           NVML_MEMORY_ERROR_TYPE_UNCORRECTED: "ecc_uncorrected_volatile"}.get(error_type)
    if key is None:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return int(g.fields.get(key, 0))


def nvmlDeviceGetRemappedRows(handle):
    rows = _gpu(handle, "nvmlDeviceGetRemappedRows").fields.get("remapped_rows", {})
    return (int(rows.get("correctable", 0)), int(rows.get("uncorrectable", 0)),
            1 if rows.get("pending") else 0, 1 if rows.get("failure") else 0)
