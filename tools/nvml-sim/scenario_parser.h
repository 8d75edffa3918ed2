// Turning scenario JSON into a Scenario (the format is in README.md).
//
// Stateless functions; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "tools/nvml-sim/scenario.h"

namespace gpulse::nvml_sim {

struct ScenarioParseOptions {
  // Seeds the default UUIDs of GPUs whose scenario entry has no "uuid".
  // Precedence: seed_override, then the scenario's "seed", then fallback_seed.
  std::optional<std::string> seed_override;  // from GPULSE_NVML_SIM_SEED
  std::string fallback_seed;                 // normally the host name
};

// Parses `json_text` (comments allowed). On success returns the scenario with
// every default filled in; on failure an InvalidArgument whose message names
// the offending field ("gpus[1].power_w: ...") or the JSON syntax error.
Result<Scenario> ParseScenario(std::string_view json_text, const ScenarioParseOptions& options);

// The scenario used when no file is given: two H100s with fixed, distinct,
// non-zero metrics (listed in README.md).
Scenario DefaultScenario(const ScenarioParseOptions& options);

// The UUID a GPU gets when its entry has none: "GPU-" and 32 hex digits in
// 8-4-4-4-12 groups, a pure function of (seed, index).
std::string DerivedGpuUuid(std::string_view seed, size_t index);

}  // namespace gpulse::nvml_sim
