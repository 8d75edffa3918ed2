// gpulse: the command-line front end. Each command lives in its own file and
// registers itself through an AddXxxCommand function; cli/gpulse_app.h
// puts them together.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/command_exit.h"
#include "cli/gpulse_app.h"
#include "common/signals.h"

int main(int argc, char** argv) {
  gpulse::IgnoreBrokenPipes();  // a master gone mid-request is an error to report, not death
  // Diagnostics go to stderr; stdout carries command output only.
  spdlog::set_default_logger(spdlog::stderr_color_mt("gpulse"));
  spdlog::set_level(spdlog::level::warn);

  CLI::App app{"gpulse: GPU cluster telemetry and scheduling", "gpulse"};
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log diagnostics (to stderr)");
  app.parse_complete_callback([&verbose] {
    if (verbose) spdlog::set_level(spdlog::level::debug);
  });
  gpulse::cli::GlobalOptions global;
  gpulse::cli::BuildGpulseApp(app, global);

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, or the error and a usage hint
    return rc == 0 ? gpulse::cli::kExitOk : gpulse::cli::kExitUsage;
  }
  return gpulse::cli::kExitOk;
}
