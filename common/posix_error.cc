#include "common/posix_error.h"

#include <cerrno>
#include <cstring>

namespace gpulse {

std::string ErrnoText(int err) {
  char buffer[256];
  return ::strerror_r(err, buffer, sizeof buffer);  // the GNU variant: the text, maybe not in buffer
}

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
