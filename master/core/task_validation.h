// ValidateTaskSpec: the limits a submitted task must respect.
//
// Stateless; safe from any thread.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "master/model/model.h"

namespace gpulse::master {

constexpr uint32_t kMaxTaskCpus = 4096;
constexpr uint32_t kMaxTaskGpus = 256;
constexpr uint64_t kMaxTaskMemoryBytes = uint64_t{64} << 40;  // 64 TiB
constexpr uint32_t kMaxTaskAttempts = 100;
constexpr size_t kMaxTaskNameLength = 256;

// OK if `spec` can be queued: a non-empty argv whose first element is not
// empty; cpus <= 4096, gpus <= 256, memory <= 64 TiB; max_attempts in
// 1..100; a name of at most 256 bytes; environment names like
// [A-Za-z_][A-Za-z0-9_]*; all text valid UTF-8 without NUL bytes.
// Otherwise InvalidArgument naming the first problem found.
Status ValidateTaskSpec(const TaskSpec& spec);

}  // namespace gpulse::master
