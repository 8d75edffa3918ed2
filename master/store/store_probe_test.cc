// StoreProbe on a real, tiny tmpfs that is filled up: the full disk is
// found, the result is kept between probes, and recovery is seen.
#include "master/store/store_probe.h"

#include <sys/mount.h>

#include <gtest/gtest.h>

#include <fstream>

#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

using namespace std::chrono_literals;

// A 256 KiB tmpfs on a temp dir, unmounted at the end.
class TinyDisk {
 public:
  TinyDisk() { mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=256k,mode=0700") == 0; }
  ~TinyDisk() {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  std::string path() const { return dir_.path().string(); }
  // Writes until the disk refuses.
  void Fill() {
    std::ofstream out(dir_.File("filler"), std::ios::binary);
    const std::string block(4096, 'x');
    while (out.write(block.data(), block.size()) && out.flush()) {
    }
  }
  void Free() { std::filesystem::remove(dir_.File("filler")); }

 private:
  testkit::TempDir dir_{"gpulse-store-probe"};
  bool mounted_ = false;
};

TEST(StoreProbeTest, AFullDiskIsReportedAsStorageFullUntilSpaceIsFreed) {
  TinyDisk disk;
  if (!disk.mounted()) GTEST_SKIP() << "mount -t tmpfs is not permitted here (needs root); the full-disk probe is untested";
  ManualClock clock;
  StoreProbe probe(disk.path(), clock, 5s);
  EXPECT_OK(probe.Check());
  disk.Fill();
  clock.Advance(5s);
  Status full = probe.Check();
  EXPECT_EQ(full.code(), StatusCode::kStorageFull) << full.ToString();
  // Kept until the interval has passed, even though space is back.
  disk.Free();
  clock.Advance(4s);
  EXPECT_EQ(probe.Check().code(), StatusCode::kStorageFull);
  clock.Advance(1s);
  EXPECT_OK(probe.Check());
  EXPECT_FALSE(std::filesystem::exists(disk.path() + "/.healthz-probe"));
}

TEST(StoreProbeTest, AMissingDirectoryIsAnError) {
  ManualClock clock;
  testkit::TempDir dir{"gpulse-store-probe"};
  StoreProbe probe(dir.File("gone"), clock);
  EXPECT_FALSE(probe.Check().ok());
}

}  // namespace
}  // namespace gpulse::master
