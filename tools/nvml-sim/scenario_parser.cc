#include "tools/nvml-sim/scenario_parser.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <nlohmann/json.hpp>

#include "tools/nvml-sim/gpu_models.h"
#include "tools/nvml-sim/json_reader.h"

namespace gpulse::nvml_sim {
namespace {

using nlohmann::json;

constexpr char kDefaultDriverVersion[] = "580.65.06";
constexpr uint64_t kMaxUint = std::numeric_limits<unsigned int>::max();

// Two H100s that differ in every metric, so a test that mixes GPUs up or
// turns a missing value into 0 notices.
constexpr char kDefaultScenarioJson[] = R"({
  "description": "built-in default: two H100s",
  "gpus": [
    {"model": "NVIDIA H100 80GB HBM3", "memory_used_mib": 16384, "utilization_gpu": 40,
     "utilization_memory": 30, "temperature_c": 45, "power_w": 250, "fan_percent": 30,
     "encoder_percent": 5, "decoder_percent": 7, "pcie_tx_kbps": 1500, "pcie_rx_kbps": 2500},
    {"model": "NVIDIA H100 80GB HBM3", "memory_used_mib": 65536, "utilization_gpu": 85,
     "utilization_memory": 60, "temperature_c": 62, "power_w": 520, "fan_percent": 55,
     "encoder_percent": 12, "decoder_percent": 15, "pcie_tx_kbps": 4000, "pcie_rx_kbps": 8000,
     "processes": [{"pid": 4242, "used_memory_mib": 65000}]}
  ]
})";

uint64_t Fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Status ReadErrors(ObjectReader& parent, bool per_device, CallErrors* out) {
  const json* errors = parent.Find("errors");
  if (errors == nullptr) return Status::Ok();
  std::string path = parent.PathOf("errors");
  if (!errors->is_object()) return InvalidArgument(path + ": expected an object of call name -> error name");
  ObjectReader reader(*errors, path);
  // Family names first, so that a versioned key overrides its family.
  for (bool versioned : {false, true}) {
    for (const auto& [key, value] : errors->items()) {
      std::vector<SimCall> calls = SimCallsNamed(key, per_device);
      bool is_family = false;
      for (const SimCallInfo& info : SimCallTable()) is_family |= (key == info.family);
      if (is_family == versioned) continue;
      if (calls.empty()) {
        return InvalidArgument(JoinPath(path, key) + ": no such " +
                               (per_device ? "per-device call (system calls go in the top-level \"errors\")"
                                           : "system call (per-device calls go in a GPU's \"errors\")"));
      }
      nvmlReturn_t code = NVML_SUCCESS;
      reader.ReadError(key, &code);
      if (!reader.ok()) return reader.Finish();
      for (SimCall call : calls) (*out)[static_cast<size_t>(call)] = code;
    }
  }
  return Status::Ok();
}

Status ReadProcesses(ObjectReader& gpu_reader, std::vector<SimProcess>* out) {
  const json* list = gpu_reader.Find("processes");
  if (list == nullptr) return Status::Ok();
  std::string path = gpu_reader.PathOf("processes");
  if (!list->is_array()) return InvalidArgument(path + ": expected an array of {\"pid\", \"used_memory_mib\"}");
  for (size_t i = 0; i < list->size(); ++i) {
    ObjectReader reader((*list)[i], path + "[" + std::to_string(i) + "]");
    SimProcess p;
    uint64_t pid = 0;
    reader.ReadUnsigned("pid", kMaxUint, &pid);
    if (reader.ok() && pid == 0) reader.Fail("pid", "a process needs a \"pid\" above 0");
    p.pid = static_cast<unsigned int>(pid);
    if (const json* used = reader.Find("used_memory_mib"); used != nullptr && !used->is_null()) {
      uint64_t mib = 0;
      reader.ReadUnsigned("used_memory_mib", std::numeric_limits<uint64_t>::max() >> 20, &mib);
      p.used_memory_mib = mib;
    }
    RETURN_IF_ERROR(reader.Finish());
    out->push_back(p);
  }
  return Status::Ok();
}

