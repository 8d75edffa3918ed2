#include "worker/tasks/supervised_task_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <spdlog/spdlog.h>

#include "common/posix_error.h"
#include "worker/tasks/attempt_files.h"

extern char** environ;

namespace gpulse::worker {
namespace {

// How long Start() waits for a supervisor to say the task runs.
constexpr int kSupervisorStartTimeoutMs = 60'000;

UniqueFd PidfdOpen(pid_t pid) { return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); }

bool SendSignal(const UniqueFd& pidfd, int sig) {
  return ::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) == 0;
}

std::filesystem::path DefaultSupervisorPath() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return self.parent_path() / "gpulse-task-supervisor";
}

}  // namespace

std::chrono::milliseconds SupervisedTaskRunner::FenceMargin(std::chrono::milliseconds lease) {
  return std::max(std::chrono::milliseconds(2000), lease / 5);
}

int64_t SupervisedTaskRunner::FenceDeadlineNs(int64_t at_ns, std::chrono::milliseconds lease) {
  const auto usable = lease - FenceMargin(lease);
  return at_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(std::max(usable, usable.zero())).count();
}

Result<std::unique_ptr<SupervisedTaskRunner>> SupervisedTaskRunner::Create(SupervisedTaskRunnerConfig config,
                                                                           TaskEventSink& sink) {
  UniqueFd wake_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd.valid()) return PosixError("the task runner's eventfd", errno);
  if (config.supervisor_path.empty()) config.supervisor_path = DefaultSupervisorPath();
  if (::access(config.supervisor_path.c_str(), X_OK) != 0) {
    return PosixError("the task supervisor '" + config.supervisor_path.string() + "'", errno);
  }
  // A work dir that cannot be written is the self-check's to report (the
  // worker then gets no tasks); each Start would fail to start its task.
  std::error_code error;
  std::filesystem::create_directories(AttemptsRoot(config.work_dir), error);
  if (error) {
    spdlog::warn("cannot create '{}': {}; tasks cannot start", AttemptsRoot(config.work_dir).string(),
                 error.message());
  }
  // Supervisors are double-forked so that they are nobody's children here;
  // a subreaper (the process containment makes one) would inherit them.
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  std::unique_ptr<SupervisedTaskRunner> runner(new SupervisedTaskRunner(std::move(config), sink, std::move(wake_fd)));
  runner->AdoptAll();
  runner->thread_ = std::thread([r = runner.get()] { r->Loop(); });
  return runner;
}

SupervisedTaskRunner::SupervisedTaskRunner(SupervisedTaskRunnerConfig config, TaskEventSink& sink, UniqueFd wake_fd)
    : config_(std::move(config)), sink_(sink), wake_fd_(std::move(wake_fd)) {}

SupervisedTaskRunner::~SupervisedTaskRunner() { Shutdown(/*kill_tasks=*/false); }

std::filesystem::path SupervisedTaskRunner::DirOf(const std::string& task_id, uint32_t attempt) const {
  return AttemptDirFor(config_.work_dir, task_id, attempt);
}

void SupervisedTaskRunner::AdoptAll() {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(AttemptsRoot(config_.work_dir), error)) {
    if (entry.is_directory()) Adopt(entry.path());
  }
}

