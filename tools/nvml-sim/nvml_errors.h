// The names and messages of NVML return codes, as the simulator spells them.
//
// Scenario files name errors the way nvml.h does ("NVML_ERROR_NOT_SUPPORTED")
// or without the prefix ("NOT_SUPPORTED"); nvmlErrorString returns the
// messages below. Stateless; safe from any thread.
#pragma once

#include <optional>
#include <string_view>

#include "telemetry/nvml_abi.h"

namespace gpulse::nvml_sim {

// Returns the code named `name` ("NOT_SUPPORTED", "NVML_ERROR_NOT_SUPPORTED",
// "SUCCESS"; case-insensitive); nullopt when no code has that name.
std::optional<nvmlReturn_t> NvmlReturnFromName(std::string_view name);

// The message real NVML gives for `code`; "Unknown Error" for codes it does
// not know. The pointer is to static storage.
const char* NvmlReturnMessage(nvmlReturn_t code);

}  // namespace gpulse::nvml_sim
