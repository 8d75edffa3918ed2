// How `gpulse` ends: exit status 0 when the command ran, kExitUsage for a
// usage error found by CLI11 itself. A command that fails throws a
// CLI::RuntimeError carrying its own code (Fail in cli/command_support.h),
// which main() returns.
#pragma once

namespace gpulse::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;  // bad arguments

}  // namespace gpulse::cli
