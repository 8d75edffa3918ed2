#include "cli/gpulse_app.h"

#include "cli/cluster_commands.h"
#include "cli/sample_command.h"
#include "common/version.h"

namespace gpulse::cli {

void BuildGpulseApp(CLI::App& app, GlobalOptions& global) {
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("gpulse ") + kVersion);
  app.footer(
      "Global options go before or after the command. `gpulse help COMMAND` shows a command's options and "
      "examples.\n"
      "Exit status: 0 done; 1 the master refused the request; 2 bad arguments; 69 the master cannot be\n"
      "reached or cannot answer now (retry); 70 the master failed; 77 the cluster token is missing or\n"
      "wrong; 124 `wait --timeout` ran out. `gpulse wait` and `submit --wait/--follow` otherwise exit with\n"
      "the task's exit code.");
  AddGlobalOptions(app, global);
  AddSampleCommand(app);
  app.get_subcommand("sample")->footer("Examples:\n  gpulse sample\n  gpulse sample --count 3 --interval 1 --json\n");
  AddWorkersCommand(app, global);
  AddGpusCommand(app, global);
  AddTaskCommands(app, global);
  AddHelpCommands(app);
}

}  // namespace gpulse::cli
