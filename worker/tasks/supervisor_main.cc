// gpulse-task-supervisor ATTEMPT_DIR: the supervisor of one task attempt,
// started by the worker's SupervisedTaskRunner (supervised_task_runner.h)
// with a pipe on fd 3, stdout/stderr on ATTEMPT_DIR/supervisor.log.
//
// Why a program of its own rather than a hidden subcommand of gpulse-worker
// re-exec'd from /proc/self/exe: one runs per task for the task's whole
// life, so its private memory counts per task (target ≤ 1 MiB). This one
// links only worker/tasks and common; gpulse-worker also carries gRPC,
// protobuf, OpenSSL and NVML code whose static initialisers dirty private
// pages in every process that starts it. Packages install both in one
// folder, where the worker looks for it.
//
// What it does: opens the containment the worker uses (OpenContainmentFor
// with the worker's --containment and a group of its own named after the
// attempt folder; the process backend makes it the task's child subreaper),
// runs the attempt with a TaskRunner, and
//   - once the program runs, writes `state` (its pid and start time, the
//     task's pid) and a byte on fd 3;
//   - on SIGUSR1 reads `cancel` (grace in ms) and cancels the task;
//     SIGTERM/SIGINT cancel it with a 10 s grace;
//   - when `lease` (CLOCK_BOOTTIME ns) passes without a later one, kills
//     the task at once (fencing; the worker could not renew it with the
//     master, or is gone);
//   - when the task has ended and its cell is empty, writes `exit`
//     (fsynced) and exits 0.
// Exits 1 when it cannot record anything (the message is in its log).
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "common/unique_fd.h"
#include "worker/tasks/attempt_files.h"
#include "worker/tasks/containment/containment.h"
#include "worker/tasks/task_runner.h"
#include "worker/tasks/task_user.h"

namespace gpulse::worker {
namespace {

constexpr int kReadyFd = 3;
constexpr auto kSignalGrace = std::chrono::seconds(10);

class EventQueue final : public TaskEventSink {
 public:
  EventQueue() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  void OnTaskEvent(const TaskEvent& event) override {
    {
      std::lock_guard lock(mu_);
      events_.push_back(event);
    }
    const uint64_t one = 1;
    ssize_t ignored = ::write(fd_.get(), &one, sizeof one);
    (void)ignored;
  }
  std::optional<TaskEvent> Pop() {
    std::lock_guard lock(mu_);
    if (events_.empty()) return std::nullopt;
    TaskEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  int fd() const { return fd_.get(); }
  void Drain() {
    uint64_t count;
    ssize_t ignored = ::read(fd_.get(), &count, sizeof count);
    (void)ignored;
  }

 private:
  UniqueFd fd_;
  std::mutex mu_;
  std::deque<TaskEvent> events_;
};

void TellWorker(bool& told) {
  if (told) return;
  told = true;
  const char byte = 'r';
  ssize_t ignored = ::write(kReadyFd, &byte, 1);
  (void)ignored;
  ::close(kReadyFd);
}

std::optional<int64_t> ReadLease(const std::filesystem::path& dir) {
  Result<std::string> text = ReadSmallFile(dir / "lease");
  if (!text.ok()) return std::nullopt;
  Result<int64_t> lease = ParseLease(*text);
  if (!lease.ok()) {
    spdlog::error("{}", lease.status().message());
    return std::nullopt;
  }
  return *lease;
}

int Supervise(const std::filesystem::path& dir) {
  bool told = false;
  auto record_exit = [&](const TaskEvent& event) {
    if (Status s = WriteAttemptFile(dir / "exit", SerializeExit(event)); !s.ok()) {
      spdlog::error("cannot record how the task ended: {}", s.message());
      return 1;
    }
    TellWorker(told);
    return 0;
  };

  Result<std::string> text = ReadSmallFile(dir / "launch");
  Result<SupervisedLaunch> launch = text.ok() ? ParseLaunch(*text) : Result<SupervisedLaunch>(text.status());
  if (!launch.ok()) {
    spdlog::error("{}", launch.status().message());
    return 1;
  }
  const TaskLaunch& l = launch->launch;
  TaskEvent failed;
  failed.kind = TaskEvent::Kind::kFailedToStart;
  failed.task_id = l.task_id;
  failed.attempt = l.attempt;

  // Blocked before any thread starts, so only the signalfd sees them.
  sigset_t signals;
  ::sigemptyset(&signals);
  for (int sig : {SIGUSR1, SIGTERM, SIGINT, SIGHUP}) ::sigaddset(&signals, sig);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));

