// gpulse gpus [clear WORKER:INDEX]: every GPU of the fleet, one line each.
#include <iostream>

#include "cli/cluster_commands.h"
#include "cli/command_support.h"

namespace gpulse::cli {
namespace {

using nlohmann::json;

// "gpu-node-01:3" -> ("gpu-node-01", 3); the last ':' splits, so worker
// ids with colons work.
std::pair<std::string, uint32_t> ParseWorkerGpu(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    Fail("want WORKER:INDEX (e.g. gpu-node-01:3), not '" + text + "'", kExitUsage);
  }
  uint32_t index = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9' || index > 100000) Fail("GPU index must be a number, not in '" + text + "'", kExitUsage);
    index = index * 10 + static_cast<uint32_t>(c - '0');
  }
  return {text.substr(0, colon), index};
}

void AddClear(CLI::App* gpus, const GlobalOptions& global) {
  auto target = std::make_shared<std::string>();
  CLI::App* cmd = gpus->add_subcommand(
      "clear", "Lift a GPU's quarantine after it was repaired (needs the admin token)");
  Describe(cmd, {"gpulse gpus clear gpu-node-01:3"});
  cmd->add_option("gpu", *target, "WORKER:INDEX")->required();
  cmd->callback([&global, target] {
    auto [worker, index] = ParseWorkerGpu(*target);
    auto client = ConnectOrExit(global);
    json reply = ValueOrExit(
        client->Post("/api/workers/" + worker + "/gpus/" + std::to_string(index) + "/clear", json::object()));
    std::cout << "cleared GPU " << index << " of " << worker;
    if (reply.is_object() && reply["health"].is_string()) std::cout << " (now " << reply["health"].get<std::string>() << ")";
    std::cout << "\n";
  });
}

}  // namespace

void AddGpusCommand(CLI::App& app, const GlobalOptions& global) {
  struct Flags {
    GpuFilter filter;
    bool json = false;
    bool watch = false;
    std::string output;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "gpus", "List every GPU of the fleet: worker, index, model, use, memory, temperature, power, health, task");
  Describe(cmd, {"gpulse gpus", "gpulse gpus --idle", "gpulse gpus --unhealthy -w", "gpulse gpus clear gpu-node-01:3"});
  cmd->add_option("--worker", f->filter.worker, "only this worker's GPUs");
  cmd->add_flag("--idle", f->filter.idle, "only GPUs that no task holds (on live workers)");
  cmd->add_flag("--unhealthy", f->filter.unhealthy, "only GPUs that are degraded, unhealthy or unreadable");
  cmd->add_flag("--json", f->json, "print a JSON array of GPU objects, each with its \"worker\"");
  cmd->add_option("-o,--output", f->output, "wide: also each GPU's UUID")->check(CLI::IsMember({"wide"}));
  cmd->add_flag("-w,--watch", f->watch, "redraw every 2 s until interrupted");
  cmd->require_subcommand(0, 1);
  AddClear(cmd, global);
  cmd->callback([&global, f, cmd] {
    if (cmd->get_subcommands().size() > 0) return;  // `gpus clear` ran
    auto client = ConnectOrExit(global);
    PrintMaybeWatching(f->watch, [&] {
      json workers = FetchWorkers(*client);
      if (!f->json) return RenderGpus(workers, f->filter, TerminalView(f->output == "wide"));
      json gpus = json::array();
      for (const auto& w : workers) {
        if (!f->filter.worker.empty() && w.value("id", "") != f->filter.worker) continue;
        for (json g : w["gpus"]) {
          const bool healthy = !g["error"].is_string() && g.value("health", "healthy") == "healthy";
          if (f->filter.idle && (g["allocated_to"].is_string() || w.value("state", "") == "dead")) continue;
          if (f->filter.unhealthy && healthy) continue;
          g["worker"] = w.value("id", "");
          gpus.push_back(std::move(g));
        }
      }
      return gpus.dump(2) + "\n";
    });
  });
}

}  // namespace gpulse::cli