void SupervisedTaskRunner::Adopt(const std::filesystem::path& dir) {
  std::error_code error;
  Result<std::string> launch_text = ReadSmallFile(dir / "launch");
  Result<SupervisedLaunch> launch =
      launch_text.ok() ? ParseLaunch(*launch_text) : Result<SupervisedLaunch>(launch_text.status());
  if (!launch.ok()) {
    spdlog::warn("removing attempt folder {}: {}", dir.string(), launch.status().message());
    std::filesystem::remove_all(dir, error);
    return;
  }
  const TaskLaunch& l = launch->launch;
  Attempt a;
  a.attempt = l.attempt;
  a.gpu_indices = l.gpu_indices;
  a.gpu_uuids = l.gpu_uuids;
  Result<std::string> state_text = ReadSmallFile(dir / "state");
  Result<SupervisorState> state =
      state_text.ok() ? ParseState(*state_text) : Result<SupervisorState>(state_text.status());
  if (state.ok()) {
    a.task_pid = state->task_pid;
    a.supervisor_pid = state->supervisor_pid;
    // Open first, then check the start time: the pidfd then names the
    // process whose start time matched, even if the pid is reused later.
    UniqueFd pidfd = PidfdOpen(state->supervisor_pid);
    Result<uint64_t> started = ProcessStartTime(state->supervisor_pid);
    if (pidfd.valid() && started.ok() && *started == state->supervisor_start_time &&
        !std::filesystem::exists(dir / "exit")) {
      a.state = Attempt::State::kRunning;
      a.pidfd = std::move(pidfd);
      spdlog::info("re-adopted task {} attempt {} (pid {}, supervisor pid {})", l.task_id, l.attempt, a.task_pid,
                   a.supervisor_pid);
      std::lock_guard lock(mu_);
      tasks_[l.task_id] = std::move(a);
      return;
    }
  }
  if (!state.ok() && !std::filesystem::exists(dir / "exit")) {
    // The task never ran (its worker died while it was being started).
    spdlog::warn("attempt {} of task {} never ran; removing {}", l.attempt, l.task_id, dir.string());
    std::filesystem::remove_all(dir, error);
    return;
  }
  a.state = Attempt::State::kEnded;
  TaskEvent event = EndedEvent(l.task_id, a);
  spdlog::info("task {} attempt {} ended while the worker was away: {}", l.task_id, l.attempt, event.message);
  std::lock_guard lock(mu_);
  tasks_[l.task_id] = std::move(a);
  pending_.push_back(std::move(event));
}

TaskEvent SupervisedTaskRunner::EndedEvent(const std::string& task_id, const Attempt& a) const {
  const std::filesystem::path dir = DirOf(task_id, a.attempt);
  Result<std::string> text = ReadSmallFile(dir / "exit");
  Result<TaskEvent> recorded = text.ok() ? ParseExit(*text) : Result<TaskEvent>(text.status());
  if (recorded.ok()) return *recorded;
  TaskEvent event;
  event.kind = TaskEvent::Kind::kExited;
  event.task_id = task_id;
  event.attempt = a.attempt;
  event.pid = a.task_pid;
  event.exit_code = -1;
  event.message = "the task's supervisor ended without recording how the task ended (" +
                  recorded.status().message() + "; see " + (dir / "supervisor.log").string() + ")";
  return event;
}

void SupervisedTaskRunner::ReleaseEvents() {
  {
    std::lock_guard lock(mu_);
    hold_events_ = false;
  }
  Wake();
}

Status SupervisedTaskRunner::Start(const TaskLaunch& launch) {
  RETURN_IF_ERROR(ValidateTaskLaunch(launch));
  std::optional<int64_t> lease;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return FailedPrecondition("the task runner is shut down");
    if (tasks_.count(launch.task_id) != 0) {
      return AlreadyExists("task " + launch.task_id + " is already running on this worker");
    }
    Attempt& a = tasks_[launch.task_id];
    a.attempt = launch.attempt;
    a.gpu_indices = launch.gpu_indices;
    a.gpu_uuids = launch.gpu_uuids;
    lease = lease_deadline_ns_;
  }

  const std::filesystem::path dir = DirOf(launch.task_id, launch.attempt);
  Status prepared = [&]() -> Status {
    std::error_code error;
    std::filesystem::remove_all(dir, error);
    std::filesystem::create_directories(dir, error);
    if (error) return PosixError("creating '" + dir.string() + "'", error.value());
    SupervisedLaunch s{launch, config_.work_dir, config_.containment, config_.task_user};
    RETURN_IF_ERROR(WriteAttemptFile(dir / "launch", SerializeLaunch(s)));
    // Before the supervisor exists: a task is never without its fence.
    if (lease) RETURN_IF_ERROR(WriteAttemptFile(dir / "lease", SerializeLease(*lease)));
    return SpawnSupervisor(dir);
  }();

  Result<std::string> state_text = ReadSmallFile(dir / "state");
  Result<SupervisorState> state =
      state_text.ok() ? ParseState(*state_text) : Result<SupervisorState>(state_text.status());
  UniqueFd pidfd;
  if (prepared.ok() && state.ok()) {
    pidfd = PidfdOpen(state->supervisor_pid);
    Result<uint64_t> started = ProcessStartTime(state->supervisor_pid);
    // Gone already (the task ended at once): its exit record says the rest.
    if (!started.ok() || *started != state->supervisor_start_time) pidfd.Reset();
  }
  {
    std::lock_guard lock(mu_);
    Attempt& a = tasks_.at(launch.task_id);
    if (prepared.ok() && state.ok()) {
      a.task_pid = state->task_pid;
      a.supervisor_pid = state->supervisor_pid;
      TaskEvent started;
      started.kind = TaskEvent::Kind::kStarted;
      started.task_id = launch.task_id;
      started.attempt = launch.attempt;
      started.pid = a.task_pid;
      pending_.push_back(std::move(started));
      if (pidfd.valid()) {
        a.state = Attempt::State::kRunning;
        a.pidfd = std::move(pidfd);
        if (a.cancel_requested) SendCancel(launch.task_id, a, a.grace);
      } else {
        a.state = Attempt::State::kEnded;
        pending_.push_back(EndedEvent(launch.task_id, a));
      }
    } else if (prepared.ok() && std::filesystem::exists(dir / "exit")) {
      a.state = Attempt::State::kEnded;  // could not run the program: recorded
      pending_.push_back(EndedEvent(launch.task_id, a));
    } else {
      a.state = Attempt::State::kEnded;
      TaskEvent failed;
      failed.kind = TaskEvent::Kind::kFailedToStart;
      failed.task_id = launch.task_id;
      failed.attempt = launch.attempt;
      failed.message = prepared.ok() ? "the task's supervisor did not start the task (see " +
                                           (dir / "supervisor.log").string() + ")"
                                     : "task supervisor: " + prepared.message();
      pending_.push_back(std::move(failed));
    }
  }
  Wake();
  return Status::Ok();
}

