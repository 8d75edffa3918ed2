#include "worker/tasks/task_user.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/posix_error.h"

namespace gpulse::worker {
namespace {

// Looks a user up by name, or by uid when `name` is empty.
Result<TaskUser> LookUp(const std::string& name, uid_t uid) {
  struct passwd entry;
  struct passwd* found = nullptr;
  std::vector<char> buffer(16384);
  const int err = name.empty() ? ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found)
                               : ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  const std::string who = name.empty() ? "uid " + std::to_string(uid) : "'" + name + "'";
  if (err != 0) return PosixError("looking up the task user " + who, err);
  if (found == nullptr) {
    return NotFound("the task user " + who + " does not exist: create it (e.g. `useradd --system --no-create-home " +
                    (name.empty() ? std::string("gpulse-task") : name) + "`) or pass --task-user=<an existing user>");
  }
  TaskUser user;
  user.name = entry.pw_name;
  user.uid = entry.pw_uid;
  user.gid = entry.pw_gid;
  std::error_code error;
  if (entry.pw_dir != nullptr && std::filesystem::is_directory(entry.pw_dir, error)) user.home = entry.pw_dir;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) count = 0;
  }
  groups.resize(static_cast<size_t>(count));
  if (groups.empty()) groups.push_back(user.gid);
  user.groups = std::move(groups);
  return user;
}

}  // namespace

Result<TaskUser> ResolveTaskUser(const std::string& requested, uid_t worker_uid) {
  if (worker_uid != 0 || requested.empty()) {
    Result<TaskUser> self = LookUp("", worker_uid);
    if (self.ok() || self.status().code() != StatusCode::kNotFound) return self;
    TaskUser unnamed;  // a uid without a passwd entry (common in containers)
    unnamed.name = "uid " + std::to_string(worker_uid);
    unnamed.uid = worker_uid;
    unnamed.gid = ::getgid();
    return unnamed;
  }
  ASSIGN_OR_RETURN(TaskUser user, LookUp(requested, 0));
  user.switches = user.uid != 0;
  return user;
}

std::string DescribeTaskUser(const TaskUser& user) {
  return user.name + " (uid " + std::to_string(user.uid) + ", gid " + std::to_string(user.gid) + ")";
}

}  // namespace gpulse::worker
