#include "cli/table.h"

#include <gtest/gtest.h>

namespace gpulse::cli {
namespace {

TEST(TableTest, AlignsColumnsTwoSpacesApartWithNumbersOnTheRight) {
  Table t({{"NAME"}, {"N", true}, {"NOTE"}});
  t.AddRow({"a", "1", "x"});
  t.AddRow({"bbbb", "100", ""});
  EXPECT_EQ(t.Render(0, false),
            "NAME    N  NOTE\n"
            "a       1  x\n"
            "bbbb  100\n");
}

TEST(TableTest, ShrinksTheLastShrinkableColumnFirstToFitTheWidth) {
  Table t({{"ID"}, {"NAME", false, 4}, {"REASON", false, 6}});
  t.AddRow({"t-1", "a-rather-long-name", "waiting for 8 free GPUs"});
  const std::string out = t.Render(30, false);
  EXPECT_EQ(out,
            "ID   NAME          REASON\n"
            "t-1  a-rather-lo…  waiting fo…\n");
  for (size_t start = 0, end; (end = out.find('\n', start)) != std::string::npos; start = end + 1) {
    EXPECT_LE(DisplayWidth(out.substr(start, end - start)), 30u);
  }
  // Narrower still: both give, down to their minimums.
  EXPECT_EQ(Table(t).Render(20, false),
            "ID   NAME     REASON\n"
            "t-1  a-rath…  waiti…\n");
}

TEST(TableTest, ColourWrapsPaddedCellsOnlyWhenAsked) {
  Table t({{"STATE"}, {"X"}});
  t.AddRow({Cell("dead", Tone::kBad), "1"});
  EXPECT_EQ(t.Render(0, false), "STATE  X\ndead   1\n");
  EXPECT_EQ(t.Render(0, true), "STATE  X\n\033[31mdead\033[0m   1\n");
}

TEST(TableTest, TruncateCountsCodePoints) {
  EXPECT_EQ(Truncate("héllo", 5), "héllo");
  EXPECT_EQ(Truncate("héllo", 3), "hé…");
  EXPECT_EQ(DisplayWidth("hé…"), 3u);
}

}  // namespace
}  // namespace gpulse::cli
