#include "master/api/api_json.h"

#include <chrono>
#include <cmath>

#include "common/size.h"
#include "sample/sample_json.h"

namespace gpulse::master {
namespace {

using nlohmann::json;

template <typename T>
json Opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// The live sample's JSON form (sample/sample_json.h), with the identity
// the worker registered and what only the master knows: health, allocation.
json GpuToJson(const WorkerGpu& g) {
  json out = GpuSampleToJson(g.live);
  out["index"] = g.identity.index;
  out["uuid"] = g.identity.uuid;
  out["name"] = g.identity.name;
  out["pci_bus_id"] = g.identity.pci_bus_id;
  if (!g.live.identity.memory_total_bytes) out["memory_total_bytes"] = g.identity.memory_total_bytes.value_or(0);
  out["healthy"] = g.healthy;
  out["health"] = GpuHealthName(g.health);
  out["health_reasons"] = g.health_reasons;
  out["allocated_to"] = g.allocated_to.empty() ? json(nullptr) : json(g.allocated_to);
  return out;
}

Status FieldError(const std::string& field, const std::string& what) {
  return InvalidArgument("field '" + field + "' " + what);
}

// Reads a non-negative whole number into `out`; leaves it when absent.
Status ReadCount(const json& body, const char* field, uint64_t limit, uint64_t* out) {
  auto it = body.find(field);
  if (it == body.end()) return Status::Ok();
  if (!it->is_number()) return FieldError(field, "must be a number");
  double value = it->get<double>();
  if (value < 0) return FieldError(field, "must not be negative");
  if (value != std::floor(value)) return FieldError(field, "must be a whole number");
  if (value > static_cast<double>(limit)) return FieldError(field, "is too large");
  *out = it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(value);
  return Status::Ok();
}

}  // namespace

json TimeToJson(const std::optional<WallTime>& t) {
  if (!t) return nullptr;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
  return static_cast<double>(ms) / 1000.0;
}

json WorkerToJson(const Worker& w, WallTime now) {
  json gpus = json::array();
  std::map<std::string, int> models;
  for (const auto& g : w.gpus) {
    gpus.push_back(GpuToJson(g));
    models[g.identity.name]++;
  }
  json gpu_models = json::array();
  for (const auto& [name, count] : models) gpu_models.push_back({{"name", name}, {"count", count}});
  json since = nullptr;
  if (w.last_heartbeat) since = std::chrono::duration<double>(now - *w.last_heartbeat).count();
  return {
      {"id", w.id},
      {"hostname", w.capacity.hostname},
      {"address", w.address},
      {"state", WorkerStateName(w.state)},
      {"connected", w.connected},
      {"draining", w.draining},
      {"unhealthy_reason", w.unhealthy_reason.empty() ? json(nullptr) : json(w.unhealthy_reason)},
      {"cpu_percent", Opt(w.host.cpu_percent)},
      {"memory_percent", Opt(w.host.memory_percent)},
      {"gpu_percent", Opt(w.gpu_percent)},
      {"cpu_cores", w.capacity.cpu_cores},
      {"cpus_allocated", w.cpus_allocated},
      {"memory_total_bytes", w.capacity.memory_bytes},
      {"memory_allocated_bytes", w.memory_allocated},
      {"gpu_capacity", w.gpus.size()},
      {"gpu_allocated", w.gpus_allocated()},
      {"gpu_models", gpu_models},
      {"gpus", gpus},
      {"tasks", w.task_ids},
      {"nvml", NvmlStateToJson(w.nvml)},
      {"heartbeat_interval_seconds", std::chrono::duration<double>(w.heartbeat_interval).count()},
      {"heartbeats", w.heartbeats},
      {"registered_at", TimeToJson(w.registered_at)},
      {"last_heartbeat", TimeToJson(w.last_heartbeat)},
      {"seconds_since_heartbeat", since},
  };
}

json TaskUsageToJson(const TaskUsage& u) {
  return {
      {"gpu_seconds", u.gpu_seconds},
      {"gpu_seconds_used", u.gpu_seconds_used},
      {"mean_utilization_gpu", Opt(u.MeanUtilizationGpu())},
      {"peak_utilization_gpu", Opt(u.peak_utilization_gpu)},
      {"mean_utilization_memory", Opt(u.MeanUtilizationMemory())},
      {"peak_memory_used_bytes", Opt(u.peak_memory_used_bytes)},
      {"energy_joules", Opt(u.energy_joules)},
      {"max_gpu_processes", Opt(u.max_gpu_processes)},
      {"max_outside_gpu_processes", Opt(u.max_outside_processes)},
  };
}

json EfficiencyToJson(const ClusterCounts& c) {
  auto window = [](double allocated, double used) {
    return json{{"gpu_hours_allocated", allocated / 3600},
                {"gpu_hours_used", used / 3600},
                {"efficiency", allocated > 0 ? json(used / allocated) : json(nullptr)}};
  };
  return {{"last_hour", window(c.gpu_seconds_allocated_hour, c.gpu_seconds_used_hour)},
          {"last_day", window(c.gpu_seconds_allocated_day, c.gpu_seconds_used_day)},
          {"tasks_idle", c.tasks_idle}};
}

json TaskToJson(const Task& t) {
  json env = json::object();
  for (const auto& [name, value] : t.spec.env) env[name] = kHiddenEnvValue;
  json gpus = json::array();
  for (const auto& u : t.gpu_uuids) gpus.push_back(u);
  return {
      {"id", t.id},
      {"name", t.spec.name},
      {"state", TaskStateName(t.state)},
      {"finished", IsTerminal(t.state)},
      {"argv", t.spec.argv},
      {"env", std::move(env)},
      {"cpus", t.spec.cpus},
      {"memory_bytes", t.spec.memory_bytes},
      {"gpus_requested", t.spec.gpus},
      {"max_attempts", t.spec.max_attempts},
      {"worker", t.worker_id.empty() ? json(nullptr) : json(t.worker_id)},
      {"gpus", gpus},
      {"gpu_indices", t.gpu_indices},
      {"attempts", t.attempts},
      {"start_failures", t.start_failures},
      {"hardware_failures", t.hardware_failures},
      {"exit_code", Opt(t.exit_code)},
      {"message", t.message},
      {"pending_reason", t.pending_reason.empty() ? json(nullptr) : json(t.pending_reason)},
      {"submitted_at", TimeToJson(t.submitted_at)},
      {"started_at", TimeToJson(t.started_at)},
      {"finished_at", TimeToJson(t.finished_at)},
      {"usage", TaskUsageToJson(t.usage)},
      {"idle_since", TimeToJson(t.idle_since)},
  };
}

Result<TaskSpec> TaskSpecFromJson(const json& body) {
  if (!body.is_object()) return InvalidArgument("the body must be a JSON object");
  static const char* kKnown[] = {"name",         "argv",          "env",        "cpus", "gpus", "memory",
                                 "memory_bytes", "max_attempts", "allow_unfit"};
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) return InvalidArgument("unknown field '" + key + "'");
  }
  TaskSpec spec;
  auto argv = body.find("argv");
  if (argv == body.end()) return FieldError("argv", "is required (the command to run, as an array of strings)");
  if (!argv->is_array() || argv->empty()) return FieldError("argv", "must be a non-empty array of strings");
  for (const auto& a : *argv) {
    if (!a.is_string()) return FieldError("argv", "must hold only strings");
    spec.argv.push_back(a.get<std::string>());
  }
  if (auto name = body.find("name"); name != body.end()) {
    if (!name->is_string()) return FieldError("name", "must be a string");
    spec.name = name->get<std::string>();
  }
  if (auto env = body.find("env"); env != body.end()) {
    if (!env->is_object()) return FieldError("env", "must be an object of strings");
    for (const auto& [k, v] : env->items()) {
      if (!v.is_string()) return FieldError("env." + k, "must be a string");
      spec.env[k] = v.get<std::string>();
    }
  }
  uint64_t cpus = spec.cpus, gpus = spec.gpus, attempts = spec.max_attempts, memory = 0;
  constexpr uint64_t kBig = uint64_t{1} << 62;
  RETURN_IF_ERROR(ReadCount(body, "cpus", kBig, &cpus));
  RETURN_IF_ERROR(ReadCount(body, "gpus", kBig, &gpus));
  RETURN_IF_ERROR(ReadCount(body, "max_attempts", kBig, &attempts));
  RETURN_IF_ERROR(ReadCount(body, "memory_bytes", kBig, &memory));
  if (auto mem = body.find("memory"); mem != body.end()) {
    if (mem->is_string()) {
      auto parsed = ParseByteSize(mem->get<std::string>());
      if (!parsed.ok()) return FieldError("memory", parsed.status().message());
      memory = *parsed;
    } else {
      RETURN_IF_ERROR(ReadCount(body, "memory", kBig, &memory));
    }
  }
  // Values past 32 bits are clamped so the range check in Submit reports them.
  auto clamp32 = [](uint64_t v) { return static_cast<uint32_t>(std::min<uint64_t>(v, UINT32_MAX)); };
  spec.cpus = clamp32(cpus);
  spec.gpus = clamp32(gpus);
  spec.max_attempts = clamp32(attempts);
  spec.memory_bytes = memory;
  return spec;
}

Result<SubmitOptions> SubmitOptionsFromJson(const json& body) {
  SubmitOptions options;
  if (!body.is_object()) return options;
  if (auto allow = body.find("allow_unfit"); allow != body.end()) {
    if (!allow->is_boolean()) return FieldError("allow_unfit", "must be true or false");
    options.allow_unfit = allow->get<bool>();
  }
  return options;
}

}  // namespace gpulse::master
