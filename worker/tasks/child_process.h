// Starting a program as a child process in a process group of its own.
//
// The child gets:
//   - a new process group whose id is its pid, so the whole tree it starts
//     can be signalled at once with kill(-pid, sig);
//   - stdin from /dev/null, stdout and stderr into the given files (created,
//     or truncated if they exist);
//   - the given working directory and exactly the given environment;
//   - default signal dispositions and an empty signal mask, whatever the
//     worker itself blocks or ignores (a daemon often ignores SIGPIPE);
//   - no file descriptors of the worker other than 0, 1 and 2;
//   - membership of its task's cell and its cores (ChildSpec::cell_entry),
//     taken before exec;
//   - optionally another user's credentials (ChildSpec::credentials), taken
//     after the cell and before chdir, so the working directory is checked
//     as that user.
//
// Exec failures are detected reliably: the child reports errno through a
// close-on-exec pipe, so "the program could not be run" is an error from
// SpawnInNewProcessGroup and never a mysterious exit status 127.
//
// Thread-safe: may be called from several threads at once. Only
// async-signal-safe functions run in the child between fork and exec.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "worker/tasks/containment/cell_entry.h"

namespace gpulse::worker {

struct ChildSpec {
  // argv[0] is searched in the PATH of `env` when it holds no '/', as
  // execvp() would (empty or unset PATH: "/usr/local/bin:/usr/bin:/bin").
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value" strings
  std::filesystem::path working_dir;  // must exist
  std::filesystem::path stdout_path;
  std::filesystem::path stderr_path;
  // When set, the child enters this cell (its cgroups and cores) before it
  // execs, so no process of the task ever runs outside it. Must outlive the
  // call.
  const CellEntry* cell_entry = nullptr;
  // When set, the child takes these credentials after entering its cell and
  // before chdir and exec: setgroups(groups), setgid(gid), setuid(uid). A
  // failure is reported as "dropping privileges to uid N" (the worker's
  // fault: it must be root to switch).
  struct Credentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
  };
  std::optional<Credentials> credentials;
};

struct SpawnedChild {
  pid_t pid = 0;    // also the id of its process group
  UniqueFd pidfd;   // becomes readable when the child exits
};

// Starts `spec` and returns once the program has been exec'd. On failure
// returns a Status whose message names the step that failed, e.g.
// "argv[0] 'foo': No such file or directory" (kNotFound) or
// "open '/w/stdout.log': Permission denied"; no child is left behind then.
// The caller must reap the child (waitpid on its pid) once it exits.
Result<SpawnedChild> SpawnInNewProcessGroup(const ChildSpec& spec);

// For a failure of SpawnInNewProcessGroup: the exit code a shell would give
// when the fault is the program's own — 127 when argv[0] does not exist, 126
// when it exists but may not be executed — or nullopt when the failure is
// the worker's (its files, cells, fork) and another worker may succeed.
std::optional<int> ShellExitCodeFor(const Status& spawn_failure);

// The paths execve() should try, in order, to run `program` with the search
// path `path_env` (a PATH value): `program` itself when it contains '/',
// otherwise <dir>/<program> for each dir of the path ("" meaning ".").
std::vector<std::string> ExecCandidates(const std::string& program, const std::string& path_env);

}  // namespace gpulse::worker
