// Small helpers shared by the CLI's master-facing commands.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/master_client.h"

namespace gpulse::cli {

// The endpoint options every master-facing command takes.
struct EndpointFlags {
  MasterEndpoint endpoint;
  CLI::Option* url_option = nullptr;
  CLI::Option* token_option = nullptr;
};
void AddEndpointOptions(CLI::App* command, EndpointFlags& flags);

// Connects, or prints why not and throws CLI::RuntimeError(1).
std::unique_ptr<MasterClient> ConnectOrExit(const EndpointFlags& flags);
// Returns the value, or prints "gpulse: <message>" and throws RuntimeError(1).
nlohmann::json ValueOrExit(Result<nlohmann::json> result);
[[noreturn]] void Fail(const std::string& message, int exit_code = 1);

// null -> "n/a"; 12.345 -> "12.3%".
std::string Percent(const nlohmann::json& value);
// Seconds since the epoch (the API's timestamps) -> "3.2 s ago".
std::string Ago(const nlohmann::json& seconds_since);

}  // namespace gpulse::cli
