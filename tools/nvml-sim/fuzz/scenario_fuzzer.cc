// libFuzzer target for the simulator's scenario parser (ParseScenario):
// scenario files come from whoever runs the simulator and are re-read
// while it runs. Besides not crashing: a scenario it accepts has at most
// kMaxGpus GPUs, and every metric of every GPU evaluates to a finite
// number at any time (what the NVML calls then report).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tools/nvml-sim/scenario_parser.h"

namespace {

void CheckFinite(const gpulse::nvml_sim::ValueModel& model) {
  for (double t : {0.0, 0.25, 1.5, 59.9, 3600.0, 1e9}) {
    if (!std::isfinite(model.At(t))) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gpulse::nvml_sim::ScenarioParseOptions options;
  options.fallback_seed = "fuzz-host";
  auto scenario = gpulse::nvml_sim::ParseScenario(text, options);
  if (!scenario.ok()) return 0;
  if (scenario->gpus.size() > gpulse::nvml_sim::kMaxGpus) std::abort();
  for (const auto& gpu : scenario->gpus) {
    for (const auto* model : {&gpu.memory_used_mib, &gpu.utilization_gpu, &gpu.utilization_memory,
                              &gpu.temperature_c, &gpu.power_w, &gpu.power_limit_w, &gpu.clock_graphics_mhz,
                              &gpu.clock_sm_mhz, &gpu.clock_mem_mhz, &gpu.clock_video_mhz, &gpu.encoder_percent,
                              &gpu.decoder_percent, &gpu.fan_percent, &gpu.pcie_tx_kbps, &gpu.pcie_rx_kbps}) {
      CheckFinite(*model);
    }
  }
  return 0;
}
