// gpulse workers [forget ID] | drain | undrain | join-command
#include <iostream>

#include "cli/cluster_commands.h"
#include "cli/command_support.h"

namespace gpulse::cli {
namespace {

using nlohmann::json;

// gpulse drain|undrain WORKER: stop or resume new placements on a worker.
void AddDrainCommand(CLI::App& app, const GlobalOptions& global, const std::string& verb, const std::string& help) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(verb, help);
  Describe(cmd, {"gpulse " + verb + " gpu-node-07"});
  cmd->add_option("worker", *id, "worker id")->required();
  cmd->callback([&global, id, verb] {
    auto client = ConnectOrExit(global);
    json w = ValueOrExit(client->Post("/api/workers/" + *id + "/" + verb, json::object()));
    std::cout << w.value("id", *id) << (w.value("draining", false) ? " draining" : " takes tasks") << "\n";
  });
}

void AddJoinCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* cmd = app.add_subcommand(
      "join-command", "Print the line that joins a new worker machine (needs the admin token; it holds the token)");
  Describe(cmd, {"gpulse join-command", "ssh gpu-node-08 \"$(gpulse join-command)\""});
  cmd->callback([&global] {
    auto client = ConnectOrExit(global);
    json reply = ValueOrExit(client->Get("/api/join"));
    std::cout << reply.value("command", std::string()) << "\n";
  });
}

// gpulse workers forget ID: release the id's binding to its worker's key
// (admin), so a worker with a new key may join under it.
CLI::App* AddForgetCommand(CLI::App& workers, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = workers.add_subcommand(
      "forget", "Release a worker id from its worker's key (needs the admin token), so a machine with a new key "
                "(reinstalled, new work dir) may join under that id");
  Describe(cmd, {"gpulse workers forget gpu-node-07"});
  cmd->add_option("worker", *id, "worker id")->required();
  cmd->callback([&global, id] {
    auto client = ConnectOrExit(global);
    ValueOrExit(client->Delete("/api/workers/" + *id + "/identity"));
    std::cout << *id << " forgotten: the next worker that joins as " << *id
              << " with the cluster token gets a certificate for its own key\n";
  });
  return cmd;
}

}  // namespace

json FetchWorkers(MasterClient& client) { return ValueOrExit(client.Get("/api/workers")); }

void AddWorkersCommand(CLI::App& app, const GlobalOptions& global) {
  AddDrainCommand(app, global, "drain", "Place no new tasks on a worker (its running tasks go on)");
  AddDrainCommand(app, global, "undrain", "Let a drained worker take tasks again");
  AddJoinCommand(app, global);
  struct Flags {
    bool json = false;
    bool watch = false;
    std::string output;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "workers", "List workers: state, free/total GPUs, mean GPU, CPU and memory use, heartbeat age, health");
  Describe(cmd, {"gpulse workers", "gpulse workers -o wide -w", "gpulse --master gpu-master:8080 workers --json"});
  cmd->add_flag("--json", f->json, "print the JSON array of worker objects");
  cmd->add_option("-o,--output", f->output, "wide: also each GPU's model and utilization")
      ->check(CLI::IsMember({"wide"}));
  cmd->add_flag("-w,--watch", f->watch, "redraw every 2 s until interrupted");
  CLI::App* forget = AddForgetCommand(*cmd, global);
  cmd->callback([&global, f, cmd, forget] {
    if (cmd->got_subcommand(forget)) return;
    auto client = ConnectOrExit(global);
    PrintMaybeWatching(f->watch, [&] {
      json workers = FetchWorkers(*client);
      if (f->json) return workers.dump(2) + "\n";
      return RenderWorkers(workers, TerminalView(f->output == "wide"));
    });
  });
}

}  // namespace gpulse::cli
