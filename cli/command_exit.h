// How `gpulse` commands end. A command's callback returns normally for exit
// status 0; for anything else it calls ExitCommand(code), which unwinds to
// main() (as a CLI::RuntimeError carrying the code). Usage errors found by
// CLI11 itself end with kExitUsage.
#pragma once

#include <CLI/CLI.hpp>

namespace gpulse::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the master refused the request (bad input, no such task, wrong state)
inline constexpr int kExitUsage = 2;  // bad arguments
// For failures of the master or of reaching it, the values of sysexits.h;
// master_errors.h says which Status ends with which.
inline constexpr int kExitUnavailable = 69;  // the master cannot be reached or cannot answer now: retry
inline constexpr int kExitInternal = 70;     // the master failed, or sent what gpulse cannot read
inline constexpr int kExitNotAllowed = 77;   // the cluster token is missing or wrong
inline constexpr int kExitTimeout = 124;     // `gpulse wait --timeout` ran out, as timeout(1)

[[noreturn]] inline void ExitCommand(int code) { throw CLI::RuntimeError(code); }

}  // namespace gpulse::cli
