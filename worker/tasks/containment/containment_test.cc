// The containment backends, for real: every backend this machine offers runs
// the same tests (as root; a backend the machine lacks is skipped with the
// reason). Children are started here with fork + EnterCellInChild + exec, as
// the task runner does.
#include "worker/tasks/containment/containment.h"

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "worker/tasks/containment/cpu_allocator.h"
#include "worker/tasks/containment/proc_scan.h"
#include "testkit/eventually.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Backend = ContainmentOptions::Backend;
using testkit::Eventually;
using testkit::ReadFileOrEmpty;

constexpr auto kWait = std::chrono::seconds(10);

// True once `pid` is gone or a zombie; reaps it when it is our child.
bool Dead(pid_t pid) {
  ::waitpid(pid, nullptr, WNOHANG);
  std::optional<ProcessInfo> info = ReadProcess("/proc", pid);
  return !info || info->state == 'Z' || info->state == 'X';
}

bool HasSubdirectory(const std::filesystem::path& dir) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.is_directory(error)) return true;
  }
  return false;
}

struct BackendCase {
  const char* name;
  Backend backend;
};
void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.name; }

class ContainmentTest : public ::testing::TestWithParam<BackendCase> {
 protected:
  // Orphans come back to this process, which reaps them (Dead()), whatever
  // the backend.
  static void SetUpTestSuite() { ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }

  void SetUp() override {
    ContainmentOptions options;
    options.backend = GetParam().backend;
    options.group = "gpulse-test-" + std::to_string(::getpid());
    Result<std::shared_ptr<Containment>> opened = OpenContainment(options);
    if (!opened.ok()) GTEST_SKIP() << "this machine has no " << GetParam().name << " containment: " << opened.status().message();
    containment_ = *opened;
  }

  void TearDown() override {
    if (!containment_) return;
    const std::vector<std::filesystem::path> parents = containment_->Report().cell_parents;
    for (const auto& parent : parents) EXPECT_FALSE(HasSubdirectory(parent)) << "a cell is left in " << parent;
    containment_.reset();
    for (const auto& parent : parents) EXPECT_FALSE(std::filesystem::exists(parent)) << parent << " is left";
  }

  std::unique_ptr<TaskCell> Cell(const CellLimits& limits = {}) {
    CellSpec spec;
    spec.name = "task." + std::to_string(++cells_);
    spec.limits = limits;
    spec.environment_marker = Marker();
    Result<std::unique_ptr<TaskCell>> cell = containment_->CreateCell(spec);
    EXPECT_OK(cell);
    return cell.ok() ? std::move(*cell) : nullptr;
  }

  std::string Marker() const { return "GPULSE_TASK_ID=containment-test-" + std::to_string(::getpid()); }

  // Runs `script` with /bin/sh in `cell`, stdout and stderr to out.txt, in a
  // process group of its own; returns its pid.
  pid_t Start(TaskCell& cell, const std::string& script) {
    const std::string out = dir_.File("out.txt");
    const std::string marker = Marker();
    const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
    const char* envp[] = {"PATH=/usr/bin:/bin", marker.c_str(), nullptr};
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      if (EnterCellInChild(cell.Entry()).step != CellEntryStep::kNone) ::_exit(126);
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execve(argv[0], const_cast<char**>(argv), const_cast<char**>(envp));
      ::_exit(127);
    }
    cell.SetMainProcess(pid);
    return pid;
  }

  // Waits for the main process to exit and returns its wait status (-1 when
  // it was reaped before).
  int WaitMain(pid_t pid) {
    int status = -1;
    Eventually([&] {
      const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
      return reaped == pid || (reaped < 0 && errno == ECHILD);
    }, kWait);
    return status;
  }

  std::string Output() const { return ReadFileOrEmpty(dir_.File("out.txt")); }

  // The first line of the output, once there is one.
  std::string FirstLine() {
    std::string out;
    Eventually([&] {
      out = Output();
      return out.find('\n') != std::string::npos;
    }, kWait);
    return out.substr(0, out.find('\n'));
  }

  // Signals, reaps `main` and waits until the cell is empty, then destroys it.
  void KillAndDrain(TaskCell& cell, pid_t main) {
    ASSERT_OK(cell.Signal(SIGKILL));
    WaitMain(main);
    EXPECT_TRUE(Eventually([&] {
      cell.Signal(SIGKILL);
      Result<bool> empty = cell.Empty();
      return empty.ok() && *empty;
    }, kWait));
    EXPECT_OK(cell.Destroy());
  }

  testkit::TempDir dir_;
  std::shared_ptr<Containment> containment_;
  int cells_ = 0;
};

