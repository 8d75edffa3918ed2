#include "worker/tasks/child_process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "common/posix_error.h"

namespace gpulse::worker {
namespace {

constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

// The step the child was at when it gave up; sent to the parent with errno.
enum class ChildStep : int { kSetpgid = 1, kRedirect, kChdir, kExec, kJoinCell, kSetAffinity, kDropPrivileges };

struct ChildFailure {
  int step = 0;
  int err = 0;
};

// Everything the child needs, prepared before fork so the child only makes
// system calls.
struct ChildPlan {
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<const char*> exec_paths;
  const char* working_dir = nullptr;
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  int report_fd = -1;
  const CellEntry* cell_entry = nullptr;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  size_t group_count = 0;
};

// Returns `fd` moved to a number above 2 (close-on-exec), so that dup2()
// onto 0, 1 and 2 in the child can never clobber it.
Result<UniqueFd> AboveStdio(UniqueFd fd, const std::string& what) {
  if (fd.get() > 2) return fd;
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return PosixError(what, errno);
  return UniqueFd(moved);
}

Result<UniqueFd> OpenForChild(const std::filesystem::path& path, int flags) {
  const std::string what = "open '" + path.string() + "'";
  int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0) return PosixError(what, errno);
  return AboveStdio(UniqueFd(fd), what);
}

std::string PathOf(const std::vector<std::string>& env) {
  for (const std::string& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) return entry.substr(5);
  }
  return "";
}

// How an exec failure's message starts (ShellExitCodeFor looks for it).
const std::string kExecContext = "argv[0] '";

