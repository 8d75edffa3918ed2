#include "tools/nvml-sim/gpu_models.h"

namespace gpulse::nvml_sim {
namespace {

constexpr GpuModel kModels[] = {
    {"NVIDIA H100 80GB HBM3", 81559, 700, 1980, 2619, 0x233010DE, 0x16C110DE, true},
    {"NVIDIA H200", 143771, 700, 1980, 3201, 0x233510DE, 0x18BE10DE, true},
    {"NVIDIA A100-SXM4-80GB", 81920, 400, 1410, 1593, 0x20B210DE, 0x147F10DE, false},
    {"NVIDIA A100-SXM4-40GB", 40960, 400, 1410, 1215, 0x20B010DE, 0x134F10DE, false},
    {"NVIDIA L4", 23034, 72, 2040, 6251, 0x27B810DE, 0x16CA10DE, false},
    {"Tesla T4", 15360, 70, 1590, 5001, 0x1EB810DE, 0x12A210DE, false},
};

}  // namespace

const GpuModel& GenericGpuModel() { return kModels[0]; }

const GpuModel& FindGpuModel(std::string_view name) {
  for (const GpuModel& m : kModels) {
    if (name == m.name) return m;
  }
  return GenericGpuModel();
}

}  // namespace gpulse::nvml_sim
