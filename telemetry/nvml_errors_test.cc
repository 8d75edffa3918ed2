#include "telemetry/nvml_errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpulse::telemetry {
namespace {

using ::testing::HasSubstr;

TEST(NvmlErrorsTest, EveryKnownCodeHasANameAndAMessage) {
  for (int code = 1; code <= 29; ++code) {
    const auto rc = static_cast<nvmlReturn_t>(code);
    EXPECT_THAT(NvmlReturnName(rc), HasSubstr("NVML_ERROR_")) << code;
    EXPECT_THAT(NvmlReturnName(rc), ::testing::Not(HasSubstr(std::to_string(code)))) << code;
    EXPECT_FALSE(NvmlErrorMessage(rc).empty()) << code;
    EXPECT_NE(NvmlStatusCode(rc), StatusCode::kOk) << code;
  }
  EXPECT_EQ(NvmlReturnName(NVML_ERROR_UNKNOWN), "NVML_ERROR_UNKNOWN");
  EXPECT_EQ(NvmlStatusCode(NVML_SUCCESS), StatusCode::kOk);
}

TEST(NvmlErrorsTest, UnknownCodesStillTranslate) {
  const auto rc = static_cast<nvmlReturn_t>(77);
  EXPECT_EQ(NvmlReturnName(rc), "NVML_ERROR_77");
  EXPECT_EQ(NvmlStatusCode(rc), StatusCode::kInternal);
  EXPECT_FALSE(NvmlErrorMessage(rc).empty());
}

TEST(NvmlErrorsTest, ActionableMessagesSayWhatToDo) {
  EXPECT_THAT(NvmlErrorMessage(NVML_ERROR_DRIVER_NOT_LOADED),
              ::testing::AllOf(HasSubstr("driver not loaded"), HasSubstr("modprobe"),
                               HasSubstr("nvidia-smi")));
  EXPECT_THAT(NvmlErrorMessage(NVML_ERROR_LIB_RM_VERSION_MISMATCH),
              ::testing::AllOf(HasSubstr("version mismatch"), HasSubstr("reboot")));
  EXPECT_THAT(NvmlErrorMessage(NVML_ERROR_NO_PERMISSION),
              ::testing::AllOf(HasSubstr("permission"), HasSubstr("/dev/nvidia"),
                               HasSubstr("video group")));
  EXPECT_THAT(NvmlErrorMessage(NVML_ERROR_GPU_IS_LOST),
              ::testing::AllOf(HasSubstr("GPU is lost"), HasSubstr("fell off the bus"),
                               HasSubstr("reboot")));
}

TEST(NvmlErrorsTest, StatusNamesTheCallAndMapsTheCode) {
  Status s = NvmlError(NVML_ERROR_GPU_IS_LOST, "nvmlDeviceGetUtilizationRates");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("GPU is lost"));
  EXPECT_THAT(s.message(),
              HasSubstr("nvmlDeviceGetUtilizationRates returned NVML_ERROR_GPU_IS_LOST"));
  EXPECT_TRUE(NvmlError(NVML_SUCCESS, "nvmlInit").ok());
  EXPECT_EQ(NvmlError(NVML_ERROR_NO_PERMISSION, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(NvmlError(NVML_ERROR_INVALID_ARGUMENT, "x").code(), StatusCode::kInternal);
}

TEST(NvmlErrorsTest, LibraryNotFoundSaysToInstallTheDriverOrSetThePath) {
  Status s = NvmlLibraryNotFound("libnvidia-ml.so.1", "cannot open shared object file");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("NVML library not found"));
  EXPECT_THAT(s.message(), HasSubstr("libnvidia-ml.so.1"));
  EXPECT_THAT(s.message(), HasSubstr("install the NVIDIA driver"));
  EXPECT_THAT(s.message(), HasSubstr("GPULSE_NVML_LIBRARY"));
}

TEST(NvmlErrorsTest, ClassifiesDriverGpuAndFieldFailures) {
  EXPECT_TRUE(IsNvmlDriverFailure(NVML_ERROR_UNINITIALIZED));
  EXPECT_TRUE(IsNvmlDriverFailure(NVML_ERROR_DRIVER_NOT_LOADED));
  EXPECT_FALSE(IsNvmlDriverFailure(NVML_ERROR_GPU_IS_LOST));
  EXPECT_TRUE(IsNvmlGpuLost(NVML_ERROR_GPU_IS_LOST));
  EXPECT_FALSE(IsNvmlGpuLost(NVML_ERROR_NOT_SUPPORTED));
  EXPECT_TRUE(IsNvmlFieldUnavailable(NVML_ERROR_NOT_SUPPORTED));
  EXPECT_FALSE(IsNvmlFieldUnavailable(NVML_ERROR_GPU_IS_LOST));
}

}  // namespace
}  // namespace gpulse::telemetry