Status SupervisedTaskRunner::SpawnSupervisor(const std::filesystem::path& dir) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return PosixError("pipe2", errno);
  UniqueFd ready_read(pipe_fds[0]);
  UniqueFd ready_write(pipe_fds[1]);
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const std::string log_path = (dir / "supervisor.log").string();
  UniqueFd log_fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!null_fd.valid() || !log_fd.valid()) return PosixError("opening " + log_path, errno);
  const std::string program = config_.supervisor_path.string();
  const std::string dir_arg = dir.string();
  char* const argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>(dir_arg.c_str()), nullptr};

  const pid_t middle = ::fork();
  if (middle < 0) return PosixError("fork", errno);
  if (middle == 0) {
    // Only async-signal-safe calls from here to exec.
    ::setsid();
    const pid_t supervisor = ::fork();
    if (supervisor != 0) ::_exit(supervisor < 0 ? 1 : 0);
    ::dup2(null_fd.get(), 0);
    ::dup2(log_fd.get(), 1);
    ::dup2(log_fd.get(), 2);
    if (ready_write.get() == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(ready_write.get(), 3);
    }
    ::syscall(SYS_close_range, 4u, ~0u, 0u);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD}) ::signal(sig, SIG_DFL);
    ::execve(argv[0], argv, environ);
    ::_exit(127);
  }
  ready_write.Reset();
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  // The supervisor writes one byte once `state` or `exit` is written, or
  // closes the pipe by dying.
  pollfd p{ready_read.get(), POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&p, 1, kSupervisorStartTimeoutMs);
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) return Unavailable("the supervisor did not report within 60 s");
  char byte;
  if (::read(ready_read.get(), &byte, 1) != 1) {
    return Unavailable("the supervisor ended before it started the task (see " + log_path + ")");
  }
  return Status::Ok();
}

void SupervisedTaskRunner::SendCancel(const std::string& task_id, Attempt& a, std::chrono::milliseconds grace) {
  const std::filesystem::path dir = DirOf(task_id, a.attempt);
  if (Status s = WriteAttemptFile(dir / "cancel", std::to_string(grace.count()) + "\n"); !s.ok()) {
    spdlog::error("task {}: cannot ask its supervisor to cancel: {}", task_id, s.message());
    return;
  }
  if (!SendSignal(a.pidfd, SIGUSR1)) {
    spdlog::warn("task {}: signalling its supervisor: {}", task_id, ErrnoText(errno));
  }
}

