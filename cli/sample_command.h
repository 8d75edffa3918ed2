// `gpulse sample`: take samples of this host (CPU, memory, NVIDIA GPUs) and
// print them as text tables or as JSON lines.
#pragma once

#include <CLI/CLI.hpp>

namespace gpulse::cli {

// Adds the `sample` subcommand to `app`.
void AddSampleCommand(CLI::App& app);

}  // namespace gpulse::cli
