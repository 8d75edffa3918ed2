#include "worker/tasks/containment/proc_scan.h"

#include <dirent.h>

#include <charconv>
#include <sstream>
#include <string>

#include "worker/tasks/containment/cgroup_fs.h"

namespace gpulse::worker {
namespace {

std::optional<std::string> ReadWhole(const std::filesystem::path& file) {
  Result<std::string> text = ReadKernelFile(file);
  if (!text.ok()) return std::nullopt;
  return std::move(*text);
}

template <typename T>
bool ParseNumber(std::string_view word, T& out) {
  return std::from_chars(word.data(), word.data() + word.size(), out).ec == std::errc();
}

}  // namespace

std::optional<ProcessInfo> ParseProcStat(std::string_view text) {
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  ProcessInfo info;
  if (!ParseNumber(text.substr(0, open - (open > 0 ? 1 : 0)), info.pid)) return std::nullopt;
  // Fields 3.. of proc(5): state ppid pgrp session tty_nr tpgid flags minflt
  // cminflt majflt cmajflt utime stime cutime cstime priority nice
  // num_threads itrealvalue starttime
  std::istringstream rest{std::string(text.substr(close + 1))};
  std::vector<std::string> fields;
  std::string field;
  while (fields.size() < 20 && rest >> field) fields.push_back(field);
  if (fields.size() < 20 || fields[0].size() != 1) return std::nullopt;
  info.state = fields[0][0];
  if (!ParseNumber(fields[1], info.ppid) || !ParseNumber(fields[2], info.pgid) ||
      !ParseNumber(fields[3], info.sid) ||
      !ParseNumber(fields[19], info.start_time)) {
    return std::nullopt;
  }
  return info;
}

std::optional<ProcessInfo> ReadProcess(const std::filesystem::path& proc, pid_t pid) {
  std::optional<std::string> text = ReadWhole(proc / std::to_string(pid) / "stat");
  if (!text) return std::nullopt;
  return ParseProcStat(*text);
}

std::vector<ProcessInfo> ScanProcesses(const std::filesystem::path& proc) {
  std::vector<ProcessInfo> out;
  DIR* dir = ::opendir(proc.c_str());
  if (dir == nullptr) return out;
  while (const dirent* entry = ::readdir(dir)) {
    pid_t pid = 0;
    std::string_view name(entry->d_name);
    if (!ParseNumber(name, pid) || pid <= 0) continue;
    if (std::optional<ProcessInfo> info = ReadProcess(proc, pid)) out.push_back(*info);
  }
  ::closedir(dir);
  return out;
}

bool EnvironmentHas(const std::filesystem::path& proc, pid_t pid, std::string_view entry) {
  std::optional<std::string> text = ReadWhole(proc / std::to_string(pid) / "environ");
  if (!text) return false;
  size_t begin = 0;
  while (begin < text->size()) {
    size_t end = text->find('\0', begin);
    if (end == std::string::npos) end = text->size();
    if (std::string_view(*text).substr(begin, end - begin) == entry) return true;
    begin = end + 1;
  }
  return false;
}

Result<bool> EnvironmentDefines(const std::filesystem::path& proc, pid_t pid, std::string_view name) {
  ASSIGN_OR_RETURN(std::string text, ReadKernelFile(proc / std::to_string(pid) / "environ"));
  const std::string_view all(text);
  size_t begin = 0;
  while (begin < all.size()) {
    size_t end = all.find('\0', begin);
    if (end == std::string_view::npos) end = all.size();
    const std::string_view entry = all.substr(begin, end - begin);
    if (entry.size() > name.size() && entry.substr(0, name.size()) == name && entry[name.size()] == '=') return true;
    begin = end + 1;
  }
  return false;
}

}  // namespace gpulse::worker
