#include "worker/tasks/containment/cgroup_containment.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include <spdlog/spdlog.h>

#include "common/posix_error.h"
#include "common/unique_fd.h"
#include "worker/tasks/containment/cgroup_fs.h"
#include "worker/tasks/containment/device_filter.h"

namespace gpulse::worker {
namespace {

constexpr uint32_t kNvidiaMajor = 195;
constexpr uint32_t kFirstNonGpuMinor = 254;  // 254 nvidia-modeset, 255 nvidiactl

struct CellGroup {
  std::string kind;  // "v2" or a v1 controller
  std::filesystem::path dir;
};

std::string Prefix(const std::string& kind) { return kind == "v2" ? "cgroup v2: " : "cgroup v1 " + kind + ": "; }

Status WithPrefix(const std::string& kind, const Status& status) {
  return status.ok() ? status : Status(status.code(), Prefix(kind) + status.message());
}

std::string FirstWord(const std::string& text) {
  std::vector<std::string> words = Words(text);
  return words.empty() ? "" : words.front();
}

// Confines a v1 devices group to the GPU minors of `allowed`. A group that
// allows every device gets one deny rule per other GPU minor; a group with an
// allow list loses its 195 rules and gets back only the allowed ones.
Status ConfineGpuDevices(const std::filesystem::path& dir, const std::vector<uint32_t>& allowed) {
  ASSIGN_OR_RETURN(std::string list, ReadKernelFile(dir / "devices.list"));
  const bool allows_all = Words(list) == std::vector<std::string>{"a", "*:*", "rwm"};
  auto rule = [](const std::string& minor) { return "c " + std::to_string(kNvidiaMajor) + ":" + minor + " rwm"; };
  auto is_allowed = [&](uint32_t minor) { return std::find(allowed.begin(), allowed.end(), minor) != allowed.end(); };
  if (!allows_all) (void)WriteCgroupFile(dir / "devices.deny", rule("*"));
  for (uint32_t minor = 0; minor < kFirstNonGpuMinor; ++minor) {
    if (is_allowed(minor)) continue;
    RETURN_IF_ERROR(WriteCgroupFile(dir / "devices.deny", rule(std::to_string(minor))));
  }
  if (!allows_all) {
    // Only what the parent allows can be allowed; the rest stays denied.
    for (uint32_t minor : allowed) (void)WriteCgroupFile(dir / "devices.allow", rule(std::to_string(minor)));
    for (uint32_t minor : {254u, 255u}) (void)WriteCgroupFile(dir / "devices.allow", rule(std::to_string(minor)));
  }
  return Status::Ok();
}

Result<std::string> ReadFromStart(int fd, const std::filesystem::path& file) {
  if (::lseek(fd, 0, SEEK_SET) < 0) return PosixError("read '" + file.string() + "'", errno);
  std::string out;
  char buf[512];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PosixError("read '" + file.string() + "'", errno);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::vector<pid_t> ParsePids(const std::string& text) {
  std::vector<pid_t> pids;
  for (const std::string& word : Words(text)) {
    pid_t pid = 0;
    if (std::from_chars(word.data(), word.data() + word.size(), pid).ec == std::errc() && pid > 0) {
      pids.push_back(pid);
    }
  }
  return pids;
}

class CgroupCell final : public TaskCell {
 public:
  static Result<std::unique_ptr<TaskCell>> Create(const CgroupLayout& layout, const CellSpec& spec);
  ~CgroupCell() override;

  const CellEntry& Entry() const override { return entry_; }
  void SetMainProcess(pid_t pid) override { main_pid_ = pid; }
  Status Signal(int sig) override;
  void Track() override {}
  Result<bool> Empty() override;
  int EmptinessFd() const override { return events_fd_.get(); }
  bool OomKilled() override;
  Status Destroy() override;

 private:
  CgroupCell() = default;
  Status AddGroup(const std::string& kind, const std::filesystem::path& parent, const std::string& name);
  Status ApplyV2Limits(const CgroupLayout& layout, const CellLimits& limits, const std::filesystem::path& dir);
  Status ApplyV1Limits(const std::string& controller, const CellLimits& limits, const std::filesystem::path& dir);
  // Signals `pid` if it is (still) in this cell, through a pidfd so that a
  // reused pid is never hit.
  void SignalMember(pid_t pid, int sig) const;

  std::vector<CellGroup> groups_;
  std::vector<UniqueFd> procs_fds_;
  CellEntry entry_;
  CellGroup membership_;
  std::string membership_suffix_;  // "/<group>/<cell>" as /proc/<pid>/cgroup shows it
  bool v2_kill_ = false;
  bool v2_freeze_ = false;
  std::optional<CellGroup> memory_;
  std::optional<std::filesystem::path> v1_freezer_;
  UniqueFd events_fd_;
  pid_t main_pid_ = 0;
};

Status CgroupCell::AddGroup(const std::string& kind, const std::filesystem::path& parent, const std::string& name) {
  const std::filesystem::path dir = parent / name;
  if (::mkdir(dir.c_str(), 0755) != 0) return PosixError(Prefix(kind) + "mkdir '" + dir.string() + "'", errno);
  groups_.push_back(CellGroup{kind, dir});
  return Status::Ok();
}

Status CgroupCell::ApplyV2Limits(const CgroupLayout& layout, const CellLimits& limits,
                                 const std::filesystem::path& dir) {
  if (!limits.cpus.empty()) {
    if (layout.v2_cpuset) RETURN_IF_ERROR(WriteCgroupFile(dir / "cpuset.cpus", FormatCpuList(limits.cpus)));
    if (layout.v2_cpu) {
      RETURN_IF_ERROR(WriteCgroupFile(dir / "cpu.max", std::to_string(limits.cpus.size() * 100000) + " 100000"));
    }
  }
  if (layout.v2_memory && limits.memory_bytes > 0) {
    RETURN_IF_ERROR(WriteCgroupFile(dir / "memory.max", std::to_string(limits.memory_bytes)));
    // Without this the limit only moves the excess to swap.
    if (std::filesystem::exists(dir / "memory.swap.max")) {
      RETURN_IF_ERROR(WriteCgroupFile(dir / "memory.swap.max", "0"));
    }
  }
  if (layout.v2_devices) {
    ASSIGN_OR_RETURN(UniqueFd filter, LoadGpuDeviceFilter(limits.gpu_minors));
    RETURN_IF_ERROR(AttachDeviceFilter(dir, filter.get()));
  }
  return Status::Ok();
}

Status CgroupCell::ApplyV1Limits(const std::string& controller, const CellLimits& limits,
                                 const std::filesystem::path& dir) {
  const std::filesystem::path parent = dir.parent_path();
  if (controller == "cpuset") {
    std::string cpus = FormatCpuList(limits.cpus);
    if (cpus.empty()) {
      ASSIGN_OR_RETURN(cpus, ReadKernelFile(parent / "cpuset.cpus"));
    }
    ASSIGN_OR_RETURN(std::string mems, ReadKernelFile(parent / "cpuset.mems"));
    RETURN_IF_ERROR(WriteCgroupFile(dir / "cpuset.cpus", FirstWord(cpus)));
    RETURN_IF_ERROR(WriteCgroupFile(dir / "cpuset.mems", FirstWord(mems)));
  } else if (controller == "cpu" && !limits.cpus.empty()) {
    uint64_t period = 100000;
    if (Result<std::string> text = ReadKernelFile(dir / "cpu.cfs_period_us"); text.ok()) {
      std::string word = FirstWord(*text);
      std::from_chars(word.data(), word.data() + word.size(), period);
    }
    RETURN_IF_ERROR(WriteCgroupFile(dir / "cpu.cfs_quota_us", std::to_string(limits.cpus.size() * period)));
  } else if (controller == "memory" && limits.memory_bytes > 0) {
    RETURN_IF_ERROR(WriteCgroupFile(dir / "memory.limit_in_bytes", std::to_string(limits.memory_bytes)));
    // Memory plus swap, where swap is accounted: the limit must not just
    // move the excess to swap.
    if (std::filesystem::exists(dir / "memory.memsw.limit_in_bytes")) {
      RETURN_IF_ERROR(WriteCgroupFile(dir / "memory.memsw.limit_in_bytes", std::to_string(limits.memory_bytes)));
    }
  } else if (controller == "devices") {
    RETURN_IF_ERROR(ConfineGpuDevices(dir, limits.gpu_minors));
  }
  return Status::Ok();
}

Result<std::unique_ptr<TaskCell>> CgroupCell::Create(const CgroupLayout& layout, const CellSpec& spec) {
  // Destroying the half-made cell on an early return removes what exists.
  std::unique_ptr<CgroupCell> cell(new CgroupCell);
  if (layout.v2_parent) {
    RETURN_IF_ERROR(cell->AddGroup("v2", *layout.v2_parent, spec.name));
    RETURN_IF_ERROR(WithPrefix("v2", cell->ApplyV2Limits(layout, spec.limits, cell->groups_.back().dir)));
    cell->v2_kill_ = layout.v2_kill;
    cell->v2_freeze_ = layout.v2_freeze;
    if (layout.v2_memory) cell->memory_ = cell->groups_.back();
  }
  for (const auto& [controller, parent] : layout.v1_parents) {
    RETURN_IF_ERROR(cell->AddGroup(controller, parent, spec.name));
    const std::filesystem::path& dir = cell->groups_.back().dir;
    RETURN_IF_ERROR(WithPrefix(controller, cell->ApplyV1Limits(controller, spec.limits, dir)));
    if (controller == "memory") cell->memory_ = cell->groups_.back();
    if (controller == "freezer") cell->v1_freezer_ = dir;
  }
  if (cell->groups_.empty()) return Internal("a cgroup layout without groups");

  for (const CellGroup& group : cell->groups_) {
    const std::filesystem::path procs = group.dir / "cgroup.procs";
    UniqueFd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return PosixError(Prefix(group.kind) + "open '" + procs.string() + "'", errno);
    cell->entry_.cgroup_procs_fds.push_back(fd.get());
    cell->procs_fds_.push_back(std::move(fd));
  }
  if (!spec.limits.cpus.empty()) {
    cell->entry_.pin = true;
    CPU_ZERO(&cell->entry_.cores);
    for (int cpu : spec.limits.cpus) CPU_SET(cpu, &cell->entry_.cores);
  }

  // Membership: the v2 group, else a v1 group that holds every process.
  cell->membership_ = cell->groups_.front();
  for (const char* preferred : {"freezer", "pids", "memory"}) {
    if (cell->membership_.kind == "v2") break;
    auto it = std::find_if(cell->groups_.begin(), cell->groups_.end(),
                           [&](const CellGroup& g) { return g.kind == preferred; });
    if (it != cell->groups_.end()) {
      cell->membership_ = *it;
      break;
    }
  }
  cell->membership_suffix_ = "/" + cell->membership_.dir.parent_path().filename().string() + "/" + spec.name;
  if (cell->membership_.kind == "v2") {
    const std::filesystem::path events = cell->membership_.dir / "cgroup.events";
    cell->events_fd_.Reset(::open(events.c_str(), O_RDONLY | O_CLOEXEC));
    if (!cell->events_fd_.valid()) return PosixError("cgroup v2: open '" + events.string() + "'", errno);
  }
  return std::unique_ptr<TaskCell>(std::move(cell));
}

CgroupCell::~CgroupCell() {
  if (groups_.empty()) return;
  if (Status s = Destroy(); !s.ok()) spdlog::info("{}; leaving it", s.message());
}

void CgroupCell::SignalMember(pid_t pid, int sig) const {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) return;  // gone already
  Result<std::string> cgroups = ReadKernelFile("/proc/" + std::to_string(pid) + "/cgroup");
  if (!cgroups.ok() || cgroups->find(membership_suffix_ + "\n") == std::string::npos) return;
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) != 0 && errno != ESRCH) {
    spdlog::warn("signal {} to pid {}: {}", sig, pid, ErrnoText(errno));
  }
}

