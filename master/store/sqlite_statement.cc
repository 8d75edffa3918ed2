#include "master/store/sqlite_statement.h"

namespace gpulse::master {

Status SqliteStatus(sqlite3* db, int rc, std::string_view doing) {
  std::string detail = (db != nullptr && sqlite3_errcode(db) == rc) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = "database: " + std::string(doing) + ": " + detail;
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::Ok();
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable(message + " (is another gpulse master using this data directory?)");
    case SQLITE_FULL:
      return StorageFull(message + " (is the disk full?)");
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return PermissionDenied(message + " (check the data directory's permissions)");
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      return Unavailable(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Internal(message + " (the database file is damaged or is not a gpulse database)");
    default:
      return Internal(message);
  }
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

Status SqliteStatement::Prepare(sqlite3* db, const char* sql) {
  db_ = db;
  sql_ = sql;
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, "preparing '" + sql_ + "'");
  return Status::Ok();
}

void SqliteStatement::BindText(int param, std::string_view text) {
  // An empty view may have no data pointer; SQLite would store NULL.
  sqlite3_bind_text(stmt_, param, text.data() != nullptr ? text.data() : "", static_cast<int>(text.size()), SQLITE_STATIC);
}

void SqliteStatement::BindInt64(int param, int64_t value) { sqlite3_bind_int64(stmt_, param, value); }

bool SqliteStatement::Step(Status& status) {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status = SqliteStatus(db_, rc, "running '" + sql_ + "'");
  return false;
}

Status SqliteStatement::Run() {
  Status status;
  while (Step(status)) {
  }
  Reset();
  return status;
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string_view SqliteStatement::ColumnText(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return std::string_view(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

int64_t SqliteStatement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

}  // namespace gpulse::master
