#include "tools/nvml-sim/sim_calls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpulse::nvml_sim {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SimCallsTest, TableIsInEnumOrder) {
  auto table = SimCallTable();
  ASSERT_EQ(table.size(), kSimCallCount);
  for (size_t i = 0; i < table.size(); ++i) EXPECT_EQ(static_cast<size_t>(table[i].call), i) << table[i].symbol;
}

TEST(SimCallsTest, FamilyNameCoversEveryVersion) {
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetMemoryInfo", true),
              ElementsAre(SimCall::kDeviceGetMemoryInfo, SimCall::kDeviceGetMemoryInfoV2));
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetTemperature", true),
              ElementsAre(SimCall::kDeviceGetTemperature, SimCall::kDeviceGetTemperatureV));
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetComputeRunningProcesses", true),
              ElementsAre(SimCall::kDeviceGetComputeRunningProcessesV2, SimCall::kDeviceGetComputeRunningProcessesV3));
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetPciInfo", true), ElementsAre(SimCall::kDeviceGetPciInfoV3));
}

TEST(SimCallsTest, VersionedNameCoversOnlyThatSymbol) {
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetMemoryInfo_v2", true), ElementsAre(SimCall::kDeviceGetMemoryInfoV2));
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetTemperatureV", true), ElementsAre(SimCall::kDeviceGetTemperatureV));
}

TEST(SimCallsTest, SystemAndDeviceCallsAreSeparate) {
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetCount", true), IsEmpty());
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetCount", false),
              ElementsAre(SimCall::kDeviceGetCount, SimCall::kDeviceGetCountV2));
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetFanSpeed", false), IsEmpty());
  EXPECT_THAT(SimCallsNamed("nvmlSystemGetDriverVersion", false), ElementsAre(SimCall::kSystemGetDriverVersion));
}

TEST(SimCallsTest, UnknownNamesMatchNothing) {
  EXPECT_THAT(SimCallsNamed("nvmlDeviceGetFanSpeed_v2", true), IsEmpty());
  EXPECT_THAT(SimCallsNamed("GetFanSpeed", true), IsEmpty());
  EXPECT_THAT(SimCallsNamed("", true), IsEmpty());
}

}  // namespace
}  // namespace gpulse::nvml_sim
