#include "common/host_port.h"

#include <gtest/gtest.h>

namespace gpulse {
namespace {

TEST(HostPortTest, SplitsIpv4Ipv6AndPortZero) {
  auto a = SplitHostPort("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 8080);
  auto b = SplitHostPort("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "::1");
  EXPECT_EQ(b->second, 0);
}

TEST(HostPortTest, RejectsMalformedAddresses) {
  for (const char* bad : {"localhost", ":80", "host:", "host:99999", "host:-1", "host:8o"}) {
    EXPECT_EQ(SplitHostPort(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(HostPortTest, OnlyLoopbackAddressesAreLoopback) {
  for (const char* local : {"localhost", "127.0.0.1", "127.1.2.3", "::1"}) EXPECT_TRUE(IsLoopbackHost(local)) << local;
  for (const char* remote : {"0.0.0.0", "::", "10.0.0.7", "128.0.0.1", "gpu-master", "localhost.evil", "::2"}) {
    EXPECT_FALSE(IsLoopbackHost(remote)) << remote;
  }
}

}  // namespace
}  // namespace gpulse
