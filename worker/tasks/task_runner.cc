#include "worker/tasks/task_runner.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cassert>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "common/posix_error.h"
#include "common/size.h"
#include "worker/tasks/containment/gpu_device_minors.h"
#include "worker/tasks/task_paths.h"

namespace gpulse::worker {
namespace {

Status ChownToTaskUser(const std::filesystem::path& path, const TaskUser& user) {
  if (::chown(path.c_str(), user.uid, user.gid) != 0) {
    return PosixError("chown '" + path.string() + "' to the task user " + user.name, errno);
  }
  return Status::Ok();
}

using SteadyClock = std::chrono::steady_clock;

// How often a draining cell without an emptiness descriptor is looked at,
// how often cells the kernel does not track are scanned, how often a cell
// that does not empty is logged, and how long Shutdown waits for cells.
constexpr auto kDrainPoll = std::chrono::milliseconds(20);
constexpr auto kTrackPeriod = std::chrono::seconds(1);
constexpr auto kStuckLogPeriod = std::chrono::seconds(10);
constexpr auto kShutdownDrain = std::chrono::seconds(5);

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

Status ValidateTaskLaunch(const TaskLaunch& launch) {
  const std::string& id = launch.task_id;
  if (id.empty() || id == "." || id == ".." || id.find('/') != std::string::npos || HasNul(id)) {
    return InvalidArgument("task id '" + id + "' cannot name a folder");
  }
  if (launch.argv.empty() || launch.argv[0].empty()) {
    return InvalidArgument("task " + id + ": argv is empty");
  }
  for (const std::string& arg : launch.argv) {
    if (HasNul(arg)) return InvalidArgument("task " + id + ": an argument contains a NUL byte");
  }
  for (const auto& [name, value] : launch.env) {
    if (!IsValidEnvName(name) || HasNul(value)) {
      return InvalidArgument("task " + id + ": bad environment variable '" + name + "'");
    }
  }
  if (launch.gpu_indices.size() != launch.gpu_uuids.size()) {
    return InvalidArgument("task " + id + ": " + std::to_string(launch.gpu_indices.size()) +
                           " GPU indices but " + std::to_string(launch.gpu_uuids.size()) + " UUIDs");
  }
  for (const std::string& uuid : launch.gpu_uuids) {
    if (uuid.empty() || uuid.find(',') != std::string::npos || HasNul(uuid)) {
      return InvalidArgument("task " + id + ": bad GPU UUID '" + uuid + "'");
    }
  }
  return Status::Ok();
}

namespace {

// The exit status as a shell reports it: 128+N for death by signal N.
int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(wait_status));
    return name != nullptr ? std::string("killed by SIG") + name
                           : "killed by signal " + std::to_string(WTERMSIG(wait_status));
  }
  return "exited with status " + std::to_string(ExitCodeOf(wait_status));
}

void SignalCell(pid_t main_pid, TaskCell& cell, int sig) {
  if (Status s = cell.Signal(sig); !s.ok()) {
    spdlog::warn("signal {} to the cell of pid {}: {}", sig, main_pid, s.message());
  }
}

void ReapBlocking(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

Result<std::unique_ptr<TaskRunner>> TaskRunner::Create(TaskRunnerConfig config, TaskEventSink& sink) {
  // Without it the reaper cannot be interrupted; nothing sensible can run.
  UniqueFd wake_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd.valid()) return PosixError("the task runner's eventfd", errno);
  if (!config.containment) {
    ContainmentOptions options;
    options.backend = ContainmentOptions::Backend::kProcess;
    ASSIGN_OR_RETURN(config.containment, OpenContainment(options));
  }
  return std::unique_ptr<TaskRunner>(new TaskRunner(std::move(config), sink, std::move(wake_fd)));
}

