#include "tools/nvml-sim/scenario_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <set>

namespace gpulse::nvml_sim {
namespace {

using ::testing::HasSubstr;

ScenarioParseOptions Options(std::string fallback_seed = "host-a") {
  ScenarioParseOptions o;
  o.fallback_seed = std::move(fallback_seed);
  return o;
}

Scenario MustParse(std::string_view text, const ScenarioParseOptions& options = Options()) {
  Result<Scenario> s = ParseScenario(text, options);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : Scenario{};
}

std::string ParseError(std::string_view text) {
  Result<Scenario> s = ParseScenario(text, Options());
  EXPECT_FALSE(s.ok()) << text;
  return s.ok() ? "" : s.status().message();
}

nvmlReturn_t ErrorOf(const SimGpu& gpu, SimCall call) { return gpu.errors[static_cast<size_t>(call)]; }

TEST(ScenarioParserTest, DefaultScenarioIsTwoDistinctH100s) {
  Scenario s = DefaultScenario(Options());
  EXPECT_EQ(s.driver_version, "580.65.06");
  EXPECT_EQ(s.init_error, NVML_SUCCESS);
  ASSERT_EQ(s.gpus.size(), 2u);
  for (const SimGpu& g : s.gpus) {
    EXPECT_EQ(g.name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(g.memory_total_mib, 81559u);
    EXPECT_DOUBLE_EQ(g.power_limit_w.At(0), 700);
    EXPECT_FALSE(g.lost);
  }
  EXPECT_NE(s.gpus[0].uuid, s.gpus[1].uuid);
  EXPECT_NE(s.gpus[0].pci_bus_id, s.gpus[1].pci_bus_id);
  EXPECT_DOUBLE_EQ(s.gpus[0].utilization_gpu.At(0), 40);
  EXPECT_DOUBLE_EQ(s.gpus[1].utilization_gpu.At(0), 85);
  EXPECT_TRUE(s.gpus[0].processes.empty());
  ASSERT_EQ(s.gpus[1].processes.size(), 1u);
  EXPECT_EQ(s.gpus[1].processes[0].pid, 4242u);
}

// "GPU-" then hex groups of 8-4-4-4-12 digits.
bool IsWellFormedUuid(const std::string& uuid) {
  const std::string shape = "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  if (uuid.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    bool hex = (uuid[i] >= '0' && uuid[i] <= '9') || (uuid[i] >= 'a' && uuid[i] <= 'f');
    if (shape[i] == 'x' ? !hex : uuid[i] != shape[i]) return false;
  }
  return true;
}

TEST(ScenarioParserTest, DerivedUuidIsWellFormedAndDeterministic) {
  std::set<std::string> seen;
  for (size_t i = 0; i < 64; ++i) {
    std::string uuid = DerivedGpuUuid("worker-1", i);
    EXPECT_TRUE(IsWellFormedUuid(uuid)) << uuid;
    EXPECT_EQ(uuid, DerivedGpuUuid("worker-1", i));
    seen.insert(uuid);
    seen.insert(DerivedGpuUuid("worker-2", i));
  }
  EXPECT_EQ(seen.size(), 128u);
}

TEST(ScenarioParserTest, SeedPrecedenceIsOverrideThenFileThenFallback) {
  constexpr char kNoSeed[] = R"({"gpu_count": 1})";
  constexpr char kSeeded[] = R"({"gpu_count": 1, "seed": "file-seed"})";
  EXPECT_EQ(MustParse(kNoSeed, Options("host-a")).gpus[0].uuid, DerivedGpuUuid("host-a", 0));
  EXPECT_EQ(MustParse(kSeeded, Options("host-a")).gpus[0].uuid, DerivedGpuUuid("file-seed", 0));
  ScenarioParseOptions overridden = Options("host-a");
  overridden.seed_override = "env-seed";
  EXPECT_EQ(MustParse(kSeeded, overridden).gpus[0].uuid, DerivedGpuUuid("env-seed", 0));
  EXPECT_EQ(MustParse(R"({"gpu_count": 1, "seed": 7})").gpus[0].uuid, DerivedGpuUuid("7", 0));
}

TEST(ScenarioParserTest, ExplicitUuidAndNameAreKept) {
  Scenario s = MustParse(R"({"gpus": [{"uuid": "GPU-fixed", "name": "Custom GPU"}]})");
  EXPECT_EQ(s.gpus[0].uuid, "GPU-fixed");
  EXPECT_EQ(s.gpus[0].name, "Custom GPU");
}

TEST(ScenarioParserTest, GpuCountShorthandMakesIdenticalGpus) {
  Scenario s = MustParse(R"({"gpu_count": 3, "model": "NVIDIA A100-SXM4-40GB"})");
  ASSERT_EQ(s.gpus.size(), 3u);
  for (const SimGpu& g : s.gpus) {
    EXPECT_EQ(g.name, "NVIDIA A100-SXM4-40GB");
    EXPECT_EQ(g.memory_total_mib, 40960u);
    EXPECT_DOUBLE_EQ(g.power_limit_w.At(0), 400);
    EXPECT_EQ(g.pci_device_id, 0x20B010DEu);
  }
  EXPECT_NE(s.gpus[0].uuid, s.gpus[2].uuid);
  EXPECT_EQ(s.gpus[0].pci_bus_id, "00000000:08:00.0");
  EXPECT_EQ(s.gpus[1].pci_bus_id, "00000000:18:00.0");
}

TEST(ScenarioParserTest, ZeroGpusIsAllowed) { EXPECT_TRUE(MustParse(R"({"gpu_count": 0})").gpus.empty()); }

TEST(ScenarioParserTest, UnknownModelKeepsItsNameWithGenericDefaults) {
  Scenario s = MustParse(R"({"gpus": [{"model": "NVIDIA Future 1"}]})");
  EXPECT_EQ(s.gpus[0].name, "NVIDIA Future 1");
  EXPECT_EQ(s.gpus[0].memory_total_mib, 81559u);
}

TEST(ScenarioParserTest, GpuDefaultsApplyUnderEachEntry) {
  Scenario s = MustParse(R"({
    "gpu_defaults": {"model": "NVIDIA A100-SXM4-80GB", "temperature_c": 50, "fan_percent": 40},
    "gpus": [{}, {"fan_percent": 70}]
  })");
  ASSERT_EQ(s.gpus.size(), 2u);
  EXPECT_EQ(s.gpus[1].name, "NVIDIA A100-SXM4-80GB");
  EXPECT_DOUBLE_EQ(s.gpus[0].temperature_c.At(0), 50);
  EXPECT_DOUBLE_EQ(s.gpus[0].fan_percent.At(0), 40);
  EXPECT_DOUBLE_EQ(s.gpus[1].fan_percent.At(0), 70);
}

TEST(ScenarioParserTest, ReadsEveryGpuField) {
  Scenario s = MustParse(R"({
    // Comments are allowed.
    "driver_version": "550.54.15",
    "gpus": [{
      "name": "G", "uuid": "GPU-1", "pci_bus_id": "00000002:3B:01.0",
      "pci_device_id": "0x20B210DE", "pci_subsystem_id": 5,
      "memory_total_mib": 1000, "memory_reserved_mib": 100, "memory_used_mib": 300,
      "utilization_gpu": {"min": 10, "max": 90, "period_s": 60}, "utilization_memory": 11,
      "temperature_c": 66, "power_w": 123.4, "power_limit_w": 300, "clock_sm_mhz": 1500,
      "clock_graphics_mhz": 1400, "clock_mem_mhz": 1200, "clock_video_mhz": 900,
      "encoder_percent": 3, "decoder_percent": 4, "codec_sampling_period_us": 1000,
      "fan_percent": 55, "pcie_tx_kbps": 111, "pcie_rx_kbps": 222, "pcie_delay_ms": 20,
      "processes": [{"pid": 10, "used_memory_mib": 50}, {"pid": 11, "used_memory_mib": null}, {"pid": 12}],
      "lost": true, "description": "free text"
    }]
  })");
  ASSERT_EQ(s.gpus.size(), 1u);
  const SimGpu& g = s.gpus[0];
  EXPECT_EQ(s.driver_version, "550.54.15");
  EXPECT_EQ(g.pci_bus_id, "00000002:3B:01.0");
  EXPECT_EQ(g.pci_domain, 2u);
  EXPECT_EQ(g.pci_bus, 0x3Bu);
  EXPECT_EQ(g.pci_device, 1u);
  EXPECT_EQ(g.pci_device_id, 0x20B210DEu);
  EXPECT_EQ(g.pci_subsystem_id, 5u);
  EXPECT_EQ(g.memory_total_mib, 1000u);
  EXPECT_EQ(g.memory_reserved_mib, 100u);
  EXPECT_DOUBLE_EQ(g.memory_used_mib.At(0), 300);
  EXPECT_FALSE(g.utilization_gpu.is_constant());
  EXPECT_DOUBLE_EQ(g.power_w.At(0), 123.4);
  EXPECT_DOUBLE_EQ(g.clock_graphics_mhz.At(0), 1400);
  EXPECT_DOUBLE_EQ(g.clock_video_mhz.At(0), 900);
  EXPECT_EQ(g.codec_sampling_period_us, 1000u);
  EXPECT_EQ(g.pcie_delay_ms, 20u);
  ASSERT_EQ(g.processes.size(), 3u);
  EXPECT_EQ(g.processes[0].used_memory_mib, 50u);
  EXPECT_EQ(g.processes[1].used_memory_mib, std::nullopt);
  EXPECT_EQ(g.processes[2].used_memory_mib, std::nullopt);
  EXPECT_TRUE(g.lost);
}

