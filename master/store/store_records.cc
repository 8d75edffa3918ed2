#include "master/store/store_records.h"

#include <nlohmann/json.hpp>

namespace gpulse::master {
namespace {

using nlohmann::json;

json OptionalTime(const std::optional<WallTime>& t) { return t ? json(ToUnixNanos(*t)) : json(nullptr); }

std::optional<WallTime> ReadOptionalTime(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return FromUnixNanos(it->get<int64_t>());
}

// Submitted text is validated as UTF-8 (ValidateTaskSpec); anything else
// is replaced rather than thrown over.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Decoding throws nlohmann::json exceptions on damage; this is the one
// place they become a Status.
template <typename T, typename F>
Result<T> Decode(std::string_view text, const char* what, F&& from_json) {
  try {
    return from_json(json::parse(text));
  } catch (const std::exception& e) {
    return Internal(std::string("a stored ") + what + " record is damaged: " + e.what());
  }
}

json OptionalNumber(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json UsageToJson(const TaskUsage& u) {
  return {
      {"gpu_seconds", u.gpu_seconds},
      {"gpu_seconds_used", u.gpu_seconds_used},
      {"utilization_gpu_sum", u.utilization_gpu_sum},
      {"utilization_gpu_seconds", u.utilization_gpu_seconds},
      {"utilization_memory_sum", u.utilization_memory_sum},
      {"utilization_memory_seconds", u.utilization_memory_seconds},
      {"peak_utilization_gpu", OptionalNumber(u.peak_utilization_gpu)},
      {"peak_memory_used_bytes", u.peak_memory_used_bytes ? json(*u.peak_memory_used_bytes) : json(nullptr)},
      {"energy_joules", OptionalNumber(u.energy_joules)},
      {"max_gpu_processes", u.max_gpu_processes ? json(*u.max_gpu_processes) : json(nullptr)},
      {"max_outside_processes", u.max_outside_processes ? json(*u.max_outside_processes) : json(nullptr)},
  };
}

template <typename T>
std::optional<T> ReadOptional(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

// Records written before usage was kept have none: all zero.
TaskUsage UsageFromJson(const json& j) {
  TaskUsage u;
  u.gpu_seconds = j.value("gpu_seconds", 0.0);
  u.gpu_seconds_used = j.value("gpu_seconds_used", 0.0);
  u.utilization_gpu_sum = j.value("utilization_gpu_sum", 0.0);
  u.utilization_gpu_seconds = j.value("utilization_gpu_seconds", 0.0);
  u.utilization_memory_sum = j.value("utilization_memory_sum", 0.0);
  u.utilization_memory_seconds = j.value("utilization_memory_seconds", 0.0);
  u.peak_utilization_gpu = ReadOptional<double>(j, "peak_utilization_gpu");
  u.peak_memory_used_bytes = ReadOptional<uint64_t>(j, "peak_memory_used_bytes");
  u.energy_joules = ReadOptional<double>(j, "energy_joules");
  u.max_gpu_processes = ReadOptional<uint32_t>(j, "max_gpu_processes");
  u.max_outside_processes = ReadOptional<uint32_t>(j, "max_outside_processes");  // absent in older rows
  return u;
}

}  // namespace

int64_t ToUnixNanos(WallTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

WallTime FromUnixNanos(int64_t ns) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(ns)));
}

std::string EncodeTask(const Task& t) {
  json j = {
      {"id", t.id},
      {"name", t.spec.name},
      {"argv", t.spec.argv},
      {"env", t.spec.env},
      {"cpus", t.spec.cpus},
      {"memory_bytes", t.spec.memory_bytes},
      {"gpus", t.spec.gpus},
      {"max_attempts", t.spec.max_attempts},
      {"state", TaskStateName(t.state)},
      {"worker_id", t.worker_id},
      {"gpu_indices", t.gpu_indices},
      {"gpu_uuids", t.gpu_uuids},
      {"attempts", t.attempts},
      {"start_failures", t.start_failures},
      {"exit_code", t.exit_code ? json(*t.exit_code) : json(nullptr)},
      {"message", t.message},
      {"cancel_requested", t.cancel_requested},
      {"submitted_at", ToUnixNanos(t.submitted_at)},
      {"started_at", OptionalTime(t.started_at)},
      {"finished_at", OptionalTime(t.finished_at)},
      {"hardware_failures", t.hardware_failures},
      {"usage", UsageToJson(t.usage)},
      {"idle_since", OptionalTime(t.idle_since)},
      {"cancel_reason", t.cancel_reason},
  };
  return Dump(j);
}

Result<Task> DecodeTask(std::string_view text) {
  return Decode<Task>(text, "task", [](const json& j) -> Result<Task> {
    Task t;
    t.id = j.at("id").get<std::string>();
    t.spec.name = j.at("name").get<std::string>();
    t.spec.argv = j.at("argv").get<std::vector<std::string>>();
    t.spec.env = j.at("env").get<std::map<std::string, std::string>>();
    t.spec.cpus = j.at("cpus").get<uint32_t>();
    t.spec.memory_bytes = j.at("memory_bytes").get<uint64_t>();
    t.spec.gpus = j.at("gpus").get<uint32_t>();
    t.spec.max_attempts = j.at("max_attempts").get<uint32_t>();
    auto state = ParseTaskState(j.at("state").get<std::string>());
    if (!state) return Internal("stored task " + t.id + " has an unknown state");
    t.state = *state;
    t.worker_id = j.at("worker_id").get<std::string>();
    t.gpu_indices = j.at("gpu_indices").get<std::vector<uint32_t>>();
    t.gpu_uuids = j.at("gpu_uuids").get<std::vector<std::string>>();
    t.attempts = j.at("attempts").get<uint32_t>();
    t.start_failures = j.value("start_failures", 0u);
    if (!j.at("exit_code").is_null()) t.exit_code = j.at("exit_code").get<int>();
    t.message = j.at("message").get<std::string>();
    t.cancel_requested = j.value("cancel_requested", false);
    t.submitted_at = FromUnixNanos(j.at("submitted_at").get<int64_t>());
    t.started_at = ReadOptionalTime(j, "started_at");
    t.finished_at = ReadOptionalTime(j, "finished_at");
    // Added later: absent from older records.
    t.hardware_failures = j.value("hardware_failures", 0u);
    if (auto it = j.find("usage"); it != j.end() && it->is_object()) t.usage = UsageFromJson(*it);
    t.idle_since = ReadOptionalTime(j, "idle_since");
    t.cancel_reason = j.value("cancel_reason", std::string());
    return t;
  });
}

std::string EncodeWorker(const WorkerRecord& w) {
  json gpus = json::array();
  for (const auto& g : w.gpus) {
    gpus.push_back({{"index", g.index},
                    {"uuid", g.uuid},
                    {"name", g.name},
                    {"pci_bus_id", g.pci_bus_id},
                    {"memory_total_bytes", g.memory_total_bytes.value_or(0)}});  // 0: unknown
  }
  json j = {
      {"id", w.id},
      {"hostname", w.capacity.hostname},
      {"address", w.address},
      {"cpu_cores", w.capacity.cpu_cores},
      {"memory_bytes", w.capacity.memory_bytes},
      {"gpus", gpus},
      {"registered_at", ToUnixNanos(w.registered_at)},
      {"heartbeat_interval_ms", w.heartbeat_interval.count()},
      {"draining", w.draining},
  };
  if (!w.cleared_faults.empty()) {
    json cleared = json::array();
    for (const ClearedGpuFaults& c : w.cleared_faults) {
      json xids = json::object();
      for (const auto& [xid, count] : c.xid_counts) xids[std::to_string(xid)] = count;
      cleared.push_back({{"uuid", c.uuid},
                         {"xid_counts", xids},
                         {"dbe_events", c.dbe_events},
                         {"ecc_dbe_volatile", c.ecc_dbe_volatile}});
    }
    j["cleared_faults"] = cleared;
  }
  return Dump(j);
}

Result<WorkerRecord> DecodeWorker(std::string_view text) {
  return Decode<WorkerRecord>(text, "worker", [](const json& j) -> Result<WorkerRecord> {
    WorkerRecord w;
    w.id = j.at("id").get<std::string>();
    w.capacity.hostname = j.at("hostname").get<std::string>();
    w.address = j.at("address").get<std::string>();
    w.capacity.cpu_cores = j.at("cpu_cores").get<uint32_t>();
    w.capacity.memory_bytes = j.at("memory_bytes").get<uint64_t>();
    for (const json& g : j.at("gpus")) {
      GpuIdentity gpu;
      gpu.index = g.at("index").get<uint32_t>();
      gpu.uuid = g.at("uuid").get<std::string>();
      gpu.name = g.at("name").get<std::string>();
      gpu.pci_bus_id = g.at("pci_bus_id").get<std::string>();
      if (uint64_t total = g.at("memory_total_bytes").get<uint64_t>(); total > 0) gpu.memory_total_bytes = total;
      w.gpus.push_back(std::move(gpu));
    }
    w.registered_at = FromUnixNanos(j.at("registered_at").get<int64_t>());
    w.heartbeat_interval = std::chrono::milliseconds(j.value("heartbeat_interval_ms", int64_t{5000}));
    w.draining = j.value("draining", false);
    if (auto it = j.find("cleared_faults"); it != j.end()) {
      for (const json& c : *it) {
        ClearedGpuFaults cleared;
        cleared.uuid = c.at("uuid").get<std::string>();
        for (const auto& [xid, count] : c.at("xid_counts").items()) {
          cleared.xid_counts[static_cast<uint32_t>(std::stoul(xid))] = count.get<uint64_t>();
        }
        cleared.dbe_events = c.value("dbe_events", uint64_t{0});
        cleared.ecc_dbe_volatile = c.value("ecc_dbe_volatile", uint64_t{0});
        w.cleared_faults.push_back(std::move(cleared));
      }
    }
    return w;
  });
}

}  // namespace gpulse::master
