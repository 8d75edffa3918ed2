#include "master/core/gpu_health.h"

#include <gtest/gtest.h>

namespace gpulse::master {
namespace {

using Reasons = std::vector<std::string>;

GpuSample ReadableSample() {
  GpuSample s;
  s.utilization_gpu = 50;
  s.ecc_dbe_volatile = 0;
  s.row_remap_pending = false;
  s.row_remap_failure = false;
  s.clock_event_reasons = 0x1;  // idle: not a fault
  s.events = GpuEvents{};
  return s;
}

TEST(GpuHealthTest, NothingWrongIsHealthy) {
  GpuHealthAssessment a = AssessGpuHealth(ReadableSample(), true);
  EXPECT_EQ(a.state, GpuHealth::kHealthy);
  EXPECT_TRUE(a.reasons.empty());
  // Unknown figures (an old driver) are not faults either.
  EXPECT_EQ(AssessGpuHealth(GpuSample{}, true).state, GpuHealth::kHealthy);
}

TEST(GpuHealthTest, CriticalXidMakesItUnhealthyButAnApplicationXidDoesNot) {
  GpuSample s = ReadableSample();
  s.events = GpuEvents{13, {{13, 4}, {31, 1}, {43, 2}}, 0};
  EXPECT_EQ(AssessGpuHealth(s, true).state, GpuHealth::kHealthy);
  for (uint32_t xid : {48u, 63u, 64u, 74u, 79u, 92u, 94u, 95u}) {
    s.events = GpuEvents{xid, {{13, 1}, {xid, 1}}, 0};
    GpuHealthAssessment a = AssessGpuHealth(s, true);
    EXPECT_EQ(a.state, GpuHealth::kUnhealthy) << xid;
    EXPECT_EQ(a.reasons, Reasons{"critical XID " + std::to_string(xid)});
  }
}

TEST(GpuHealthTest, DoubleBitEccAndRowRemapsMakeItUnhealthy) {
  GpuSample s = ReadableSample();
  s.events->dbe_events = 1;
  EXPECT_EQ(AssessGpuHealth(s, true).reasons, Reasons{"double-bit ECC error"});
  s = ReadableSample();
  s.ecc_dbe_volatile = 2;
  EXPECT_EQ(AssessGpuHealth(s, true).reasons, Reasons{"double-bit ECC error"});
  s = ReadableSample();
  s.row_remap_pending = true;
  s.row_remap_failure = true;
  GpuHealthAssessment a = AssessGpuHealth(s, true);
  EXPECT_EQ(a.state, GpuHealth::kUnhealthy);
  EXPECT_EQ(a.reasons, (Reasons{"row remap pending", "row remap failure"}));
  // Cleared by the driver (after a GPU reset): healthy again.
  s.row_remap_pending = false;
  s.row_remap_failure = false;
  EXPECT_EQ(AssessGpuHealth(s, true).state, GpuHealth::kHealthy);
}

TEST(GpuHealthTest, ThermalOrPowerThrottlingDegradesAndUnreadableWins) {
  GpuSample s = ReadableSample();
  s.clock_event_reasons = 0x40 | 0x80 | 0x4;  // HW thermal, power brake, SW power cap (not a fault)
  GpuHealthAssessment a = AssessGpuHealth(s, true);
  EXPECT_EQ(a.state, GpuHealth::kDegraded);
  EXPECT_EQ(a.reasons, (Reasons{"HW thermal slowdown", "HW power brake"}));
  s.error = "GPU is lost";
  a = AssessGpuHealth(s, false);
  EXPECT_EQ(a.state, GpuHealth::kUnhealthy);
  EXPECT_EQ(a.reasons, Reasons{"unreadable: GPU is lost"});
}

}  // namespace
}  // namespace gpulse::master
