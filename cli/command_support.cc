#include "cli/command_support.h"

#include <cstdio>
#include <iostream>

#include "cli/master_errors.h"

namespace gpulse::cli {

void AddEndpointOptions(CLI::App* command, EndpointFlags& flags) {
  flags.url_option = command->add_option("--master", flags.endpoint.url,
                                         "master's HTTP address (env GPULSE_MASTER; default https://127.0.0.1:8080)");
  flags.token_option = command->add_option("--token-file", flags.endpoint.token_file,
                                           "cluster token file (env GPULSE_TOKEN_FILE)");
  flags.ca_option = command->add_option("--ca-file", flags.endpoint.ca_file,
                                        "the cluster CA to verify the master by (env GPULSE_CA_FILE; default "
                                        "gpulse-data/pki/ca.crt when readable)");
  command->add_flag("--insecure", flags.endpoint.insecure,
                    "allow a plaintext http:// master (one started with --insecure)");
}

void Fail(const std::string& message, int exit_code) {
  std::cerr << "gpulse: " << message << "\n";
  throw CLI::RuntimeError(exit_code);
}

void FailWith(const Status& status) { Fail(status.message(), ExitCodeFor(status)); }

std::unique_ptr<MasterClient> ConnectOrExit(const EndpointFlags& flags) {
  MasterEndpoint ep = ResolveEndpoint(flags.endpoint, flags.url_option && flags.url_option->count() > 0,
                                      flags.token_option && flags.token_option->count() > 0,
                                      flags.ca_option && flags.ca_option->count() > 0);
  auto client = MasterClient::Connect(ep);
  if (!client.ok()) Fail(client.status().message(), kExitUsage);
  return std::move(*client);
}

nlohmann::json ValueOrExit(Result<nlohmann::json> result) {
  if (!result.ok()) FailWith(result.status());
  return std::move(*result);
}

std::string Percent(const nlohmann::json& value) {
  if (!value.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", value.get<double>());
  return buf;
}

std::string Ago(const nlohmann::json& seconds_since) {
  if (!seconds_since.is_number()) return "never";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s ago", seconds_since.get<double>());
  return buf;
}

}  // namespace gpulse::cli
