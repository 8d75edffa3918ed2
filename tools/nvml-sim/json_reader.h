// ObjectReader: reads the fields of one JSON object of a scenario file,
// checking types and ranges and remembering the first problem.
//
// Each Read* call leaves its output unchanged when the key is absent (so
// outputs hold defaults) and records an error naming the field's path
// ("gpus[1].power_w: ...") when the value is unusable; after the first
// error every later call does nothing. Finish() also rejects keys that no
// call asked for, so a typo in a scenario is reported instead of ignored.
// Not thread-safe; one reader per object being parsed.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "telemetry/nvml_abi.h"
#include "tools/nvml-sim/value_model.h"

namespace gpulse::nvml_sim {

class ObjectReader {
 public:
  // `path` names the object in messages ("" for the top level, "gpus[1]").
  // `object` must outlive the reader. A non-object records an error.
  ObjectReader(const nlohmann::json& object, std::string path);

  // A number, or a wave {"min", "max", "period_s", "shape"?, "phase_s"?};
  // every number must lie in [lo, hi].
  void ReadValue(std::string_view key, double lo, double hi, ValueModel* out);
  // A whole number in [0, max]; a string "0x..." is read as hexadecimal.
  void ReadUnsigned(std::string_view key, uint64_t max, uint64_t* out);
  void ReadString(std::string_view key, std::string* out);
  void ReadBool(std::string_view key, bool* out);
  // An error name ("NOT_SUPPORTED", "NVML_ERROR_NOT_SUPPORTED"); null reads
  // as NVML_SUCCESS.
  void ReadError(std::string_view key, nvmlReturn_t* out);
  // Marks `key` as known and returns its value, or nullptr when absent.
  const nlohmann::json* Find(std::string_view key);
  // Marks `key` as known without reading it (free-text fields).
  void Ignore(std::string_view key) { Find(key); }

  // The full path of a field of this object, for callers' own messages.
  std::string PathOf(std::string_view key) const;
  // Records `message` about `key` unless an error is already recorded.
  void Fail(std::string_view key, std::string message);
  bool ok() const { return status_.ok(); }

  // The first recorded error, or an error for the first unknown key, or OK.
  Status Finish() const;

 private:
  const nlohmann::json& object_;
  std::string path_;
  std::set<std::string, std::less<>> known_keys_;
  Status status_;
};

// "" + "gpus" -> "gpus"; "gpus[3]" + "name" -> "gpus[3].name".
std::string JoinPath(std::string_view parent, std::string_view key);

}  // namespace gpulse::nvml_sim
