#include "config/config_file.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <map>
#include <sstream>

namespace gpulse::config {
namespace {

std::string Kebab(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

std::string Where(const std::string& file, const toml::source_region& at) {
  return file + ":" + std::to_string(at.begin.line);
}

std::string ShortestDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

// One TOML value as the text a flag would take; throws on what no flag takes.
std::string FlagText(const toml::node& value, const std::string& where, const std::string& key) {
  if (auto s = value.as_string()) return s->get();
  if (auto i = value.as_integer()) return std::to_string(i->get());
  if (auto f = value.as_floating_point()) return ShortestDouble(f->get());
  if (auto b = value.as_boolean()) return b->get() ? "true" : "false";
  throw CLI::ConfigError(where + ": '" + key + "' must be a string, number or boolean");
}

// The program's name without its directory ("gpulse-master").
std::string ProgramName(const CLI::App& app) {
  const std::string& name = app.get_name();
  return name.substr(name.rfind('/') + 1);
}

std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

// Reads the file named by --config for CLI11, checking every key against the
// app's flags and remembering where each came from.
class TomlFormat final : public CLI::Config {
 public:
  TomlFormat(const CLI::App& app, const CLI::Option& config_option) : app_(app), config_option_(config_option) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string file = config_option_.empty() ? "config" : config_option_.as<std::string>();
    std::stringstream text;
    text << input.rdbuf();
    toml::table root;
    try {
      root = toml::parse(text.str(), file);
    } catch (const toml::parse_error& e) {
      throw CLI::ConfigError(Where(file, e.source()) + ": not valid TOML: " + std::string(e.description()));
    }
    std::vector<CLI::ConfigItem> items;
    for (const auto& [raw_key, value] : root) {
      const std::string key(raw_key.str());
      const std::string where = Where(file, value.source());
      const std::string flag = Kebab(key);
      if (value.is_table()) {
        throw CLI::ConfigError(where + ": [" + key + "]: this file has no sections; write its keys at the top level");
      }
      const CLI::Option* option = app_.get_option_no_throw("--" + flag);
      if (option == nullptr || flag == "config" || flag == "print-config" || flag == "help") {
        throw CLI::ConfigError(where + ": unknown key '" + key + "' (" + ProgramName(app_) + " has no --" + flag +
                               " flag)");
      }
      CLI::ConfigItem item;
      item.name = flag;
      if (const toml::array* list = value.as_array()) {
        for (const toml::node& element : *list) item.inputs.push_back(FlagText(element, where, key));
      } else {
        item.inputs.push_back(FlagText(value, where, key));
      }
      sources_[flag] = where;
      items.push_back(std::move(item));
    }
    return items;
  }

  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return {}; }

  // Where each flag set by the file was set: "<file>:<line>".
  const std::map<std::string, std::string>& sources() const { return sources_; }

 private:
  const CLI::App& app_;
  const CLI::Option& config_option_;
  mutable std::map<std::string, std::string> sources_;
};

std::string KeyFor(const std::string& long_flag_name) {
  std::string key = long_flag_name;
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

ConfigFile::ConfigFile(CLI::App& app) : app_(app) {
  CLI::Option* config = app.set_config("--config", "", "TOML file of settings (keys are the flags' names); flags win");
  app.add_flag("--print-config", print_, "print the effective settings and where each came from, then exit");
  app.allow_config_extras(CLI::config_extras_mode::error);
  format_ = std::make_shared<TomlFormat>(app, *config);
  app.config_formatter(format_);
}

std::string ConfigFile::Effective(int argc, const char* const* argv) const {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto on_command_line = [&](const std::string& flag) {
    return std::any_of(args.begin(), args.end(), [&](const std::string& a) {
      return a == "--" + flag || a.rfind("--" + flag + "=", 0) == 0;
    });
  };
  std::ostringstream out;
  out << "# " << ProgramName(app_) << ": effective settings\n";
  for (const CLI::Option* option : app_.get_options()) {
    if (option->get_lnames().empty()) continue;
    const std::string flag = option->get_lnames().front();
    if (flag == "help" || flag == "config" || flag == "print-config" || !option->get_configurable()) continue;
    std::string source = "default";
    if (on_command_line(flag)) {
      source = "flag";
    } else if (auto it = format_->sources().find(flag); it != format_->sources().end()) {
      source = it->second;
    }
    const bool is_flag = option->get_expected_min() == 0;
    std::string value;
    if (is_flag) {
      value = option->count() > 0 ? "true" : "false";
    } else if (option->count() > 0) {
      const std::vector<std::string>& results = option->results();
      value = results.empty() ? std::string() : results.back();
    } else {
      value = option->get_default_str();
    }
    const std::string key = KeyFor(flag);
    if (!is_flag && value.empty()) {
      out << "# " << key << " = (not set)\n";
      continue;
    }
    const std::string type = option->get_type_name();
    const bool number = type.rfind("INT", 0) == 0 || type.rfind("UINT", 0) == 0 || type.rfind("FLOAT", 0) == 0 ||
                        type.rfind("NUMBER", 0) == 0;
    out << key << " = " << (is_flag || number ? value : Quoted(value)) << "  # " << source << "\n";
  }
  return out.str();
}

std::optional<int> ConfigFile::ParseCommandLine(int argc, const char* const* argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app_.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (print_) {
    std::cout << Effective(argc, argv);
    return 0;
  }
  return std::nullopt;
}

}  // namespace gpulse::config
