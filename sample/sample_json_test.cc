#include "sample/sample_json.h"

#include <gtest/gtest.h>

#include <set>

namespace gpulse {
namespace {

std::set<std::string> Keys(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it) keys.insert(it.key());
  return keys;
}

TEST(SampleJsonTest, HasExactlyTheDocumentedKeys) {
  Sample s;
  s.gpus.emplace_back();
  s.gpus[0].processes = std::vector<GpuProcess>{{42, std::nullopt, std::nullopt}};
  const nlohmann::json j = SampleToJson(s);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"timestamp", "cpu_percent", "memory_percent",
                                            "cpu_cores", "memory_total_bytes", "gpu_percent",
                                            "nvml", "gpus"}));
  EXPECT_EQ(Keys(j["nvml"]), (std::set<std::string>{"available", "driver_version", "error"}));
  EXPECT_EQ(Keys(j["gpus"][0]),
            (std::set<std::string>{
                "index", "uuid", "name", "pci_bus_id", "utilization_gpu", "utilization_memory",
                "memory_total_bytes", "memory_used_bytes", "memory_free_bytes", "temperature_c",
                "power_w", "power_limit_w", "clock_sm_mhz", "clock_mem_mhz", "encoder_percent",
                "decoder_percent", "fan_percent", "pcie_tx_kbps", "pcie_rx_kbps", "processes",
                "energy_mj", "ecc_dbe_volatile", "row_remap_pending", "row_remap_failure",
                "clock_event_reasons", "gr_engine_active", "sm_active", "sm_occupancy",
                "pipe_tensor_active", "events", "error"}));
  EXPECT_EQ(Keys(j["gpus"][0]["processes"][0]),
            (std::set<std::string>{"pid", "used_memory_bytes", "outside_gpulse"}));
}

TEST(SampleJsonTest, UnknownValuesAreNullNeverZero) {
  Sample s;
  s.gpus.emplace_back();
  const nlohmann::json j = SampleToJson(s);
  EXPECT_TRUE(j["cpu_percent"].is_null());
  EXPECT_TRUE(j["memory_percent"].is_null());
  EXPECT_TRUE(j["gpu_percent"].is_null());
  EXPECT_FALSE(j["nvml"]["available"].get<bool>());
  EXPECT_TRUE(j["nvml"]["driver_version"].is_null());
  for (const char* key : {"pci_bus_id", "utilization_gpu", "memory_used_bytes", "temperature_c",
                          "power_w", "clock_sm_mhz", "fan_percent", "pcie_rx_kbps", "processes",
                          "energy_mj", "ecc_dbe_volatile", "row_remap_pending", "row_remap_failure",
                          "clock_event_reasons", "gr_engine_active", "sm_active", "sm_occupancy",
                          "pipe_tensor_active", "events", "error"}) {
    EXPECT_TRUE(j["gpus"][0][key].is_null()) << key;
  }
}

TEST(SampleJsonTest, CarriesHealthFigures) {
  GpuSample g;
  g.energy_mj = 123456789;
  g.ecc_dbe_volatile = 0;  // a real zero
  g.row_remap_pending = true;
  g.row_remap_failure = false;
  g.clock_event_reasons = 0x48;
  g.events = GpuEvents{79, {{79, 2}, {13, 1}}, 3};
  const nlohmann::json j = GpuSampleToJson(g);
  EXPECT_EQ(j["energy_mj"], 123456789);
  EXPECT_EQ(j["ecc_dbe_volatile"], 0);
  EXPECT_EQ(j["row_remap_pending"], true);
  EXPECT_EQ(j["row_remap_failure"], false);
  EXPECT_EQ(j["clock_event_reasons"], 0x48);
  EXPECT_EQ(j["events"], nlohmann::json::parse(R"({"last_xid": 79, "xid_counts": {"13": 1, "79": 2},
                                                    "dbe_events": 3})"));
  g.events = GpuEvents{};
  EXPECT_EQ(GpuSampleToJson(g)["events"],
            nlohmann::json::parse(R"({"last_xid": null, "xid_counts": {}, "dbe_events": 0})"));
}

TEST(SampleJsonTest, CarriesGpmRatios) {
  GpuSample g;
  g.gr_engine_active = 0.62;
  g.sm_active = 0.48;
  g.sm_occupancy = 0;  // a real zero
  g.pipe_tensor_active = 0.33;
  const nlohmann::json j = GpuSampleToJson(g);
  EXPECT_EQ(j["gr_engine_active"], 0.62);
  EXPECT_EQ(j["sm_active"], 0.48);
  EXPECT_EQ(j["sm_occupancy"], 0.0);
  EXPECT_EQ(j["pipe_tensor_active"], 0.33);
}

TEST(SampleJsonTest, CarriesValues) {
  Sample s;
  s.taken_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  s.host.cpu_percent = 12.5;
  s.host.memory_percent = 50;
  s.host.cpu_cores = 8;
  s.host.memory_total_bytes = 1 << 30;
  s.nvml = {true, "550.54.15", std::nullopt};
  GpuSample g;
  g.identity.index = 1;
  g.identity.uuid = "GPU-1";
  g.identity.name = "NVIDIA H100";
  g.identity.pci_bus_id = "00000000:3B:00.0";
  g.utilization_gpu = 80;
  g.memory_used_bytes = 1024;
  g.power_w = 123.5;
  g.clock_sm_mhz = 1980;
  g.processes = std::vector<GpuProcess>{{7, 4096, true}, {8, std::nullopt, false}, {9, 1, std::nullopt}};
  s.gpus = {g, GpuSample{}};
  s.gpus[1].error = "GPU is lost";
  s.gpu_percent = MeanGpuUtilization(s.gpus);
  const nlohmann::json j = SampleToJson(s);
  EXPECT_EQ(j["timestamp"], "2023-11-14T22:13:20.123Z");
  EXPECT_DOUBLE_EQ(j["cpu_percent"].get<double>(), 12.5);
  EXPECT_EQ(j["cpu_cores"], 8);
  EXPECT_EQ(j["nvml"]["driver_version"], "550.54.15");
  EXPECT_TRUE(j["nvml"]["error"].is_null());
  EXPECT_DOUBLE_EQ(j["gpu_percent"].get<double>(), 80.0);
  const nlohmann::json& gpu = j["gpus"][0];
  EXPECT_EQ(gpu["index"], 1);
  EXPECT_EQ(gpu["uuid"], "GPU-1");
  EXPECT_EQ(gpu["pci_bus_id"], "00000000:3B:00.0");
  EXPECT_EQ(gpu["memory_used_bytes"], 1024);
  EXPECT_DOUBLE_EQ(gpu["power_w"].get<double>(), 123.5);
  EXPECT_EQ(gpu["clock_sm_mhz"], 1980);
  EXPECT_EQ(gpu["processes"][0]["pid"], 7);
  EXPECT_EQ(gpu["processes"][0]["used_memory_bytes"], 4096);
  EXPECT_EQ(gpu["processes"][0]["outside_gpulse"], true);
  EXPECT_EQ(gpu["processes"][1]["outside_gpulse"], false);
  EXPECT_TRUE(gpu["processes"][2]["outside_gpulse"].is_null());  // unknown
  EXPECT_EQ(j["gpus"][1]["error"], "GPU is lost");
}

TEST(SampleJsonTest, EmptyProcessListIsAnEmptyArray) {
  GpuSample g;
  g.processes.emplace();
  const nlohmann::json j = GpuSampleToJson(g);
  ASSERT_TRUE(j["processes"].is_array());
  EXPECT_TRUE(j["processes"].empty());
}

}  // namespace
}  // namespace gpulse