TEST_P(ContainmentTest, ReportSaysWhatIsEnforced) {
  const ContainmentReport& report = containment_->Report();
  std::printf("%s: %s\n", GetParam().name, report.summary.c_str());
  EXPECT_THAT(report.summary, HasSubstr("enforced: cpu affinity, whole-tree kill"));
  EXPECT_TRUE(report.cpu_affinity);
  const size_t not_enforced = report.summary.find("; not enforced: ");
  const std::string missing = not_enforced == std::string::npos ? "" : report.summary.substr(not_enforced);
  if (!report.device_isolation) {
    EXPECT_THAT(missing, HasSubstr("device isolation"));
  }
  if (!report.memory_limit) {
    EXPECT_THAT(missing, HasSubstr("memory limit"));
  }
  switch (GetParam().backend) {
    case Backend::kProcess:
      EXPECT_EQ(report.backend, "process");
      EXPECT_FALSE(report.kernel_tracked);
      break;
    case Backend::kCgroup2:
      EXPECT_EQ(report.backend, "cgroup2");
      EXPECT_THAT(report.summary, HasSubstr(report.device_isolation ? "BPF device filter)"
                                                                    : "cgroup v2 without BPF device filter"));
      break;
    case Backend::kCgroup1:
      EXPECT_EQ(report.backend, "cgroup1");
      break;
    case Backend::kAuto:
      EXPECT_NE(report.backend, "process") << "this machine has cgroups: " << report.summary;
      break;
  }
}

TEST_P(ContainmentTest, SetsidEscapeeIsKilledWithTheCell) {
  std::unique_ptr<TaskCell> cell = Cell();
  ASSERT_NE(cell, nullptr);
  const pid_t main = Start(*cell, "setsid sleep 300 & echo $!; sleep 300");
  const pid_t escapee = std::stoi(FirstLine());
  ASSERT_TRUE(Eventually([&] { return ::getsid(escapee) == escapee; }, kWait)) << "the child did not call setsid";
  ASSERT_FALSE(Dead(escapee));
  KillAndDrain(*cell, main);
  EXPECT_TRUE(Eventually([&] { return Dead(escapee); }, kWait));
}

TEST_P(ContainmentTest, EscapeeWhoseParentExitedIsStillFound) {
  std::unique_ptr<TaskCell> cell = Cell();
  ASSERT_NE(cell, nullptr);
  // The main process exits at once: the escapee is an orphan before any scan.
  const pid_t main = Start(*cell, "setsid sleep 300 & echo $!");
  const pid_t escapee = std::stoi(FirstLine());
  WaitMain(main);
  ASSERT_FALSE(Dead(escapee));
  Result<bool> empty = cell->Empty();
  ASSERT_OK(empty);
  EXPECT_FALSE(*empty) << "the escapee is not counted in the cell";
  KillAndDrain(*cell, main);
  EXPECT_TRUE(Eventually([&] { return Dead(escapee); }, kWait));
}

TEST_P(ContainmentTest, SigtermReachesEveryMember) {
  std::unique_ptr<TaskCell> cell = Cell();
  ASSERT_NE(cell, nullptr);
  const pid_t main = Start(*cell, "setsid sleep 300 & echo $!; wait");
  const pid_t escapee = std::stoi(FirstLine());
  ASSERT_TRUE(Eventually([&] { return ::getsid(escapee) == escapee; }, kWait));
  ASSERT_OK(cell->Signal(SIGTERM));
  EXPECT_TRUE(Eventually([&] { return Dead(escapee); }, kWait));
  KillAndDrain(*cell, main);
}

TEST_P(ContainmentTest, PinnedCellSeesOnlyItsCores) {
  std::vector<int> cores = CurrentAffinity();
  ASSERT_FALSE(cores.empty());
  CellLimits limits;
  limits.cpus = {cores.back()};
  std::unique_ptr<TaskCell> cell = Cell(limits);
  ASSERT_NE(cell, nullptr);
  const pid_t main = Start(*cell, "nproc; grep Cpus_allowed_list /proc/self/status");
  const int status = WaitMain(main);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Output();
  EXPECT_EQ(FirstLine(), "1");
  EXPECT_THAT(Output(), HasSubstr("Cpus_allowed_list:\t" + std::to_string(cores.back()) + "\n"));
  EXPECT_TRUE(Eventually([&] { return cell->Empty().ok() && *cell->Empty(); }, kWait));
  EXPECT_OK(cell->Destroy());
}

