#include "metrics/prometheus_writer.h"

#include <charconv>
#include <cmath>

namespace gpulse::metrics {

Labels Labels::With(std::string name, std::string value) const {
  Labels copy = *this;
  copy.Add(std::move(name), std::move(value));
  return copy;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

PrometheusWriter::Group& PrometheusWriter::GroupFor(const MetricFamily& family) {
  for (Group& g : groups_) {
    if (g.family == &family) return g;
  }
  groups_.push_back(Group{&family, {}});
  return groups_.back();
}

void PrometheusWriter::Declare(const MetricFamily& family) { GroupFor(family); }

void PrometheusWriter::Add(const MetricFamily& family, const Labels& labels, double value) {
  std::string& out = GroupFor(family).samples;
  out += family.name;
  if (!labels.pairs().empty()) {
    out += '{';
    bool first = true;
    for (const auto& [name, label_value] : labels.pairs()) {
      if (!first) out += ',';
      first = false;
      out += name;
      out += "=\"";
      out += EscapeLabelValue(label_value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += FormatValue(value);
  out += '\n';
}

std::string PrometheusWriter::Finish() const {
  std::string page;
  for (const Group& g : groups_) {
    page += "# HELP ";
    page += g.family->name;
    page += ' ';
    page += EscapeHelp(g.family->help);
    page += "\n# TYPE ";
    page += g.family->name;
    page += g.family->type == MetricType::kCounter ? " counter\n" : " gauge\n";
    page += g.samples;
  }
  return page;
}

}  // namespace gpulse::metrics
