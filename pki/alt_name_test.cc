#include "pki/alt_name.h"

#include <gtest/gtest.h>

namespace gpulse::pki {
namespace {

TEST(AltNameTest, AddressesAreCanonicalAndNamesLowerCase) {
  EXPECT_EQ(ParseAltName("10.0.0.7")->ToString(), "IP:10.0.0.7");
  EXPECT_EQ(ParseAltName("0:0::1")->ToString(), "IP:::1");
  EXPECT_EQ(ParseAltName("[fd00::1]")->ToString(), "IP:fd00::1");
  EXPECT_EQ(ParseAltName("GPU-Master.Lab")->ToString(), "DNS:gpu-master.lab");
  EXPECT_EQ(ParseAltName("node_7")->ToString(), "DNS:node_7");
}

TEST(AltNameTest, WhatIsNeitherANameNorAnAddressIsRefused) {
  for (const char* bad : {"", "a..b", ".lead", "trail.", "-dash.example", "dash-.example", "*.example.com",
                          "has space", "semi;colon", "a/b", "10.0.0.7:80"}) {
    auto name = ParseAltName(bad);
    EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ParseAltName(std::string(64, 'a')).ok());
  EXPECT_TRUE(ParseAltName(std::string(63, 'a')).ok());
  EXPECT_FALSE(ParseAltName(std::string(254, 'a')).ok());
}

TEST(AltNameTest, ServerNamesStartWithLoopbackAndHaveNoDuplicates) {
  auto names = ServerAltNames("Box", {"box", "127.0.0.1", "10.1.1.1", "::0:1"});
  ASSERT_TRUE(names.ok());
  std::vector<std::string> texts;
  for (const AltName& name : *names) texts.push_back(name.ToString());
  EXPECT_EQ(texts, (std::vector<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1", "DNS:box", "IP:10.1.1.1"}));
  // An odd hostname is left out rather than stopping the master; a bad
  // --tls-san is the operator's to fix.
  EXPECT_EQ(ServerAltNames("odd host", {})->size(), 3u);
  EXPECT_EQ(ServerAltNames("box", {"bad name"}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpulse::pki
