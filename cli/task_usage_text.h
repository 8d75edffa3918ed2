// The `Usage:` and idle lines of `gpulse status ID`: a task JSON's `usage`,
// `idle_since` and `hardware_failures` (docs/api.md) as text.
//
// Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace gpulse::cli {

// E.g. "  Usage:     20.0 GPU-s (16.0 used), GPU 80 % mean / 93 % peak, memory
// bandwidth 41 % mean, peak memory 32.0 GiB, 6.0 kJ\n". Unknown figures are
// left out; empty for a task that has held no GPU. Adds "  Shared:
// processes outside gpulse on its GPUs: N" when N (the most seen at once on
// one of its GPUs) is known and above 0, "  Idle:      GPUs
// idle since …" and "  Hardware:  N run(s) ended by a GPU failure (not
// counted)" when they apply.
std::string FormatTaskUsage(const nlohmann::json& task);

}  // namespace gpulse::cli
