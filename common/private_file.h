// Files only their owner may read: keys, tokens, the folders that hold them.
//
// Every secret gpulse keeps on disk goes through these, so the rule is the
// same everywhere: a secret file grants nothing to group or others (mode
// 0600 or stricter), and one that does is refused with the command that
// fixes it, because a secret someone else could read is already lost.
//
// Stateless and thread-safe (concurrent writers of one path each rename a
// whole file into place; the last one wins).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gpulse {

// OK when the file at `path` (symlinks followed) grants no permission to
// group or others. NotFound when it does not exist; PermissionDenied when
// it grants some, with a message naming `what` ("token file", "private
// key"), the mode found and the `chmod 600` to run.
Status RequireOwnerOnly(const std::string& path, std::string_view what);

// Reads the whole file at `path` after checking, on the opened descriptor
// (no window between check and read), what RequireOwnerOnly checks.
// NotFound when missing, PermissionDenied when too open or unreadable,
// InvalidArgument when not a regular file or larger than `max_bytes`.
Result<std::string> ReadOwnerOnlyFile(const std::string& path, std::string_view what,
                                      size_t max_bytes = 1 << 20);

// Replaces `path` with `data` so a reader sees the old file or the new one,
// never half of one: writes a sibling temporary file created with exactly
// `mode` (the umask does not apply), fsyncs it, renames it over `path` and
// fsyncs the folder. On failure `path` is unchanged and the temporary file
// is removed.
Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode);

// Creates the folder `path` (and missing parents) when it does not exist,
// and leaves it with mode 0700: a looser existing folder is tightened
// (parents are left as they are). Fails when `path` is not a folder or
// cannot be created or changed.
Status EnsurePrivateDir(const std::string& path);

}  // namespace gpulse