// Clock event reason names a scenario may list instead of a bit mask.
constexpr struct {
  const char* name;
  unsigned long long bit;
} kClockEventReasons[] = {
    {"gpu_idle", GPULSE_NVML_CLOCKS_EVENT_REASON_GPU_IDLE},
    {"applications_clocks_setting", GPULSE_NVML_CLOCKS_EVENT_REASON_APPLICATIONS_CLOCKS_SETTING},
    {"sw_power_cap", GPULSE_NVML_CLOCKS_EVENT_REASON_SW_POWER_CAP},
    {"hw_slowdown", GPULSE_NVML_CLOCKS_EVENT_REASON_HW_SLOWDOWN},
    {"sync_boost", GPULSE_NVML_CLOCKS_EVENT_REASON_SYNC_BOOST},
    {"sw_thermal", GPULSE_NVML_CLOCKS_EVENT_REASON_SW_THERMAL},
    {"hw_thermal", GPULSE_NVML_CLOCKS_EVENT_REASON_HW_THERMAL},
    {"hw_power_brake", GPULSE_NVML_CLOCKS_EVENT_REASON_HW_POWER_BRAKE},
    {"display_clock_setting", GPULSE_NVML_CLOCKS_EVENT_REASON_DISPLAY_CLOCK_SETTING},
};

// "clock_event_reasons": a bit mask (number or "0x..."), or a list of names.
void ReadClockEventReasons(ObjectReader& r, unsigned long long* out) {
  const json* value = r.Find("clock_event_reasons");
  if (value == nullptr) return;
  if (!value->is_array()) {
    uint64_t mask = 0;
    r.ReadUnsigned("clock_event_reasons", std::numeric_limits<uint64_t>::max(), &mask);
    *out = mask;
    return;
  }
  unsigned long long mask = 0;
  for (const json& name : *value) {
    bool found = false;
    for (const auto& reason : kClockEventReasons) {
      if (name.is_string() && name.get<std::string>() == reason.name) {
        mask |= reason.bit;
        found = true;
      }
    }
    if (!found) {
      r.Fail("clock_event_reasons",
             "expected a bit mask or a list of gpu_idle, applications_clocks_setting, sw_power_cap, hw_slowdown, "
             "sync_boost, sw_thermal, hw_thermal, hw_power_brake, display_clock_setting; got " + name.dump());
      return;
    }
  }
  *out = mask;
}

// "remapped_rows": {"correctable", "uncorrectable", "pending", "failure"}.
Status ReadRemappedRows(ObjectReader& gpu_reader, SimGpu* gpu) {
  const json* rows = gpu_reader.Find("remapped_rows");
  if (rows == nullptr) return Status::Ok();
  ObjectReader reader(*rows, gpu_reader.PathOf("remapped_rows"));
  uint64_t correctable = 0, uncorrectable = 0;
  reader.ReadUnsigned("correctable", kMaxUint, &correctable);
  reader.ReadUnsigned("uncorrectable", kMaxUint, &uncorrectable);
  reader.ReadBool("pending", &gpu->remap_pending);
  reader.ReadBool("failure", &gpu->remap_failure);
  gpu->remapped_rows_correctable = static_cast<unsigned int>(correctable);
  gpu->remapped_rows_uncorrectable = static_cast<unsigned int>(uncorrectable);
  return reader.Finish();
}

// "xids": a list of XID numbers.
Status ReadXids(ObjectReader& gpu_reader, std::vector<unsigned long long>* out) {
  const json* list = gpu_reader.Find("xids");
  if (list == nullptr) return Status::Ok();
  if (!list->is_array()) return InvalidArgument(gpu_reader.PathOf("xids") + ": expected a list of XID numbers");
  for (const json& xid : *list) {
    if (!xid.is_number_unsigned() || xid.get<uint64_t>() == 0 || xid.get<uint64_t>() > kMaxUint) {
      return InvalidArgument(gpu_reader.PathOf("xids") + ": expected XID numbers above 0; got " + xid.dump());
    }
    out->push_back(xid.get<uint64_t>());
  }
  return Status::Ok();
}

