#include "tools/nvml-sim/json_reader.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tools/nvml-sim/nvml_errors.h"

namespace gpulse::nvml_sim {

using nlohmann::json;

namespace {

std::string FormatNumber(double d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", d);
  return buf;
}

}  // namespace

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

ObjectReader::ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
  if (!object_.is_object()) {
    status_ = InvalidArgument((path_.empty() ? "scenario" : path_) + ": expected a JSON object");
  }
}

std::string ObjectReader::PathOf(std::string_view key) const { return JoinPath(path_, key); }

void ObjectReader::Fail(std::string_view key, std::string message) {
  if (status_.ok()) status_ = InvalidArgument(PathOf(key) + ": " + message);
}

const json* ObjectReader::Find(std::string_view key) {
  known_keys_.emplace(key);
  if (!status_.ok()) return nullptr;
  auto it = object_.find(key);
  return it == object_.end() ? nullptr : &*it;
}

void ObjectReader::ReadValue(std::string_view key, double lo, double hi, ValueModel* out) {
  const json* v = Find(key);
  if (v == nullptr) return;
  auto in_range = [&](const json& n, const char* what) {
    if (!n.is_number()) {
      Fail(key, std::string(what) + " must be a number");
      return false;
    }
    double d = n.get<double>();
    if (!(d >= lo && d <= hi)) {
      Fail(key, std::string(what) + " " + n.dump() + " is outside [" + FormatNumber(lo) + ", " +
                    FormatNumber(hi) + "]");
      return false;
    }
    return true;
  };
  if (v->is_number()) {
    if (in_range(*v, "value")) *out = ValueModel::Constant(v->get<double>());
    return;
  }
  if (!v->is_object()) {
    Fail(key, R"(expected a number or a wave {"min", "max", "period_s"})");
    return;
  }
  ObjectReader wave(*v, PathOf(key));
  const json* min = wave.Find("min");
  const json* max = wave.Find("max");
  const json* period = wave.Find("period_s");
  if (min == nullptr || max == nullptr || period == nullptr) {
    Fail(key, R"(a wave needs "min", "max" and "period_s")");
    return;
  }
  if (!in_range(*min, "min") || !in_range(*max, "max")) return;
  if (!period->is_number() || !(period->get<double>() > 0)) {
    Fail(key, "period_s must be a number above 0");
    return;
  }
  std::string shape_name = "sine";
  double phase_s = 0;
  wave.ReadString("shape", &shape_name);
  if (const json* phase = wave.Find("phase_s"); phase != nullptr) {
    if (phase->is_number()) {
      phase_s = phase->get<double>();
    } else {
      wave.Fail("phase_s", "must be a number");
    }
  }
  if (Status s = wave.Finish(); !s.ok()) {
    if (status_.ok()) status_ = s;
    return;
  }
  std::optional<WaveShape> shape = WaveShapeFromName(shape_name);
  if (!shape) {
    Fail(key, "unknown shape \"" + shape_name + "\" (use sine, triangle, square or sawtooth)");
    return;
  }
  *out = ValueModel::Wave(*shape, min->get<double>(), max->get<double>(), period->get<double>(), phase_s);
}

void ObjectReader::ReadUnsigned(std::string_view key, uint64_t max, uint64_t* out) {
  const json* v = Find(key);
  if (v == nullptr) return;
  uint64_t value = 0;
  if (v->is_number_unsigned()) {
    value = v->get<uint64_t>();
  } else if (v->is_string() && v->get_ref<const std::string&>().starts_with("0x")) {
    const std::string& s = v->get_ref<const std::string&>();
    char* end = nullptr;
    value = std::strtoull(s.c_str() + 2, &end, 16);
    if (s.size() == 2 || *end != '\0') {
      Fail(key, "\"" + s + "\" is not a hexadecimal number");
      return;
    }
  } else if (v->is_number_float() && v->get<double>() >= 0 && std::floor(v->get<double>()) == v->get<double>() &&
             v->get<double>() <= static_cast<double>(max)) {
    value = static_cast<uint64_t>(v->get<double>());
  } else {
    Fail(key, "expected a whole number >= 0, got " + v->dump());
    return;
  }
  if (value > max) {
    Fail(key, std::to_string(value) + " is above the maximum of " + std::to_string(max));
    return;
  }
  *out = value;
}

void ObjectReader::ReadString(std::string_view key, std::string* out) {
  const json* v = Find(key);
  if (v == nullptr) return;
  if (!v->is_string()) {
    Fail(key, "expected a string, got " + v->dump());
    return;
  }
  *out = v->get<std::string>();
}

void ObjectReader::ReadBool(std::string_view key, bool* out) {
  const json* v = Find(key);
  if (v == nullptr) return;
  if (!v->is_boolean()) {
    Fail(key, "expected true or false, got " + v->dump());
    return;
  }
  *out = v->get<bool>();
}

void ObjectReader::ReadError(std::string_view key, nvmlReturn_t* out) {
  const json* v = Find(key);
  if (v == nullptr) return;
  if (v->is_null()) {
    *out = NVML_SUCCESS;
    return;
  }
  std::optional<nvmlReturn_t> code;
  if (v->is_string()) code = NvmlReturnFromName(v->get_ref<const std::string&>());
  if (!code) {
    Fail(key, "expected an NVML error name such as \"NOT_SUPPORTED\", got " + v->dump());
    return;
  }
  *out = *code;
}

Status ObjectReader::Finish() const {
  RETURN_IF_ERROR(status_);
  for (const auto& [key, value] : object_.items()) {
    if (!known_keys_.contains(key)) {
      return InvalidArgument(PathOf(key) + ": unknown field");
    }
  }
  return Status::Ok();
}

}  // namespace gpulse::nvml_sim
