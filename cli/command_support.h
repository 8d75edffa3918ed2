// Small helpers shared by the CLI's master-facing commands.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command_exit.h"
#include "cli/fleet_views.h"
#include "cli/master_client.h"

namespace gpulse::cli {

// The endpoint options every master-facing command takes.
struct EndpointFlags {
  MasterEndpoint endpoint;
  CLI::Option* url_option = nullptr;
  CLI::Option* token_option = nullptr;
  CLI::Option* ca_option = nullptr;
};

// The options of `gpulse` itself, given before or after the command
// (`gpulse --master m:8080 workers` and `gpulse workers --master m:8080`).
// Owned by main(); commands hold a reference for their callbacks.
struct GlobalOptions {
  EndpointFlags endpoint;
};
// Adds --master, --token-file, --ca-file and --insecure to `app` and lets
// every subcommand (added after this call) pass them up to it.
void AddGlobalOptions(CLI::App& app, GlobalOptions& options);
// Makes `command` take the global options after its name and ends its help
// with its examples (one command line per element).
void Describe(CLI::App* command, const std::vector<std::string>& examples);

// How list commands print: the time, the terminal's width (80 when it
// cannot be told; no limit when stdout is not a terminal, so pipes get
// whole lines) and colour (a terminal only, never with NO_COLOR set).
ViewOptions TerminalView(bool wide);
// Prints what `render` returns once, or with `watch` again every 2 s,
// redrawn in place on a terminal (as watch(1)), until interrupted.
void PrintMaybeWatching(bool watch, const std::function<std::string()>& render);

// Connects, or prints why not and throws CLI::RuntimeError(kExitUsage).
std::unique_ptr<MasterClient> ConnectOrExit(const GlobalOptions& options);
// Returns the value, or fails as FailWith(result.status()) does.
nlohmann::json ValueOrExit(Result<nlohmann::json> result);
// Prints "gpulse: <message>" to stderr and throws CLI::RuntimeError with the
// exit code (main() returns it).
[[noreturn]] void Fail(const std::string& message, int exit_code = kExitFailure);
// Fail() with the status's message and the exit code ExitCodeFor() gives it.
[[noreturn]] void FailWith(const Status& status);

}  // namespace gpulse::cli
