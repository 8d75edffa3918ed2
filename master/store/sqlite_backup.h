// Backup and restore of the master's database (gpulse.db) with SQLite's
// online backup API: a consistent copy, taken while the master runs and
// writes.
//
// The copy holds tasks, their events and known workers: everything the master
// recovers at start-up. Task output (<data-dir>/logs), the token files and
// the certificates are plain files; docs/deploy.md says how to copy them.
//
// Any thread; each call opens its own connections.
#pragma once

#include <string>

#include "common/status.h"

namespace gpulse::master {

// The database file of a master's data directory.
std::string DatabasePath(const std::string& data_dir);

// Copies the database `db_path` (read-only; another process may be writing
// it) to the new file `to_path` (mode 0600), written under a temporary name
// and renamed when complete. AlreadyExists if `to_path` exists, NotFound if
// `db_path` does not, Unavailable if the copy cannot be made (disk full, a
// writer holding the database too long).
Status BackupDatabase(const std::string& db_path, const std::string& to_path);

// Puts the backup `from_path` into `data_dir` (created 0700 if missing) as
// its database, for a master that is not running there. FailedPrecondition
// if `data_dir` already has a database (restore into a fresh data dir),
// InvalidArgument if `from_path` is not a gpulse database.
Status RestoreDatabase(const std::string& from_path, const std::string& data_dir);

}  // namespace gpulse::master