void ReportAndExit(int report_fd, ChildStep step, int err) {
  ChildFailure failure{static_cast<int>(step), err};
  // Nothing useful can be done if this write fails: the parent then sees
  // exit status 127 without a reason and says so.
  ssize_t ignored = ::write(report_fd, &failure, sizeof failure);
  (void)ignored;
  ::_exit(127);
}

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void RunChild(const ChildPlan& plan) {
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  // The kernel's own layout, for the signals glibc reserves (32, 33) and
  // refuses in sigaction(): an ignored disposition of those is inherited
  // through exec too, so reset them with the raw system call.
  struct {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    unsigned long mask;
  } kernel_default = {SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (::sigaction(sig, &default_action, nullptr) != 0) {
      ::syscall(SYS_rt_sigaction, sig, &kernel_default, nullptr, sizeof(kernel_default.mask));
    }
  }
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

  if (::setpgid(0, 0) != 0) ReportAndExit(plan.report_fd, ChildStep::kSetpgid, errno);
  if (plan.cell_entry != nullptr) {
    const CellEntryFailure entry = EnterCellInChild(*plan.cell_entry);
    if (entry.step == CellEntryStep::kJoinCgroup) ReportAndExit(plan.report_fd, ChildStep::kJoinCell, entry.err);
    if (entry.step == CellEntryStep::kSetAffinity) ReportAndExit(plan.report_fd, ChildStep::kSetAffinity, entry.err);
  }
  if (::dup2(plan.stdin_fd, STDIN_FILENO) < 0 || ::dup2(plan.stdout_fd, STDOUT_FILENO) < 0 ||
      ::dup2(plan.stderr_fd, STDERR_FILENO) < 0) {
    ReportAndExit(plan.report_fd, ChildStep::kRedirect, errno);
  }
  if (plan.switch_user) {
    // Groups first: once the uid is dropped, setgroups and setgid are refused.
    if (::setgroups(plan.group_count, plan.groups) != 0 || ::setgid(plan.gid) != 0 || ::setuid(plan.uid) != 0) {
      ReportAndExit(plan.report_fd, ChildStep::kDropPrivileges, errno);
    }
  }
  if (::chdir(plan.working_dir) != 0) ReportAndExit(plan.report_fd, ChildStep::kChdir, errno);

  // Leave the task nothing of the worker's but stdio and the report pipe
  // (which closes itself on exec). Best effort: older kernels lack it.
  if (plan.report_fd > 3) ::close_range(3, plan.report_fd - 1, 0);
  ::close_range(plan.report_fd + 1, UINT_MAX, 0);

  // Like execvp: try each candidate; prefer EACCES over ENOENT when some
  // candidate existed but could not be run; stop at any other error.
  int err = ENOENT;
  bool saw_eacces = false;
  for (const char* path : plan.exec_paths) {
    if (path == nullptr) break;
    ::execve(path, plan.argv.data(), plan.envp.data());
    err = errno;
    if (err == EACCES) {
      saw_eacces = true;
    } else if (err != ENOENT && err != ENOTDIR) {
      break;
    }
  }
  if (saw_eacces && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  ReportAndExit(plan.report_fd, ChildStep::kExec, err);
  ::_exit(127);  // not reached
}

Status DescribeFailure(const ChildFailure& failure, const ChildSpec& spec) {
  switch (static_cast<ChildStep>(failure.step)) {
    case ChildStep::kSetpgid:
      return PosixError("setpgid", failure.err);
    case ChildStep::kRedirect:
      return PosixError("redirecting stdin/stdout/stderr", failure.err);
    case ChildStep::kChdir:
      return PosixError("chdir '" + spec.working_dir.string() + "'", failure.err);
    case ChildStep::kExec:
      return PosixError(kExecContext + spec.argv[0] + "'", failure.err);
    case ChildStep::kJoinCell:
      return PosixError("joining the task's cgroups", failure.err);
    case ChildStep::kSetAffinity:
      return PosixError("sched_setaffinity to the task's cores", failure.err);
    case ChildStep::kDropPrivileges:
      return PosixError("dropping privileges to uid " +
                            std::to_string(spec.credentials ? spec.credentials->uid : 0),
                        failure.err);
  }
  return Internal("child reported an unknown failure step " + std::to_string(failure.step));
}

void ReapBlocking(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// The descriptors the child starts with: its stdio, and the close-on-exec
// pipe it reports a failure before exec through.
struct ChildFds {
  UniqueFd stdin_fd;
  UniqueFd stdout_fd;
  UniqueFd stderr_fd;
  UniqueFd report_read;
  UniqueFd report_write;
};

Result<ChildFds> OpenChildFds(const ChildSpec& spec) {
  ChildFds fds;
  ASSIGN_OR_RETURN(fds.stdin_fd, OpenForChild("/dev/null", O_RDONLY));
  // O_NOFOLLOW: the task's directory may belong to the task user, who must
  // not turn the worker's next open into a write through a symlink.
  ASSIGN_OR_RETURN(fds.stdout_fd, OpenForChild(spec.stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW));
  ASSIGN_OR_RETURN(fds.stderr_fd, OpenForChild(spec.stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return PosixError("pipe2", errno);
  fds.report_read = UniqueFd(pipe_fds[0]);
  ASSIGN_OR_RETURN(fds.report_write, AboveStdio(UniqueFd(pipe_fds[1]), "pipe2"));
  return fds;
}

// The plan points into `spec`, `exec_paths` and `fds`, which must outlive it.
ChildPlan PlanChild(const ChildSpec& spec, const std::vector<std::string>& exec_paths, const ChildFds& fds) {
  ChildPlan plan;
  for (const std::string& arg : spec.argv) plan.argv.push_back(const_cast<char*>(arg.c_str()));
  plan.argv.push_back(nullptr);
  for (const std::string& entry : spec.env) plan.envp.push_back(const_cast<char*>(entry.c_str()));
  plan.envp.push_back(nullptr);
  for (const std::string& path : exec_paths) plan.exec_paths.push_back(path.c_str());
  plan.exec_paths.push_back(nullptr);
  plan.working_dir = spec.working_dir.c_str();
  plan.stdin_fd = fds.stdin_fd.get();
  plan.stdout_fd = fds.stdout_fd.get();
  plan.stderr_fd = fds.stderr_fd.get();
  plan.report_fd = fds.report_write.get();
  plan.cell_entry = spec.cell_entry;
  if (spec.credentials) {
    plan.switch_user = true;
    plan.uid = spec.credentials->uid;
    plan.gid = spec.credentials->gid;
    plan.groups = spec.credentials->groups.data();
    plan.group_count = spec.credentials->groups.size();
  }
  return plan;
}

// Forks a child that runs `plan`; returns its pid.
Result<pid_t> ForkChild(const ChildPlan& plan) {
  // Block every signal across fork so that no handler of the worker can run
  // in the child before it has reset the dispositions.
  sigset_t all, previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = ::fork();
  if (pid == 0) RunChild(plan);
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) return PosixError("fork", fork_errno);
  return pid;
}

// Waits until the child has exec'd (the report pipe closes empty) or said
// why it could not; then reaps it and returns that reason.
Status AwaitExec(pid_t pid, const UniqueFd& report_read, const ChildSpec& spec) {
  ChildFailure failure;
  ssize_t n;
  do {
    n = ::read(report_read.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return Status::Ok();
  ReapBlocking(pid);
  if (n == static_cast<ssize_t>(sizeof failure)) return DescribeFailure(failure, spec);
  return Internal("argv[0] '" + spec.argv[0] + "': the child failed before exec without a reason");
}

// A pidfd for the running child; kills and reaps it when there is none.
Result<UniqueFd> OpenPidfd(pid_t pid) {
  // Through syscall(): glibc 2.36 declares pidfd_open without C linkage.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const int err = errno;
    ::kill(-pid, SIGKILL);
    ReapBlocking(pid);
    return PosixError("pidfd_open", err);
  }
  return UniqueFd(pidfd);
}

}  // namespace

std::vector<std::string> ExecCandidates(const std::string& program, const std::string& path_env) {
  if (program.find('/') != std::string::npos) return {program};
  const std::string search = path_env.empty() ? kDefaultPath : path_env;
  std::vector<std::string> out;
  size_t begin = 0;
  while (true) {
    size_t end = search.find(':', begin);
    std::string dir = search.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    out.push_back(dir.empty() ? program : dir + "/" + program);
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

std::optional<int> ShellExitCodeFor(const Status& spawn_failure) {
  // Only DescribeFailure's exec step names argv[0] first.
  if (spawn_failure.message().rfind(kExecContext, 0) != 0) return std::nullopt;
  if (spawn_failure.code() == StatusCode::kNotFound) return 127;
  if (spawn_failure.code() == StatusCode::kPermissionDenied) return 126;
  return std::nullopt;
}

Result<SpawnedChild> SpawnInNewProcessGroup(const ChildSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) return InvalidArgument("argv is empty");
  ASSIGN_OR_RETURN(ChildFds fds, OpenChildFds(spec));
  const std::vector<std::string> exec_paths = ExecCandidates(spec.argv[0], PathOf(spec.env));
  const ChildPlan plan = PlanChild(spec, exec_paths, fds);
  ASSIGN_OR_RETURN(const pid_t pid, ForkChild(plan));
  fds.report_write.Reset();  // the child's copy is the only writer now
  RETURN_IF_ERROR(AwaitExec(pid, fds.report_read, spec));
  ASSIGN_OR_RETURN(UniqueFd pidfd, OpenPidfd(pid));
  SpawnedChild child;
  child.pid = pid;
  child.pidfd = std::move(pidfd);
  return child;
}

}  // namespace gpulse::worker
