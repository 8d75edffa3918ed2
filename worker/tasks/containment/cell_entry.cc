#include "worker/tasks/containment/cell_entry.h"

#include <unistd.h>

#include <cerrno>

namespace gpulse::worker {

CellEntryFailure EnterCellInChild(const CellEntry& entry) {
  for (int fd : entry.cgroup_procs_fds) {
    // "0" names the writing process in both cgroup versions.
    ssize_t n;
    do {
      n = ::write(fd, "0", 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) return {CellEntryStep::kJoinCgroup, n < 0 ? errno : EIO};
  }
  if (entry.pin && ::sched_setaffinity(0, sizeof entry.cores, &entry.cores) != 0) {
    return {CellEntryStep::kSetAffinity, errno};
  }
  return {};
}

}  // namespace gpulse::worker