TEST(ScenarioParserTest, ReadsHealthFieldsWithDefaults) {
  Scenario s = MustParse(R"({"gpus": [
    {"energy_start_mj": 42, "ecc_corrected_volatile": 5, "ecc_uncorrected_volatile": 2,
     "remapped_rows": {"correctable": 3, "uncorrectable": 1, "pending": true, "failure": true},
     "clock_event_reasons": ["hw_thermal", "hw_power_brake"], "xids": [79, 48]},
    {"clock_event_reasons": "0x20"}, {}]})");
  const SimGpu& g = s.gpus[0];
  EXPECT_EQ(g.energy_start_mj, 42u);
  EXPECT_EQ(g.ecc_corrected_volatile, 5u);
  EXPECT_EQ(g.ecc_uncorrected_volatile, 2u);
  EXPECT_EQ(g.remapped_rows_correctable, 3u);
  EXPECT_EQ(g.remapped_rows_uncorrectable, 1u);
  EXPECT_TRUE(g.remap_pending);
  EXPECT_TRUE(g.remap_failure);
  EXPECT_EQ(g.clock_event_reasons, 0xC0u);
  EXPECT_EQ(g.xids, (std::vector<unsigned long long>{79, 48}));
  EXPECT_EQ(s.gpus[1].clock_event_reasons, 0x20u);
  const SimGpu& d = s.gpus[2];
  EXPECT_EQ(d.energy_start_mj, 1000000u);
  EXPECT_EQ(d.ecc_uncorrected_volatile, 0u);
  EXPECT_FALSE(d.remap_pending);
  EXPECT_EQ(d.clock_event_reasons, 0u);
  EXPECT_TRUE(d.xids.empty());
}

