// How `gpulse` ends: exit status 0 when the command ran, kExitUsage for a
// usage error found by CLI11 itself. A command that fails throws a
// CLI::RuntimeError carrying its own code (Fail in cli/command_support.h),
// which main() returns.
#pragma once

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

}  // namespace gpulse::cli
