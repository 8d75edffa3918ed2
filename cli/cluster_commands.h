// The CLI commands that talk to a master: workers, gpus, drain, undrain,
// join-command, tasks, submit, status, logs, cancel, wait. They take the
// global options (--master HOST:PORT or GPULSE_MASTER, --token-file FILE
// or GPULSE_TOKEN_FILE, --ca-file, --insecure) before or after their name.
//
// Commands report failure by throwing CLI::RuntimeError(exit_code) from
// their callback, after printing a message to stderr; main() returns that
// code. `gpulse wait` and `submit --wait/--follow` exit with the task's
// own exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command_support.h"
#include "cli/master_client.h"

namespace gpulse::cli {

void AddWorkersCommand(CLI::App& app, const GlobalOptions& global);
void AddGpusCommand(CLI::App& app, const GlobalOptions& global);
void AddTaskCommands(CLI::App& app, const GlobalOptions& global);
// `gpulse help [COMMAND]` and `gpulse completion bash|zsh`.
void AddHelpCommands(CLI::App& app);

// GET /api/workers, or fail the command.
nlohmann::json FetchWorkers(MasterClient& client);

}  // namespace gpulse::cli
