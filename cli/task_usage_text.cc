#include "cli/task_usage_text.h"

#include <cstdio>

#include "common/size.h"

namespace gpulse::cli {
namespace {

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

bool Known(const nlohmann::json& j, const char* key) { return j.contains(key) && j[key].is_number(); }

}  // namespace

std::string FormatTaskUsage(const nlohmann::json& t) {
  std::string out;
  const nlohmann::json u = t.value("usage", nlohmann::json::object());
  if (u.is_object() && u.value("gpu_seconds", 0.0) > 0) {
    out += "  Usage:     " + Fixed(u.value("gpu_seconds", 0.0), 1) + " GPU-s (" +
           Fixed(u.value("gpu_seconds_used", 0.0), 1) + " used)";
    if (Known(u, "mean_utilization_gpu")) {
      out += ", GPU " + Fixed(u["mean_utilization_gpu"].get<double>(), 0) + " % mean";
      if (Known(u, "peak_utilization_gpu")) out += " / " + Fixed(u["peak_utilization_gpu"].get<double>(), 0) + " % peak";
    }
    if (Known(u, "mean_utilization_memory")) {
      out += ", memory bandwidth " + Fixed(u["mean_utilization_memory"].get<double>(), 0) + " % mean";
    }
    if (Known(u, "peak_memory_used_bytes")) {
      out += ", peak memory " + FormatBytes(u["peak_memory_used_bytes"].get<uint64_t>());
    }
    if (Known(u, "energy_joules")) out += ", " + Fixed(u["energy_joules"].get<double>() / 1000, 1) + " kJ";
    out += "\n";
  }
  if (u.is_object() && Known(u, "max_outside_gpu_processes")) {
    if (const uint64_t outside = u["max_outside_gpu_processes"].get<uint64_t>(); outside > 0) {
      out += "  Shared:    processes outside gpulse on its GPUs: " + std::to_string(outside) + "\n";
    }
  }
  if (t.contains("idle_since") && t["idle_since"].is_number()) {
    out += "  Idle:      its GPUs are idle (below the master's --idle-threshold for --idle-period)\n";
  }
  if (const uint32_t hw = t.value("hardware_failures", 0u); hw > 0) {
    out += "  Hardware:  " + std::to_string(hw) + " run(s) ended by a GPU failure (not counted as attempts)\n";
  }
  return out;
}

}  // namespace gpulse::cli
