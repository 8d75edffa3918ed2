// Byte sizes as people write them: "512", "512MiB", "16G", "1.5GiB".
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace gpulse {

// Parses a size. Suffixes K/M/G/T (and KB/MB/…, KiB/MiB/…) are powers of
// 1024, case-insensitive; no suffix means bytes. InvalidArgument for
// anything else, negatives, or values past 2^63.
Result<uint64_t> ParseByteSize(const std::string& text);

// 1536 -> "1.5 KiB"; used in CLI tables.
std::string FormatBytes(uint64_t bytes);

}  // namespace gpulse
