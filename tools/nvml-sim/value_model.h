// ValueModel: one simulated metric, either constant or repeating over time.
//
// A scenario gives each dynamic metric (utilization, temperature, power, ...)
// as a number or as a wave between a minimum and a maximum. The simulator
// evaluates the model at the current time on every query, so a wave is cheap:
// no allocation, a few floating-point operations.
//
// Plain value; const methods are safe to call from any thread.
#pragma once

#include <optional>
#include <string_view>

namespace gpulse::nvml_sim {

enum class WaveShape {
  kConstant,
  kSine,      // starts at the midpoint, rises to max at a quarter period
  kTriangle,  // min -> max over half a period, back to min over the other half
  kSquare,    // max for the first half period, min for the second
  kSawtooth,  // min -> max over a period, then drops back to min
};

// Returns the shape named "sine", "triangle", "square" or "sawtooth";
// nullopt for any other name.
std::optional<WaveShape> WaveShapeFromName(std::string_view name);

class ValueModel {
 public:
  ValueModel() = default;  // the constant 0

  static ValueModel Constant(double value);
  // Requires period_s > 0. min may exceed max (the wave is then inverted).
  static ValueModel Wave(WaveShape shape, double min, double max, double period_s, double phase_s);

  // The value at `t_seconds` on any monotonic time base. Always within
  // [min, max] (for a constant, the constant).
  double At(double t_seconds) const;

  bool is_constant() const { return shape_ == WaveShape::kConstant; }

 private:
  WaveShape shape_ = WaveShape::kConstant;
  double min_ = 0;
  double max_ = 0;
  double period_s_ = 1;
  double phase_s_ = 0;
};

}  // namespace gpulse::nvml_sim
