#include "worker/registered_gpus.h"

#include <gtest/gtest.h>

namespace gpulse::worker {
namespace {

GpuIdentity Gpu(uint32_t index, std::string uuid, std::string name = "NVIDIA H100 80GB HBM3") {
  GpuIdentity g;
  g.index = index;
  g.uuid = std::move(uuid);
  g.name = std::move(name);
  return g;
}

// NVML's list as the agent would read it, counting the reads.
struct FakeInventory {
  RegisteredGpus::Inventory gpus;
  int reads = 0;
  std::function<RegisteredGpus::Inventory()> Reader() {
    return [this] {
      ++reads;
      return gpus;
    };
  }
};

TEST(RegisteredGpusTest, SameInitialisationIsNoChangeAndTheListIsNotRead) {
  FakeInventory nvml{{Gpu(0, "GPU-a"), Gpu(1, "GPU-b")}};
  RegisteredGpus registered(nvml.gpus, /*nvml_generation=*/1, /*nvml_available=*/true);
  nvml.gpus.pop_back();  // would be a change, if it were looked at
  EXPECT_FALSE(registered.Changed(1, true, nvml.Reader()));
  EXPECT_FALSE(registered.Changed(1, true, nvml.Reader()));
  EXPECT_EQ(nvml.reads, 0);
}

TEST(RegisteredGpusTest, NewInitialisationWithTheSameGpusIsNoChange) {
  FakeInventory nvml{{Gpu(0, "GPU-a"), Gpu(1, "GPU-b")}};
  RegisteredGpus registered(nvml.gpus, 1, true);
  nvml.gpus[1].name = "renamed";  // not what the master knows a GPU by
  EXPECT_FALSE(registered.Changed(2, true, nvml.Reader()));
  EXPECT_EQ(nvml.reads, 1);
  EXPECT_FALSE(registered.Changed(2, true, nvml.Reader()));
  EXPECT_EQ(nvml.reads, 1);  // generation 2 has been looked at
}

TEST(RegisteredGpusTest, AGpuThatBecomesIdentifiableIsAChange) {
  FakeInventory nvml{{Gpu(0, "GPU-a"), Gpu(1, "")}};  // GPU 1 lost at the first initialisation
  RegisteredGpus registered(nvml.gpus, 1, true);
  EXPECT_FALSE(registered.Changed(2, true, nvml.Reader()));  // still lost
  nvml.gpus[1].uuid = "GPU-b";
  EXPECT_TRUE(registered.Changed(3, true, nvml.Reader()));
}

TEST(RegisteredGpusTest, AppearingVanishingOrReorderedGpusAreChanges) {
  const RegisteredGpus::Inventory two = {Gpu(0, "GPU-a"), Gpu(1, "GPU-b")};
  FakeInventory nvml{{Gpu(0, "GPU-a"), Gpu(1, "GPU-b"), Gpu(2, "GPU-c")}};
  EXPECT_TRUE(RegisteredGpus(two, 1, true).Changed(2, true, nvml.Reader()));
  nvml.gpus = {Gpu(0, "GPU-a")};
  EXPECT_TRUE(RegisteredGpus(two, 1, true).Changed(2, true, nvml.Reader()));
  nvml.gpus = {Gpu(0, "GPU-b"), Gpu(1, "GPU-a")};
  EXPECT_TRUE(RegisteredGpus(two, 1, true).Changed(2, true, nvml.Reader()));
}

// NVML stopping (driver failure, failed re-initialisation) empties the list
// without a new generation; coming back with the same GPUs is a new one.
TEST(RegisteredGpusTest, NvmlStoppingAndComingBackAreChangesOfAvailability) {
  FakeInventory nvml{{Gpu(0, "GPU-a")}};
  RegisteredGpus registered(nvml.gpus, 1, true);
  nvml.gpus.clear();
  EXPECT_TRUE(registered.Changed(1, false, nvml.Reader()));

  RegisteredGpus none(nvml.gpus, 1, false);
  nvml.gpus = {Gpu(0, "GPU-a")};
  EXPECT_TRUE(none.Changed(2, true, nvml.Reader()));
}

TEST(RegisteredGpusTest, NoNvmlAtAllIsNeverAChange) {
  FakeInventory nvml;
  RegisteredGpus registered({}, 0, false);
  EXPECT_FALSE(registered.Changed(0, false, nvml.Reader()));
  EXPECT_EQ(nvml.reads, 0);
}

}  // namespace
}  // namespace gpulse::worker
