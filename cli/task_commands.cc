// gpulse tasks | submit | status | logs | cancel | wait
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/cluster_commands.h"
#include "cli/command_support.h"
#include "cli/task_usage_text.h"
#include "common/size.h"

namespace gpulse::cli {
namespace {

using nlohmann::json;

constexpr auto kPollInterval = std::chrono::milliseconds(500);

std::string Str(const json& v, const std::string& fallback = "-") {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return fallback;
}

std::string GpuList(const json& task) {
  std::string out;
  // Appended piece by piece: `"," + std::to_string(...)` trips GCC 12's false
  // -Wrestrict at -O3.
  for (const auto& i : task["gpu_indices"]) {
    if (!out.empty()) out += ',';
    out += std::to_string(i.get<int>());
  }
  return out.empty() ? "-" : out;
}

// PENDING is why a queued task is not running yet (its pending_reason).
void PrintTaskTable(const json& tasks) {
  std::printf("%-10s %-20s %-10s %-14s %-8s %-8s %-5s %s\n", "ID", "NAME", "STATE", "WORKER", "GPUS", "ATTEMPTS",
              "EXIT", "PENDING");
  for (const auto& t : tasks) {
    std::printf("%-10s %-20s %-10s %-14s %-8s %-8s %-5s %s\n", Str(t["id"]).c_str(), Str(t["name"]).c_str(),
                Str(t["state"]).c_str(), Str(t["worker"]).c_str(), GpuList(t).c_str(),
                std::to_string(t.value("attempts", 0)).c_str(), Str(t["exit_code"]).c_str(),
                Str(t.value("pending_reason", json()), "").c_str());
  }
}

void PrintTask(const json& t) {
  std::cout << "Task " << Str(t["id"]) << (t["name"].is_string() && !t["name"].get<std::string>().empty()
                                               ? " (" + t["name"].get<std::string>() + ")"
                                               : "")
            << "\n  State:     " << Str(t["state"]) << "\n  Command:  ";
  for (const auto& a : t["argv"]) std::cout << " " << a.get<std::string>();
  std::cout << "\n  Requested: " << t.value("gpus_requested", 0) << " GPU(s), " << t.value("cpus", 0)
            << " CPU(s), " << FormatBytes(t.value("memory_bytes", uint64_t{0})) << " memory"
            << "\n  Worker:    " << Str(t["worker"]) << "\n  GPUs:      ";
  std::string gpus;
  for (const auto& u : t["gpus"]) {
    if (!gpus.empty()) gpus += ", ";
    gpus += u.get<std::string>();
  }
  std::cout << (gpus.empty() ? "-" : gpus) << "\n  Attempts:  " << t.value("attempts", 0) << " of "
            << t.value("max_attempts", 0) << "\n  Exit code: " << Str(t["exit_code"]) << "\n";
  if (t["message"].is_string() && !t["message"].get<std::string>().empty()) {
    std::cout << "  Message:   " << t["message"].get<std::string>() << "\n";
  }
  if (t.value("pending_reason", json()).is_string()) {
    std::cout << "  Pending:   " << t["pending_reason"].get<std::string>() << "\n";
  }
  std::cout << FormatTaskUsage(t);
}

void AddTasks(CLI::App& app) {
  struct Flags {
    EndpointFlags endpoint;
    bool json = false;
    std::string state;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("tasks", "List tasks");
  AddEndpointOptions(cmd, f->endpoint);
  cmd->add_flag("--json", f->json, "print a JSON array of task objects");
  cmd->add_option("--state", f->state, "only tasks in this state")
      ->check(CLI::IsMember({"queued", "assigned", "running", "succeeded", "failed", "cancelled"}));
  cmd->callback([f] {
    auto client = ConnectOrExit(f->endpoint);
    json tasks = ValueOrExit(client->Get(f->state.empty() ? "/api/tasks" : "/api/tasks?state=" + f->state));
    if (f->json) {
      std::cout << tasks.dump(2) << "\n";
    } else {
      PrintTaskTable(tasks);
    }
  });
}

void AddSubmit(CLI::App& app) {
  struct Flags {
    EndpointFlags endpoint;
    uint32_t gpus = 0, cpus = 1, max_attempts = 3;
    std::string memory, name;
    std::vector<std::string> env, command;
    bool allow_unfit = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("submit", "Submit a task; prints its id alone on stdout");
  AddEndpointOptions(cmd, f->endpoint);
  cmd->add_option("--gpus", f->gpus, "whole GPUs to allocate")->capture_default_str();
  cmd->add_option("--cpus", f->cpus, "CPU cores to allocate")->capture_default_str();
  cmd->add_option("--memory", f->memory, "memory to allocate, e.g. 4GiB");
  cmd->add_option("--name", f->name, "a name to recognise the task by");
  cmd->add_option("--max-attempts", f->max_attempts, "runs to try if its worker dies")->capture_default_str();
  cmd->add_option("--env", f->env, "KEY=VALUE added to the task's environment (repeatable)");
  cmd->add_flag("--allow-unfit", f->allow_unfit,
                "queue it even if no registered worker could ever hold it (wait for one); "
                "without it such a task is refused");
  cmd->add_option("command", f->command, "the command and its arguments, after --")->required();
  cmd->callback([f] {
    json body = {{"argv", f->command}, {"gpus", f->gpus}, {"cpus", f->cpus}, {"max_attempts", f->max_attempts}};
    if (f->allow_unfit) body["allow_unfit"] = true;
    if (!f->name.empty()) body["name"] = f->name;
    if (!f->memory.empty()) {
      auto bytes = ParseByteSize(f->memory);
      if (!bytes.ok()) Fail("--memory: " + bytes.status().message(), kExitUsage);
      body["memory_bytes"] = *bytes;
    }
    json env = json::object();
    for (const auto& kv : f->env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) Fail("--env wants KEY=VALUE, not '" + kv + "'", kExitUsage);
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (!env.empty()) body["env"] = env;
    auto client = ConnectOrExit(f->endpoint);
    json task = ValueOrExit(client->Post("/api/tasks", body));
    std::cout << task.value("id", std::string()) << "\n";
  });
}

void AddStatus(CLI::App& app) {
  struct Flags {
    EndpointFlags endpoint;
    std::string id;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("status", "Show one task");
  AddEndpointOptions(cmd, f->endpoint);
  cmd->add_option("id", f->id, "task id")->required();
  cmd->add_flag("--json", f->json, "print the task object as JSON");
  cmd->callback([f] {
    auto client = ConnectOrExit(f->endpoint);
    json task = ValueOrExit(client->Get("/api/tasks/" + f->id));
    if (f->json) {
      std::cout << task.dump(2) << "\n";
    } else {
      PrintTask(task);
    }
  });
}

// Where `gpulse logs` is in a task's output: which attempt (0 until one is
// known) and how far into each stream it has printed.
struct LogCursor {
  uint32_t attempt = 0;
  uint64_t out_offset = 0;
  uint64_t err_offset = 0;
};

// Prints the output of the cursor's attempt (the latest while it is 0) that
// is new since the cursor, stdout to stdout and stderr to stderr, and moves
// the cursor on. Returns whether anything was new.
Result<bool> PrintNewOutput(MasterClient& client, const std::string& id, LogCursor& cursor) {
  ASSIGN_OR_RETURN(auto out, client.GetLogs(id, "stdout", cursor.out_offset, cursor.attempt));
  ASSIGN_OR_RETURN(auto err, client.GetLogs(id, "stderr", cursor.err_offset, out.attempt));
  std::cout << out.data << std::flush;
  cursor.out_offset = out.next_offset;
  // While no attempt had started, stdout was read from none and stderr maybe
  // from the first, just begun: that stderr is read again next time.
  bool same_attempt = err.attempt == out.attempt;
  if (same_attempt) {
    std::cerr << err.data << std::flush;
    cursor.err_offset = err.next_offset;
  }
  cursor.attempt = out.attempt;
  return !out.data.empty() || (same_attempt && !err.data.empty());
}

void AddLogs(CLI::App& app) {
  struct Flags {
    EndpointFlags endpoint;
    std::string id;
    bool follow = false;
    uint32_t attempt = 0;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("logs", "Print a task's stdout (to stdout) and stderr (to stderr)");
  AddEndpointOptions(cmd, f->endpoint);
  cmd->add_option("id", f->id, "task id")->required();
  cmd->add_flag("-f,--follow", f->follow,
                "keep printing new output until the task finishes, moving on to each new attempt");
  cmd->add_option("--attempt", f->attempt, "print this attempt's output (1 is the first; default: the latest)")
      ->check(CLI::PositiveNumber);
  cmd->callback([f] {
    auto client = ConnectOrExit(f->endpoint);
    const bool pinned = f->attempt > 0;
    LogCursor cursor{.attempt = f->attempt};
    while (true) {
      // What the task was before this read: once it had finished (or moved
      // past the attempt shown) and a read after that brings nothing new,
      // nothing more will come (the last bytes may trail the exit).
      json task = f->follow ? ValueOrExit(client->Get("/api/tasks/" + f->id)) : json::object();
      auto printed = PrintNewOutput(*client, f->id, cursor);
      if (!printed.ok()) FailWith(printed.status());
      if (!f->follow) break;
      if (*printed) continue;
      const uint32_t latest = task.value("attempts", 0u);
      const bool newer_attempt = cursor.attempt > 0 && latest > cursor.attempt;
      if (newer_attempt && !pinned) {
        cursor = LogCursor{.attempt = latest};
        std::cerr << "[gpulse: attempt " << latest << " of task " << f->id << "]\n" << std::flush;
        continue;
      }
      if (task.value("finished", false) || newer_attempt) break;
      std::this_thread::sleep_for(kPollInterval);
    }
  });
}

void AddCancel(CLI::App& app) {
  struct Flags {
    EndpointFlags endpoint;
    std::string id;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("cancel", "Cancel a task (SIGTERM, then SIGKILL after a grace period)");
  AddEndpointOptions(cmd, f->endpoint);
  cmd->add_option("id", f->id, "task id")->required();
  cmd->callback([f] {
    auto client = ConnectOrExit(f->endpoint);
    json task = ValueOrExit(client->Post("/api/tasks/" + f->id + "/cancel", json::object()));
    std::cout << task.value("id", f->id) << " " << task.value("state", std::string("?")) << "\n";
  });
}

void AddWait(CLI::App& app) {
  struct Flags {
    EndpointFlags endpoint;
    std::string id;
    double timeout = 0;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("wait", "Wait for a task to finish; exit with its exit code");
  AddEndpointOptions(cmd, f->endpoint);
  cmd->add_option("id", f->id, "task id")->required();
  cmd->add_option("--timeout", f->timeout, "give up after this many seconds (exit 124)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([f] {
    auto client = ConnectOrExit(f->endpoint);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(f->timeout);
    while (true) {
      json task = ValueOrExit(client->Get("/api/tasks/" + f->id));
      std::string state = task.value("state", std::string());
      if (task.value("finished", false)) {
        int code = task["exit_code"].is_number_integer() ? task["exit_code"].get<int>() : 1;
        if (state == "succeeded") code = 0;
        std::cerr << f->id << " " << state << (task["exit_code"].is_number() ? " (exit code " + Str(task["exit_code"]) + ")" : "") << "\n";
        if (code != 0) throw CLI::RuntimeError(code);
        return;
      }
      if (f->timeout > 0 && std::chrono::steady_clock::now() >= deadline) {
        Fail("timed out waiting for " + f->id + " (state " + state + ")", kExitTimeout);
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  });
}

}  // namespace

void AddTaskCommands(CLI::App& app) {
  AddTasks(app);
  AddSubmit(app);
  AddStatus(app);
  AddLogs(app);
  AddCancel(app);
  AddWait(app);
}

}  // namespace gpulse::cli
