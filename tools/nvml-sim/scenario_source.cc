#include "tools/nvml-sim/scenario_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace gpulse::nvml_sim {
namespace {

// Larger files are certainly not scenarios; refuse rather than read them.
constexpr off_t kMaxScenarioBytes = 16 << 20;

std::string ErrnoMessage(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace

ScenarioSource::FileIdentity ScenarioSource::FileIdentity::Of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
          st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
          st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec};
}

Result<ScenarioSource::LoadedFile> ScenarioSource::LoadFile(const std::string& path) const {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unavailable(ErrnoMessage("cannot open scenario " + path, errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Unavailable(ErrnoMessage("cannot stat scenario " + path, err));
  }
  FileIdentity id = FileIdentity::Of(st);
  if (st.st_size > kMaxScenarioBytes) {
    ::close(fd);
    return LoadedFile{id, InvalidArgument("scenario " + path + ": file is too large to be a scenario")};
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Unavailable(ErrnoMessage("cannot read scenario " + path, err));
    }
    if (n == 0) break;  // shrank while reading; the next check sees the new size
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  Result<Scenario> scenario = ParseScenario(text, config_.parse);
  if (!scenario.ok()) {
    return LoadedFile{id, InvalidArgument("scenario " + path + ": " + scenario.status().message())};
  }
  return LoadedFile{id, std::move(scenario)};
}

Status ScenarioSource::Open(ScenarioSourceConfig config, int64_t now_ns) {
  std::lock_guard lock(mu_);
  std::swap(config_, config);  // LoadFile parses with the new options
  if (config_.path.empty()) {
    PublishLocked(DefaultScenario(config_.parse));
    seen_.reset();
    warned_unreadable_ = false;
    next_check_ns_.store(std::numeric_limits<int64_t>::max(), std::memory_order_relaxed);
    return Status::Ok();
  }
  Result<LoadedFile> file = LoadFile(config_.path);
  Status failure = !file.ok() ? file.status() : file->scenario.status();
  if (!failure.ok()) {
    std::swap(config_, config);
    return failure;
  }
  PublishLocked(std::move(file->scenario).value());
  seen_ = file->identity;
  warned_unreadable_ = false;
  next_check_ns_.store(now_ns + config_.check_interval_ns, std::memory_order_relaxed);
  return Status::Ok();
}

void ScenarioSource::MaybeReload(int64_t now_ns) {
  if (now_ns < next_check_ns_.load(std::memory_order_relaxed)) return;
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another caller is checking right now
  if (now_ns < next_check_ns_.load(std::memory_order_relaxed)) return;
  next_check_ns_.store(now_ns + config_.check_interval_ns, std::memory_order_relaxed);
  CheckFileLocked();
}

void ScenarioSource::CheckFileLocked() {
  struct stat st;
  if (::stat(config_.path.c_str(), &st) != 0) {
    if (!warned_unreadable_) {
      Warn(ErrnoMessage("cannot stat scenario " + config_.path, errno) + "; keeping the previous scenario");
      warned_unreadable_ = true;
    }
    return;
  }
  FileIdentity id = FileIdentity::Of(st);
  if (seen_ && *seen_ == id) return;

  Result<LoadedFile> file = LoadFile(config_.path);
  if (!file.ok()) {
    if (!warned_unreadable_) {
      Warn(file.status().message() + "; keeping the previous scenario");
      warned_unreadable_ = true;
    }
    return;
  }
  warned_unreadable_ = false;
  seen_ = file->identity;
  if (!file->scenario.ok()) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    Warn(file->scenario.status().message() + "; keeping the previous scenario");
    return;
  }
  PublishLocked(std::move(file->scenario).value());
  reloads_.fetch_add(1, std::memory_order_relaxed);
}

void ScenarioSource::PublishLocked(Scenario scenario) {
  current_.store(std::make_shared<const Scenario>(std::move(scenario)), std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_release);
}

void ScenarioSource::Warn(const std::string& message) const {
  if (config_.warn) {
    config_.warn(message);
  } else {
    std::fprintf(stderr, "gpulse nvml-sim: %s\n", message.c_str());
  }
}

}  // namespace gpulse::nvml_sim
