#include "common/token.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "testkit/status_matchers.h"
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

// A second token (e.g. the read-only one) is just another file: its own
// random token, as private as the first.
TEST(TokenTest, EachTokenFileGetsItsOwnRandomToken) {
  testkit::TempDir dir("gpulse-token");
  auto admin = LoadOrCreateToken(dir.File("token"), TokenFileCheck::kStrict);
  auto read_only = LoadOrCreateToken(dir.File("read-token"), TokenFileCheck::kStrict);
  ASSERT_OK(admin);
  ASSERT_OK(read_only);
  EXPECT_NE(*admin, *read_only);
  EXPECT_GE(EstimatedTokenBits(*read_only), kMinTokenBits);
  struct stat st {};
  ASSERT_EQ(::stat(dir.File("read-token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(TokenTest, StrictCheckRefusesATokenFileOthersMayReadAndSaysHowToFixIt) {
  testkit::TempDir dir("gpulse-token");
  const std::string token(64, 'c');
  std::string path = dir.File("token");
  ASSERT_TRUE(testkit::WriteFile(path, token + "\n"));
  for (mode_t mode : {0644, 0640, 0604, 0620}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto strict = ReadToken(path, TokenFileCheck::kStrict);
    EXPECT_EQ(strict.status().code(), StatusCode::kPermissionDenied) << std::oct << mode;
    EXPECT_NE(strict.status().message().find("chmod 600 " + path), std::string::npos) << strict.status().message();
    EXPECT_EQ(strict.status().message().find(token), std::string::npos);
    EXPECT_EQ(LoadOrCreateToken(path, TokenFileCheck::kStrict).status().code(), StatusCode::kPermissionDenied);
    EXPECT_OK(ReadToken(path));  // the lenient check the daemons use until they are switched
  }
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto fixed = ReadToken(path, TokenFileCheck::kStrict);
  ASSERT_OK(fixed);
  EXPECT_EQ(*fixed, token);
  EXPECT_EQ(testkit::ReadFileOrEmpty(path), token + "\n");  // never rewritten
}

TEST(TokenTest, StrictCheckRefusesTokensUnder128BitsWithoutQuotingThem) {
  testkit::TempDir dir("gpulse-token");
  struct Case {
    std::string token;
    bool accepted;
  };
  const Case cases[] = {
      {"zQ7", false},
      {std::string(31, 'a'), false},                       // hex: 124 bits
      {std::string(32, 'a'), true},                        // hex: 128 bits
      {"Zm9vYmFyYmF6cXV4cXV1eA", true},                    // base64, 22 characters: 132 bits
      {"Zm9vYmFyYmF6cXV4cXV1e", false},                    // 21 characters: 126 bits
      {"Zm9vYmFyYmF6cXV4cXV1e===", false},                 // padding adds nothing
      {"secret-Password-1", false},
  };
  for (const Case& c : cases) {
    std::string path = dir.Write("token", c.token + "\n");
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    auto read = ReadToken(path, TokenFileCheck::kStrict);
    EXPECT_EQ(read.ok(), c.accepted) << c.token << ": " << read.status().ToString();
    if (read.ok()) continue;
    EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(read.status().message().find(c.token), std::string::npos) << read.status().message();
    EXPECT_NE(read.status().message().find("openssl rand -hex 32 > " + path), std::string::npos);
  }
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

// Found by token_file_fuzzer: such a token passed the strict check, but no
// header or gRPC metadata can carry it.
TEST(TokenTest, TokensWithBytesAHeaderCannotCarryAreRefused) {
  testkit::TempDir dir("gpulse-token");
  const std::string good(40, 'k');
  for (const std::string& token : {good + "\f", good + std::string(1, '\0') + good, good + " " + good,
                                   good + "\x7f", good + "\xc3\xa9"}) {
    std::string path = dir.Write("token", token + "\n");
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    for (TokenFileCheck check : {TokenFileCheck::kLenient, TokenFileCheck::kStrict}) {
      auto read = ReadToken(path, check);
      EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument) << token.size();
      EXPECT_NE(read.status().message().find("printable ASCII"), std::string::npos) << read.status().message();
      EXPECT_EQ(read.status().message().find(good), std::string::npos);
    }
  }
  std::string path = dir.Write("token", " \t" + good + "\r\n");
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto trimmed = ReadToken(path, TokenFileCheck::kStrict);
  ASSERT_OK(trimmed);
  EXPECT_EQ(*trimmed, good);
}

TEST(TokenTest, ComparesAndParsesBearerHeaders) {
  EXPECT_TRUE(TokensEqual("abc", "abc"));
  EXPECT_FALSE(TokensEqual("abc", "abd"));
  EXPECT_FALSE(TokensEqual("abc", "abcd"));
  EXPECT_FALSE(TokensEqual("abc", ""));
  EXPECT_TRUE(TokensEqual("", ""));
  EXPECT_EQ(BearerToken("Bearer xyz"), "xyz");
  EXPECT_EQ(BearerToken("Basic xyz"), "");
  EXPECT_EQ(BearerToken(""), "");
}

// Every byte counts, wherever it is: a comparison that looked only at the
// last byte (or stopped early) would let these through.
TEST(TokenTest, SameLengthTokensDifferingInAnyOneByteAreDifferent) {
  const std::string token(64, 'a');
  for (size_t i : {size_t{0}, size_t{1}, size_t{31}, size_t{62}, size_t{63}}) {
    std::string other = token;
    other[i] = 'b';
    EXPECT_FALSE(TokensEqual(token, other)) << "differs only at byte " << i;
    EXPECT_FALSE(TokensEqual(other, token)) << "differs only at byte " << i;
  }
  std::string two = token;
  two[0] = 'b';
  two[40] = 'c';
  EXPECT_FALSE(TokensEqual(token, two));
  EXPECT_TRUE(TokensEqual(token, std::string(64, 'a')));
}

}  // namespace
}  // namespace gpulse
