#include "common/size.h"

#include <gtest/gtest.h>

namespace gpulse {
namespace {

TEST(ByteSizeTest, ParsesPlainAndBinarySuffixes) {
  EXPECT_EQ(*ParseByteSize("512"), 512u);
  EXPECT_EQ(*ParseByteSize("1K"), 1024u);
  EXPECT_EQ(*ParseByteSize("16GiB"), 16ull << 30);
  EXPECT_EQ(*ParseByteSize("1.5gb"), 3ull << 29);
  EXPECT_EQ(*ParseByteSize("2MiB"), 2ull << 20);
}

TEST(ByteSizeTest, RejectsNonsenseWithAClearMessage) {
  for (const char* bad : {"", "-1", "abc", "12XB", "1e30", "5 parsecs"}) {
    auto r = ParseByteSize(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ByteSizeTest, FormatsForPeople) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(80ull << 30), "80.0 GiB");
}

}  // namespace
}  // namespace gpulse
