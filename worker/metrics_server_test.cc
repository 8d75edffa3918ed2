#include "worker/metrics_server.h"

#include <httplib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpulse::worker {
namespace {

using ::testing::HasSubstr;

Sample OneGpuSample(double util) {
  Sample s;
  s.host.cpu_percent = 10;
  s.host.memory_percent = 20;
  s.nvml.available = true;
  s.nvml.driver_version = "580.65.06";
  GpuSample g;
  g.identity.index = 0;
  g.identity.uuid = "GPU-abc";
  g.identity.name = "NVIDIA H100 80GB HBM3";
  g.utilization_gpu = util;
  s.gpus.push_back(g);
  s.gpu_percent = util;
  return s;
}

TEST(MetricsServerTest, ServesTheLatestSampleAndRefusesBeforeTheFirst) {
  MetricsServer server("node-1", "gpu-node-1");
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  ASSERT_GT(server.port(), 0);
  httplib::Client client("127.0.0.1", server.port());
  auto before = client.Get("/metrics");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 503);

  server.Update(OneGpuSample(30));
  server.Update(OneGpuSample(70));
  auto r = client.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(r->body, HasSubstr("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-abc\",pci_bus_id=\"\",device=\"nvidia0\","
                                 "modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"gpu-node-1\","
                                 "DCGM_FI_DRIVER_VERSION=\"580.65.06\",worker=\"node-1\"} 70\n"));
  EXPECT_THAT(r->body, HasSubstr("gpulse_worker_cpu_percent{worker=\"node-1\"} 10\n"));
  EXPECT_THAT(r->body, HasSubstr("gpulse_nvml_available{worker=\"node-1\"} 1\n"));
  server.Stop();
  server.Stop();  // twice is fine
}

TEST(MetricsServerTest, BadOrBusyAddressesFailClearly) {
  MetricsServer a("w", "h");
  EXPECT_EQ(a.Start("no-port").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.Start("127.0.0.1:99999").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(a.Start("127.0.0.1:0").ok());
  MetricsServer b("w", "h");
  Status busy = b.Start("127.0.0.1:" + std::to_string(a.port()));
  EXPECT_EQ(busy.code(), StatusCode::kUnavailable);
  EXPECT_THAT(busy.message(), HasSubstr("address in use"));
}

}  // namespace
}  // namespace gpulse::worker
