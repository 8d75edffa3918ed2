#include "tools/nvml-sim/value_model.h"

#include <gtest/gtest.h>

namespace gpulse::nvml_sim {
namespace {

TEST(ValueModelTest, ConstantIsTheSameAtEveryTime) {
  ValueModel m = ValueModel::Constant(42);
  EXPECT_TRUE(m.is_constant());
  EXPECT_DOUBLE_EQ(m.At(0), 42);
  EXPECT_DOUBLE_EQ(m.At(12345.678), 42);
}

TEST(ValueModelTest, DefaultIsConstantZero) { EXPECT_DOUBLE_EQ(ValueModel().At(99), 0); }

TEST(ValueModelTest, SineStartsAtMidpointPeaksAtQuarterPeriod) {
  ValueModel m = ValueModel::Wave(WaveShape::kSine, 10, 90, 60, 0);
  EXPECT_FALSE(m.is_constant());
  EXPECT_NEAR(m.At(0), 50, 1e-9);
  EXPECT_NEAR(m.At(15), 90, 1e-9);
  EXPECT_NEAR(m.At(30), 50, 1e-9);
  EXPECT_NEAR(m.At(45), 10, 1e-9);
  EXPECT_NEAR(m.At(60 + 15), 90, 1e-9);  // repeats every period
}

TEST(ValueModelTest, TriangleRisesThenFalls) {
  ValueModel m = ValueModel::Wave(WaveShape::kTriangle, 0, 100, 10, 0);
  EXPECT_NEAR(m.At(0), 0, 1e-9);
  EXPECT_NEAR(m.At(2.5), 50, 1e-9);
  EXPECT_NEAR(m.At(5), 100, 1e-9);
  EXPECT_NEAR(m.At(7.5), 50, 1e-9);
}

TEST(ValueModelTest, SquareIsMaxThenMin) {
  ValueModel m = ValueModel::Wave(WaveShape::kSquare, 20, 80, 2, 0);
  EXPECT_DOUBLE_EQ(m.At(0.1), 80);
  EXPECT_DOUBLE_EQ(m.At(1.1), 20);
}

TEST(ValueModelTest, SawtoothClimbsAndDrops) {
  ValueModel m = ValueModel::Wave(WaveShape::kSawtooth, 0, 10, 10, 0);
  EXPECT_NEAR(m.At(0), 0, 1e-9);
  EXPECT_NEAR(m.At(9), 9, 1e-9);
  EXPECT_NEAR(m.At(10), 0, 1e-9);
}

TEST(ValueModelTest, PhaseShiftsTheWave) {
  ValueModel shifted = ValueModel::Wave(WaveShape::kTriangle, 0, 100, 10, 5);
  EXPECT_NEAR(shifted.At(0), 100, 1e-9);
  ValueModel negative = ValueModel::Wave(WaveShape::kTriangle, 0, 100, 10, -2.5);
  EXPECT_NEAR(negative.At(0), 50, 1e-9);
}

TEST(ValueModelTest, EveryShapeStaysWithinItsRange) {
  for (WaveShape shape : {WaveShape::kSine, WaveShape::kTriangle, WaveShape::kSquare, WaveShape::kSawtooth}) {
    ValueModel m = ValueModel::Wave(shape, 10, 90, 0.7, 0.1);
    for (double t = 0; t < 5; t += 0.013) {
      double v = m.At(t);
      EXPECT_GE(v, 10 - 1e-9);
      EXPECT_LE(v, 90 + 1e-9);
    }
  }
}

TEST(ValueModelTest, ShapeNames) {
  EXPECT_EQ(WaveShapeFromName("sine"), WaveShape::kSine);
  EXPECT_EQ(WaveShapeFromName("triangle"), WaveShape::kTriangle);
  EXPECT_EQ(WaveShapeFromName("square"), WaveShape::kSquare);
  EXPECT_EQ(WaveShapeFromName("sawtooth"), WaveShape::kSawtooth);
  EXPECT_EQ(WaveShapeFromName("Sine"), std::nullopt);
  EXPECT_EQ(WaveShapeFromName(""), std::nullopt);
}

}  // namespace
}  // namespace gpulse::nvml_sim