TaskRunner::TaskRunner(TaskRunnerConfig config, TaskEventSink& sink, UniqueFd wake_fd)
    : work_dir_(std::move(config.work_dir)),
      task_user_(std::move(config.task_user)),
      base_environment_(config.base_environment
                            ? std::move(*config.base_environment)
                            : CleanBaseEnvironment(CurrentProcessEnvironment(), task_user_ ? task_user_->home : "")),
      containment_(std::move(config.containment)),
      nvidia_gpus_dir_(std::move(config.nvidia_gpus_dir)),
      sink_(sink),
      wake_fd_(std::move(wake_fd)),
      cpus_(config.cpus.empty() ? CurrentAffinity() : config.cpus) {
  reaper_ = std::thread([this] { ReaperLoop(); });
}

TaskRunner::~TaskRunner() { Shutdown(/*kill_tasks=*/true); }

Status TaskRunner::Start(const TaskLaunch& launch) {
  RETURN_IF_ERROR(ValidateTaskLaunch(launch));
  CellSpec cell_spec;
  cell_spec.name = launch.task_id + "." + std::to_string(launch.attempt);
  cell_spec.limits.memory_bytes = launch.memory_bytes;
  cell_spec.limits.gpu_minors = GpuDeviceMinors(launch.gpu_indices, nvidia_gpus_dir_);
  cell_spec.environment_marker = "GPULSE_TASK_ID=" + launch.task_id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return FailedPrecondition("the task runner is shut down");
    if (tasks_.count(launch.task_id) != 0) {
      return AlreadyExists("task " + launch.task_id + " is already running on this worker");
    }
    Task& task = tasks_[launch.task_id];
    task.attempt = launch.attempt;
    task.gpu_indices = launch.gpu_indices;
    task.gpu_uuids = launch.gpu_uuids;
    task.memory_bytes = launch.memory_bytes;
    task.cores = cpus_.Take(launch.cpus);
    cell_spec.limits.cpus = task.cores;
    ++starting_;
  }

  Result<std::unique_ptr<TaskCell>> cell = containment_->CreateCell(cell_spec);
  Result<SpawnedChild> child = cell.ok() ? Spawn(launch, **cell) : Result<SpawnedChild>(cell.status());
  if (child.ok()) (*cell)->SetMainProcess(child->pid);

  {
    std::lock_guard<std::mutex> lock(mu_);
    Task& task = tasks_.at(launch.task_id);
    TaskEvent event;
    event.task_id = launch.task_id;
    event.attempt = launch.attempt;
    if (child.ok()) {
      task.state = Task::State::kRunning;
      task.pid = child->pid;
      task.pidfd = std::move(child->pidfd);
      task.cell = std::move(*cell);
      event.kind = TaskEvent::Kind::kStarted;
      event.pid = task.pid;
      if (task.cancel_requested) {
        // Cancel() arrived while the program was being started.
        task.cancel_requested = false;
        RequestStopLocked(task, task.grace);
      }
    } else if (std::optional<int> code = cell.ok() ? ShellExitCodeFor(child.status()) : std::nullopt) {
      // The program itself cannot run (not found, not executable): that is
      // the task's fault and would be so on any worker. It ends here, like
      // a shell's `exit 127`, rather than failing to start.
      task.state = Task::State::kFinished;
      cpus_.Give(task.cores);
      event.kind = TaskEvent::Kind::kExited;
      event.exit_code = *code;
      event.message = "cannot run the program: " + child.status().message();
    } else {
      task.state = Task::State::kFinished;
      cpus_.Give(task.cores);
      event.kind = TaskEvent::Kind::kFailedToStart;
      event.message = cell.ok() ? child.status().message() : "containment: " + cell.status().message();
    }
    pending_events_.push_back(std::move(event));
    --starting_;
  }
  starts_done_.notify_all();
  Wake();
  return Status::Ok();
}

