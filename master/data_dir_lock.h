// DataDirLock: the one gpulse-master allowed on a data directory.
//
// Two masters on one data dir would each think they own its SQLite store
// and overwrite each other's acknowledged tasks, so MasterServer takes an
// exclusive flock(2) on <data-dir>/master.lock before it reads or writes
// anything there, and holds it for its lifetime. The file also records the
// holder's pid so that a refused master can name it. The kernel drops the
// lock when the holder exits, kill -9 included: a stale file never blocks
// a restart.
//
// Not synchronised: one owner at a time (move-only).
#pragma once

#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace gpulse::master {

class DataDirLock {
 public:
  // Creates <data_dir>/master.lock if needed and locks it without waiting.
  // On success the lock is held until the returned object is destroyed, and
  // the file holds this process's pid. Fails with kFailedPrecondition
  // "data directory D is in use by another gpulse-master (pid N)" when
  // another holder has it (pid "unknown" if the file does not say), or with
  // the errno text when the file cannot be opened.
  static Result<DataDirLock> Acquire(const std::string& data_dir);

  DataDirLock(DataDirLock&&) = default;
  DataDirLock& operator=(DataDirLock&&) = default;

  const std::string& path() const { return path_; }

 private:
  DataDirLock(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::string path_;
  UniqueFd fd_;
};

}  // namespace gpulse::master
