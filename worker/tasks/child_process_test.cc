#include "worker/tasks/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testkit/eventually.h"
#include "testkit/temp_dir.h"

namespace gpulse::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testkit::ReadFileOrEmpty;
using testkit::TempDir;

int WaitForExit(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class ChildProcessTest : public ::testing::Test {
 protected:
  ChildSpec Spec(std::vector<std::string> argv) {
    ChildSpec spec;
    spec.argv = std::move(argv);
    spec.env = {"PATH=/usr/bin:/bin"};
    spec.working_dir = dir_.path();
    spec.stdout_path = dir_.path() / "out";
    spec.stderr_path = dir_.path() / "err";
    return spec;
  }

  TempDir dir_;
};

TEST(ExecCandidatesTest, SearchesEachPathEntryInOrder) {
  EXPECT_THAT(ExecCandidates("sh", "/a:/b"), ElementsAre("/a/sh", "/b/sh"));
  EXPECT_THAT(ExecCandidates("sh", "/a::/b"), ElementsAre("/a/sh", "sh", "/b/sh"));
}

TEST(ExecCandidatesTest, PathWithSlashIsUsedAsIs) {
  EXPECT_THAT(ExecCandidates("./run.sh", "/a"), ElementsAre("./run.sh"));
  EXPECT_THAT(ExecCandidates("/bin/sh", "/a"), ElementsAre("/bin/sh"));
}

TEST(ExecCandidatesTest, EmptyPathFallsBackToSystemDirectories) {
  EXPECT_THAT(ExecCandidates("sh", ""), ElementsAre("/usr/local/bin/sh", "/usr/bin/sh", "/bin/sh"));
}

TEST_F(ChildProcessTest, RunsProgramWithGivenEnvironmentAndDirectory) {
  ChildSpec spec = Spec({"sh", "-c", "echo \"$GREETING\"; pwd; echo oops >&2"});
  spec.env.push_back("GREETING=hello");
  Result<SpawnedChild> child = SpawnInNewProcessGroup(spec);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_TRUE(child->pidfd.valid());
  EXPECT_EQ(WaitForExit(child->pid), 0);
  EXPECT_EQ(ReadFileOrEmpty(spec.stdout_path),
            "hello\n" + std::filesystem::canonical(dir_.path()).string() + "\n");
  EXPECT_EQ(ReadFileOrEmpty(spec.stderr_path), "oops\n");
}

TEST_F(ChildProcessTest, ChildLeadsItsOwnProcessGroup) {
  Result<SpawnedChild> child = SpawnInNewProcessGroup(Spec({"sh", "-c", "read line"}));
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  // stdin is /dev/null, so `read` returns at once; the group id is checked
  // while the process may still exist, or as a zombie, which keeps its pgid.
  EXPECT_EQ(::getpgid(child->pid), child->pid);
  EXPECT_EQ(WaitForExit(child->pid), 1);  // read hit end of file
}

TEST_F(ChildProcessTest, MissingProgramIsReportedNotExitStatus127) {
  Result<SpawnedChild> child = SpawnInNewProcessGroup(Spec({"gpulse-no-such-program"}));
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(child.status().message(), "argv[0] 'gpulse-no-such-program': No such file or directory");
  EXPECT_EQ(ShellExitCodeFor(child.status()), 127);
}

TEST_F(ChildProcessTest, NonExecutableFileIsPermissionDenied) {
  const auto script = dir_.path() / "script.sh";
  testkit::WriteFile(script, "#!/bin/sh\necho hi\n");
  ASSERT_EQ(::chmod(script.c_str(), 0644), 0);
  Result<SpawnedChild> child = SpawnInNewProcessGroup(Spec({script.string()}));
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(child.status().message(), HasSubstr("Permission denied"));
  EXPECT_EQ(ShellExitCodeFor(child.status()), 126);
  // The worker's own failures are not the program's.
  EXPECT_EQ(ShellExitCodeFor(PermissionDenied("open '/w/tasks/t/stdout.log': Permission denied")), std::nullopt);
}

TEST_F(ChildProcessTest, UnwritableLogIsReportedBeforeForking) {
  ChildSpec spec = Spec({"true"});
  spec.stdout_path = dir_.path() / "missing-dir" / "out";
  Result<SpawnedChild> child = SpawnInNewProcessGroup(spec);
  ASSERT_FALSE(child.ok());
  EXPECT_THAT(child.status().message(), HasSubstr("missing-dir/out"));
}

TEST_F(ChildProcessTest, MissingWorkingDirectoryIsReported) {
  ChildSpec spec = Spec({"true"});
  spec.working_dir = dir_.path() / "nowhere";
  Result<SpawnedChild> child = SpawnInNewProcessGroup(spec);
  ASSERT_FALSE(child.ok());
  EXPECT_THAT(child.status().message(), HasSubstr("chdir"));
}

TEST_F(ChildProcessTest, ChildStartsWithDefaultSignalsWhateverTheWorkerSet) {
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction previous_pipe;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &previous_pipe), 0);
  sigset_t block, previous_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &previous_mask), 0);

  // grep reports its own signal state: nothing blocked, nothing ignored.
  ChildSpec spec = Spec({"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"});
  Result<SpawnedChild> child = SpawnInNewProcessGroup(spec);

  ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  ::sigaction(SIGPIPE, &previous_pipe, nullptr);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_EQ(WaitForExit(child->pid), 0);
  EXPECT_EQ(ReadFileOrEmpty(spec.stdout_path),
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_F(ChildProcessTest, WorkerFileDescriptorsDoNotLeakIntoChild) {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately not close-on-exec
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::dup2(fd, 50), 50);
  ::close(fd);
  ChildSpec spec = Spec({"sh", "-c", "if [ -e /proc/self/fd/50 ]; then echo leaked; else echo closed; fi"});
  Result<SpawnedChild> child = SpawnInNewProcessGroup(spec);
  ::close(50);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_EQ(WaitForExit(child->pid), 0);
  EXPECT_EQ(ReadFileOrEmpty(spec.stdout_path), "closed\n");
}

}  // namespace
}  // namespace gpulse::worker
