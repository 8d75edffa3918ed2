#include "worker/tasks/containment/cgroup_fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <sstream>

#include "common/posix_error.h"
#include "common/unique_fd.h"

namespace gpulse::worker {
namespace {

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find(sep, begin);
    if (end == std::string_view::npos) end = text.size();
    out.emplace_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() &&
        std::all_of(field.begin() + i + 1, field.begin() + i + 4, [](char c) { return c >= '0' && c <= '7'; })) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

bool SameSet(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

}  // namespace

std::vector<CgroupMount> ParseCgroupMounts(std::string_view mountinfo) {
  std::vector<CgroupMount> out;
  for (const std::string& line : Split(mountinfo, '\n')) {
    std::vector<std::string> fields = Words(line);
    // id parent major:minor root mount-point options [optional...] - type source super-options
    auto dash = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 6 || dash == fields.end() || fields.end() - dash < 4) continue;
    const std::string& type = *(dash + 1);
    CgroupMount mount;
    if (type == "cgroup2") {
      mount.version = 2;
    } else if (type == "cgroup") {
      mount.version = 1;
      for (const std::string& option : Split(*(dash + 3), ',')) {
        static const char* kNotControllers[] = {"rw", "ro", "noprefix", "clone_children", "xattr",
                                                "cpuset_v2_mode", "favordynmods"};
        if (option.empty() || option.rfind("name=", 0) == 0 || option.rfind("release_agent=", 0) == 0 ||
            std::find(std::begin(kNotControllers), std::end(kNotControllers), option) !=
                std::end(kNotControllers)) {
          continue;
        }
        mount.controllers.push_back(option);
      }
      if (mount.controllers.empty()) continue;  // a named hierarchy such as name=systemd
    } else {
      continue;
    }
    mount.root = Unescape(fields[3]);
    mount.mount_point = Unescape(fields[4]);
    out.push_back(std::move(mount));
  }
  return out;
}

std::vector<CgroupMembership> ParseProcCgroup(std::string_view text) {
  std::vector<CgroupMembership> out;
  for (const std::string& line : Split(text, '\n')) {
    size_t first = line.find(':');
    size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    CgroupMembership m;
    const std::string id = line.substr(0, first);
    if (std::from_chars(id.data(), id.data() + id.size(), m.hierarchy_id).ec != std::errc()) continue;
    for (const std::string& c : Split(std::string_view(line).substr(first + 1, second - first - 1), ',')) {
      if (!c.empty() && c.rfind("name=", 0) != 0) m.controllers.push_back(c);
    }
    m.path = line.substr(second + 1);
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::filesystem::path> OwnGroupDir(const CgroupMount& mount,
                                          const std::vector<CgroupMembership>& memberships) {
  for (const CgroupMembership& m : memberships) {
    const bool match = mount.version == 2 ? (m.hierarchy_id == 0 && m.controllers.empty())
                                          : (m.hierarchy_id != 0 && SameSet(m.controllers, mount.controllers));
    if (!match) continue;
    std::string relative = m.path;
    if (mount.root != "/") {
      if (relative.rfind(mount.root, 0) != 0) break;
      relative = relative.substr(mount.root.size());
    }
    while (!relative.empty() && relative.front() == '/') relative.erase(0, 1);
    return relative.empty() ? mount.mount_point : mount.mount_point / relative;
  }
  return NotFound("this process's cgroup in " + mount.mount_point.string() + " is unknown or outside the mount");
}

std::optional<CgroupMount> FindMount(const std::vector<CgroupMount>& mounts, std::string_view controller) {
  for (const CgroupMount& mount : mounts) {
    if (controller.empty() ? mount.version == 2
                           : (mount.version == 1 && std::find(mount.controllers.begin(), mount.controllers.end(),
                                                              controller) != mount.controllers.end())) {
      return mount;
    }
  }
  return std::nullopt;
}

Result<std::string> ReadKernelFile(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return PosixError("read '" + file.string() + "'", errno);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PosixError("read '" + file.string() + "'", errno);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteCgroupFile(const std::filesystem::path& file, std::string_view value) {
  const std::string what = "write '" + std::string(value) + "' to '" + file.string() + "'";
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return PosixError(what, errno);
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return PosixError(what, errno);
  if (static_cast<size_t>(n) != value.size()) return Internal(what + ": short write");
  return Status::Ok();
}

std::optional<uint64_t> KeyedValue(std::string_view text, std::string_view key) {
  for (const std::string& line : Split(text, '\n')) {
    std::vector<std::string> words = Words(line);
    if (words.size() != 2 || words[0] != key) continue;
    uint64_t value = 0;
    if (std::from_chars(words[1].data(), words[1].data() + words[1].size(), value).ec == std::errc()) return value;
  }
  return std::nullopt;
}

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string word;
  while (in >> word) out.push_back(word);
  return out;
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace gpulse::worker