Result<SpawnedChild> TaskRunner::Spawn(const TaskLaunch& launch, const TaskCell& cell) const {
  const TaskPaths paths = PathsForTask(work_dir_, launch.task_id);
  std::error_code error;
  std::filesystem::create_directories(paths.dir, error);
  if (error) return PosixError("creating '" + paths.dir.string() + "'", error.value());
  const bool switches = task_user_ && task_user_->switches;
  if (switches) {
    // The task's own directory and output files become the task user's;
    // the files are made now so that the child's O_TRUNC open keeps them so.
    RETURN_IF_ERROR(ChownToTaskUser(paths.dir, *task_user_));
    for (const auto& file : {paths.stdout_log, paths.stderr_log}) {
      UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
      if (!fd.valid()) return PosixError("creating '" + file.string() + "'", errno);
      if (::fchown(fd.get(), task_user_->uid, task_user_->gid) != 0) {
        return PosixError("chown '" + file.string() + "' to the task user", errno);
      }
    }
  }

  ChildSpec spec;
  spec.argv = launch.argv;
  Environment env = BuildTaskEnvironment(base_environment_, launch);
  if (env.find("HOME") == env.end()) env["HOME"] = paths.dir.string();
  spec.env = ToEnvStrings(env);
  if (switches) spec.credentials = ChildSpec::Credentials{task_user_->uid, task_user_->gid, task_user_->groups};
  spec.working_dir = paths.dir;
  spec.stdout_path = paths.stdout_log;
  spec.stderr_path = paths.stderr_log;
  spec.cell_entry = &cell.Entry();
  return SpawnInNewProcessGroup(spec);
}

Status TaskRunner::Cancel(const std::string& task_id, std::chrono::milliseconds grace) {
  if (grace.count() < 0) grace = std::chrono::milliseconds(0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return NotFound("task " + task_id + " is not running on this worker");
    Task& task = it->second;
    switch (task.state) {
      case Task::State::kStarting:
        if (!task.cancel_requested || grace < task.grace) task.grace = grace;
        task.cancel_requested = true;
        return Status::Ok();
      case Task::State::kDraining:
      case Task::State::kFinished:
        return Status::Ok();
      case Task::State::kRunning:
        RequestStopLocked(task, grace);
        break;
    }
  }
  Wake();
  return Status::Ok();
}

void TaskRunner::RequestStopLocked(Task& task, std::chrono::milliseconds grace) {
  if (task.killed_after_grace) return;  // SIGKILL already sent
  task.cancel_requested = true;
  if (grace.count() == 0) {
    task.grace = grace;
    SignalCell(task.pid, *task.cell, SIGKILL);
    task.killed_after_grace = true;
    task.kill_deadline.reset();
    return;
  }
  SignalCell(task.pid, *task.cell, SIGTERM);
  const auto deadline = SteadyClock::now() + grace;
  if (!task.kill_deadline || deadline < *task.kill_deadline) {
    task.kill_deadline = deadline;
    task.grace = grace;
  }
}

std::vector<RunningTaskInfo> TaskRunner::Running() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RunningTaskInfo> out;
  for (const auto& [id, task] : tasks_) {
    if (task.pid == 0) continue;
    RunningTaskInfo info;
    info.task_id = id;
    info.attempt = task.attempt;
    info.pid = task.pid;
    info.gpu_indices = task.gpu_indices;
    info.gpu_uuids = task.gpu_uuids;
    out.push_back(std::move(info));
  }
  return out;
}

void TaskRunner::Wake() {
  const uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);  // fails only when the counter is full
  (void)ignored;
}

std::optional<SteadyClock::time_point> TaskRunner::NextDeadlineLocked() const {
  std::optional<SteadyClock::time_point> next;
  auto consider = [&next](SteadyClock::time_point t) {
    if (!next || t < *next) next = t;
  };
  bool tracking = false;
  for (const auto& [id, task] : tasks_) {
    if (task.state == Task::State::kRunning && task.kill_deadline) consider(*task.kill_deadline);
    if (task.state == Task::State::kDraining && task.cell->EmptinessFd() < 0) {
      consider(SteadyClock::now() + kDrainPoll);
    }
    if (task.state == Task::State::kRunning) tracking = true;
  }
  if (tracking && !containment_->Report().kernel_tracked) consider(next_track_);
  return next;
}

