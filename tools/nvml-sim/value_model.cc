#include "tools/nvml-sim/value_model.h"

#include <cmath>
#include <numbers>

namespace gpulse::nvml_sim {

std::optional<WaveShape> WaveShapeFromName(std::string_view name) {
  if (name == "sine") return WaveShape::kSine;
  if (name == "triangle") return WaveShape::kTriangle;
  if (name == "square") return WaveShape::kSquare;
  if (name == "sawtooth") return WaveShape::kSawtooth;
  return std::nullopt;
}

ValueModel ValueModel::Constant(double value) {
  ValueModel m;
  m.min_ = value;
  m.max_ = value;
  return m;
}

ValueModel ValueModel::Wave(WaveShape shape, double min, double max, double period_s, double phase_s) {
  ValueModel m;
  m.shape_ = shape;
  m.min_ = min;
  m.max_ = max;
  m.period_s_ = period_s > 0 ? period_s : 1;
  m.phase_s_ = phase_s;
  return m;
}

double ValueModel::At(double t_seconds) const {
  if (shape_ == WaveShape::kConstant) return min_;
  // Position within the current period, in [0, 1).
  double x = std::fmod(t_seconds + phase_s_, period_s_) / period_s_;
  if (x < 0) x += 1;
  const double span = max_ - min_;
  switch (shape_) {
    case WaveShape::kSine:
      return min_ + span * (0.5 + 0.5 * std::sin(2 * std::numbers::pi * x));
    case WaveShape::kTriangle:
      return x < 0.5 ? min_ + span * (2 * x) : max_ - span * (2 * x - 1);
    case WaveShape::kSquare:
      return x < 0.5 ? max_ : min_;
    case WaveShape::kSawtooth:
      return min_ + span * x;
    case WaveShape::kConstant:
      break;
  }
  return min_;
}

}  // namespace gpulse::nvml_sim