Status SupervisedTaskRunner::Cancel(const std::string& task_id, std::chrono::milliseconds grace) {
  if (grace.count() < 0) grace = std::chrono::milliseconds(0);
  std::lock_guard lock(mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return NotFound("task " + task_id + " is not running on this worker");
  Attempt& a = it->second;
  switch (a.state) {
    case Attempt::State::kStarting:
      if (!a.cancel_requested || grace < a.grace) a.grace = grace;
      a.cancel_requested = true;
      break;
    case Attempt::State::kRunning:
      if (a.cancel_requested && grace >= a.grace) break;
      a.cancel_requested = true;
      a.grace = grace;
      SendCancel(task_id, a, grace);
      break;
    case Attempt::State::kEnded:
      break;
  }
  return Status::Ok();
}

std::vector<RunningTaskInfo> SupervisedTaskRunner::Running() const {
  std::lock_guard lock(mu_);
  std::vector<RunningTaskInfo> out;
  for (const auto& [id, a] : tasks_) {
    if (a.task_pid == 0) continue;
    out.push_back({id, a.attempt, a.task_pid, a.gpu_indices, a.gpu_uuids});
  }
  return out;
}

void SupervisedTaskRunner::Collected(const std::string& task_id, uint32_t attempt) {
  std::error_code error;
  std::filesystem::remove_all(DirOf(task_id, attempt), error);
  if (error) spdlog::warn("removing the folder of task {} attempt {}: {}", task_id, attempt, error.message());
}

void SupervisedTaskRunner::RenewLease(int64_t at_ns, std::chrono::milliseconds lease) {
  const int64_t deadline = FenceDeadlineNs(at_ns, lease);
  std::lock_guard lock(mu_);
  if (lease_deadline_ns_ && *lease_deadline_ns_ >= deadline) return;
  lease_deadline_ns_ = deadline;
  for (const auto& [id, a] : tasks_) {
    if (a.state == Attempt::State::kEnded) continue;
    // A starting attempt's folder may not exist yet; Start writes the lease.
    const std::filesystem::path dir = DirOf(id, a.attempt);
    if (!std::filesystem::exists(dir)) continue;
    if (Status s = WriteAttemptFile(dir / "lease", SerializeLease(deadline)); !s.ok()) {
      spdlog::error("task {}: cannot renew its lease: {}", id, s.message());
    }
  }
}

void SupervisedTaskRunner::Wake() {
  const uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
  (void)ignored;
}

void SupervisedTaskRunner::Loop() {
  std::vector<pollfd> fds;
  std::vector<std::string> ids;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    while (!hold_events_ && !pending_.empty() && !stopping_) {
      TaskEvent event = std::move(pending_.front());
      pending_.pop_front();
      lock.unlock();
      sink_.OnTaskEvent(event);
      lock.lock();
      if (event.kind != TaskEvent::Kind::kStarted) tasks_.erase(event.task_id);
    }
    if (stopping_) break;
    fds.assign(1, pollfd{wake_fd_.get(), POLLIN, 0});
    ids.assign(1, std::string());
    for (const auto& [id, a] : tasks_) {
      if (a.state == Attempt::State::kRunning) {
        fds.push_back(pollfd{a.pidfd.get(), POLLIN, 0});
        ids.push_back(id);
      }
    }
    lock.unlock();
    const int ready = ::poll(fds.data(), fds.size(), -1);
    if (fds[0].revents != 0) {
      uint64_t count;
      ssize_t ignored = ::read(wake_fd_.get(), &count, sizeof count);
      (void)ignored;
    }
    lock.lock();
    for (size_t i = 1; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto it = tasks_.find(ids[i]);
      if (it == tasks_.end() || it->second.state != Attempt::State::kRunning) continue;
      it->second.state = Attempt::State::kEnded;
      it->second.pidfd.Reset();
      pending_.push_back(EndedEvent(it->first, it->second));
    }
  }
}

void SupervisedTaskRunner::Shutdown(bool kill_tasks) {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  if (!kill_tasks) return;
  const auto deadline = std::chrono::steady_clock::now() + config_.stop_wait;
  for (auto& [id, a] : tasks_) {
    if (a.state != Attempt::State::kRunning) continue;
    a.cancel_requested = false;
    SendCancel(id, a, std::chrono::milliseconds(0));
  }
  for (auto& [id, a] : tasks_) {
    if (a.state == Attempt::State::kRunning) {
      pollfd p{a.pidfd.get(), POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count()))) <= 0) {
        spdlog::error("task {}: its supervisor did not end within {} ms", id, config_.stop_wait.count());
        continue;
      }
    }
    // The master is told nothing: it requeues the task when this worker
    // registers again without it, as it always did for a stopped worker.
    Collected(id, a.attempt);
  }
  tasks_.clear();
  pending_.clear();
}

}  // namespace gpulse::worker
