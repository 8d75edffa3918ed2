#include "master/store/sqlite_backup.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "common/posix_error.h"
#include "master/store/sqlite_statement.h"

namespace gpulse::master {
namespace {

// A connection closed on every path out.
class Connection {
 public:
  ~Connection() { sqlite3_close_v2(handle_); }
  sqlite3*& handle() { return handle_; }

 private:
  sqlite3* handle_ = nullptr;
};

Status Open(const std::string& path, int flags, Connection& connection) {
  int rc = sqlite3_open_v2(path.c_str(), &connection.handle(), flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(connection.handle(), rc, "opening " + path);
  sqlite3_busy_timeout(connection.handle(), 5000);
  return Status::Ok();
}

// Copies every page of `from` into `to` in one step: one read transaction on
// the source, so the copy is of one instant.
Status CopyDatabase(Connection& from, Connection& to, const std::string& what) {
  sqlite3_backup* backup = sqlite3_backup_init(to.handle(), "main", from.handle(), "main");
  if (backup == nullptr) return SqliteStatus(to.handle(), sqlite3_errcode(to.handle()), what);
  int rc = sqlite3_backup_step(backup, -1);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return SqliteStatus(to.handle(), rc, what);
  return Status::Ok();
}

// Whether `db` has gpulse's schema table.
bool IsGpulseDatabase(Connection& db) {
  sqlite3_stmt* statement = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(), "SELECT count(*) FROM schema_version", -1, &statement, nullptr);
  bool ok = rc == SQLITE_OK && sqlite3_step(statement) == SQLITE_ROW;
  sqlite3_finalize(statement);
  return ok;
}

// Writes `from` as the new file `to` (0600): a temporary sibling, renamed.
Status CopyToNewFile(Connection& from, const std::string& to, const std::string& what) {
  const std::string tmp = to + ".partial";
  std::remove(tmp.c_str());
  {
    const mode_t old_mask = ::umask(077);  // the copy is as private as the original
    Connection out;
    Status opened = Open(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, out);
    ::umask(old_mask);
    RETURN_IF_ERROR(opened);
    if (Status copied = CopyDatabase(from, out, what); !copied.ok()) {
      std::remove(tmp.c_str());
      return copied;
    }
  }
  if (::chmod(tmp.c_str(), 0600) != 0 || std::rename(tmp.c_str(), to.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return PosixError("writing " + to, err);
  }
  return Status::Ok();
}

}  // namespace

std::string DatabasePath(const std::string& data_dir) { return data_dir + "/gpulse.db"; }

Status BackupDatabase(const std::string& db_path, const std::string& to_path) {
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec)) return NotFound("no database at " + db_path);
  if (std::filesystem::exists(to_path, ec)) return AlreadyExists(to_path + " exists; back up to a new file");
  Connection from;
  RETURN_IF_ERROR(Open(db_path, SQLITE_OPEN_READONLY, from));
  if (!IsGpulseDatabase(from)) return InvalidArgument(db_path + " is not a gpulse database");
  return CopyToNewFile(from, to_path, "backing up " + db_path + " to " + to_path);
}

Status RestoreDatabase(const std::string& from_path, const std::string& data_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(from_path, ec)) return NotFound("no backup at " + from_path);
  const std::string db_path = DatabasePath(data_dir);
  if (std::filesystem::exists(db_path, ec)) {
    return FailedPrecondition(data_dir + " already has a database; restore into a new data dir");
  }
  Connection from;
  RETURN_IF_ERROR(Open(from_path, SQLITE_OPEN_READONLY, from));
  if (!IsGpulseDatabase(from)) return InvalidArgument(from_path + " is not a gpulse backup");
  if (!std::filesystem::exists(data_dir, ec)) {
    std::filesystem::create_directories(data_dir, ec);
    if (ec) return PosixError("creating " + data_dir, ec.value());
    std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all, ec);
  }
  return CopyToNewFile(from, db_path, "restoring " + from_path + " into " + data_dir);
}

}  // namespace gpulse::master
