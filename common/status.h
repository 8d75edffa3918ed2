// Status and Result<T>: how gpulse modules report failure to each other.
//
// Errors are values at module boundaries. A function that can fail returns a
// Status (no payload) or a Result<T> (a value or a Status). Foreign error
// sources (NVML return codes, errno, SQLite, gRPC) are translated into a
// Status in exactly one place each, with a message a user can act on.
//
// Both types are plain values: copyable, movable, safe to hand between
// threads, not synchronised.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace gpulse {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong; retrying will not help
  kNotFound,            // the named thing does not exist
  kAlreadyExists,
  kFailedPrecondition,  // the system is not in a state to do this
  kResourceExhausted,   // no capacity (e.g. no worker can ever fit a task)
  kStorageFull,         // the disk that holds durable state is full (ENOSPC, EDQUOT, SQLITE_FULL)
  kUnavailable,         // a dependency is missing or down; may work later
  kUnauthenticated,     // missing or wrong cluster token
  kPermissionDenied,
  kInternal,            // a bug or an unexpected failure of a dependency
};

// Returns a stable lower-case name such as "invalid_argument".
const char* StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: <message>", or "ok".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status StorageFull(std::string m) { return {StatusCode::kStorageFull, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value of T, or the Status saying why there is none. A Result built from
// an OK Status is a programming error.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace gpulse

// RETURN_IF_ERROR(expr): evaluates `expr` (a Status) once and returns it from
// the enclosing function (which returns Status or Result<T>) when it is not
// OK.
#define RETURN_IF_ERROR(expr)                                   \
  do {                                                          \
    ::gpulse::Status gpulse_status_ = (expr);                   \
    if (!gpulse_status_.ok()) return gpulse_status_;            \
  } while (false)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (a Result<T>) once; on error
// returns its Status from the enclosing function, else moves the value into
// `lhs`, which may be a declaration (`auto x`) or an existing variable.
#define GPULSE_STATUS_CONCAT_INNER(a, b) a##b
#define GPULSE_STATUS_CONCAT(a, b) GPULSE_STATUS_CONCAT_INNER(a, b)
#define ASSIGN_OR_RETURN(lhs, expr) \
  GPULSE_ASSIGN_OR_RETURN_IMPL(GPULSE_STATUS_CONCAT(gpulse_result_, __LINE__), lhs, expr)
#define GPULSE_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                                 \
  if (!result.ok()) return result.status();             \
  lhs = std::move(result).value()
