// The whole `gpulse` command tree on one CLI::App, apart from main() so
// tests parse command lines in-process exactly as the program does.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/command_support.h"

namespace gpulse::cli {

// Adds the global options (into `global`, which must outlive `app`'s
// parse), --version, the footer and every command to `app`.
void BuildGpulseApp(CLI::App& app, GlobalOptions& global);

}  // namespace gpulse::cli
