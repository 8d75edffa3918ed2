#include "cli/sample_text.h"

#include <fmt/format.h>

#include <algorithm>

namespace gpulse::cli {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = kMiB * 1024.0;
constexpr const char* kUnknown = "n/a";

std::string Percent(const std::optional<double>& value) {
  return value ? fmt::format("{:.0f}%", *value) : kUnknown;
}

std::string Memory(const GpuSample& g) {
  const std::string used = g.memory_used_bytes ? fmt::format("{:.0f}", *g.memory_used_bytes / kMiB) : kUnknown;
  const std::string total =
      g.identity.memory_total_bytes ? fmt::format("{:.0f}", *g.identity.memory_total_bytes / kMiB) : kUnknown;
  return used + " / " + total;
}

std::string Temperature(const std::optional<double>& celsius) {
  return celsius ? fmt::format("{:.0f}°C", *celsius) : kUnknown;
}

std::string Power(const GpuSample& g) {
  const std::string draw = g.power_w ? fmt::format("{:.0f}", *g.power_w) : kUnknown;
  const std::string limit = g.power_limit_w ? fmt::format("{:.0f}", *g.power_limit_w) : kUnknown;
  return draw + " / " + limit;
}

// Display width of UTF-8 text (counts code points; enough for names and °).
size_t Width(const std::string& s) {
  return std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; });
}

std::string PadRight(const std::string& s, size_t width) {
  const size_t w = Width(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string PadLeft(const std::string& s, size_t width) {
  const size_t w = Width(s);
  return w >= width ? s : std::string(width - w, ' ') + s;
}

// The GPU's name, or "?" when NVML could not say (e.g. the GPU was lost
// before gpulse first saw it).
std::string NameOf(const GpuSample& g) { return g.identity.name.empty() ? "?" : g.identity.name; }

std::string HostLine(const HostSample& host) {
  const std::string cpu =
      host.cpu_percent ? fmt::format("{:.1f}%", *host.cpu_percent) : "n/a (no interval yet)";
  const std::string memory =
      host.memory_percent ? fmt::format("{:.1f}%", *host.memory_percent) : kUnknown;
  return fmt::format("  Host: CPU {} of {} cores, memory {} of {:.1f} GiB\n", cpu, host.cpu_cores,
                     memory, host.memory_total_bytes / kGiB);
}

}  // namespace

std::string DescribeGpuUtilization(const Sample& sample) {
  if (sample.gpu_percent) return fmt::format("{:.1f}%", *sample.gpu_percent);
  if (!sample.nvml.available) {
    return "n/a (NVML unavailable: " + sample.nvml.error.value_or("unknown reason") + ")";
  }
  if (sample.gpus.empty()) return "n/a (no GPU found)";
  const bool any_readable =
      std::any_of(sample.gpus.begin(), sample.gpus.end(), [](const GpuSample& g) { return g.readable(); });
  return any_readable ? "n/a (no GPU reports utilization)" : "n/a (no GPU readable)";
}

std::string FormatSampleText(const Sample& sample, int number) {
  std::string out = fmt::format("Sample {:>2}: GPU Utilization = {}\n", number,
                                DescribeGpuUtilization(sample));
  if (!sample.gpus.empty()) {
    size_t name_width = 4;
    for (const GpuSample& g : sample.gpus) name_width = std::max(name_width, Width(NameOf(g)));
    out += fmt::format("  {:<4} {}  {:>5} {:>9}  {:<15} {:>5}  {}\n", "GPU",
                       PadRight("NAME", name_width), "UTIL", "MEM-UTIL", "MEMORY (MiB)", "TEMP",
                       "POWER (W)");
    for (const GpuSample& g : sample.gpus) {
      const std::string index = fmt::format("[{}]", g.identity.index);
      if (g.error) {
        out += fmt::format("  {:<4} {}  error: {}\n", index, PadRight(NameOf(g), name_width), *g.error);
        continue;
      }
      out += fmt::format("  {:<4} {}  {:>5} {:>9}  {:<15} {}  {}\n", index,
                         PadRight(NameOf(g), name_width), Percent(g.utilization_gpu),
                         Percent(g.utilization_memory), Memory(g),
                         PadLeft(Temperature(g.temperature_c), 5), Power(g));
    }
  }
  out += HostLine(sample.host);
  return out;
}

}  // namespace gpulse::cli
