// NVML error translation: the one place where an nvmlReturn_t becomes words a
// user can act on, and a gpulse::Status.
//
// Every function here is pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "telemetry/nvml_abi.h"

namespace gpulse::telemetry {

// The enum's own name, e.g. "NVML_ERROR_GPU_IS_LOST"; "NVML_ERROR_<n>" for a
// value this build does not know.
std::string NvmlReturnName(nvmlReturn_t code);

// A sentence saying what went wrong and, where the user can do something,
// what to do, e.g. "GPU is lost: it fell off the bus …; reset the GPU
// (nvidia-smi -r) or reboot". Never empty; "success" for NVML_SUCCESS.
std::string NvmlErrorMessage(nvmlReturn_t code);

// The gpulse::StatusCode that best describes `code` (kOk for NVML_SUCCESS).
StatusCode NvmlStatusCode(nvmlReturn_t code);

// A Status for `code` returned by NVML function `call`, with the message
// "<NvmlErrorMessage> (<call> returned <NvmlReturnName>)". OK for NVML_SUCCESS.
Status NvmlError(nvmlReturn_t code, std::string_view call);

// The Status for a libnvidia-ml that could not be opened at `path`;
// `loader_error` is dlerror()'s text. Says to install the driver or to set
// GPULSE_NVML_LIBRARY.
Status NvmlLibraryNotFound(std::string_view path, std::string_view loader_error);

// The Status for a library at `path` that lacks the required `symbol`.
Status NvmlSymbolMissing(std::string_view path, std::string_view symbol);

// True when `code` means the driver as a whole stopped answering
// (UNINITIALIZED, DRIVER_NOT_LOADED, LIB_RM_VERSION_MISMATCH): NVML must be
// shut down and initialised again.
bool IsNvmlDriverFailure(nvmlReturn_t code);

// True when `code` means this one GPU is gone (GPU_IS_LOST, RESET_REQUIRED,
// GPU_NOT_FOUND): its handle is useless until NVML is initialised again.
bool IsNvmlGpuLost(nvmlReturn_t code);

// True when `code` means "this metric is not available here" rather than a
// failure: NOT_SUPPORTED, FUNCTION_NOT_FOUND, NO_PERMISSION, NO_DATA,
// NOT_FOUND. Such a field is simply absent.
bool IsNvmlFieldUnavailable(nvmlReturn_t code);

}  // namespace gpulse::telemetry
