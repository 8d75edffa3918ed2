// Host CPU and memory figures from Linux's /proc: parsers over text (so tests
// feed fixtures) and a reader over an injectable /proc root.
//
// CPU utilization is a ratio of two readings of the cumulative jiffy
// counters; nothing here sleeps. Pure functions are thread-safe; a
// ProcStatsReader is immutable and thread-safe too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gpulse::telemetry {

// The aggregate "cpu" line of /proc/stat, in jiffies since boot.
struct CpuTimes {
  uint64_t total = 0;  // every column: user nice system idle iowait irq softirq steal
  uint64_t idle = 0;   // idle + iowait: time no task ran
  uint32_t cores = 0;  // "cpuN" lines: CPUs online when read; 0 if none listed
};

struct MemInfo {
  uint64_t total_bytes = 0;                     // MemTotal
  std::optional<uint64_t> available_bytes;      // MemAvailable; absent on kernels before 3.14
};

// Parses /proc/stat text. Guest columns are left out of the total (the
// kernel already counts them in user/nice). Fails with kInvalidArgument when
// the "cpu" line is missing or malformed.
Result<CpuTimes> ParseProcStat(std::string_view text);

// Parses /proc/meminfo text (values in kB). Fails with kInvalidArgument when
// MemTotal is missing or zero.
Result<MemInfo> ParseMeminfo(std::string_view text);

// Busy share of all CPUs between two readings, in percent:
// (Δtotal − Δidle) / Δtotal × 100, with busy = total − idle − iowait. Absent
// when no jiffy elapsed, or the counters went backwards (e.g. a CPU went
// offline).
std::optional<double> CpuPercentBetween(const CpuTimes& before, const CpuTimes& after);

// (MemTotal − MemAvailable) / MemTotal × 100; absent without MemAvailable.
std::optional<double> MemoryPercent(const MemInfo& memory);

class ProcStatsReader {
 public:
  // `proc_root` is normally "/proc"; tests point it at a fixture directory
  // holding "stat" and "meminfo".
  explicit ProcStatsReader(std::string proc_root = "/proc") : root_(std::move(proc_root)) {}

  // Reads and parses <root>/stat. kUnavailable when the file cannot be read.
  Result<CpuTimes> ReadCpu() const;
  // Reads and parses <root>/meminfo. kUnavailable when it cannot be read.
  Result<MemInfo> ReadMemory() const;

 private:
  std::string root_;
};

// The whole file at `path`. kUnavailable (with errno's text) on failure.
Result<std::string> ReadSmallFile(const std::string& path);

}  // namespace gpulse::telemetry
