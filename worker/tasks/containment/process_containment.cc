#include "worker/tasks/containment/process_containment.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "common/posix_error.h"
#include "common/unique_fd.h"
#include "worker/tasks/containment/proc_scan.h"

namespace gpulse::worker {
namespace {

class ProcessCell final : public TaskCell {
 public:
  ProcessCell(std::filesystem::path proc, const CellSpec& spec)
      : proc_(std::move(proc)), marker_(spec.environment_marker), self_(::getpid()), session_(::getsid(0)) {
    if (!spec.limits.cpus.empty()) {
      entry_.pin = true;
      CPU_ZERO(&entry_.cores);
      for (int cpu : spec.limits.cpus) CPU_SET(cpu, &entry_.cores);
    }
  }

  const CellEntry& Entry() const override { return entry_; }

  void SetMainProcess(pid_t pid) override {
    main_pid_ = pid;
    if (std::optional<ProcessInfo> info = ReadProcess(proc_, pid)) known_[pid] = info->start_time;
  }

  Status Signal(int sig) override {
    for (const ProcessInfo& p : FindMembers()) {
      if (p.state == 'Z' || p.state == 'X') continue;
      UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, p.pid, 0)));
      if (!pidfd.valid()) continue;
      // The pidfd names whatever has the pid now: make sure it is the member.
      std::optional<ProcessInfo> now = ReadProcess(proc_, p.pid);
      if (!now || now->start_time != p.start_time) continue;
      if (::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) != 0 && errno != ESRCH) {
        spdlog::warn("signal {} to pid {}: {}", sig, p.pid, ErrnoText(errno));
      }
    }
    ReapOrphans();
    return Status::Ok();
  }

  void Track() override {
    FindMembers();
    ReapOrphans();
  }

  Result<bool> Empty() override {
    ReapOrphans();
    for (const ProcessInfo& p : FindMembers()) {
      if (p.state != 'Z' && p.state != 'X') return false;
    }
    return true;
  }

  int EmptinessFd() const override { return -1; }
  bool OomKilled() override { return false; }

  Status Destroy() override {
    Result<bool> empty = Empty();
    if (empty.ok() && !*empty) return FailedPrecondition("process cell of pid " + std::to_string(main_pid_) +
                                                         " still holds processes");
    return Status::Ok();
  }

 private:
  // Scans /proc, records and returns the cell's members (see the header).
  std::vector<ProcessInfo> FindMembers() {
    const std::vector<ProcessInfo> all = ScanProcesses(proc_);
    std::multimap<pid_t, size_t> children;  // ppid -> index in all
    std::set<pid_t> in;
    std::vector<size_t> queue;
    for (size_t i = 0; i < all.size(); ++i) {
      const ProcessInfo& p = all[i];
      children.emplace(p.ppid, i);
      auto known = known_.find(p.pid);
      const bool member = (known != known_.end() && known->second == p.start_time) ||
                          // The task's group; a pid is not reused while a group
                          // uses it, and our group lives in the worker's session.
                          (main_pid_ != 0 && p.pgid == main_pid_ && p.sid == session_) ||
                          (p.ppid == self_ && p.pid != main_pid_ && !marker_.empty() &&
                           EnvironmentHas(proc_, p.pid, marker_));
      if (member && in.insert(p.pid).second) queue.push_back(i);
    }
    for (size_t q = 0; q < queue.size(); ++q) {
      auto [begin, end] = children.equal_range(all[queue[q]].pid);
      for (auto it = begin; it != end; ++it) {
        if (in.insert(all[it->second].pid).second) queue.push_back(it->second);
      }
    }
    members_.clear();
    known_.clear();
    for (size_t i : queue) {
      members_.push_back(all[i]);
      known_[all[i].pid] = all[i].start_time;
    }
    return members_;
  }

  // Orphans of the task that the worker inherited and that have exited.
  void ReapOrphans() {
    for (const ProcessInfo& p : members_) {
      if (p.ppid == self_ && p.pid != main_pid_ && p.state == 'Z') ::waitpid(p.pid, nullptr, WNOHANG);
    }
  }

  const std::filesystem::path proc_;
  const std::string marker_;
  const pid_t self_;
  const pid_t session_;
  CellEntry entry_;
  pid_t main_pid_ = 0;
  std::map<pid_t, uint64_t> known_;   // pid -> start time, from the last scan
  std::vector<ProcessInfo> members_;  // from the last scan
};

}  // namespace

Result<std::shared_ptr<Containment>> ProcessContainment::Open(const std::filesystem::path& proc,
                                                              const std::string& why_no_cgroups) {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return Unavailable("process containment: " + PosixError("prctl(PR_SET_CHILD_SUBREAPER)", errno).message());
  }
  ContainmentReport report;
  report.backend = "process";
  const std::string why = why_no_cgroups.empty() ? "no cgroups" : "no cgroups: " + why_no_cgroups;
  report.summary = "process group + child subreaper, members found in /proc; enforced: cpu affinity, "
                   "whole-tree kill; not enforced: cpuset, cpu quota, memory limit, device isolation (" +
                   why + ")";
  return std::shared_ptr<Containment>(new ProcessContainment(proc, std::move(report)));
}

Result<std::unique_ptr<TaskCell>> ProcessContainment::CreateCell(const CellSpec& spec) {
  return std::unique_ptr<TaskCell>(new ProcessCell(proc_, spec));
}

}  // namespace gpulse::worker
