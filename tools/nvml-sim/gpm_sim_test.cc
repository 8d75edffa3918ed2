// The simulator's GPM calls as gpulse reaches them: through dlsym on the
// dlopen()ed libraries, with scenarios that make a GPU support GPM or not.
#include <dlfcn.h>

#include <gtest/gtest.h>

#include <string>

#include "telemetry/nvml_abi.h"
#include "testkit/sim_fixture.h"

namespace gpulse::nvml_sim {
namespace {

template <typename Fn>
Fn Symbol(void* lib, const char* name) {
  return reinterpret_cast<Fn>(dlsym(lib, name));
}

class GpmSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // RTLD_NODELETE: the simulator's state lives as long as the process (as
    // with NVML itself); unmapping it would hide it from LeakSanitizer.
    lib_ = dlopen(testkit::SimLibraryPath().c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    ASSERT_NE(lib_, nullptr) << dlerror();
    init_ = Symbol<nvmlInit_fn>(lib_, "nvmlInit_v2");
    shutdown_ = Symbol<nvmlShutdown_fn>(lib_, "nvmlShutdown");
    handle_ = Symbol<nvmlDeviceGetHandleByIndex_fn>(lib_, "nvmlDeviceGetHandleByIndex_v2");
    support_ = Symbol<nvmlGpmQueryDeviceSupport_fn>(lib_, "nvmlGpmQueryDeviceSupport");
    alloc_ = Symbol<nvmlGpmSampleAlloc_fn>(lib_, "nvmlGpmSampleAlloc");
    free_ = Symbol<nvmlGpmSampleFree_fn>(lib_, "nvmlGpmSampleFree");
    sample_ = Symbol<nvmlGpmSampleGet_fn>(lib_, "nvmlGpmSampleGet");
    metrics_ = Symbol<nvmlGpmMetricsGet_fn>(lib_, "nvmlGpmMetricsGet");
    for (const void* fn : {(const void*)support_, (const void*)alloc_, (const void*)free_, (const void*)sample_,
                           (const void*)metrics_}) {
      ASSERT_NE(fn, nullptr);
    }
  }

  void TearDown() override {
    if (shutdown_ != nullptr) {
      while (shutdown_() == NVML_SUCCESS) {
      }
    }
    if (lib_ != nullptr) dlclose(lib_);
  }

  nvmlDevice_t Device(unsigned int index) {
    nvmlDevice_t device = nullptr;
    EXPECT_EQ(handle_(index, &device), NVML_SUCCESS);
    return device;
  }

  // A request for the four metrics gpulse uses, plus one the simulator does not know.
  static nvmlGpmMetricsGet_t Request(nvmlGpmSample_t first, nvmlGpmSample_t second) {
    nvmlGpmMetricsGet_t request{};
    request.version = NVML_GPM_METRICS_GET_VERSION;
    request.numMetrics = 5;
    request.sample1 = first;
    request.sample2 = second;
    const unsigned int ids[] = {NVML_GPM_METRIC_GRAPHICS_UTIL, NVML_GPM_METRIC_SM_UTIL, NVML_GPM_METRIC_SM_OCCUPANCY,
                                NVML_GPM_METRIC_ANY_TENSOR_UTIL, 10 /* DRAM bandwidth */};
    for (unsigned int i = 0; i < 5; ++i) request.metrics[i].metricId = ids[i];
    return request;
  }

  void* lib_ = nullptr;
  nvmlInit_fn init_ = nullptr;
  nvmlShutdown_fn shutdown_ = nullptr;
  nvmlDeviceGetHandleByIndex_fn handle_ = nullptr;
  nvmlGpmQueryDeviceSupport_fn support_ = nullptr;
  nvmlGpmSampleAlloc_fn alloc_ = nullptr;
  nvmlGpmSampleFree_fn free_ = nullptr;
  nvmlGpmSampleGet_fn sample_ = nullptr;
  nvmlGpmMetricsGet_fn metrics_ = nullptr;
};

TEST_F(GpmSimTest, HopperReportsTheScenarioFiguresAndOlderGpusSayNo) {
  testkit::ScenarioFile scenario(nlohmann::json::parse(R"({"gpus": [
    {"model": "NVIDIA H200",
     "gpm": {"graphics_util": 62, "sm_util": 48, "sm_occupancy": 27, "tensor_util": 33}},
    {"model": "NVIDIA A100-SXM4-80GB"}]})"));
  ASSERT_EQ(init_(), NVML_SUCCESS);
  nvmlGpmSupport_t support{NVML_GPM_SUPPORT_VERSION, 7};
  ASSERT_EQ(support_(Device(0), &support), NVML_SUCCESS);
  EXPECT_EQ(support.isSupportedDevice, 1u);
  ASSERT_EQ(support_(Device(1), &support), NVML_SUCCESS);
  EXPECT_EQ(support.isSupportedDevice, 0u);

