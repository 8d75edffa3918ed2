#include "telemetry/nvml_errors.h"

#include <string>

namespace gpulse::telemetry {
namespace {

struct ErrorInfo {
  const char* name;
  StatusCode status;
  const char* message;
};

ErrorInfo Describe(nvmlReturn_t code) {
  switch (code) {
    case NVML_SUCCESS:
      return {"NVML_SUCCESS", StatusCode::kOk, "success"};
    case NVML_ERROR_UNINITIALIZED:
      return {"NVML_ERROR_UNINITIALIZED", StatusCode::kUnavailable,
              "NVML is not initialised (the driver may have been unloaded or restarted); gpulse "
              "initialises it again automatically"};
    case NVML_ERROR_INVALID_ARGUMENT:
      return {"NVML_ERROR_INVALID_ARGUMENT", StatusCode::kInternal,
              "NVML rejected an argument; this is a gpulse bug, please report it"};
    case NVML_ERROR_NOT_SUPPORTED:
      return {"NVML_ERROR_NOT_SUPPORTED", StatusCode::kFailedPrecondition,
              "not supported by this GPU or driver"};
    case NVML_ERROR_NO_PERMISSION:
      return {"NVML_ERROR_NO_PERMISSION", StatusCode::kPermissionDenied,
              "insufficient permissions to query the GPU: check the permissions of /dev/nvidia* "
              "or run gpulse as a user in the video group"};
    case NVML_ERROR_ALREADY_INITIALIZED:
      return {"NVML_ERROR_ALREADY_INITIALIZED", StatusCode::kAlreadyExists,
              "NVML is already initialised"};
    case NVML_ERROR_NOT_FOUND:
      return {"NVML_ERROR_NOT_FOUND", StatusCode::kNotFound, "the requested object was not found"};
    case NVML_ERROR_INSUFFICIENT_SIZE:
      return {"NVML_ERROR_INSUFFICIENT_SIZE", StatusCode::kInternal,
              "a buffer passed to NVML was too small; this is a gpulse bug, please report it"};
    case NVML_ERROR_INSUFFICIENT_POWER:
      return {"NVML_ERROR_INSUFFICIENT_POWER", StatusCode::kUnavailable,
              "the GPU's external power cables are not properly attached: check the power "
              "connectors"};
    case NVML_ERROR_DRIVER_NOT_LOADED:
      return {"NVML_ERROR_DRIVER_NOT_LOADED", StatusCode::kUnavailable,
              "NVIDIA driver not loaded: load the kernel module (sudo modprobe nvidia) and check "
              "that nvidia-smi works"};
    case NVML_ERROR_TIMEOUT:
      return {"NVML_ERROR_TIMEOUT", StatusCode::kUnavailable,
              "the driver timed out answering; if it keeps happening, check dmesg for Xid errors"};
    case NVML_ERROR_IRQ_ISSUE:
      return {"NVML_ERROR_IRQ_ISSUE", StatusCode::kUnavailable,
              "the NVIDIA kernel driver reported an interrupt problem: check dmesg and the "
              "GPU's PCIe slot"};
    case NVML_ERROR_LIBRARY_NOT_FOUND:
      return {"NVML_ERROR_LIBRARY_NOT_FOUND", StatusCode::kUnavailable,
              "NVML could not find a library it needs: reinstall the NVIDIA driver"};
    case NVML_ERROR_FUNCTION_NOT_FOUND:
      return {"NVML_ERROR_FUNCTION_NOT_FOUND", StatusCode::kFailedPrecondition,
              "this driver's NVML does not have the function; upgrade the NVIDIA driver to get "
              "this metric"};
    case NVML_ERROR_CORRUPTED_INFOROM:
      return {"NVML_ERROR_CORRUPTED_INFOROM", StatusCode::kFailedPrecondition,
              "the GPU's infoROM is corrupted: contact the hardware vendor"};
    case NVML_ERROR_GPU_IS_LOST:
      return {"NVML_ERROR_GPU_IS_LOST", StatusCode::kUnavailable,
              "GPU is lost: it fell off the bus or stopped responding; reset it (nvidia-smi -r) "
              "or reboot the machine, and check dmesg for Xid errors"};
    case NVML_ERROR_RESET_REQUIRED:
      return {"NVML_ERROR_RESET_REQUIRED", StatusCode::kUnavailable,
              "the GPU needs a reset: run nvidia-smi -r on it or reboot the machine"};
    case NVML_ERROR_OPERATING_SYSTEM:
      return {"NVML_ERROR_OPERATING_SYSTEM", StatusCode::kInternal,
              "the operating system refused an NVML call: check dmesg"};
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
      return {"NVML_ERROR_LIB_RM_VERSION_MISMATCH", StatusCode::kUnavailable,
              "driver/library version mismatch: the NVIDIA kernel module and libnvidia-ml differ, "
              "usually after a driver upgrade; reboot, or reload the nvidia kernel modules"};
    case NVML_ERROR_IN_USE:
      return {"NVML_ERROR_IN_USE", StatusCode::kUnavailable, "the GPU is busy with another operation"};
    case NVML_ERROR_MEMORY:
      return {"NVML_ERROR_MEMORY", StatusCode::kResourceExhausted,
              "NVML ran out of memory: free host memory"};
    case NVML_ERROR_NO_DATA:
      return {"NVML_ERROR_NO_DATA", StatusCode::kUnavailable, "no data available yet"};
    case NVML_ERROR_VGPU_ECC_NOT_ENABLED:
      return {"NVML_ERROR_VGPU_ECC_NOT_ENABLED", StatusCode::kFailedPrecondition,
              "ECC is not enabled for this vGPU"};
    case NVML_ERROR_INSUFFICIENT_RESOURCES:
      return {"NVML_ERROR_INSUFFICIENT_RESOURCES", StatusCode::kResourceExhausted,
              "the GPU lacks the resources for this request"};
    case NVML_ERROR_FREQ_NOT_SUPPORTED:
      return {"NVML_ERROR_FREQ_NOT_SUPPORTED", StatusCode::kFailedPrecondition,
              "the frequency is not supported"};
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
      return {"NVML_ERROR_ARGUMENT_VERSION_MISMATCH", StatusCode::kFailedPrecondition,
              "this driver does not understand the structure version gpulse passed; upgrade the "
              "NVIDIA driver"};
    case NVML_ERROR_DEPRECATED:
      return {"NVML_ERROR_DEPRECATED", StatusCode::kFailedPrecondition,
              "the function is deprecated in this driver"};
    case NVML_ERROR_NOT_READY:
      return {"NVML_ERROR_NOT_READY", StatusCode::kUnavailable,
              "the GPU is not ready yet; try again shortly"};
    case NVML_ERROR_GPU_NOT_FOUND:
      return {"NVML_ERROR_GPU_NOT_FOUND", StatusCode::kUnavailable,
              "GPU not found: it may have been removed or fallen off the bus; check nvidia-smi "
              "and dmesg"};
    case NVML_ERROR_INVALID_STATE:
      return {"NVML_ERROR_INVALID_STATE", StatusCode::kFailedPrecondition,
              "the GPU is in a state that does not allow this request"};
    case NVML_ERROR_UNKNOWN:
      return {"NVML_ERROR_UNKNOWN", StatusCode::kInternal,
              "NVML failed with an unknown error: check dmesg and nvidia-smi"};
  }
  return {nullptr, StatusCode::kInternal, "NVML failed with an error code this gpulse does not know"};
}

}  // namespace

std::string NvmlReturnName(nvmlReturn_t code) {
  const ErrorInfo info = Describe(code);
  if (info.name != nullptr) return info.name;
  return "NVML_ERROR_" + std::to_string(static_cast<int>(code));
}

std::string NvmlErrorMessage(nvmlReturn_t code) { return Describe(code).message; }

StatusCode NvmlStatusCode(nvmlReturn_t code) { return Describe(code).status; }

Status NvmlError(nvmlReturn_t code, std::string_view call) {
  if (code == NVML_SUCCESS) return Status::Ok();
  std::string message = NvmlErrorMessage(code);
  message += " (";
  message += call;
  message += " returned ";
  message += NvmlReturnName(code);
  message += ")";
  return Status(NvmlStatusCode(code), std::move(message));
}

Status NvmlLibraryNotFound(std::string_view path, std::string_view loader_error) {
  std::string message = "NVML library not found: could not load ";
  message += path;
  if (!loader_error.empty()) {
    message += " (";
    message += loader_error;
    message += ")";
  }
  message +=
      "; install the NVIDIA driver, or set GPULSE_NVML_LIBRARY to the full path of "
      "libnvidia-ml.so.1";
  return Unavailable(std::move(message));
}

Status NvmlSymbolMissing(std::string_view path, std::string_view symbol) {
  std::string message = "the NVML library ";
  message += path;
  message += " lacks the required function ";
  message += symbol;
  message +=
      ": it is not a usable libnvidia-ml (a CUDA stub library, or a driver that is too old); "
      "point GPULSE_NVML_LIBRARY at the driver's libnvidia-ml.so.1 or upgrade the driver";
  return FailedPrecondition(std::move(message));
}

bool IsNvmlDriverFailure(nvmlReturn_t code) {
  return code == NVML_ERROR_UNINITIALIZED || code == NVML_ERROR_DRIVER_NOT_LOADED ||
         code == NVML_ERROR_LIB_RM_VERSION_MISMATCH;
}

bool IsNvmlGpuLost(nvmlReturn_t code) {
  return code == NVML_ERROR_GPU_IS_LOST || code == NVML_ERROR_RESET_REQUIRED ||
         code == NVML_ERROR_GPU_NOT_FOUND;
}

bool IsNvmlFieldUnavailable(nvmlReturn_t code) {
  return code == NVML_ERROR_NOT_SUPPORTED || code == NVML_ERROR_FUNCTION_NOT_FOUND ||
         code == NVML_ERROR_NO_PERMISSION || code == NVML_ERROR_NO_DATA ||
         code == NVML_ERROR_NOT_FOUND;
}

}  // namespace gpulse::telemetry
