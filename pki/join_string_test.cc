#include "pki/join_string.h"

#include <gtest/gtest.h>

#include "testkit/status_matchers.h"

namespace gpulse::pki {
namespace {

const std::string kPin = "sha256:" + std::string(32, 'a') + std::string(32, '7');
const std::string kToken = "s3cr3tT0kenValue-0123456789abcdef";

// Whether `message` contains the token or any 8 characters of it in a row.
bool LeaksToken(const std::string& message, const std::string& token) {
  for (size_t i = 0; i + 8 <= token.size(); ++i) {
    if (message.find(token.substr(i, 8)) != std::string::npos) return true;
  }
  return false;
}

TEST(JoinStringTest, FormatsOneLineThatParsesBackToTheSameFields) {
  const std::vector<JoinString> joins = {
      {"master.lab:7070", kPin, std::string(64, 'f')},
      {"10.0.0.1:443", kPin, "Zm9v+YmFy/YmF6==cXV4"},
      {"[fd00::1]:7070", kPin, "with&amp=and%percent?and#hash"},
      {"localhost:1", kPin, "~tilde.dot_under-dash"},
  };
  for (const JoinString& join : joins) {
    auto text = FormatJoinString(join);
    ASSERT_OK(text);
    EXPECT_EQ(text->rfind("gpulse-join://" + join.master + "?ca=" + kPin + "&token=", 0), 0u) << *text;
    EXPECT_EQ(text->find_first_of(" \n"), std::string::npos);
    auto parsed = ParseJoinString(*text);
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, join) << *text;
  }
  EXPECT_EQ(*FormatJoinString({"m:1", kPin, "a&b"}), "gpulse-join://m:1?ca=" + kPin + "&token=a%26b");
}

TEST(JoinStringTest, ToleratesWhatAPasteBringsAndEitherParameterOrder) {
  auto pasted = ParseJoinString("  GPULSE-JOIN://m:1?token=" + kToken + "&ca=" + kPin + "\r\n");
  ASSERT_OK(pasted);
  EXPECT_EQ(pasted->master, "m:1");
  EXPECT_EQ(pasted->token, kToken);
  std::string upper_pin = "SHA256:" + std::string(32, 'A') + std::string(32, '7');
  auto upper = ParseJoinString("gpulse-join://m:1?ca=" + upper_pin + "&token=" + kToken);
  ASSERT_OK(upper);
  EXPECT_EQ(upper->ca_pin, kPin);
}

TEST(JoinStringTest, MalformedStringsAreRefusedClearlyWithoutTheToken) {
  const std::string good = "?ca=" + kPin + "&token=" + kToken;
  struct Case {
    std::string text;
    std::string says;
  };
  const Case cases[] = {
      {"", "does not start with gpulse-join://"},
      {"https://m:1" + good, "does not start with gpulse-join://"},
      {kToken, "does not start with gpulse-join://"},
      {"gpulse-join://m:1", "no ?ca="},
      {"gpulse-join://m:1&token=" + kToken, "no ?ca="},
      {"gpulse-join://m" + good, "has no port"},
      {"gpulse-join://m:0" + good, "port is not a number from 1 to 65535"},
      {"gpulse-join://m:65536" + good, "port is not a number"},
      {"gpulse-join://m:http" + good, "port is not a number"},
      {"gpulse-join://m:" + good, "port is not a number"},
      {"gpulse-join://:7070" + good, "host is not a DNS name"},
      {"gpulse-join://bad_host!:7070" + good, "host is not a DNS name"},
      {"gpulse-join://fd00::1:7070" + good, "in brackets"},
      {"gpulse-join://[fd00::zz]:7070" + good, "is not an IPv6 address"},
      {"gpulse-join://[fd00::1]7070" + good, "[ADDRESS]:PORT"},
      {"gpulse-join://user@m:1" + good, "user part"},
      {"gpulse-join://m:1/join" + good, "path"},
      {"gpulse-join://m:1?ca=" + kPin, "no token="},
      {"gpulse-join://m:1?token=" + kToken, "no ca="},
      {"gpulse-join://m:1" + good + "&token=" + kToken, "token= is given twice"},
      {"gpulse-join://m:1?ca=" + kPin + "&" + good.substr(1), "ca= is given twice"},
      {"gpulse-join://m:1?ca=sha256:abc&token=" + kToken, "ca= is not sha256:"},
      {"gpulse-join://m:1?ca=" + kToken + "&token=" + kToken, "ca= is not sha256:"},
      {"gpulse-join://m:1?ca=" + kPin + "&token=", "token is empty"},
      {"gpulse-join://m:1?ca=" + kPin + "&token=" + kToken + "%2", "percent-encoded"},
      {"gpulse-join://m:1?ca=" + kPin + "&token=" + kToken + "%zz", "percent-encoded"},
      {"gpulse-join://m:1?ca=" + kPin + "&token=" + kToken + "%20x", "space"},
      {"gpulse-join://m:1?ca=" + kPin + "&token=" + kToken + " x", "space"},
      {"gpulse-join://m:1" + good + "&tokne=" + kToken, "unknown parameter"},
      {"gpulse-join://m:1?ca=" + kPin + "&" + kToken, "without '='"},
      {"gpulse-join://m:1" + good + "&", "without '='"},
      {"gpulse-join://m:1" + good + "#" + kToken, "fragment"},
      {"gpulse-join://m:1" + good + std::string(5000, 'x'), "longer than 4096"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseJoinString(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    const std::string& message = parsed.status().message();
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(message.find(c.says), std::string::npos) << c.text << "\n  said: " << message;
    EXPECT_NE(message.find("gpulse-join://HOST:PORT?ca=sha256:<hex>&token=<token>"), std::string::npos);
    EXPECT_FALSE(LeaksToken(message, kToken)) << c.text << "\n  said: " << message;
  }
}

TEST(JoinStringTest, FormatRefusesFieldsItCouldNotParseBack) {
  EXPECT_EQ(FormatJoinString({"m", kPin, kToken}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatJoinString({"m:1", "sha256:00", kToken}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatJoinString({"m:1", kPin, ""}).status().code(), StatusCode::kInvalidArgument);
  auto spaced = FormatJoinString({"m:1", kPin, kToken + " tail"});
  EXPECT_EQ(spaced.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(LeaksToken(spaced.status().message(), kToken));
}

}  // namespace
}  // namespace gpulse::pki