Status CgroupCell::Signal(int sig) {
  if (sig == SIGKILL && membership_.kind == "v2" && v2_kill_) {
    return WithPrefix("v2", WriteCgroupFile(membership_.dir / "cgroup.kill", "1"));
  }
  // A frozen cell cannot fork while its members are being killed one by one.
  std::optional<std::filesystem::path> thaw_file;
  std::string thaw_value;
  if (sig == SIGKILL && v1_freezer_ && WriteCgroupFile(*v1_freezer_ / "freezer.state", "FROZEN").ok()) {
    thaw_file = *v1_freezer_ / "freezer.state";
    thaw_value = "THAWED";
  } else if (sig == SIGKILL && membership_.kind == "v2" && v2_freeze_ &&
             WriteCgroupFile(membership_.dir / "cgroup.freeze", "1").ok()) {
    thaw_file = membership_.dir / "cgroup.freeze";
    thaw_value = "0";
  }
  Result<std::string> procs = ReadKernelFile(membership_.dir / "cgroup.procs");
  if (procs.ok()) {
    for (pid_t pid : ParsePids(*procs)) SignalMember(pid, sig);
  }
  if (thaw_file) {
    if (Status s = WriteCgroupFile(*thaw_file, thaw_value); !s.ok()) spdlog::error("{}", s.message());
  }
  return procs.ok() ? Status::Ok() : WithPrefix(membership_.kind, procs.status());
}

