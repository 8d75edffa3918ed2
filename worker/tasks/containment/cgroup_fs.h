// Reading the kernel's cgroup views: which hierarchies are mounted where
// (/proc/self/mountinfo), where a process sits in each (/proc/<pid>/cgroup),
// and the small files of a group.
//
// Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gpulse::worker {

struct CgroupMount {
  int version = 0;                       // 1 or 2
  std::vector<std::string> controllers;  // v1 only, e.g. {"cpu", "cpuacct"}; "name=…" ones excluded
  std::filesystem::path mount_point;     // e.g. /sys/fs/cgroup/memory
  std::string root;                      // the hierarchy path the mount shows, usually "/"
};

// The cgroup and cgroup2 mounts of a mountinfo text, in its order. Lines
// that are not cgroup mounts, or malformed, are skipped.
std::vector<CgroupMount> ParseCgroupMounts(std::string_view mountinfo);

struct CgroupMembership {
  int hierarchy_id = 0;                  // 0 for v2
  std::vector<std::string> controllers;  // empty for v2
  std::string path;                      // e.g. "/system.slice/gpulse-worker.service"
};

// The lines of a /proc/<pid>/cgroup text.
std::vector<CgroupMembership> ParseProcCgroup(std::string_view text);

// The folder of the process's own group in `mount`, given its memberships:
// <mount point>/<path relative to the mount's root>. NotFound when the
// process has no membership in that hierarchy or it lies outside the mount.
Result<std::filesystem::path> OwnGroupDir(const CgroupMount& mount,
                                          const std::vector<CgroupMembership>& memberships);

// The mount of a v1 controller ("memory") or of v2 (controller ""), if any.
std::optional<CgroupMount> FindMount(const std::vector<CgroupMount>& mounts, std::string_view controller);

// A small kernel file's contents (cgroup, /proc, driver files), with plain
// read() calls: iostreams throw when /proc of an exiting process fails with
// ESRCH. Errors name the file.
Result<std::string> ReadKernelFile(const std::filesystem::path& file);

// Writes `value` in one write() call, as cgroup files need. Errors name the
// file and the value.
Status WriteCgroupFile(const std::filesystem::path& file, std::string_view value);

// The number after `key` in a "key value" per line text (memory.events,
// memory.oom_control, cgroup.events), if present.
std::optional<uint64_t> KeyedValue(std::string_view text, std::string_view key);

// The whitespace-separated words of `text` (cgroup.controllers).
std::vector<std::string> Words(std::string_view text);

// CPU ids as the kernel's list format: {0,1,2,5} -> "0-2,5". Sorted input.
std::string FormatCpuList(const std::vector<int>& cpus);

}  // namespace gpulse::worker
