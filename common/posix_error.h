// PosixError: the one place where errno values become gpulse Statuses.
//
// Stateless and thread-safe.
#pragma once

#include <string>

#include "common/status.h"

namespace gpulse {

// Returns a non-OK Status for `err` (an errno value) whose message reads
// "<context>: <strerror text>", e.g. "open '/x/stdout.log': Permission denied".
// ENOENT maps to kNotFound, EACCES/EPERM to kPermissionDenied, EEXIST to
// kAlreadyExists, ENOSPC/EDQUOT to kStorageFull, EMFILE/ENFILE/EAGAIN/ENOMEM to kResourceExhausted,
// anything else to kInternal.
Status PosixError(const std::string& context, int err);

// The strerror text for `err` ("No such file or directory"); thread-safe.
std::string ErrnoText(int err);

}  // namespace gpulse
