// Small helpers shared by the CLI's master-facing commands.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command_exit.h"
#include "cli/master_client.h"

namespace gpulse::cli {

// The endpoint options every master-facing command takes.
struct EndpointFlags {
  MasterEndpoint endpoint;
  CLI::Option* url_option = nullptr;
  CLI::Option* token_option = nullptr;
  CLI::Option* ca_option = nullptr;
};
void AddEndpointOptions(CLI::App* command, EndpointFlags& flags);

// Connects, or prints why not and throws CLI::RuntimeError(kExitUsage).
std::unique_ptr<MasterClient> ConnectOrExit(const EndpointFlags& flags);
// Returns the value, or fails as FailWith(result.status()) does.
nlohmann::json ValueOrExit(Result<nlohmann::json> result);
// Prints "gpulse: <message>" to stderr and throws CLI::RuntimeError with the
// exit code (main() returns it).
[[noreturn]] void Fail(const std::string& message, int exit_code = kExitFailure);
// Fail() with the status's message and the exit code ExitCodeFor() gives it.
[[noreturn]] void FailWith(const Status& status);

// null -> "n/a"; 12.345 -> "12.3%".
std::string Percent(const nlohmann::json& value);
// Seconds since the epoch (the API's timestamps) -> "3.2 s ago".
std::string Ago(const nlohmann::json& seconds_since);

}  // namespace gpulse::cli
