// gpulse workers [--json]: each worker's capacity, allocation, live
// utilization and status.
#include <iostream>
#include <map>
#include <sstream>

#include "cli/cluster_commands.h"
#include "cli/command_support.h"
#include "common/size.h"

namespace gpulse::cli {
namespace {

using nlohmann::json;

std::string Capacity(const json& w) {
  std::ostringstream out;
  out << w.value("gpu_capacity", 0) << " GPU" << (w.value("gpu_capacity", 0) == 1 ? "" : "s");
  bool first = true;
  for (const auto& m : w["gpu_models"]) {
    out << (first ? " (" : ", ") << m.value("count", 0) << " x " << m.value("name", std::string("?"));
    first = false;
  }
  if (!first) out << ")";
  return out.str();
}

std::string Allocated(const json& w) {
  std::ostringstream out;
  out << w.value("gpu_allocated", 0) << " of " << w.value("gpu_capacity", 0);
  std::string sep = "  (";
  for (const auto& g : w["gpus"]) {
    if (!g["allocated_to"].is_string()) continue;
    out << sep << "GPU " << g.value("index", 0) << " -> " << g["allocated_to"].get<std::string>();
    sep = ", ";
  }
  if (sep == ", ") out << ")";
  return out.str();
}

std::string Utilization(const json& w) {
  std::ostringstream out;
  if (w["gpu_percent"].is_number()) {
    out << Percent(w["gpu_percent"]) << " average";
  } else if (!w["nvml"].value("available", false)) {
    std::string why = w["nvml"]["error"].is_string() ? w["nvml"]["error"].get<std::string>() : "no NVML";
    out << "n/a (" << why << ")";
  } else if (w["gpus"].empty()) {
    out << "n/a (no GPU)";
  } else {
    out << "n/a (no GPU readable)";
  }
  std::string sep = "  [";
  for (const auto& g : w["gpus"]) {
    out << sep << "GPU " << g.value("index", 0) << ": ";
    if (g["error"].is_string()) {
      out << "error: " << g["error"].get<std::string>();
    } else {
      out << Percent(g["utilization_gpu"]);
    }
    if (!g.value("healthy", true)) out << " (unhealthy)";
    sep = ", ";
  }
  if (sep == ", ") out << "]";
  return out.str();
}

std::string Host(const json& w) {
  std::ostringstream out;
  out << "CPU " << Percent(w["cpu_percent"]) << " of " << w.value("cpu_cores", 0) << " cores ("
      << w.value("cpus_allocated", 0) << " allocated), memory " << Percent(w["memory_percent"]) << " of "
      << FormatBytes(w.value("memory_total_bytes", uint64_t{0}));
  return out.str();
}

void PrintWorker(const json& w) {
  std::cout << w.value("id", std::string("?")) << "\n"
            << "  GPU Capacity:     " << Capacity(w) << "\n"
            << "  GPU Allocated:    " << Allocated(w) << "\n"
            << "  GPU Utilization:  " << Utilization(w) << "\n"
            << "  Host:             " << Host(w) << "\n"
            << "  Status:           " << w.value("state", std::string("?"))
            << (w.value("connected", false) ? "" : ", not connected")
            << (w.value("draining", false) ? ", draining (no new tasks)" : "") << ", last heartbeat "
            << Ago(w["seconds_since_heartbeat"]) << "\n";
  if (w.value("unhealthy_reason", json()).is_string()) {
    std::cout << "  Takes no tasks:   " << w["unhealthy_reason"].get<std::string>() << "\n";
  }
}

// gpulse drain|undrain WORKER: stop or resume new placements on a worker.
void AddDrainCommand(CLI::App& app, const std::string& verb, const std::string& help) {
  struct Flags {
    EndpointFlags endpoint;
    std::string id;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(verb, help);
  AddEndpointOptions(cmd, f->endpoint);
  cmd->add_option("worker", f->id, "worker id")->required();
  cmd->callback([f, verb] {
    auto client = ConnectOrExit(f->endpoint);
    json w = ValueOrExit(client->Post("/api/workers/" + f->id + "/" + verb, json::object()));
    std::cout << w.value("id", f->id) << (w.value("draining", false) ? " draining" : " takes tasks") << "\n";
  });
}

}  // namespace

void AddWorkersCommand(CLI::App& app) {
  AddDrainCommand(app, "drain", "Place no new tasks on a worker (its running tasks go on)");
  AddDrainCommand(app, "undrain", "Let a drained worker take tasks again");
  struct Flags {
    EndpointFlags endpoint;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("workers", "List workers: GPU capacity, allocation, live utilization, status");
  AddEndpointOptions(cmd, flags->endpoint);
  cmd->add_flag("--json", flags->json, "print a JSON array of worker objects");
  cmd->callback([flags] {
    auto client = ConnectOrExit(flags->endpoint);
    json workers = ValueOrExit(client->Get("/api/workers"));
    if (flags->json) {
      std::cout << workers.dump(2) << "\n";
      return;
    }
    if (workers.empty()) std::cout << "No workers have registered yet.\n";
    bool first = true;
    for (const auto& w : workers) {
      if (!first) std::cout << "\n";
      PrintWorker(w);
      first = false;
    }
  });
}

}  // namespace gpulse::cli