void TaskRunner::KillOverdueLocked(SteadyClock::time_point now) {
  for (auto& [id, task] : tasks_) {
    if (task.state == Task::State::kRunning && task.kill_deadline && *task.kill_deadline <= now) {
      spdlog::info("task {} outlived its {} ms grace period; sending SIGKILL", id, task.grace.count());
      SignalCell(task.pid, *task.cell, SIGKILL);
      task.killed_after_grace = true;
      task.kill_deadline.reset();
    }
  }
}

void TaskRunner::TrackCellsLocked(SteadyClock::time_point now) {
  if (containment_->Report().kernel_tracked || now < next_track_) return;
  next_track_ = now + kTrackPeriod;
  for (auto& [id, task] : tasks_) {
    if (task.state == Task::State::kRunning) task.cell->Track();
  }
}

void TaskRunner::ReapLocked(const std::string& task_id, Task& task) {
  // Look without reaping first: while the exited main process is an unreaped
  // zombie its pid cannot be reused, so killing its cell hits only the task.
  siginfo_t info = {};
  if (::waitid(P_PID, static_cast<id_t>(task.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == EINTR) return;
    spdlog::error("task {}: waitid({}) failed: {}; its exit status is lost", task_id, task.pid,
                  ErrnoText(errno));
  } else if (info.si_pid == 0) {
    return;  // not exited after all
  } else {
    SignalCell(task.pid, *task.cell, SIGKILL);
  }

  int wait_status = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(task.pid, &wait_status, WNOHANG);
  } while (reaped < 0 && errno == EINTR);

  TaskEvent event;
  event.task_id = task_id;
  event.attempt = task.attempt;
  event.pid = task.pid;
  if (reaped == task.pid) {
    event.exit_code = ExitCodeOf(wait_status);
    event.message = DescribeWaitStatus(wait_status);
  } else {
    event.exit_code = -1;
    event.message = "exit status unknown: the process was reaped by someone else";
  }
  if (task.cancel_requested) {
    event.kind = TaskEvent::Kind::kCancelled;
    event.message += task.killed_after_grace
                         ? " (cancelled; SIGKILL after " + std::to_string(task.grace.count()) + " ms)"
                         : " (cancelled)";
  } else {
    event.kind = TaskEvent::Kind::kExited;
  }
  task.state = Task::State::kDraining;
  task.pidfd.Reset();
  task.kill_deadline.reset();
  task.last_event = std::move(event);
  task.draining_since = SteadyClock::now();
  DrainLocked(task_id, task);
}

void TaskRunner::DrainLocked(const std::string& task_id, Task& task) {
  // Again each time: a process may have forked while the last kill landed.
  SignalCell(task.pid, *task.cell, SIGKILL);
  Result<bool> empty = task.cell->Empty();
  if (!empty.ok()) {
    // The cell's membership cannot be read any more (its group was removed
    // behind the worker's back): nothing is left to wait for.
    spdlog::error("task {}: {}; treating its cell as empty", task_id, empty.status().message());
  } else if (!*empty) {
    const auto now = SteadyClock::now();
    if (now - *task.draining_since >= kStuckLogPeriod) {
      spdlog::warn("task {}: processes of its cell survive SIGKILL; its GPUs stay busy until they are gone",
                   task_id);
      task.draining_since = now;
    }
    return;
  }

  TaskEvent event = std::move(*task.last_event);
  task.last_event.reset();
  if (task.cell->OomKilled()) {
    event.out_of_memory = true;
    event.message += "; the task exceeded its memory limit of " + FormatBytes(task.memory_bytes) +
                     " (the kernel's OOM killer killed a process of it)";
  }
  if (Status s = task.cell->Destroy(); !s.ok()) spdlog::warn("task {}: {}", task_id, s.message());
  task.cell.reset();
  cpus_.Give(task.cores);
  task.cores.clear();
  task.state = Task::State::kFinished;
  pending_events_.push_back(std::move(event));
}

