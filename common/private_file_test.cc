#include "common/private_file.h"

#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// Restores the process umask when the test ends.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(PrivateFileTest, AtomicWriteGivesExactlyTheModeAskedWhateverTheUmask) {
  testkit::TempDir dir("gpulse-private");
  std::string key = dir.File("key"), cert = dir.File("cert");
  {
    ScopedUmask open_umask(0);
    ASSERT_OK(WriteFileAtomically(key, "secret", 0600));
  }
  {
    ScopedUmask tight_umask(077);
    ASSERT_OK(WriteFileAtomically(cert, "public", 0644));
  }
  EXPECT_EQ(ModeOf(key), 0600u);
  EXPECT_EQ(ModeOf(cert), 0644u);
  ASSERT_OK(WriteFileAtomically(key, "replaced", 0600));
  EXPECT_EQ(testkit::ReadFileOrEmpty(key), "replaced");
  // Nothing but the two files: no temporary file left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 2);
}

TEST(PrivateFileTest, AtomicWriteIntoAMissingFolderFailsAndLeavesNothing) {
  testkit::TempDir dir("gpulse-private");
  Status status = WriteFileAtomically(dir.File("no/such/key"), "secret", 0600);
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.ToString();
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(PrivateFileTest, ReadsOwnerOnlyFilesAndRefusesOthersWithTheFix) {
  testkit::TempDir dir("gpulse-private");
  std::string path = dir.File("key");
  ASSERT_OK(WriteFileAtomically(path, "secret", 0600));
  auto read = ReadOwnerOnlyFile(path, "private key");
  ASSERT_OK(read);
  EXPECT_EQ(*read, "secret");
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_OK(ReadOwnerOnlyFile(path, "private key"));
  EXPECT_OK(RequireOwnerOnly(path, "private key"));
  for (mode_t mode : {0644, 0640, 0604, 0602, 0610}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto refused = ReadOwnerOnlyFile(path, "private key");
    EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied) << std::oct << mode;
    EXPECT_NE(refused.status().message().find("private key " + path), std::string::npos);
    EXPECT_NE(refused.status().message().find("chmod 600 " + path), std::string::npos);
    EXPECT_EQ(refused.status().message().find("secret"), std::string::npos);
    EXPECT_EQ(RequireOwnerOnly(path, "private key").code(), StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(ReadOwnerOnlyFile(dir.File("missing"), "private key").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(RequireOwnerOnly(dir.File("missing"), "private key").code(), StatusCode::kNotFound);
}

TEST(PrivateFileTest, RefusesFilesLargerThanTheLimit) {
  testkit::TempDir dir("gpulse-private");
  std::string path = dir.File("token");
  ASSERT_OK(WriteFileAtomically(path, std::string(100, 'a'), 0600));
  EXPECT_OK(ReadOwnerOnlyFile(path, "token file", 100));
  EXPECT_EQ(ReadOwnerOnlyFile(path, "token file", 99).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadOwnerOnlyFile(dir.path().string(), "token file").status().code(), StatusCode::kInvalidArgument);
}

TEST(PrivateFileTest, PrivateDirIsCreatedOrTightenedTo0700) {
  testkit::TempDir dir("gpulse-private");
  std::string fresh = dir.File("data/pki");
  ASSERT_OK(EnsurePrivateDir(fresh));
  EXPECT_EQ(ModeOf(fresh), 0700u);
  std::string loose = dir.File("loose");
  ASSERT_EQ(::mkdir(loose.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(loose.c_str(), 0755), 0);
  ASSERT_OK(EnsurePrivateDir(loose));
  EXPECT_EQ(ModeOf(loose), 0700u);
  ASSERT_TRUE(testkit::WriteFile(dir.File("file"), "x"));
  EXPECT_EQ(EnsurePrivateDir(dir.File("file")).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace gpulse