  Result<std::shared_ptr<Containment>> containment = OpenContainmentFor(launch->containment, dir);
  if (!containment.ok()) {
    failed.message = "containment: " + containment.status().message();
    return record_exit(failed);
  }
  Result<TaskUser> task_user = ResolveTaskUser(launch->task_user, ::geteuid());
  if (!task_user.ok()) {
    failed.message = "task user: " + task_user.status().message();
    return record_exit(failed);
  }
  EventQueue events;
  TaskRunnerConfig config;
  config.work_dir = launch->work_dir;
  config.containment = *containment;
  config.task_user = std::move(*task_user);
  Result<std::unique_ptr<TaskRunner>> runner = TaskRunner::Create(config, events);
  if (!runner.ok()) {
    failed.message = runner.status().message();
    return record_exit(failed);
  }
  if (Status s = (*runner)->Start(l); !s.ok()) {
    failed.message = s.message();
    return record_exit(failed);
  }

  bool fenced = false;
  while (true) {
    while (std::optional<TaskEvent> event = events.Pop()) {
      if (event->kind == TaskEvent::Kind::kStarted) {
        SupervisorState state;
        state.supervisor_pid = ::getpid();
        Result<uint64_t> start_time = ProcessStartTime(state.supervisor_pid);
        state.supervisor_start_time = start_time.ok() ? *start_time : 0;
        state.task_pid = event->pid;
        if (Status s = WriteAttemptFile(dir / "state", SerializeState(state)); !s.ok()) {
          spdlog::error("cannot record the task's state: {}; killing it", s.message());
          (*runner)->Cancel(l.task_id, std::chrono::milliseconds(0));
        }
        TellWorker(told);
        continue;
      }
      if (fenced) {
        event->kind = TaskEvent::Kind::kExited;
        event->message += " (killed by its supervisor: the task's lease ran out before the worker could renew it "
                           "with the master)";
      }
      (*runner)->Shutdown(/*kill_tasks=*/true);
      return record_exit(*event);
    }

    int timeout_ms = -1;
    if (!fenced) {
      if (std::optional<int64_t> lease = ReadLease(dir)) {
        const int64_t left_ns = *lease - MonotonicNowNs();
        if (left_ns <= 0) {
          spdlog::warn("task {} attempt {}: lease expired; killing the task", l.task_id, l.attempt);
          fenced = true;
          (*runner)->Cancel(l.task_id, std::chrono::milliseconds(0));
        } else {
          // Wake at the deadline (rounded up) and read the lease again.
          timeout_ms = static_cast<int>(std::min<int64_t>(left_ns / 1'000'000 + 1, 60'000));
        }
      }
    }
    pollfd fds[2] = {{events.fd(), POLLIN, 0}, {signal_fd.get(), POLLIN, 0}};
    if (::poll(fds, 2, timeout_ms) < 0 && errno != EINTR) {
      spdlog::error("poll: {}", errno);
    }
    if (fds[0].revents != 0) events.Drain();
    if (fds[1].revents != 0) {
      signalfd_siginfo info;
      while (::read(signal_fd.get(), &info, sizeof info) == sizeof info) {
        std::chrono::milliseconds grace = kSignalGrace;
        if (info.ssi_signo == SIGHUP) continue;
        if (info.ssi_signo == SIGUSR1) {
          Result<std::string> cancel = ReadSmallFile(dir / "cancel");
          if (!cancel.ok()) continue;
          try {
            grace = std::chrono::milliseconds(std::stoll(*cancel));
          } catch (const std::exception&) {
            grace = std::chrono::milliseconds(0);
          }
        }
        (*runner)->Cancel(l.task_id, grace);
      }
    }
  }
}

}  // namespace
}  // namespace gpulse::worker

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s ATTEMPT_DIR (started by gpulse-worker)\n", argv[0]);
    return 2;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l supervisor[%P] %v");
  return gpulse::worker::Supervise(argv[1]);
}
