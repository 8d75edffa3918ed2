// TaskUser: whom a worker's tasks run as.
//
// A worker running as root runs tasks as an unprivileged user (--task-user,
// default "nobody"): a task is someone's program, and root in a task is
// root on a machine full of GPUs and the worker's keys. Root tasks need the
// explicit opt-in --task-user=root, which the daemon logs as a warning. A
// worker that is not root cannot change users: its tasks run as itself,
// whatever --task-user says.
//
// The switch happens in the child before exec (ChildSpec::credentials):
// supplementary groups, then gid, then uid, after the child joined its cell
// (cgroup files stay the worker's). The runner makes the task's directory
// and output files the task user's.
//
// Stateless functions; ResolveTaskUser reads the user database
// (getpwnam_r, getgrouplist), which is thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace gpulse::worker {

struct TaskUser {
  std::string name;            // e.g. "nobody"
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;   // supplementary groups, the primary one included
  std::string home;            // the user's home if it is a directory; "" otherwise
  // True when tasks run as another user than the worker (the worker is root
  // and the task user is not); only then does the child switch.
  bool switches = false;
};

// Whom tasks of a worker with effective uid `worker_uid` run as, for
// --task-user `requested`:
//  - worker_uid != 0: the worker's own user (`requested` is ignored);
//  - worker_uid == 0 and `requested` names root (or uid 0): root, no switch;
//  - otherwise the named user, switches = true.
// NotFound when the named user does not exist, saying how to fix it.
Result<TaskUser> ResolveTaskUser(const std::string& requested, uid_t worker_uid);

// "nobody (uid 65534, gid 65534)".
std::string DescribeTaskUser(const TaskUser& user);

}  // namespace gpulse::worker
