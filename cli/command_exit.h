// How `gpulse` commands end. A command's callback returns normally for exit
// status 0; for anything else it calls ExitCommand(code), which unwinds to
// main() (as a CLI::RuntimeError carrying the code). Usage errors found by
// CLI11 itself end with kExitUsage.
#pragma once

#include <CLI/CLI.hpp>

namespace gpulse::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;  // bad arguments

[[noreturn]] inline void ExitCommand(int code) { throw CLI::RuntimeError(code); }

}  // namespace gpulse::cli