  nvmlGpmSample_t first = nullptr, second = nullptr;
  ASSERT_EQ(alloc_(&first), NVML_SUCCESS);
  ASSERT_EQ(alloc_(&second), NVML_SUCCESS);
  EXPECT_EQ(sample_(Device(1), first), NVML_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(sample_(Device(0), first), NVML_SUCCESS);
  ASSERT_EQ(sample_(Device(0), second), NVML_SUCCESS);
  nvmlGpmMetricsGet_t request = Request(first, second);
  ASSERT_EQ(metrics_(&request), NVML_SUCCESS);
  const double expected[] = {62, 48, 27, 33};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(request.metrics[i].nvmlReturn, NVML_SUCCESS) << i;
    EXPECT_DOUBLE_EQ(request.metrics[i].value, expected[i]) << i;
  }
  EXPECT_EQ(request.metrics[4].nvmlReturn, NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(free_(first), NVML_SUCCESS);
  EXPECT_EQ(free_(second), NVML_SUCCESS);
}

TEST_F(GpmSimTest, VersionsSamplesAndInjectedErrorsAreChecked) {
  testkit::ScenarioFile scenario(nlohmann::json::parse(R"({"gpus": [
    {"model": "NVIDIA H100 80GB HBM3"},
    {"errors": {"nvmlGpmMetricsGet": "UNKNOWN"}}]})"));
  ASSERT_EQ(init_(), NVML_SUCCESS);
  nvmlGpmSupport_t support{NVML_GPM_SUPPORT_VERSION + 1, 0};
  EXPECT_EQ(support_(Device(0), &support), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);

  nvmlGpmSample_t a = nullptr, b = nullptr, c = nullptr;
  ASSERT_EQ(alloc_(&a), NVML_SUCCESS);
  ASSERT_EQ(alloc_(&b), NVML_SUCCESS);
  ASSERT_EQ(alloc_(&c), NVML_SUCCESS);
  ASSERT_EQ(sample_(Device(0), a), NVML_SUCCESS);
  nvmlGpmMetricsGet_t request = Request(a, b);
  EXPECT_EQ(metrics_(&request), NVML_ERROR_INVALID_ARGUMENT);  // b was never filled
  ASSERT_EQ(sample_(Device(1), b), NVML_SUCCESS);
  request = Request(a, b);
  EXPECT_EQ(metrics_(&request), NVML_ERROR_INVALID_ARGUMENT);  // samples of two GPUs
  ASSERT_EQ(sample_(Device(0), b), NVML_SUCCESS);
  request = Request(a, b);
  request.version = NVML_GPM_METRICS_GET_VERSION + 1;
  EXPECT_EQ(metrics_(&request), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  request = Request(a, b);
  request.numMetrics = NVML_GPM_METRIC_MAX + 1;
  EXPECT_EQ(metrics_(&request), NVML_ERROR_INVALID_ARGUMENT);
  // GPU 1's injected error applies to metrics over its samples only.
  ASSERT_EQ(sample_(Device(1), c), NVML_SUCCESS);
  ASSERT_EQ(sample_(Device(1), a), NVML_SUCCESS);
  request = Request(c, a);
  EXPECT_EQ(metrics_(&request), NVML_ERROR_UNKNOWN);
  for (nvmlGpmSample_t s : {a, b, c}) EXPECT_EQ(free_(s), NVML_SUCCESS);
}

TEST_F(GpmSimTest, ScenarioCanTurnGpmOff) {
  testkit::ScenarioFile scenario(
      nlohmann::json::parse(R"({"gpus": [{"model": "NVIDIA H100 80GB HBM3", "gpm": false}]})"));
  ASSERT_EQ(init_(), NVML_SUCCESS);
  nvmlGpmSupport_t support{NVML_GPM_SUPPORT_VERSION, 1};
  ASSERT_EQ(support_(Device(0), &support), NVML_SUCCESS);
  EXPECT_EQ(support.isSupportedDevice, 0u);
}

TEST_F(GpmSimTest, LegacyLibraryHasNoGpm) {
  void* legacy = dlopen(testkit::LegacySimLibraryPath().c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  ASSERT_NE(legacy, nullptr) << dlerror();
  for (const char* name : {"nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleFree",
                           "nvmlGpmSampleGet", "nvmlGpmMetricsGet"}) {
    EXPECT_EQ(dlsym(legacy, name), nullptr) << name;
  }
  dlclose(legacy);
}

}  // namespace
}  // namespace gpulse::nvml_sim