TEST_P(ContainmentTest, MemoryHogIsOomKilledAndReported) {
  if (!containment_->Report().memory_limit) {
    GTEST_SKIP() << GetParam().name << " cannot limit memory here: " << containment_->Report().summary;
  }
  CellLimits limits;
  limits.memory_bytes = 32 << 20;
  std::unique_ptr<TaskCell> cell = Cell(limits);
  ASSERT_NE(cell, nullptr);
  // dd fills one 256 MiB buffer.
  const pid_t main = Start(*cell, "exec dd if=/dev/zero of=/dev/null bs=256M count=1");
  const int status = WaitMain(main);
  ASSERT_TRUE(WIFSIGNALED(status)) << "dd was not killed: " << Output();
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_TRUE(cell->OomKilled());
  EXPECT_TRUE(Eventually([&] { return cell->Empty().ok() && *cell->Empty(); }, kWait));
  EXPECT_OK(cell->Destroy());
}

TEST_P(ContainmentTest, WithinItsLimitNothingIsOomKilled) {
  if (!containment_->Report().memory_limit) GTEST_SKIP() << "no memory limit here";
  CellLimits limits;
  limits.memory_bytes = 64 << 20;
  std::unique_ptr<TaskCell> cell = Cell(limits);
  ASSERT_NE(cell, nullptr);
  const pid_t main = Start(*cell, "exec dd if=/dev/zero of=/dev/null bs=4M count=4");
  const int status = WaitMain(main);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Output();
  EXPECT_FALSE(cell->OomKilled());
  EXPECT_TRUE(Eventually([&] { return cell->Empty().ok() && *cell->Empty(); }, kWait));
  EXPECT_OK(cell->Destroy());
}

TEST_P(ContainmentTest, AnotherGpusDeviceNodeCannotBeOpened) {
  if (!containment_->Report().device_isolation) {
    GTEST_SKIP() << GetParam().name << " cannot isolate devices here: " << containment_->Report().summary;
  }
  // Device nodes of major 195 anywhere: the devices controller checks
  // major:minor, not the path. No NVIDIA driver is needed: an allowed node
  // without a driver fails with ENXIO, a denied one with EPERM.
  const std::string own = dir_.File("nvidia0"), other = dir_.File("nvidia3"), ctl = dir_.File("nvidiactl");
  if (::mknod(own.c_str(), S_IFCHR | 0666, makedev(195, 0)) != 0) {
    GTEST_SKIP() << "mknod needs CAP_MKNOD: " << std::strerror(errno);
  }
  ASSERT_EQ(::mknod(other.c_str(), S_IFCHR | 0666, makedev(195, 3)), 0);
  ASSERT_EQ(::mknod(ctl.c_str(), S_IFCHR | 0666, makedev(195, 255)), 0);
  CellLimits limits;
  limits.gpu_minors = {0};
  std::unique_ptr<TaskCell> cell = Cell(limits);
  ASSERT_NE(cell, nullptr);
  const pid_t main = Start(*cell, "for n in " + own + " " + other + " " + ctl + "; do cat $n; done");
  WaitMain(main);
  const std::string out = Output();
  EXPECT_THAT(out, HasSubstr(other + ": Operation not permitted"));
  EXPECT_THAT(out, Not(HasSubstr(own + ": Operation not permitted")));
  EXPECT_THAT(out, Not(HasSubstr(ctl + ": Operation not permitted")));
  EXPECT_TRUE(Eventually([&] { return cell->Empty().ok() && *cell->Empty(); }, kWait));
  EXPECT_OK(cell->Destroy());
}

TEST_P(ContainmentTest, PopulatedCellRefusesToBeDestroyed) {
  std::unique_ptr<TaskCell> cell = Cell();
  ASSERT_NE(cell, nullptr);
  const pid_t main = Start(*cell, "echo up; sleep 300");
  ASSERT_EQ(FirstLine(), "up");
  EXPECT_EQ(cell->Destroy().code(), StatusCode::kFailedPrecondition);
  KillAndDrain(*cell, main);
}

INSTANTIATE_TEST_SUITE_P(Backends, ContainmentTest,
                         ::testing::Values(BackendCase{"cgroup2", Backend::kCgroup2},
                                           BackendCase{"cgroup1", Backend::kCgroup1},
                                           BackendCase{"auto", Backend::kAuto},
                                           BackendCase{"process", Backend::kProcess}),
                         [](const auto& info) { return std::string(info.param.name); });

