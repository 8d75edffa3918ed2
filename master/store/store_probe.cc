#include "master/store/store_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/posix_error.h"
#include "common/unique_fd.h"

namespace gpulse::master {

Status StoreProbe::Check() {
  std::lock_guard lock(mu_);
  const Clock::TimePoint now = clock_.Now();
  if (last_probe_ && now - *last_probe_ < min_interval_) return last_;
  last_probe_ = now;
  last_ = Probe();
  return last_;
}

Status StoreProbe::Probe() const {
  const std::string path = dir_ + "/.healthz-probe";
  Status result = Status::Ok();
  {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return PosixError("create '" + path + "'", errno);
    const std::string page(4096, 'p');
    size_t done = 0;
    while (done < page.size() && result.ok()) {
      ssize_t n = ::write(fd.get(), page.data() + done, page.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) result = PosixError("write '" + path + "'", errno);
      else done += static_cast<size_t>(n);
    }
    if (result.ok() && ::fsync(fd.get()) != 0) result = PosixError("fsync '" + path + "'", errno);
  }
  ::unlink(path.c_str());
  return result;
}

}  // namespace gpulse::master