TEST(ScenarioParserTest, HealthFieldErrorsNameTheField) {
  EXPECT_THAT(ParseError(R"({"gpus": [{"clock_event_reasons": ["hot"]}]})"),
              HasSubstr("gpus[0].clock_event_reasons"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"xids": [0]}]})"), HasSubstr("gpus[0].xids"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"xids": 79}]})"), HasSubstr("gpus[0].xids"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"remapped_rows": {"pendng": true}}]})"),
              HasSubstr("gpus[0].remapped_rows"));
}

TEST(ScenarioParserTest, GpmFollowsTheModelUnlessTheScenarioSays) {
  Scenario s = MustParse(R"({"gpus": [
    {"model": "NVIDIA H200", "gpm": {"graphics_util": 62, "sm_util": {"min": 10, "max": 90, "period_s": 60},
                                     "sm_occupancy": 27, "tensor_util": 33}},
    {"model": "NVIDIA A100-SXM4-80GB"},
    {"model": "NVIDIA H100 80GB HBM3", "gpm": false},
    {"model": "NVIDIA L4", "gpm": {"supported": true}},
    {"model": "Some future GPU"}]})");
  const SimGpu& g = s.gpus[0];
  EXPECT_TRUE(g.gpm_supported);
  EXPECT_DOUBLE_EQ(g.gpm_graphics_util.At(0), 62);
  EXPECT_DOUBLE_EQ(g.gpm_sm_util.At(0), 50);  // a sine starts at its midpoint
  EXPECT_DOUBLE_EQ(g.gpm_sm_occupancy.At(0), 27);
  EXPECT_DOUBLE_EQ(g.gpm_tensor_util.At(0), 33);
  EXPECT_FALSE(s.gpus[1].gpm_supported);  // Ampere: no GPM
  EXPECT_FALSE(s.gpus[2].gpm_supported);
  EXPECT_TRUE(s.gpus[3].gpm_supported);
  EXPECT_DOUBLE_EQ(s.gpus[3].gpm_graphics_util.At(0), 35);  // the defaults
  EXPECT_DOUBLE_EQ(s.gpus[3].gpm_tensor_util.At(0), 15);
  EXPECT_TRUE(s.gpus[4].gpm_supported);  // unknown models are H100-like
  EXPECT_THAT(ParseError(R"({"gpus": [{"gpm": {"sm_util": 101}}]})"), HasSubstr("gpus[0].gpm.sm_util"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"gpm": {"sm_activ": 1}}]})"), HasSubstr("gpus[0].gpm"));
}

