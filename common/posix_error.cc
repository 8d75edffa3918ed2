#include "common/posix_error.h"

#include <cerrno>
#include <system_error>

namespace gpulse {

std::string ErrnoText(int err) { return std::generic_category().message(err); }

Status PosixError(const std::string& context, int err) {
  std::string message = context + ": " + ErrnoText(err);
  switch (err) {
    case ENOENT:
      return NotFound(std::move(message));
    case EACCES:
    case EPERM:
      return PermissionDenied(std::move(message));
    case EEXIST:
      return AlreadyExists(std::move(message));
    case ENOSPC:
    case EDQUOT:
      return StorageFull(std::move(message));
    case EMFILE:
    case ENFILE:
    case EAGAIN:
    case ENOMEM:
      return ResourceExhausted(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

}  // namespace gpulse