// "gpm": {"supported", "graphics_util", "sm_util", "sm_occupancy", "tensor_util"},
// or false for {"supported": false}. Defaults: the model's support; distinct
// non-zero percentages.
Status ReadGpm(ObjectReader& gpu_reader, const GpuModel& model, SimGpu* gpu) {
  gpu->gpm_supported = model.gpm;
  gpu->gpm_graphics_util = ValueModel::Constant(35);
  gpu->gpm_sm_util = ValueModel::Constant(30);
  gpu->gpm_sm_occupancy = ValueModel::Constant(20);
  gpu->gpm_tensor_util = ValueModel::Constant(15);
  const json* gpm = gpu_reader.Find("gpm");
  if (gpm == nullptr) return Status::Ok();
  if (gpm->is_boolean()) {
    gpu->gpm_supported = gpm->get<bool>();
    return Status::Ok();
  }
  ObjectReader reader(*gpm, gpu_reader.PathOf("gpm"));
  reader.ReadBool("supported", &gpu->gpm_supported);
  reader.ReadValue("graphics_util", 0, 100, &gpu->gpm_graphics_util);
  reader.ReadValue("sm_util", 0, 100, &gpu->gpm_sm_util);
  reader.ReadValue("sm_occupancy", 0, 100, &gpu->gpm_sm_occupancy);
  reader.ReadValue("tensor_util", 0, 100, &gpu->gpm_tensor_util);
  return reader.Finish();
}