TEST(ScenarioParserTest, GraphicsClockDefaultsToSmClock) {
  Scenario s = MustParse(R"({"gpus": [{"clock_sm_mhz": 1234}]})");
  EXPECT_DOUBLE_EQ(s.gpus[0].clock_graphics_mhz.At(0), 1234);
}

TEST(ScenarioParserTest, InitErrorAcceptsBothSpellings) {
  EXPECT_EQ(MustParse(R"({"gpu_count": 1, "init_error": "DRIVER_NOT_LOADED"})").init_error,
            NVML_ERROR_DRIVER_NOT_LOADED);
  EXPECT_EQ(MustParse(R"({"gpu_count": 1, "init_error": "NVML_ERROR_LIB_RM_VERSION_MISMATCH"})").init_error,
            NVML_ERROR_LIB_RM_VERSION_MISMATCH);
  EXPECT_EQ(MustParse(R"({"gpu_count": 1, "init_error": null})").init_error, NVML_SUCCESS);
}

TEST(ScenarioParserTest, VersionedErrorKeyOverridesItsFamily) {
  Scenario s = MustParse(R"({"gpus": [{"errors": {
    "nvmlDeviceGetMemoryInfo_v2": "NO_PERMISSION",
    "nvmlDeviceGetMemoryInfo": "NOT_SUPPORTED",
    "nvmlDeviceGetFanSpeed": "NVML_ERROR_NOT_SUPPORTED"}}]})");
  const SimGpu& g = s.gpus[0];
  EXPECT_EQ(ErrorOf(g, SimCall::kDeviceGetMemoryInfo), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(ErrorOf(g, SimCall::kDeviceGetMemoryInfoV2), NVML_ERROR_NO_PERMISSION);
  EXPECT_EQ(ErrorOf(g, SimCall::kDeviceGetFanSpeed), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(ErrorOf(g, SimCall::kDeviceGetName), NVML_SUCCESS);
}

TEST(ScenarioParserTest, SystemErrorsGoAtTopLevel) {
  Scenario s = MustParse(R"({"gpu_count": 1, "errors": {"nvmlSystemGetDriverVersion": "NOT_SUPPORTED"}})");
  EXPECT_EQ(s.errors[static_cast<size_t>(SimCall::kSystemGetDriverVersion)], NVML_ERROR_NOT_SUPPORTED);
  EXPECT_THAT(ParseError(R"({"gpu_count": 1, "errors": {"nvmlDeviceGetFanSpeed": "NOT_SUPPORTED"}})"),
              HasSubstr("errors.nvmlDeviceGetFanSpeed: no such system call"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"errors": {"nvmlDeviceGetCount": "NOT_SUPPORTED"}}]})"),
              HasSubstr("gpus[0].errors.nvmlDeviceGetCount: no such per-device call"));
}

