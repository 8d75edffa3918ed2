// ConfigFile: a daemon's settings from a TOML file, under its command-line
// flags.
//
// Every flag of the program is also a key of its config file: `--cancel-grace
// 10` is `cancel_grace = 10` (dashes become underscores; both spellings are
// accepted). Flags given on the command line win over the file; what neither
// gives keeps its default. A key that is no flag of the program, a table, or
// a file that is not TOML is an error naming the file and line. Values are
// checked by the flag's own validators, as if given on the command line.
//
// Install() adds `--config PATH` and `--print-config` to a CLI11 app before
// it parses; after a successful parse, print_requested() says whether the
// user asked for the effective settings, which Effective() renders as TOML
// with each value's source (flag, the file, or default).
//
// Not thread-safe; use from main() only.
#pragma once

#include <memory>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace gpulse::config {

class ConfigFile {
 public:
  // Adds --config and --print-config to `app`, which must outlive this.
  explicit ConfigFile(CLI::App& app);
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;

  // After app.parse(): whether --print-config was given.
  bool print_requested() const { return print_; }

  // After app.parse(argc, argv): every configurable option of the app as
  // `key = value  # source`, where source is "flag", "<file>:<line>" or
  // "default". Options without a value and without a default are listed
  // commented out.
  std::string Effective(int argc, const char* const* argv) const;

  // Parses the command line (and the --config file) into the app. Returns
  // the exit code when the program should stop here: 0 after --help,
  // --version or --print-config (printed to stdout), 2 after a usage error
  // (explained on stderr). nullopt: go on. Call once, from main.
  std::optional<int> ParseCommandLine(int argc, const char* const* argv);

 private:
  CLI::App& app_;
  bool print_ = false;
  std::shared_ptr<class TomlFormat> format_;
};

// "cancel_grace" for "--cancel-grace".
std::string KeyFor(const std::string& long_flag_name);

}  // namespace gpulse::config
