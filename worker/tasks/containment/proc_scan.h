// Reading processes from /proc: parent, process group, state and start time
// (which, with the pid, names one process even after the pid is reused), and
// whether a process's initial environment holds an entry.
//
// Stateless functions; thread-safe. A process that exits while being read
// is simply absent from the answer.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gpulse::worker {

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;             // session
  char state = '?';         // 'R', 'S', 'D', 'Z', ...
  uint64_t start_time = 0;  // clock ticks after boot
};

// Parses the text of /proc/<pid>/stat (the command name may hold spaces and
// parentheses). nullopt when malformed.
std::optional<ProcessInfo> ParseProcStat(std::string_view text);

// One process, or nullopt when it does not exist (any more).
std::optional<ProcessInfo> ReadProcess(const std::filesystem::path& proc, pid_t pid);

// Every process visible in `proc`.
std::vector<ProcessInfo> ScanProcesses(const std::filesystem::path& proc);

// True when /proc/<pid>/environ holds `entry` ("NAME=value") exactly.
bool EnvironmentHas(const std::filesystem::path& proc, pid_t pid, std::string_view entry);

// Whether /proc/<pid>/environ (the environment the process started with)
// holds a variable `name` (with any value): true or false, or the error
// when the file cannot be read (no such process; another user's process,
// without the rights to trace it).
Result<bool> EnvironmentDefines(const std::filesystem::path& proc, pid_t pid, std::string_view name);

}  // namespace gpulse::worker