// Fills `gpu` from `entry` (already merged with "gpu_defaults").
Status ReadGpu(const json& entry, size_t index, const std::string& default_model, const std::string& seed,
               SimGpu* gpu) {
  ObjectReader r(entry, "gpus[" + std::to_string(index) + "]");
  r.Ignore("description");
  std::string model_name = default_model;
  r.ReadString("model", &model_name);
  const GpuModel& model = model_name.empty() ? GenericGpuModel() : FindGpuModel(model_name);

  gpu->name = model_name.empty() ? model.name : model_name;
  r.ReadString("name", &gpu->name);
  gpu->uuid = DerivedGpuUuid(seed, index);
  r.ReadString("uuid", &gpu->uuid);

  gpu->pci_domain = static_cast<unsigned int>(index / 16);
  gpu->pci_bus = static_cast<unsigned int>(0x08 + 0x10 * (index % 16));
  gpu->pci_device = 0;
  if (const json* bus_id = r.Find("pci_bus_id"); bus_id != nullptr) {
    unsigned int domain = 0, bus = 0, device = 0, function = 0;
    char tail = 0;
    if (!bus_id->is_string() || std::sscanf(bus_id->get_ref<const std::string&>().c_str(), "%x:%x:%x.%x%c",
                                            &domain, &bus, &device, &function, &tail) != 4) {
      r.Fail("pci_bus_id", "expected \"DDDDDDDD:BB:DD.F\" such as \"00000000:3B:00.0\"");
    } else {
      gpu->pci_domain = domain;
      gpu->pci_bus = bus;
      gpu->pci_device = device;
    }
  }
  char bus_id[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
  std::snprintf(bus_id, sizeof(bus_id), "%08X:%02X:%02X.0", gpu->pci_domain, gpu->pci_bus, gpu->pci_device);
  gpu->pci_bus_id = bus_id;
  uint64_t pci_device_id = model.pci_device_id, pci_subsystem_id = model.pci_subsystem_id;
  r.ReadUnsigned("pci_device_id", kMaxUint, &pci_device_id);
  r.ReadUnsigned("pci_subsystem_id", kMaxUint, &pci_subsystem_id);
  gpu->pci_device_id = static_cast<unsigned int>(pci_device_id);
  gpu->pci_subsystem_id = static_cast<unsigned int>(pci_subsystem_id);

  gpu->memory_total_mib = model.memory_total_mib;
  r.ReadUnsigned("memory_total_mib", std::numeric_limits<uint64_t>::max() >> 20, &gpu->memory_total_mib);
  r.ReadUnsigned("memory_reserved_mib", gpu->memory_total_mib, &gpu->memory_reserved_mib);
  const double memory_left = static_cast<double>(gpu->memory_total_mib - gpu->memory_reserved_mib);
  gpu->memory_used_mib = ValueModel::Constant(std::min(1024.0, memory_left));
  r.ReadValue("memory_used_mib", 0, memory_left, &gpu->memory_used_mib);

  gpu->utilization_gpu = ValueModel::Constant(10);
  gpu->utilization_memory = ValueModel::Constant(5);
  gpu->temperature_c = ValueModel::Constant(40);
  gpu->power_w = ValueModel::Constant(90);
  gpu->power_limit_w = ValueModel::Constant(model.power_limit_w);
  gpu->clock_sm_mhz = ValueModel::Constant(model.clock_sm_mhz);
  gpu->clock_mem_mhz = ValueModel::Constant(model.clock_mem_mhz);
  gpu->clock_video_mhz = ValueModel::Constant(1500);
  gpu->encoder_percent = ValueModel::Constant(1);
  gpu->decoder_percent = ValueModel::Constant(2);
  gpu->fan_percent = ValueModel::Constant(30);
  gpu->pcie_tx_kbps = ValueModel::Constant(1000);
  gpu->pcie_rx_kbps = ValueModel::Constant(2000);
  r.ReadValue("utilization_gpu", 0, 100, &gpu->utilization_gpu);
  r.ReadValue("utilization_memory", 0, 100, &gpu->utilization_memory);
  r.ReadValue("temperature_c", -273, 1000, &gpu->temperature_c);
  r.ReadValue("power_w", 0, 1e6, &gpu->power_w);
  r.ReadValue("power_limit_w", 0, 1e6, &gpu->power_limit_w);
  r.ReadValue("clock_sm_mhz", 0, 1e6, &gpu->clock_sm_mhz);
  gpu->clock_graphics_mhz = gpu->clock_sm_mhz;
  r.ReadValue("clock_graphics_mhz", 0, 1e6, &gpu->clock_graphics_mhz);
  r.ReadValue("clock_mem_mhz", 0, 1e6, &gpu->clock_mem_mhz);
  r.ReadValue("clock_video_mhz", 0, 1e6, &gpu->clock_video_mhz);
  r.ReadValue("encoder_percent", 0, 100, &gpu->encoder_percent);
  r.ReadValue("decoder_percent", 0, 100, &gpu->decoder_percent);
  r.ReadValue("fan_percent", 0, 100, &gpu->fan_percent);
  r.ReadValue("pcie_tx_kbps", 0, static_cast<double>(kMaxUint), &gpu->pcie_tx_kbps);
  r.ReadValue("pcie_rx_kbps", 0, static_cast<double>(kMaxUint), &gpu->pcie_rx_kbps);

  uint64_t sampling_us = 167000, delay_ms = 0;
  r.ReadUnsigned("codec_sampling_period_us", kMaxUint, &sampling_us);
  r.ReadUnsigned("pcie_delay_ms", 10000, &delay_ms);
  gpu->codec_sampling_period_us = static_cast<unsigned int>(sampling_us);
  gpu->pcie_delay_ms = static_cast<unsigned int>(delay_ms);
  r.ReadBool("lost", &gpu->lost);

  gpu->energy_start_mj = 1'000'000;  // non-zero, so "missing became 0" shows
  r.ReadUnsigned("energy_start_mj", std::numeric_limits<uint64_t>::max() / 2, &gpu->energy_start_mj);
  r.ReadUnsigned("ecc_corrected_volatile", std::numeric_limits<uint64_t>::max(), &gpu->ecc_corrected_volatile);
  r.ReadUnsigned("ecc_uncorrected_volatile", 1'000'000, &gpu->ecc_uncorrected_volatile);
  ReadClockEventReasons(r, &gpu->clock_event_reasons);

  if (!r.ok()) return r.Finish();
  RETURN_IF_ERROR(ReadProcesses(r, &gpu->processes));
  RETURN_IF_ERROR(ReadRemappedRows(r, gpu));
  RETURN_IF_ERROR(ReadXids(r, &gpu->xids));
  RETURN_IF_ERROR(ReadGpm(r, model, gpu));
  RETURN_IF_ERROR(ReadErrors(r, /*per_device=*/true, &gpu->errors));
  return r.Finish();
}

// The GPU entries of the scenario, each merged over "gpu_defaults".
Result<std::vector<json>> GpuEntries(ObjectReader& top) {
  json defaults = json::object();
  if (const json* d = top.Find("gpu_defaults"); d != nullptr) {
    if (!d->is_object()) return InvalidArgument("gpu_defaults: expected an object of GPU fields");
    defaults = *d;
  }
  const json* gpus = top.Find("gpus");
  const json* count = top.Find("gpu_count");
  std::vector<json> entries;
  if (gpus != nullptr && count != nullptr) {
    return InvalidArgument("give either \"gpus\" (a list) or \"gpu_count\" (identical GPUs), not both");
  }
  if (count != nullptr) {
    uint64_t n = 0;
    top.ReadUnsigned("gpu_count", kMaxGpus, &n);
    if (!top.ok()) return top.Finish();
    entries.assign(n, defaults);
    return entries;
  }
  if (gpus == nullptr) return InvalidArgument("the scenario needs \"gpus\" (a list) or \"gpu_count\"");
  if (!gpus->is_array()) return InvalidArgument("gpus: expected a list of GPU objects");
  if (gpus->size() > kMaxGpus) {
    return InvalidArgument("gpus: " + std::to_string(gpus->size()) + " GPUs; the simulator supports at most " +
                           std::to_string(kMaxGpus));
  }
  for (const json& gpu : *gpus) {
    if (!gpu.is_object()) return InvalidArgument("gpus: every entry must be an object");
    json merged = defaults;
    for (const auto& [key, value] : gpu.items()) merged[key] = value;
    entries.push_back(std::move(merged));
  }
  return entries;
}

}  // namespace