Result<bool> CgroupCell::Empty() {
  if (membership_.kind == "v2") {
    // Read through the descriptor that is polled: reading it re-arms POLLPRI.
    const std::filesystem::path file = membership_.dir / "cgroup.events";
    Result<std::string> events = events_fd_.valid() ? ReadFromStart(events_fd_.get(), file) : ReadKernelFile(file);
    if (!events.ok()) return WithPrefix("v2", events.status());
    std::optional<uint64_t> populated = KeyedValue(*events, "populated");
    if (!populated) return Internal("cgroup v2: no 'populated' in " + (membership_.dir / "cgroup.events").string());
    return *populated == 0;
  }
  Result<std::string> procs = ReadKernelFile(membership_.dir / "cgroup.procs");
  if (!procs.ok()) return WithPrefix(membership_.kind, procs.status());
  for (pid_t pid : ParsePids(*procs)) {
    // An exited main process that the runner has not reaped yet is dead.
    siginfo_t info = {};
    const bool zombie_main = pid == main_pid_ &&
                             ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                             info.si_pid == pid;
    if (!zombie_main) return false;
  }
  return true;
}

bool CgroupCell::OomKilled() {
  if (!memory_) return false;
  if (memory_->kind == "v2") {
    Result<std::string> events = ReadKernelFile(memory_->dir / "memory.events");
    return events.ok() && KeyedValue(*events, "oom_kill").value_or(0) > 0;
  }
  Result<std::string> control = ReadKernelFile(memory_->dir / "memory.oom_control");
  if (!control.ok()) return false;
  if (std::optional<uint64_t> kills = KeyedValue(*control, "oom_kill")) return *kills > 0;
  // Kernels before 4.13 do not count kills; hitting the limit is the best sign.
  Result<std::string> failcnt = ReadKernelFile(memory_->dir / "memory.failcnt");
  return failcnt.ok() && FirstWord(*failcnt) != "0";
}

