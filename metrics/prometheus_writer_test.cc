#include "metrics/prometheus_writer.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace gpulse::metrics {
namespace {

constexpr MetricFamily kA{"a_metric", "First.", MetricType::kGauge};
constexpr MetricFamily kB{"b_total", "Second, with a \\ and a\nnewline.", MetricType::kCounter};
constexpr MetricFamily kEmpty{"c_metric", "Declared only.", MetricType::kGauge};

TEST(PrometheusWriterTest, GroupsSamplesByFamilyInFirstUseOrder) {
  PrometheusWriter w;
  w.Add(kA, {{"x", "1"}}, 1);
  w.Add(kB, {}, 2);
  w.Add(kA, {{"x", "2"}}, 3.5);
  w.Declare(kEmpty);
  EXPECT_EQ(w.Finish(),
            "# HELP a_metric First.\n"
            "# TYPE a_metric gauge\n"
            "a_metric{x=\"1\"} 1\n"
            "a_metric{x=\"2\"} 3.5\n"
            "# HELP b_total Second, with a \\\\ and a\\nnewline.\n"
            "# TYPE b_total counter\n"
            "b_total 2\n"
            "# HELP c_metric Declared only.\n"
            "# TYPE c_metric gauge\n");
}

TEST(PrometheusWriterTest, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue(R"(a"b\c)"), R"(a\"b\\c)");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), "two\\nlines");
  EXPECT_EQ(EscapeLabelValue("plain é"), "plain é");
  PrometheusWriter w;
  w.Add(kA, {{"name", "say \"hi\"\n"}, {"path", "C:\\x"}}, 0);
  EXPECT_NE(w.Finish().find(R"(a_metric{name="say \"hi\"\n",path="C:\\x"} 0)"), std::string::npos);
}

TEST(PrometheusWriterTest, FormatsValuesExactlyAndSpellsSpecialValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(-2.5), "-2.5");
  EXPECT_EQ(FormatValue(85520809984.0), "85520809984");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(std::stod(FormatValue(1.0 / 3.0)), 1.0 / 3.0);
}

TEST(PrometheusWriterTest, LabelsWithAppendsWithoutChangingTheOriginal) {
  Labels base{{"worker", "w1"}};
  Labels more = base.With("code", "X");
  EXPECT_EQ(base.pairs().size(), 1u);
  ASSERT_EQ(more.pairs().size(), 2u);
  EXPECT_EQ(more.pairs()[1].first, "code");
}

}  // namespace
}  // namespace gpulse::metrics