std::string DerivedGpuUuid(std::string_view seed, size_t index) {
  uint64_t h = Fnv1a(std::to_string(index), Fnv1a("/", Fnv1a(seed)));
  uint64_t hi = SplitMix64(h), lo = SplitMix64(hi ^ 0x5bd1e995ULL);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "GPU-%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
                hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48, lo & uint64_t{0xFFFFFFFFFFFF});
  return buf;
}

Result<Scenario> ParseScenario(std::string_view json_text, const ScenarioParseOptions& options) {
  json doc;
  try {
    doc = json::parse(json_text, /*cb=*/nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("not valid JSON: ") + e.what());
  }
  ObjectReader top(doc, "");
  if (!top.ok()) return top.Finish();
  top.Ignore("description");
  Scenario scenario;
  scenario.driver_version = kDefaultDriverVersion;
  top.ReadString("driver_version", &scenario.driver_version);
  top.ReadError("init_error", &scenario.init_error);

  std::string seed = options.fallback_seed;
  if (const json* s = top.Find("seed"); s != nullptr) {
    if (s->is_string()) {
      seed = s->get<std::string>();
    } else if (s->is_number_integer()) {
      seed = s->dump();
    } else {
      top.Fail("seed", "expected a string or a whole number");
    }
  }
  if (options.seed_override) seed = *options.seed_override;
  std::string default_model;
  top.ReadString("model", &default_model);
  if (!top.ok()) return top.Finish();
  RETURN_IF_ERROR(ReadErrors(top, /*per_device=*/false, &scenario.errors));

  ASSIGN_OR_RETURN(std::vector<json> entries, GpuEntries(top));
  RETURN_IF_ERROR(top.Finish());
  scenario.gpus.resize(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    RETURN_IF_ERROR(ReadGpu(entries[i], i, default_model, seed, &scenario.gpus[i]));
  }
  return scenario;
}

Scenario DefaultScenario(const ScenarioParseOptions& options) {
  Result<Scenario> scenario = ParseScenario(kDefaultScenarioJson, options);
  // The built-in text is covered by tests; failing here is a programming error.
  if (!scenario.ok()) std::abort();
  return std::move(scenario).value();
}

}  // namespace gpulse::nvml_sim
