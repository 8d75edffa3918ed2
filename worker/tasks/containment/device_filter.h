// The cgroup v2 device filter: an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE, which the kernel runs whenever a process of
// the cgroup opens or creates a device node, written here instruction by
// instruction (no libbpf, no compiler).
//
// The filter denies character devices of major 195 (NVIDIA) with minors
// 0-253 other than the allowed ones — the GPUs of other tasks — and allows
// every other device: nvidiactl (255), nvidia-modeset (254), nvidia-uvm
// (its own major) and everything that is not a GPU. It is attached with
// BPF_F_ALLOW_MULTI, so filters of ancestors (systemd's DevicePolicy) still
// apply.
//
// Stateless functions; thread-safe. Loading and attaching need root
// (CAP_SYS_ADMIN / CAP_BPF); errors say which step failed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace gpulse::worker {

// Loads the filter for `allowed_minors`; returns the program's descriptor.
Result<UniqueFd> LoadGpuDeviceFilter(const std::vector<uint32_t>& allowed_minors);

// Attaches `program` to the cgroup v2 folder `dir`. The attachment lives as
// long as the cgroup; the descriptor may be closed afterwards.
Status AttachDeviceFilter(const std::filesystem::path& dir, int program);

// Whether filters can be loaded and attached under `dir`: attaches a filter
// that allows everything and detaches it again.
Status ProbeDeviceFilter(const std::filesystem::path& dir);

}  // namespace gpulse::worker
