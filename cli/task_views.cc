// RenderTasks, RenderTask and the duration and quoting helpers
// (cli/fleet_views.h).
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <ctime>
#include <optional>
#include <sstream>
#include <string_view>

#include "cli/fleet_views.h"
#include "cli/table.h"
#include "cli/task_usage_text.h"
#include "common/size.h"

namespace gpulse::cli {
namespace {

using nlohmann::json;

std::string Str(const json& v, const std::string& fallback = "-") {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return fallback;
}

Tone StateTone(const std::string& state) {
  if (state == "succeeded" || state == "running") return Tone::kGood;
  if (state == "failed") return Tone::kBad;
  if (state == "cancelled") return Tone::kDim;
  return Tone::kWarn;
}

std::string Command(const json& task) {
  std::string out;
  for (const auto& a : task["argv"]) {
    if (!out.empty()) out += ' ';
    out += a.is_string() ? a.get<std::string>() : "";
  }
  return out;
}

std::string Indices(const json& task) {
  std::string out;
  for (const auto& i : task["gpu_indices"]) {
    if (!out.empty()) out += ',';
    out += std::to_string(i.get<int>());
  }
  return out.empty() ? "-" : out;
}

// Why a queued task waits, or how a finished one ended.
std::string Reason(const json& t) {
  const std::string state = Str(t["state"]);
  if (t["pending_reason"].is_string()) return t["pending_reason"].get<std::string>();
  if (!t.value("finished", false)) return "";
  std::string out = t["exit_code"].is_number_integer() ? "exit " + Str(t["exit_code"]) : "";
  if (state != "succeeded" && t["message"].is_string() && !t["message"].get<std::string>().empty()) {
    out += (out.empty() ? "" : ": ") + t["message"].get<std::string>();
  }
  return out;
}

std::optional<double> RunSeconds(const json& t, double now) {
  if (!t["started_at"].is_number()) return std::nullopt;
  const double end = t["finished_at"].is_number() ? t["finished_at"].get<double>() : now;
  return std::max(0.0, end - t["started_at"].get<double>());
}

std::string Timestamp(const json& seconds, double now) {
  if (!seconds.is_number()) return "-";
  const double at = seconds.get<double>();
  std::time_t whole = static_cast<std::time_t>(at);
  std::tm tm{};
  gmtime_r(&whole, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return std::string(buf) + " (" + ShortDuration(now - at) + " ago)";
}

bool IsSafeShellWord(const std::string& word) {
  if (word.empty()) return false;
  for (char c : word) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("@%+=:,./_-").find(c) != std::string_view::npos;
    if (!safe) return false;
  }
  return true;
}

}  // namespace

std::string ShortDuration(double seconds) {
  const long s = std::max(0L, static_cast<long>(seconds));
  if (s < 120) return std::to_string(s) + "s";
  if (s < 2 * 3600) return std::to_string(s / 60) + "m";
  if (s < 2 * 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string RunDuration(double seconds) {
  const long s = std::max(0L, static_cast<long>(seconds));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%lds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

std::string ShellQuote(const json& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const std::string word = a.is_string() ? a.get<std::string>() : "";
    if (IsSafeShellWord(word)) {
      out += word;
      continue;
    }
    out += '\'';
    for (char c : word) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

std::string RenderTasks(const json& tasks, const ViewOptions& view) {
  std::vector<Column> columns = {{"ID"},          {"NAME", false, 10}, {"STATE"},  {"AGE", true},
                                 {"TIME", true},  {"GPUS", true},      {"WORKER", false, 8}, {"REASON", false, 6}};
  if (view.wide) columns.insert(columns.begin() + 6, Column{"ATTEMPTS", true});
  Table table(std::move(columns));
  for (const auto& t : tasks) {
    const std::string state = Str(t["state"], "?");
    std::string name = Str(t["name"], "");
    if (name.empty()) name = Command(t);
    const bool placed = !t["gpu_indices"].empty();
    const int gpus = placed ? static_cast<int>(t["gpu_indices"].size()) : t.value("gpus_requested", 0);
    auto run = RunSeconds(t, view.now);
    std::vector<Cell> row = {
        Cell(Str(t["id"], "?")),
        Cell(name),
        Cell(state, StateTone(state)),
        Cell(t["submitted_at"].is_number() ? ShortDuration(view.now - t["submitted_at"].get<double>()) : "-"),
        Cell(run ? RunDuration(*run) : "-"),
        Cell(view.wide && placed ? Indices(t) : std::to_string(gpus)),
        Cell(Str(t["worker"])),
        Cell(Reason(t)),
    };
    if (view.wide) row.insert(row.begin() + 6, Cell(std::to_string(t.value("attempts", 0))));
    table.AddRow(std::move(row));
  }
  if (table.rows() == 0) return "No tasks.\n";
  return table.Render(view.wide ? 0 : view.width, view.color);
}

std::string RenderTask(const json& t, const ViewOptions& view) {
  std::ostringstream out;
  const std::string name = Str(t["name"], "");
  out << "Task " << Str(t["id"]) << (name.empty() ? "" : " (" + name + ")") << "\n";
  out << "  State:     " << Str(t["state"]) << "\n";
  out << "  Command:   " << ShellQuote(t["argv"]) << "\n";
  out << "  Submitted: " << Timestamp(t["submitted_at"], view.now) << "\n";
  out << "  Started:   " << Timestamp(t["started_at"], view.now) << "\n";
  out << "  Finished:  " << Timestamp(t["finished_at"], view.now) << "\n";
  auto run = RunSeconds(t, view.now);
  out << "  Run time:  " << (run ? RunDuration(*run) : "-") << "\n";
  out << "  Requested: " << t.value("gpus_requested", 0) << " GPU(s), " << t.value("cpus", 0) << " CPU(s), "
      << FormatBytes(t.value("memory_bytes", uint64_t{0})) << " memory\n";
  out << "  Worker:    " << Str(t["worker"]) << "\n";
  std::string gpus;
  const json& uuids = t["gpus"];
  const json& indices = t["gpu_indices"];
  for (size_t i = 0; i < indices.size(); ++i) {
    if (!gpus.empty()) gpus += ", ";
    gpus += std::to_string(indices[i].get<int>());
    if (uuids.is_array() && i < uuids.size() && uuids[i].is_string()) gpus += " (" + uuids[i].get<std::string>() + ")";
  }
  out << "  GPUs:      " << (gpus.empty() ? "-" : gpus) << "\n";
  out << "  Attempts:  " << t.value("attempts", 0) << " of " << t.value("max_attempts", 0) << "\n";
  out << "  Exit code: " << Str(t["exit_code"]) << "\n";
  if (t["message"].is_string() && !t["message"].get<std::string>().empty()) {
    out << "  Message:   " << t["message"].get<std::string>() << "\n";
  }
  if (t["pending_reason"].is_string()) out << "  Pending:   " << t["pending_reason"].get<std::string>() << "\n";
  out << FormatTaskUsage(t);
  return out.str();
}

}  // namespace gpulse::cli
