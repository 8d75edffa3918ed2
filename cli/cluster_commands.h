// The CLI commands that talk to a master: workers, tasks, submit, status,
// logs, cancel, wait. Each accepts --master URL (or GPULSE_MASTER) and
// --token-file FILE (or GPULSE_TOKEN_FILE).
//
// Commands report failure by throwing CLI::RuntimeError(exit_code) from
// their callback, after printing a message to stderr; main() returns that
// code. `gpulse wait` exits with the task's own exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace gpulse::cli {

void AddWorkersCommand(CLI::App& app);
void AddTaskCommands(CLI::App& app);

}  // namespace gpulse::cli
