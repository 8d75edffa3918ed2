#include "cli/command_support.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/master_errors.h"

namespace gpulse::cli {

void AddGlobalOptions(CLI::App& app, GlobalOptions& options) {
  EndpointFlags& flags = options.endpoint;
  flags.url_option = app.add_option("--master", flags.endpoint.url,
                                    "the master's HTTP address, HOST:PORT or https://HOST:PORT (env GPULSE_MASTER; "
                                    "default https://127.0.0.1:8080)");
  flags.token_option = app.add_option("--token-file", flags.endpoint.token_file,
                                      "cluster token file (env GPULSE_TOKEN_FILE)");
  flags.ca_option = app.add_option("--ca-file", flags.endpoint.ca_file,
                                   "the cluster CA to verify the master by (env GPULSE_CA_FILE; default "
                                   "gpulse-data/pki/ca.crt when readable)");
  app.add_flag("--insecure", flags.endpoint.insecure,
               "allow a plaintext http:// master (one started with --insecure)");
  app.fallthrough();
}

void Describe(CLI::App* command, const std::vector<std::string>& examples) {
  command->fallthrough();
  std::string footer = examples.size() == 1 ? "Example:" : "Examples:";
  for (const auto& e : examples) footer += "\n  " + e;
  footer += "\nGlobal options (before or after the command): --master, --token-file, --ca-file, --insecure, -v\n";
  command->footer(footer);
}

ViewOptions TerminalView(bool wide) {
  ViewOptions view;
  view.now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  view.wide = wide;
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  view.color = tty && std::getenv("NO_COLOR") == nullptr;
  view.width = 0;
  if (tty) {
    view.width = 80;
    struct winsize size {};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) view.width = size.ws_col;
  }
  return view;
}

void PrintMaybeWatching(bool watch, const std::function<std::string()>& render) {
  if (!watch) {
    std::cout << render() << std::flush;
    return;
  }
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  while (true) {
    std::string text = render();
    if (tty) {
      std::cout << "\033[H\033[2J";  // home, clear: redraw in place
    }
    std::cout << text << (tty ? "" : "\n") << std::flush;
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
}

void Fail(const std::string& message, int exit_code) {
  std::cerr << "gpulse: " << message << "\n";
  throw CLI::RuntimeError(exit_code);
}

void FailWith(const Status& status) { Fail(status.message(), ExitCodeFor(status)); }

std::unique_ptr<MasterClient> ConnectOrExit(const GlobalOptions& options) {
  const EndpointFlags& flags = options.endpoint;
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

}  // namespace gpulse::cli
