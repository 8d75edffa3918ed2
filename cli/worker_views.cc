// RenderWorkers and RenderGpus (cli/fleet_views.h).
#include <cmath>
#include <cstdio>
#include <map>

#include "cli/fleet_views.h"
#include "cli/table.h"

namespace gpulse::cli {
namespace {

using nlohmann::json;

std::string Str(const json& v, const std::string& fallback = "-") {
  return v.is_string() ? v.get<std::string>() : fallback;
}

std::string WholePercent(const json& v) {
  if (!v.is_number()) return "n/a";
  return std::to_string(static_cast<int>(std::lround(v.get<double>()))) + "%";
}

bool IsDead(const json& w) { return Str(w["state"]) == "dead"; }

Tone StateTone(const std::string& state) {
  if (state == "healthy") return Tone::kGood;
  if (state == "dead") return Tone::kBad;
  return Tone::kWarn;
}

// "healthy", "draining" (a healthy worker that takes no new tasks),
// "suspect", "dead".
std::string WorkerState(const json& w) {
  std::string state = Str(w["state"], "?");
  if (state == "healthy" && w.value("draining", false)) return "draining";
  return state;
}

// The GPU's health in one word: "error" when it cannot be read.
std::string GpuHealth(const json& g) {
  if (g["error"].is_string()) return "error";
  std::string health = Str(g["health"], "");
  if (!health.empty()) return health;
  return g.value("healthy", true) ? "healthy" : "unhealthy";
}

std::string HealthSummary(const json& w) {
  if (w["unhealthy_reason"].is_string()) return w["unhealthy_reason"].get<std::string>();
  const json& nvml = w["nvml"];
  if (nvml.is_object() && !nvml.value("available", true)) return "NVML: " + Str(nvml["error"], "not available");
  std::map<std::string, int> counts;
  for (const auto& g : w["gpus"]) {
    std::string h = GpuHealth(g);
    if (h != "healthy") ++counts[h];
  }
  if (counts.empty()) return "ok";
  std::string out;
  for (const char* h : {"unhealthy", "error", "degraded"}) {
    if (counts[h] == 0) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(counts[h]) + " " + h;
  }
  return out;
}

// "H100 80GB HBM3" for "NVIDIA H100 80GB HBM3": the vendor says nothing.
std::string ShortModel(const std::string& name) {
  const std::string vendor = "NVIDIA ";
  return name.rfind(vendor, 0) == 0 ? name.substr(vendor.size()) : name;
}

std::string Models(const json& w) {
  std::string out;
  for (const auto& m : w["gpu_models"]) {
    if (!out.empty()) out += ", ";
    out += std::to_string(m.value("count", 0)) + "x " + ShortModel(Str(m["name"], "?"));
  }
  return out.empty() ? "-" : out;
}

std::string PerGpu(const json& w) {
  std::string out;
  for (const auto& g : w["gpus"]) {
    if (!out.empty()) out += ' ';
    out += std::to_string(g.value("index", 0)) + ":" + (IsDead(w) ? "-" : WholePercent(g["utilization_gpu"]));
    if (GpuHealth(g) != "healthy") out += '!';
  }
  return out.empty() ? "-" : out;
}

std::string GiB(const json& bytes) {
  if (!bytes.is_number()) return "n/a";
  char buf[32];
  const double gib = bytes.get<double>() / (1024.0 * 1024 * 1024);
  std::snprintf(buf, sizeof buf, gib < 10 ? "%.1f" : "%.0f", gib);
  return buf;
}

std::string WithUnit(const json& v, const char* unit) {
  if (!v.is_number()) return "n/a";
  return std::to_string(static_cast<long>(std::lround(v.get<double>()))) + unit;
}

}  // namespace

std::string RenderWorkers(const json& workers, const ViewOptions& view) {
  std::vector<Column> columns = {{"WORKER", false, 8}, {"STATE"},        {"GPUS", true}, {"UTIL", true},
                                 {"CPU", true},        {"MEM", true},    {"SEEN", true}, {"HEALTH", false, 6}};
  if (view.wide) {
    columns.push_back({"MODEL"});
    columns.push_back({"PER-GPU"});
  }
  Table table(std::move(columns));
  for (const auto& w : workers) {
    const bool dead = IsDead(w);
    const std::string state = WorkerState(w);
    const int capacity = w.value("gpu_capacity", 0);
    const int free = capacity - w.value("gpu_allocated", 0);
    // A dead worker's GPU figures are stale: only a reason the master gave.
    const std::string health = dead ? Str(w["unhealthy_reason"]) : HealthSummary(w);
    std::vector<Cell> row = {
        Cell(Str(w["id"], "?")),
        Cell(state, StateTone(state)),
        Cell(std::to_string(free) + "/" + std::to_string(capacity)),
        Cell(dead ? "-" : WholePercent(w["gpu_percent"])),
        Cell(dead ? "-" : WholePercent(w["cpu_percent"])),
        Cell(dead ? "-" : WholePercent(w["memory_percent"])),
        Cell(w["seconds_since_heartbeat"].is_number() ? ShortDuration(w["seconds_since_heartbeat"].get<double>())
                                                      : "-"),
        Cell(health, health == "ok" || health == "-" ? Tone::kPlain : Tone::kBad),
    };
    if (view.wide) {
      row.emplace_back(Models(w));
      row.emplace_back(PerGpu(w));
    }
    table.AddRow(std::move(row));
  }
  if (table.rows() == 0) return "No workers have registered yet.\n";
  return table.Render(view.wide ? 0 : view.width, view.color);
}

std::string RenderGpus(const json& workers, const GpuFilter& filter, const ViewOptions& view) {
  std::vector<Column> columns = {{"WORKER", false, 8}, {"GPU", true},  {"MODEL", false, 6}, {"UTIL", true},
                                 {"MEMORY", true},     {"TEMP", true}, {"POWER", true},     {"HEALTH"},
                                 {"TASK", false, 8}};
  if (view.wide) columns.push_back({"UUID"});
  Table table(std::move(columns));
  for (const auto& w : workers) {
    const std::string id = Str(w["id"], "?");
    if (!filter.worker.empty() && id != filter.worker) continue;
    const bool dead = IsDead(w);
    for (const auto& g : w["gpus"]) {
      const std::string health = GpuHealth(g);
      const bool held = g["allocated_to"].is_string();
      if (filter.idle && (held || dead)) continue;
      if (filter.unhealthy && health == "healthy") continue;
      std::vector<Cell> row = {
          Cell(id),
          Cell(std::to_string(g.value("index", 0))),
          Cell(ShortModel(Str(g["name"], "?"))),
          Cell(dead ? "-" : WholePercent(g["utilization_gpu"])),
          Cell(dead ? "-" : GiB(g["memory_used_bytes"]) + "/" + GiB(g["memory_total_bytes"]) + "G"),
          Cell(dead ? "-" : WithUnit(g["temperature_c"], "C")),
          Cell(dead ? "-" : WithUnit(g["power_w"], "W")),
          Cell(dead ? "lost" : health, dead || health != "healthy" ? Tone::kBad : Tone::kGood),
          Cell(held ? g["allocated_to"].get<std::string>() : "-"),
      };
      if (view.wide) row.emplace_back(Str(g["uuid"]));
      table.AddRow(std::move(row));
    }
  }
  if (table.rows() == 0) return "No GPUs match.\n";
  return table.Render(view.wide ? 0 : view.width, view.color);
}

}  // namespace gpulse::cli