void TaskRunner::ReaperLoop() {
  std::vector<pollfd> poll_fds;
  std::vector<std::string> poll_ids;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    while (!pending_events_.empty() && !stopping_) {
      TaskEvent event = std::move(pending_events_.front());
      pending_events_.pop_front();
      lock.unlock();
      sink_.OnTaskEvent(event);
      lock.lock();
      if (event.kind != TaskEvent::Kind::kStarted) tasks_.erase(event.task_id);
    }
    if (stopping_) break;

    poll_fds.assign(1, pollfd{wake_fd_.get(), POLLIN, 0});
    poll_ids.assign(1, std::string());
    for (const auto& [id, task] : tasks_) {
      if (task.state == Task::State::kRunning) {
        poll_fds.push_back(pollfd{task.pidfd.get(), POLLIN, 0});
        poll_ids.push_back(id);
      } else if (task.state == Task::State::kDraining && task.cell->EmptinessFd() >= 0) {
        poll_fds.push_back(pollfd{task.cell->EmptinessFd(), POLLPRI, 0});
        poll_ids.push_back(id);
      }
    }
    timespec timeout = {};
    const timespec* timeout_ptr = nullptr;
    if (auto deadline = NextDeadlineLocked()) {
      auto left = std::max(SteadyClock::duration::zero(), *deadline - SteadyClock::now());
      auto seconds = std::chrono::duration_cast<std::chrono::seconds>(left);
      timeout.tv_sec = seconds.count();
      timeout.tv_nsec = std::chrono::duration_cast<std::chrono::nanoseconds>(left - seconds).count();
      timeout_ptr = &timeout;
    }

    // Only this thread closes pidfds and cells (or Shutdown after joining
    // it), so the descriptors stay valid while the lock is released.
    lock.unlock();
    int ready = ::ppoll(poll_fds.data(), poll_fds.size(), timeout_ptr, nullptr);
    const int poll_errno = errno;
    if (poll_fds[0].revents != 0) {
      uint64_t count;
      ssize_t ignored = ::read(wake_fd_.get(), &count, sizeof count);
      (void)ignored;
    }
    lock.lock();

    if (ready < 0 && poll_errno != EINTR) {
      spdlog::error("task runner: ppoll failed: {}", ErrnoText(poll_errno));
    }
    for (size_t i = 1; ready > 0 && i < poll_fds.size(); ++i) {
      if (poll_fds[i].revents == 0) continue;
      auto it = tasks_.find(poll_ids[i]);
      if (it != tasks_.end() && it->second.state == Task::State::kRunning) {
        ReapLocked(it->first, it->second);
      }
    }
    for (auto& [id, task] : tasks_) {
      if (task.state == Task::State::kDraining) DrainLocked(id, task);
    }
    const auto now = SteadyClock::now();
    KillOverdueLocked(now);
    TrackCellsLocked(now);
  }
}

void TaskRunner::Shutdown(bool kill_tasks) {
  assert(std::this_thread::get_id() != reaper_.get_id() && "Shutdown called from the sink");
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
    starts_done_.wait(lock, [this] { return starting_ == 0; });
  }
  Wake();
  if (reaper_.joinable()) reaper_.join();

  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, task] : tasks_) {
    if (task.state != Task::State::kRunning && task.state != Task::State::kDraining) continue;
    if (kill_tasks) {
      SignalCell(task.pid, *task.cell, SIGKILL);
      if (task.state == Task::State::kRunning) ReapBlocking(task.pid);
      const auto deadline = SteadyClock::now() + kShutdownDrain;
      while (true) {
        Result<bool> empty = task.cell->Empty();
        if (!empty.ok() || *empty) break;
        if (SteadyClock::now() >= deadline) {
          spdlog::error("task {}: processes of its cell survive SIGKILL; leaving them", id);
          break;
        }
        std::this_thread::sleep_for(kDrainPoll);
        SignalCell(task.pid, *task.cell, SIGKILL);
      }
    }
    task.pidfd.Reset();
    task.cell.reset();  // removes the cell if it is empty; a populated one stays
  }
  tasks_.clear();
  pending_events_.clear();
}

}  // namespace gpulse::worker
