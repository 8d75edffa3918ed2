// Worker report limits: what the master believes of what a worker says.
//
// A worker holds the cluster token, not the master's trust: every figure it
// reports passes through here before it is stored, re-exported or used to
// size anything. A registration that cannot be true (more GPUs than any
// machine has, absurd capacity, repeated GPU indices) is refused with a
// message saying what was wrong; a heartbeat figure outside its plausible
// range becomes absent (unknown, served as null), exactly as if NVML could
// not read it, and the caller counts it.
//
// Stateless; safe from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "link/messages.h"
#include "link/protocol.h"
#include "sample/sample.h"

namespace gpulse::master {

// At most this many GPUs per worker (the largest machines have 16; 64
// leaves room without letting one worker size the master's memory).
constexpr size_t kMaxGpusPerWorker = 64;
constexpr uint32_t kMaxWorkerCpuCores = 16384;
constexpr uint64_t kMaxWorkerMemoryBytes = uint64_t{64} << 40;  // 64 TiB
constexpr uint64_t kMaxGpuMemoryBytes = uint64_t{4} << 40;      // 4 TiB per GPU
constexpr size_t kMaxRunningTasksReported = 1024;
// Unacknowledged task updates one Register may carry (link/protocol.h says
// so to workers, which send the rest one by one once these are acked).
constexpr size_t kMaxTaskUpdatesPerRegister = link::kMaxTaskUpdatesPerRegister;
// Lists inside one heartbeat that the master keeps: processes per GPU,
// distinct XIDs per GPU, NVML error names.
constexpr size_t kMaxGpuProcessesReported = 4096;
constexpr size_t kMaxXidKindsReported = 256;
constexpr size_t kMaxNvmlErrorKindsReported = 64;
constexpr size_t kMaxWorkerIdLength = 128;

// The heartbeat interval the master grants, whatever a worker asks for.
struct HeartbeatIntervalBounds {
  std::chrono::milliseconds min{1000};
  std::chrono::milliseconds max{60000};
  std::chrono::milliseconds fallback{5000};  // granted to a worker that asks for none
};

// The interval granted for `requested` (0: not stated): clamped into
// [bounds.min, bounds.max]; bounds.fallback, clamped too, when 0.
std::chrono::milliseconds GrantHeartbeatInterval(std::chrono::milliseconds requested,
                                                 const HeartbeatIntervalBounds& bounds);

// OK if `r` can be believed: a worker id of 1..128 printable ASCII bytes,
// at most kMaxGpusPerWorker GPUs with distinct indices and distinct
// (non-empty) UUIDs, CPU cores <= kMaxWorkerCpuCores, memory <=
// kMaxWorkerMemoryBytes, at most kMaxRunningTasksReported running tasks and
// kMaxTaskUpdatesPerRegister task updates.
// Otherwise InvalidArgument naming the first problem and the limit.
Status CheckRegistration(const link::Registration& r);

// Drops (makes absent) each figure of `sample` outside its plausible range
// and returns the names of what was dropped, one entry per value, e.g.
// {"gpu.utilization_gpu", "host.cpu_percent"}. Ranges: percentages 0..100
// (utilization, memory activity, encoder, decoder, fan, CPU, memory, mean
// GPU); temperature -40..200 °C; power and power limit 0..5000 W; clocks
// 0..20000 MHz; GPU memory figures <= kMaxGpuMemoryBytes; PCIe 0..1e9 KB/s;
// sample duration 0..3600000 ms; NaN and infinities anywhere. GPUs beyond
// the first kMaxGpusPerWorker are removed (one "gpus" entry each). Lists
// past their bound lose their tail (one entry per list cut): a GPU's
// processes (kMaxGpuProcessesReported, "gpu.processes"), its XID counts
// (kMaxXidKindsReported, "gpu.xid_counts"), the NVML error counts
// (kMaxNvmlErrorKindsReported, "collector.nvml_errors_total").
std::vector<std::string> DropImplausibleFigures(Sample& sample);

// Cuts a heartbeat's running_tasks to kMaxRunningTasksReported; returns
// how many were dropped. (They only ever make the master send cancels.)
size_t BoundRunningTasks(std::vector<link::RunningTask>& running_tasks);

// Same for the total memory a registration states per GPU (the only figure
// of a GpuIdentity): dropped when above kMaxGpuMemoryBytes.
std::vector<std::string> DropImplausibleIdentities(std::vector<GpuIdentity>& gpus);

}  // namespace gpulse::master
