#include "master/core/task_validation.h"

#include <string>

namespace gpulse::master {
namespace {

bool IsValidEnvName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!(letter || (digit && i > 0))) return false;
  }
  return true;
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

// Well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
bool IsUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Text goes to JSON and protobuf, which carry only UTF-8, and to execve,
// which stops at NUL.
Status CheckText(const std::string& s, const std::string& what) {
  if (HasNul(s)) return InvalidArgument(what + " contains a NUL byte");
  if (!IsUtf8(s)) return InvalidArgument(what + " is not valid UTF-8");
  return Status::Ok();
}

}  // namespace

Status ValidateTaskSpec(const TaskSpec& spec) {
  if (spec.argv.empty()) return InvalidArgument("argv is empty: give the program to run");
  if (spec.argv[0].empty()) return InvalidArgument("argv[0] is empty: give the program to run");
  for (size_t i = 0; i < spec.argv.size(); ++i) {
    RETURN_IF_ERROR(CheckText(spec.argv[i], "argv[" + std::to_string(i) + "]"));
  }
  if (spec.cpus > kMaxTaskCpus) {
    return InvalidArgument("cpus is " + std::to_string(spec.cpus) + "; at most " + std::to_string(kMaxTaskCpus));
  }
  if (spec.gpus > kMaxTaskGpus) {
    return InvalidArgument("gpus is " + std::to_string(spec.gpus) + "; at most " + std::to_string(kMaxTaskGpus));
  }
  if (spec.memory_bytes > kMaxTaskMemoryBytes) {
    return InvalidArgument("memory is " + std::to_string(spec.memory_bytes) + " bytes; at most 64 TiB");
  }
  if (spec.max_attempts < 1 || spec.max_attempts > kMaxTaskAttempts) {
    return InvalidArgument("max_attempts is " + std::to_string(spec.max_attempts) + "; it must be 1.." +
                           std::to_string(kMaxTaskAttempts));
  }
  if (spec.name.size() > kMaxTaskNameLength) {
    return InvalidArgument("name is " + std::to_string(spec.name.size()) + " bytes long; at most " +
                           std::to_string(kMaxTaskNameLength));
  }
  RETURN_IF_ERROR(CheckText(spec.name, "name"));
  for (const auto& [name, value] : spec.env) {
    if (!IsValidEnvName(name)) {
      std::string shown = CheckText(name, "").ok() ? "'" + name + "'" : "(binary)";
      return InvalidArgument("environment variable name " + shown +
                             " is not valid: use letters, digits and '_', not starting with a digit");
    }
    RETURN_IF_ERROR(CheckText(value, "environment variable " + name));
  }
  return Status::Ok();
}

}  // namespace gpulse::master
