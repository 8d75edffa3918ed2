#include "proto/sample_convert.h"

#include <gtest/gtest.h>

namespace gpulse::proto {
namespace {

TEST(SampleConvertTest, UnknownFiguresStayUnknownOnTheWire) {
  GpuSample g;
  g.identity.index = 3;
  g.identity.uuid = "GPU-abc";
  g.utilization_gpu = 0.0;  // a real zero
  g.error = "GPU is lost";
  v1::GpuStats wire;
  ToProto(g, &wire);
  GpuSample back = FromProto(wire);
  EXPECT_EQ(back.identity.index, 3u);
  EXPECT_EQ(back.identity.uuid, "GPU-abc");
  ASSERT_TRUE(back.utilization_gpu.has_value());
  EXPECT_EQ(*back.utilization_gpu, 0.0);
  EXPECT_FALSE(back.temperature_c.has_value());
  EXPECT_FALSE(back.power_w.has_value());
  EXPECT_FALSE(back.processes.has_value());
  EXPECT_EQ(back.error.value_or(""), "GPU is lost");
}

TEST(SampleConvertTest, HealthFiguresRoundTripAndAbsentStaysAbsent) {
  GpuSample g;
  g.energy_mj = 987654321;
  g.ecc_dbe_volatile = 0;  // a real zero
  g.row_remap_pending = false;
  g.row_remap_failure = true;
  g.clock_event_reasons = 0x80;
  g.events = GpuEvents{79, {{79, 1}, {48, 2}}, 4};
  v1::GpuStats wire;
  ToProto(g, &wire);
  GpuSample back = FromProto(wire);
  EXPECT_EQ(back.energy_mj, std::optional<uint64_t>(987654321));
  EXPECT_EQ(back.ecc_dbe_volatile, std::optional<uint64_t>(0));
  EXPECT_EQ(back.row_remap_pending, std::optional<bool>(false));
  EXPECT_EQ(back.row_remap_failure, std::optional<bool>(true));
  EXPECT_EQ(back.clock_event_reasons, std::optional<uint64_t>(0x80));
  EXPECT_EQ(back.events, g.events);

  GpuSample none;
  none.events = GpuEvents{};  // watched, nothing seen
  v1::GpuStats none_wire;
  ToProto(none, &none_wire);
  back = FromProto(none_wire);
  EXPECT_FALSE(back.energy_mj.has_value());
  EXPECT_FALSE(back.ecc_dbe_volatile.has_value());
  EXPECT_FALSE(back.row_remap_pending.has_value());
  EXPECT_FALSE(back.clock_event_reasons.has_value());
  ASSERT_TRUE(back.events.has_value());
  EXPECT_FALSE(back.events->last_xid.has_value());
  EXPECT_FALSE(FromProto(v1::GpuStats{}).events.has_value());
}

TEST(SampleConvertTest, GpmRatiosRoundTripAndAbsentStaysAbsent) {
  GpuSample g;
  g.gr_engine_active = 0.62;
  g.sm_active = 0.48;
  g.sm_occupancy = 0.0;  // a real zero
  g.pipe_tensor_active = 0.33;
  v1::GpuStats wire;
  ToProto(g, &wire);
  GpuSample back = FromProto(wire);
  EXPECT_EQ(back.gr_engine_active, std::optional<double>(0.62));
  EXPECT_EQ(back.sm_active, std::optional<double>(0.48));
  EXPECT_EQ(back.sm_occupancy, std::optional<double>(0.0));
  EXPECT_EQ(back.pipe_tensor_active, std::optional<double>(0.33));

  back = FromProto(v1::GpuStats{});  // an older worker, or a GPU without GPM
  EXPECT_FALSE(back.gr_engine_active.has_value());
  EXPECT_FALSE(back.sm_active.has_value());
  EXPECT_FALSE(back.sm_occupancy.has_value());
  EXPECT_FALSE(back.pipe_tensor_active.has_value());
}

TEST(SampleConvertTest, ProcessListsRoundTripIncludingUnknownMemory) {
  GpuSample g;
  g.processes = std::vector<GpuProcess>{{42, 1024, true}, {43, std::nullopt, std::nullopt}, {44, 1, false}};
  v1::GpuStats wire;
  ToProto(g, &wire);
  GpuSample back = FromProto(wire);
  ASSERT_TRUE(back.processes.has_value());
  ASSERT_EQ(back.processes->size(), 3u);
  EXPECT_EQ((*back.processes)[0].pid, 42u);
  EXPECT_EQ((*back.processes)[0].used_memory_bytes.value_or(0), 1024u);
  EXPECT_FALSE((*back.processes)[1].used_memory_bytes.has_value());
  // Outside gpulse: true, unknown and false each survive the wire.
  EXPECT_EQ((*back.processes)[0].outside_gpulse, std::optional<bool>(true));
  EXPECT_FALSE((*back.processes)[1].outside_gpulse.has_value());
  EXPECT_EQ((*back.processes)[2].outside_gpulse, std::optional<bool>(false));

  GpuSample none;
  none.processes = std::vector<GpuProcess>{};
  v1::GpuStats empty_wire;
  ToProto(none, &empty_wire);
  back = FromProto(empty_wire);
  ASSERT_TRUE(back.processes.has_value());  // known to be empty, not unknown
  EXPECT_TRUE(back.processes->empty());
}

TEST(SampleConvertTest, HeartbeatCarriesHostNvmlAndMean) {
  Sample s;
  s.host.cpu_percent = 12.5;
  s.nvml.available = false;
  s.nvml.error = "NVIDIA driver not loaded";
  v1::Heartbeat hb;
  FillHeartbeat(s, &hb);
  EXPECT_TRUE(hb.has_cpu_percent());
  EXPECT_DOUBLE_EQ(hb.cpu_percent(), 12.5);
  EXPECT_FALSE(hb.has_memory_percent());
  EXPECT_FALSE(hb.has_gpu_percent());
  EXPECT_FALSE(hb.nvml_available());
  EXPECT_EQ(hb.nvml_error(), "NVIDIA driver not loaded");
}

TEST(SampleConvertTest, HeartbeatRoundTripsToASample) {
  Sample s;
  s.host.memory_percent = 40.0;  // cpu_percent unknown
  s.nvml.available = true;
  s.nvml.driver_version = "580.65.06";
  GpuSample g;
  g.identity.index = 1;
  g.identity.uuid = "GPU-x";
  g.utilization_gpu = 55.0;
  s.gpus.push_back(g);
  s.gpu_percent = 55.0;
  v1::Heartbeat hb;
  FillHeartbeat(s, &hb);
  Sample back = SampleFromHeartbeat(hb);
  EXPECT_FALSE(back.host.cpu_percent.has_value());
  EXPECT_EQ(back.host.memory_percent.value_or(0), 40.0);
  EXPECT_TRUE(back.nvml.available);
  EXPECT_EQ(back.nvml.driver_version.value_or(""), "580.65.06");
  EXPECT_FALSE(back.nvml.error.has_value());
  ASSERT_EQ(back.gpus.size(), 1u);
  EXPECT_EQ(back.gpus[0].identity.uuid, "GPU-x");
  EXPECT_EQ(back.gpu_percent.value_or(0), 55.0);
}

TEST(SampleConvertTest, CollectorStatsRoundTripAndUnknownDurationStaysUnknown) {
  Sample s;
  s.collector.sample_duration_ms = 3.25;
  s.collector.nvml_errors_total["NVML_ERROR_GPU_IS_LOST"] = 4;
  v1::Heartbeat hb;
  FillHeartbeat(s, &hb);
  CollectorStats back = CollectorFromProto(hb);
  EXPECT_EQ(back, s.collector);

  v1::Heartbeat empty;
  CollectorStats none = CollectorFromProto(empty);
  EXPECT_FALSE(none.sample_duration_ms.has_value());
  EXPECT_TRUE(none.nvml_errors_total.empty());
}

}  // namespace
}  // namespace gpulse::proto
