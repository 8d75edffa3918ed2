#include "common/token.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "testkit/temp_dir.h"

namespace gpulse {
namespace {

TEST(TokenTest, CreatedOnceWithOwnerOnlyPermissionsAndReusedAfter) {
  testkit::TempDir dir("gpulse-token");
  std::string path = dir.File("token");
  auto first = LoadOrCreateToken(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = LoadOrCreateToken(path);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
}

TEST(TokenTest, MissingAndEmptyFilesAreClearErrors) {
  testkit::TempDir dir("gpulse-token");
  auto missing = ReadToken(dir.File("nope"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  std::ofstream(dir.File("empty")) << "  \n";
  auto empty = ReadToken(dir.File("empty"));
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
}

TEST(TokenTest, ComparesAndParsesBearerHeaders) {
  EXPECT_TRUE(TokensEqual("abc", "abc"));
  EXPECT_FALSE(TokensEqual("abc", "abd"));
  EXPECT_FALSE(TokensEqual("abc", "abcd"));
  EXPECT_EQ(BearerToken("Bearer xyz"), "xyz");
  EXPECT_EQ(BearerToken("Basic xyz"), "");
  EXPECT_EQ(BearerToken(""), "");
}

}  // namespace
}  // namespace gpulse