TEST(ScenarioParserTest, ErrorsNameTheOffendingField) {
  EXPECT_THAT(ParseError(R"({"gpus": [{}, {"power_w": "lots"}]})"), HasSubstr("gpus[1].power_w"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"fan_speed": 3}]})"), HasSubstr("gpus[0].fan_speed: unknown field"));
  EXPECT_THAT(ParseError(R"({"gpu_count": 1, "drivr_version": "1"})"), HasSubstr("drivr_version: unknown field"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"errors": {"nvmlDeviceGetFanSpeed": "SLOW"}}]})"),
              HasSubstr("gpus[0].errors.nvmlDeviceGetFanSpeed"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"processes": [{"used_memory_mib": 3}]}]})"),
              HasSubstr("gpus[0].processes[0].pid"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"memory_total_mib": 100, "memory_used_mib": 200}]})"),
              HasSubstr("gpus[0].memory_used_mib"));
  EXPECT_THAT(ParseError(R"({"gpus": [{"pci_bus_id": "3B:00"}]})"), HasSubstr("gpus[0].pci_bus_id"));
  EXPECT_THAT(ParseError(R"({"gpu_count": 1, "init_error": "BAD"})"), HasSubstr("init_error"));
}

TEST(ScenarioParserTest, GpuListShapeIsChecked) {
  EXPECT_THAT(ParseError("{}"), HasSubstr("\"gpus\""));
  EXPECT_THAT(ParseError(R"({"gpus": [], "gpu_count": 2})"), HasSubstr("not both"));
  EXPECT_THAT(ParseError(R"({"gpu_count": 65})"), HasSubstr("gpu_count"));
  EXPECT_THAT(ParseError(R"({"gpus": {}})"), HasSubstr("gpus: expected a list"));
  EXPECT_THAT(ParseError(R"({"gpus": [3]})"), HasSubstr("every entry must be an object"));
  EXPECT_THAT(ParseError(R"({"gpu_defaults": 1, "gpu_count": 1})"), HasSubstr("gpu_defaults"));
}

TEST(ScenarioParserTest, SyntaxErrorsAreReported) {
  EXPECT_THAT(ParseError(R"({"gpus": [)"), HasSubstr("not valid JSON"));
  EXPECT_THAT(ParseError(""), HasSubstr("not valid JSON"));
  EXPECT_THAT(ParseError("[]"), HasSubstr("expected a JSON object"));
}

Scenario ShippedScenario(const std::string& name) {
  std::ifstream in(std::string(GPULSE_TEST_SOURCE_DIR) + "/tools/nvml-sim/scenarios/" + name);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << name;
  return MustParse(text.str());
}

TEST(ShippedScenariosTest, TwoGpusVary) {
  Scenario s = ShippedScenario("two-gpus.json");
  ASSERT_EQ(s.gpus.size(), 2u);
  EXPECT_FALSE(s.gpus[0].utilization_gpu.is_constant());
  EXPECT_EQ(s.gpus[1].name, "NVIDIA H100 80GB HBM3");
}

TEST(ShippedScenariosTest, FourGpusHaveOneWithoutFanAndEncoder) {
  Scenario s = ShippedScenario("four-gpus.json");
  ASSERT_EQ(s.gpus.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(s.gpus[i].name, "NVIDIA A100-SXM4-80GB");
    nvmlReturn_t expected = i == 2 ? NVML_ERROR_NOT_SUPPORTED : NVML_SUCCESS;
    EXPECT_EQ(ErrorOf(s.gpus[i], SimCall::kDeviceGetFanSpeed), expected) << i;
    EXPECT_EQ(ErrorOf(s.gpus[i], SimCall::kDeviceGetEncoderUtilization), expected) << i;
  }
}

TEST(ShippedScenariosTest, EightGpus) { EXPECT_EQ(ShippedScenario("eight-gpus.json").gpus.size(), 8u); }

TEST(ShippedScenariosTest, LostGpuIsTheSecondOfThree) {
  Scenario s = ShippedScenario("lost-gpu.json");
  ASSERT_EQ(s.gpus.size(), 3u);
  EXPECT_FALSE(s.gpus[0].lost);
  EXPECT_TRUE(s.gpus[1].lost);
  EXPECT_FALSE(s.gpus[2].lost);
}

}  // namespace
}  // namespace gpulse::nvml_sim
