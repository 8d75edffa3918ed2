#include "telemetry/proc_stats.h"

#include "common/posix_error.h"
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace gpulse::telemetry {
namespace {

// Splits off the next line of `text` (without its newline).
std::string_view NextLine(std::string_view* text) {
  const size_t end = text->find('\n');
  std::string_view line = text->substr(0, end);
  text->remove_prefix(end == std::string_view::npos ? text->size() : end + 1);
  return line;
}

// Parses the next whitespace-separated unsigned number of `line`.
bool NextNumber(std::string_view* line, uint64_t* value) {
  size_t start = line->find_first_not_of(" \t");
  if (start == std::string_view::npos) return false;
  line->remove_prefix(start);
  const char* begin = line->data();
  const char* end = begin + line->size();
  auto [ptr, ec] = std::from_chars(begin, end, *value);
  if (ec != std::errc() || (ptr != end && *ptr != ' ' && *ptr != '\t')) return false;
  line->remove_prefix(ptr - begin);
  return true;
}

bool IsPerCpuLine(std::string_view line) {
  return line.size() > 3 && line.substr(0, 3) == "cpu" && line[3] >= '0' && line[3] <= '9';
}

}  // namespace

Result<CpuTimes> ParseProcStat(std::string_view text) {
  CpuTimes times;
  bool found_aggregate = false;
  while (!text.empty()) {
    std::string_view line = NextLine(&text);
    if (IsPerCpuLine(line)) {
      ++times.cores;
      continue;
    }
    if (line.substr(0, 4) != "cpu " || found_aggregate) continue;
    line.remove_prefix(4);
    // user nice system idle iowait irq softirq steal guest guest_nice
    uint64_t columns[8] = {};
    int parsed = 0;
    while (parsed < 8 && NextNumber(&line, &columns[parsed])) ++parsed;
    if (parsed < 4) return InvalidArgument("/proc/stat: malformed aggregate cpu line");
    for (int i = 0; i < parsed; ++i) times.total += columns[i];
    times.idle = columns[3] + columns[4];
    found_aggregate = true;
  }
  if (!found_aggregate) return InvalidArgument("/proc/stat: no aggregate cpu line");
  return times;
}

Result<MemInfo> ParseMeminfo(std::string_view text) {
  MemInfo memory;
  while (!text.empty()) {
    std::string_view line = NextLine(&text);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    if (key != "MemTotal" && key != "MemAvailable") continue;
    std::string_view rest = line.substr(colon + 1);
    uint64_t kib = 0;
    if (!NextNumber(&rest, &kib)) {
      return InvalidArgument("/proc/meminfo: malformed " + std::string(key) + " line");
    }
    if (key == "MemTotal") {
      memory.total_bytes = kib * 1024;
    } else {
      memory.available_bytes = kib * 1024;
    }
  }
  if (memory.total_bytes == 0) return InvalidArgument("/proc/meminfo: no MemTotal");
  return memory;
}

std::optional<double> CpuPercentBetween(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total || after.idle < before.idle) return std::nullopt;
  const uint64_t total = after.total - before.total;
  const uint64_t idle = after.idle - before.idle;
  if (idle > total) return std::nullopt;
  return 100.0 * static_cast<double>(total - idle) / static_cast<double>(total);
}

std::optional<double> MemoryPercent(const MemInfo& memory) {
  if (!memory.available_bytes || memory.total_bytes == 0) return std::nullopt;
  const uint64_t available = std::min(*memory.available_bytes, memory.total_bytes);
  return 100.0 * static_cast<double>(memory.total_bytes - available) /
         static_cast<double>(memory.total_bytes);
}

Result<std::string> ReadSmallFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unavailable("cannot open " + path + ": " + ErrnoText(errno));
  std::string content;
  char buffer[8192];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      close(fd);
      return Unavailable("cannot read " + path + ": " + ErrnoText(saved));
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return content;
}

Result<CpuTimes> ProcStatsReader::ReadCpu() const {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(root_ + "/stat"));
  return ParseProcStat(text);
}

Result<MemInfo> ProcStatsReader::ReadMemory() const {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(root_ + "/meminfo"));
  return ParseMeminfo(text);
}

}  // namespace gpulse::telemetry
