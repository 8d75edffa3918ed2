// PrometheusWriter: builds a page in the Prometheus text exposition format
// (version 0.0.4), the format `GET /metrics` serves.
//
// Samples may be added in any order; the writer groups them by family, so
// each family's "# HELP" and "# TYPE" lines come once, followed by all of its
// samples, in the order the families were first used. Label values and help
// texts are escaped as the format requires. Plain value, not synchronised:
// build one per scrape.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpulse::metrics {

enum class MetricType { kGauge, kCounter };

// A metric family's fixed description. Instances are expected to be
// constants with static storage (the writer keeps the pointer).
struct MetricFamily {
  const char* name;  // [a-zA-Z_:][a-zA-Z0-9_:]*
  const char* help;
  MetricType type;
};

// Label names and values, in the order they are printed.
class Labels {
 public:
  Labels() = default;
  Labels(std::initializer_list<std::pair<std::string, std::string>> pairs) : pairs_(pairs) {}

  // A copy with one more label at the end.
  Labels With(std::string name, std::string value) const;
  void Add(std::string name, std::string value) { pairs_.emplace_back(std::move(name), std::move(value)); }
  const std::vector<std::pair<std::string, std::string>>& pairs() const { return pairs_; }

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

class PrometheusWriter {
 public:
  // Makes `family` appear (HELP and TYPE) even if it gets no sample.
  void Declare(const MetricFamily& family);
  // Adds one sample. NaN and infinities are written as the format spells
  // them ("NaN", "+Inf", "-Inf"); callers leave unknown values out instead.
  void Add(const MetricFamily& family, const Labels& labels, double value);

  // The whole page; every line ends in "\n".
  std::string Finish() const;

 private:
  struct Group {
    const MetricFamily* family;
    std::string samples;
  };
  Group& GroupFor(const MetricFamily& family);

  std::vector<Group> groups_;
};

// The exposition format's escaping: in label values \ " and newline become
// \\ \" \n; in help texts \ and newline become \\ \n.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// A sample value the shortest way that reads back exactly ("42", "0.5",
// "1e+21", "NaN", "+Inf").
std::string FormatValue(double value);

// The Content-Type of the text format.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace gpulse::metrics