// Without any cgroup mount, auto falls back to the process backend and says
// why; a forced cgroup backend fails.
TEST(ContainmentChoiceTest, WithoutCgroupsAutoFallsBackAndSaysWhy) {
  testkit::TempDir proc;
  std::filesystem::create_directories(proc.path() / "self");
  proc.Write("self/mountinfo", "22 1 252:0 / / rw - ext4 /dev/vda rw\n");
  proc.Write("self/cgroup", "0::/\n");
  ContainmentOptions options;
  options.proc = proc.path();
  options.group = "gpulse-test-none";
  options.backend = Backend::kCgroup2;
  Result<std::shared_ptr<Containment>> forced = OpenContainment(options);
  EXPECT_EQ(forced.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(forced.status().message(), HasSubstr("no cgroup2 file system is mounted"));
  options.backend = Backend::kAuto;
  Result<std::shared_ptr<Containment>> fallback = OpenContainment(options);
  ASSERT_OK(fallback);
  EXPECT_EQ((*fallback)->Report().backend, "process");
  EXPECT_THAT((*fallback)->Report().summary, HasSubstr("no cgroup2 file system is mounted"));
}

// Workers killed with SIGKILL cannot remove their groups; the next worker
// to start removes those nobody holds (each worker flocks its own).
TEST(ContainmentCleanupTest, GroupsOfGoneWorkersAreRemovedAndLiveOnesKept) {
  ContainmentOptions options;
  options.group = "gpulse-test-" + std::to_string(::getpid());
  Result<std::shared_ptr<Containment>> probe = OpenContainment(options);
  ASSERT_OK(probe);
  if (!(*probe)->Report().kernel_tracked) GTEST_SKIP() << "no cgroups here: " << (*probe)->Report().summary;
  const std::vector<std::filesystem::path> parents = (*probe)->Report().cell_parents;
  probe->reset();

  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", 0xdead000000000000ull + static_cast<unsigned>(::getpid()));
  const std::string gone = std::string("gpulse-") + hex;
  std::snprintf(hex, sizeof hex, "%016llx", 0xa11e000000000000ull + static_cast<unsigned>(::getpid()));
  const std::string alive = std::string("gpulse-") + hex;
  std::vector<int> locks;
  for (const auto& parent : parents) {
    const std::filesystem::path base = parent.parent_path();
    ASSERT_EQ(::mkdir((base / gone).c_str(), 0755), 0) << base / gone;
    ASSERT_EQ(::mkdir((base / gone / "t.1").c_str(), 0755), 0);  // an empty cell
    ASSERT_EQ(::mkdir((base / alive).c_str(), 0755), 0);
    locks.push_back(::open((base / alive).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_EQ(::flock(locks.back(), LOCK_EX | LOCK_NB), 0);
  }

  Result<std::shared_ptr<Containment>> opened = OpenContainment(options);
  ASSERT_OK(opened);
  for (const auto& parent : parents) {
    EXPECT_FALSE(std::filesystem::exists(parent.parent_path() / gone)) << "left: " << parent.parent_path() / gone;
    EXPECT_TRUE(std::filesystem::exists(parent.parent_path() / alive)) << "removed a live worker's group";
  }
  for (int fd : locks) ::close(fd);
  for (const auto& parent : parents) ::rmdir((parent.parent_path() / alive).c_str());
}

TEST(ContainmentCleanupTest, TwoWorkersCannotShareAGroup) {
  ContainmentOptions options;
  options.backend = Backend::kCgroup2;
  options.group = "gpulse-test-" + std::to_string(::getpid());
  Result<std::shared_ptr<Containment>> first = OpenContainment(options);
  if (!first.ok()) GTEST_SKIP() << first.status().message();
  Result<std::shared_ptr<Containment>> second = OpenContainment(options);
  EXPECT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("another gpulse-worker uses"));
}

TEST(ContainmentChoiceTest, BackendNamesAndGroupNames) {
  EXPECT_EQ(*ParseContainmentBackend("cgroup1"), Backend::kCgroup1);
  EXPECT_EQ(ParseContainmentBackend("docker").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CellGroupNameFor("/var/lib/gpulse"), CellGroupNameFor("/var/lib/gpulse/"));
  EXPECT_NE(CellGroupNameFor("/var/lib/gpulse"), CellGroupNameFor("/var/lib/gpulse2"));
  EXPECT_THAT(CellGroupNameFor("/w"), ::testing::MatchesRegex("gpulse-[0-9a-f]{16}"));
  EXPECT_TRUE(IsCellGroupName(CellGroupNameFor("/w")));
  EXPECT_FALSE(IsCellGroupName("gpulse-0123456789ABCDEF"));
  EXPECT_FALSE(IsCellGroupName("gpulse-0123456789abcde"));
  EXPECT_FALSE(IsCellGroupName("gpulse-worker.service"));
  ContainmentOptions bad;
  bad.group = "a/b";
  EXPECT_EQ(OpenContainment(bad).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpulse::worker
