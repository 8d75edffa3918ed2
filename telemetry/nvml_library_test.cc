#include "telemetry/nvml_library.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>

#include "testkit/sim_fixture.h"

namespace gpulse::telemetry {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(NvmlLibraryTest, DefaultPathIsTheVersionedNameUnlessOverridden) {
  unsetenv(NvmlLibrary::kPathEnvVar);
  EXPECT_EQ(NvmlLibrary::DefaultPath(), "libnvidia-ml.so.1");
  setenv(NvmlLibrary::kPathEnvVar, "/opt/nvml/libnvidia-ml.so.1", 1);
  EXPECT_EQ(NvmlLibrary::DefaultPath(), "/opt/nvml/libnvidia-ml.so.1");
  setenv(NvmlLibrary::kPathEnvVar, "", 1);
  EXPECT_EQ(NvmlLibrary::DefaultPath(), "libnvidia-ml.so.1");
  unsetenv(NvmlLibrary::kPathEnvVar);
}

TEST(NvmlLibraryTest, MissingLibraryIsUnavailableWithAdvice) {
  auto library = NvmlLibrary::Open("/nonexistent/libnvidia-ml.so.1");
  ASSERT_FALSE(library.ok());
  EXPECT_EQ(library.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(library.status().message(), HasSubstr("/nonexistent/libnvidia-ml.so.1"));
  EXPECT_THAT(library.status().message(), HasSubstr("install the NVIDIA driver"));
  EXPECT_THAT(library.status().message(), HasSubstr("GPULSE_NVML_LIBRARY"));
}

TEST(NvmlLibraryTest, EnvironmentOverridesThePath) {
  setenv(NvmlLibrary::kPathEnvVar, testkit::SimLibraryPath().c_str(), 1);
  auto library = NvmlLibrary::Open();
  unsetenv(NvmlLibrary::kPathEnvVar);
  ASSERT_TRUE(library.ok()) << library.status().ToString();
  EXPECT_EQ((*library)->path(), testkit::SimLibraryPath());
}

TEST(NvmlLibraryTest, LibraryWithoutNvmlSymbolsIsRejected) {
  auto library = NvmlLibrary::Open("libm.so.6");
  ASSERT_FALSE(library.ok());
  EXPECT_EQ(library.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(library.status().message(), HasSubstr("nvmlInit_v2"));
}

TEST(NvmlLibraryTest, ResolvesNewestSymbolsFirst) {
  auto library = NvmlLibrary::Open(testkit::SimLibraryPath());
  ASSERT_TRUE(library.ok()) << library.status().ToString();
  const auto& symbols = (*library)->resolved_symbols();
  for (const char* name : {"nvmlInit_v2", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
                           "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetTemperatureV",
                           "nvmlDeviceGetComputeRunningProcesses_v3"}) {
    EXPECT_THAT(symbols, Contains(name));
  }
  EXPECT_THAT(symbols, Not(Contains("nvmlInit")));
  EXPECT_THAT(symbols, Not(Contains("nvmlDeviceGetComputeRunningProcesses_v2")));
  EXPECT_TRUE((*library)->missing_optional().empty());
  const NvmlFunctions& f = (*library)->functions();
  EXPECT_NE(f.device_get_encoder_utilization, nullptr);
  EXPECT_NE(f.device_get_fan_speed, nullptr);
}

TEST(NvmlLibraryTest, LegacyLibraryFallsBackAndLeavesMissingFunctionsNull) {
  auto library = NvmlLibrary::Open(testkit::LegacySimLibraryPath());
  ASSERT_TRUE(library.ok()) << library.status().ToString();
  const auto& symbols = (*library)->resolved_symbols();
  for (const char* name : {"nvmlInit", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
                           "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetTemperature",
                           "nvmlDeviceGetComputeRunningProcesses_v2"}) {
    EXPECT_THAT(symbols, Contains(name));
  }
  const NvmlFunctions& f = (*library)->functions();
  EXPECT_NE(f.init, nullptr);
  EXPECT_EQ(f.device_get_memory_info_v2, nullptr);
  EXPECT_EQ(f.device_get_temperature_v, nullptr);
  EXPECT_EQ(f.device_get_encoder_utilization, nullptr);
  EXPECT_EQ(f.device_get_decoder_utilization, nullptr);
  EXPECT_EQ(f.device_get_fan_speed, nullptr);
  EXPECT_THAT((*library)->missing_optional(), Contains("nvmlDeviceGetFanSpeed"));
}

}  // namespace
}  // namespace gpulse::telemetry
