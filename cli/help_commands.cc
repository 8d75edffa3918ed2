// gpulse help [COMMAND [SUBCOMMAND]] and gpulse completion bash|zsh: both
// read the CLI11 tree, so they never fall behind the commands.
#include <iostream>
#include <sstream>

#include "cli/cluster_commands.h"
#include "cli/command_support.h"

namespace gpulse::cli {
namespace {

// The options of `command` a user types: "--json -o --output …".
std::string OptionWords(const CLI::App* command) {
  std::string out;
  for (const CLI::Option* o : command->get_options()) {
    if (o->get_positional() && o->nonpositional() == false) continue;
    for (const auto& s : o->get_snames()) out += " -" + s;
    for (const auto& l : o->get_lnames()) out += " --" + l;
  }
  return out;
}

// The options of `app` that take a value (their value is not a command).
std::string ValueOptions(const CLI::App& app) {
  std::string out;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_expected_min() < 1 || !o->nonpositional()) continue;
    for (const auto& l : o->get_lnames()) out += (out.empty() ? "--" : "|--") + l;
  }
  return out;
}

std::string BashCompletion(const CLI::App& app) {
  std::ostringstream out;
  std::string commands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    commands += (commands.empty() ? "" : " ") + sub->get_name();
  }
  out << "# bash completion for gpulse: source <(gpulse completion bash)\n"
      << "_gpulse() {\n"
      << "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" cmd=\"\" i\n"
      << "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      << "    case \"${COMP_WORDS[i]}\" in\n"
      << "      " << ValueOptions(app) << ") ((i++)) ;;\n"
      << "      -*) ;;\n"
      << "      *) cmd=\"${COMP_WORDS[i]}\"; break ;;\n"
      << "    esac\n"
      << "  done\n"
      << "  local global=\"" << OptionWords(&app).substr(1) << "\"\n"
      << "  case \"$cmd\" in\n";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    std::string words = OptionWords(sub);
    for (const CLI::App* nested : sub->get_subcommands([](const CLI::App*) { return true; })) {
      words += " " + nested->get_name();
    }
    out << "    " << sub->get_name() << ") COMPREPLY=($(compgen -W \"" << words.substr(words.empty() ? 0 : 1)
        << " $global\" -- \"$cur\")) ;;\n";
  }
  out << "    *) COMPREPLY=($(compgen -W \"" << commands << " $global\" -- \"$cur\")) ;;\n"
      << "  esac\n"
      << "}\n"
      << "complete -o default -F _gpulse gpulse\n";
  return out.str();
}

}  // namespace

void AddHelpCommands(CLI::App& app) {
  auto words = std::make_shared<std::vector<std::string>>();
  CLI::App* help = app.add_subcommand("help", "Show the help of gpulse or of one command");
  Describe(help, {"gpulse help tasks", "gpulse help gpus clear"});
  help->add_option("command", *words, "the command (and subcommand)");
  help->callback([&app, words] {
    const CLI::App* target = &app;
    std::string prefix;
    for (const auto& name : *words) {
      const CLI::App* next = nullptr;
      try {
        next = target->get_subcommand(name);
      } catch (const CLI::OptionNotFound&) {
      }
      if (next == nullptr) Fail("no command '" + name + "': see gpulse help", kExitUsage);
      prefix += (prefix.empty() ? "" : " ") + target->get_name();
      target = next;
    }
    std::cout << target->help(prefix);
  });

  auto shell = std::make_shared<std::string>();
  CLI::App* completion = app.add_subcommand("completion", "Print a shell completion script (bash or zsh)");
  Describe(completion, {"source <(gpulse completion bash)", "gpulse completion zsh > \"${fpath[1]}/_gpulse\""});
  completion->add_option("shell", *shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  completion->callback([&app, shell] {
    if (*shell == "zsh") {
      std::cout << "#compdef gpulse\n"
                << "# zsh completion for gpulse (bash's, through bashcompinit)\n"
                << "autoload -U +X bashcompinit && bashcompinit\n";
    }
    std::cout << BashCompletion(app);
  });
}

}  // namespace gpulse::cli
