// Thin RAII helpers over the SQLite C API, and SqliteStatus: the one place
// SQLite result codes become a gpulse Status.
//
// Not thread-safe; SqliteTaskStore serialises all use under its mutex.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gpulse::master {

// `rc` (a SQLite result code) from doing `doing` on `db` (may be null), as
// a Status with a message naming what failed and, where it helps, why.
Status SqliteStatus(sqlite3* db, int rc, std::string_view doing);

// One prepared statement, reused: Bind*, then Step until it returns false,
// then Reset.
class SqliteStatement {
 public:
  SqliteStatement() = default;
  ~SqliteStatement();
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  Status Prepare(sqlite3* db, const char* sql);

  // Parameters are numbered from 1, as in SQLite. Bound text is not copied:
  // it must stay alive until the statement has run.
  void BindText(int param, std::string_view text);
  void BindInt64(int param, int64_t value);

  // Runs one step. True with a row to read; false when done; a failure
  // leaves `status` set (and returns false).
  bool Step(Status& status);
  // Runs a statement that returns no rows.
  Status Run();
  // Clears the bindings and makes it ready to run again.
  void Reset();

  std::string_view ColumnText(int column) const;
  int64_t ColumnInt64(int column) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

}  // namespace gpulse::master
