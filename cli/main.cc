// gpulse: the command-line front end. Each command lives in its own file and
// registers itself through an AddXxxCommand(CLI::App&) function.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/cluster_commands.h"
#include "cli/command_exit.h"
#include "cli/sample_command.h"
#include "common/signals.h"

int main(int argc, char** argv) {
  gpulse::IgnoreBrokenPipes();  // a master gone mid-request is an error to report, not death
  // Diagnostics go to stderr; stdout carries command output only.
  spdlog::set_default_logger(spdlog::stderr_color_mt("gpulse"));
  spdlog::set_level(spdlog::level::warn);

  CLI::App app{"gpulse: GPU cluster telemetry and scheduling"};
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 done; 1 the master refused the request; 2 bad arguments; 69 the master cannot be\n"
      "reached or cannot answer now (retry); 70 the master failed; 77 the cluster token is missing or\n"
      "wrong; 124 `wait --timeout` ran out. `gpulse wait` otherwise exits with the task's exit code.");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log diagnostics (to stderr)");
  app.parse_complete_callback([&verbose] {
    if (verbose) spdlog::set_level(spdlog::level::debug);
  });

  gpulse::cli::AddSampleCommand(app);
  gpulse::cli::AddWorkersCommand(app);
  gpulse::cli::AddTaskCommands(app);

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