Status CgroupCell::Destroy() {
  Status result;
  std::vector<CellGroup> left;
  for (const CellGroup& group : groups_) {
    if (::rmdir(group.dir.c_str()) == 0 || errno == ENOENT) continue;
    const int err = errno;
    left.push_back(group);
    if (result.ok()) {
      result = err == EBUSY ? FailedPrecondition(Prefix(group.kind) + "cell " + group.dir.string() +
                                                 " still holds processes")
                            : PosixError(Prefix(group.kind) + "rmdir '" + group.dir.string() + "'", err);
    }
  }
  groups_ = std::move(left);
  if (groups_.empty()) {
    procs_fds_.clear();
    entry_.cgroup_procs_fds.clear();
    events_fd_.Reset();
  }
  return result;
}

}  // namespace

CgroupContainment::CgroupContainment(CgroupLayout layout)
    : layout_(std::move(layout)), report_(ReportFor(layout_)) {}

CgroupContainment::~CgroupContainment() { RemoveEmptyGroups(layout_); }

Result<std::unique_ptr<TaskCell>> CgroupContainment::CreateCell(const CellSpec& spec) {
  if (spec.name.empty() || spec.name == "." || spec.name == ".." || spec.name.find('/') != std::string::npos) {
    return InvalidArgument("cell name '" + spec.name + "' cannot name a cgroup");
  }
  return CgroupCell::Create(layout_, spec);
}

}  // namespace gpulse::worker
