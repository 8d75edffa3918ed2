// gpulse tasks | submit | status | logs | cancel | wait
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/cluster_commands.h"
#include "cli/command_support.h"
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

// Up to `limit` tasks (0: all), newest first, a page of the API at a time.
json FetchTasks(MasterClient& client, const std::string& state, const std::string& worker, size_t limit) {
  json out = json::array();
  std::string cursor;
  do {
    const size_t want = limit == 0 ? 1000 : std::min<size_t>(1000, limit - out.size());
    std::string path = "/api/tasks?limit=" + std::to_string(want);
    if (!state.empty()) path += "&state=" + state;
    if (!worker.empty()) path += "&worker=" + worker;
    if (!cursor.empty()) path += "&cursor=" + cursor;
    json page = ValueOrExit(client.Get(path));
    if (!page.is_object() || !page["tasks"].is_array()) Fail("the master sent no page of tasks", kExitInternal);
    for (auto& t : page["tasks"]) out.push_back(std::move(t));
    cursor = page["next_cursor"].is_string() ? page["next_cursor"].get<std::string>() : "";
  } while (!cursor.empty() && (limit == 0 || out.size() < limit));
  return out;
}

void AddTasks(CLI::App& app, const GlobalOptions& global) {
  struct Flags {
    bool json = false;
    bool all = false;
    bool watch = false;
    size_t limit = 50;
    std::string state, worker, output;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("tasks", "List tasks, newest first");
  Describe(cmd, {"gpulse tasks", "gpulse tasks --state queued -o wide", "gpulse tasks --all --json > tasks.json"});
  cmd->add_flag("--json", f->json, "print a JSON array of task objects");
  cmd->add_option("--state", f->state, "only tasks in this state")
      ->check(CLI::IsMember({"queued", "assigned", "running", "succeeded", "failed", "cancelled"}));
  cmd->add_option("--worker", f->worker, "only tasks placed on this worker");
  cmd->add_option("--limit", f->limit, "show the newest N")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--all", f->all, "show every task (pages through all of them)");
  cmd->add_option("-o,--output", f->output, "wide: GPU indices and attempts")->check(CLI::IsMember({"wide"}));
  cmd->add_flag("-w,--watch", f->watch, "redraw every 2 s until interrupted");
  cmd->callback([&global, f] {
    auto client = ConnectOrExit(global);
    PrintMaybeWatching(f->watch, [&] {
      json tasks = FetchTasks(*client, f->state, f->worker, f->all ? 0 : f->limit);
      if (f->json) return tasks.dump(2) + "\n";
      return RenderTasks(tasks, TerminalView(f->output == "wide"));
    });
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

// Prints the task's output (of `attempt`, 0: the latest) and, with
// `follow`, what comes until the task has finished, moving on to each new
// attempt unless one was pinned.
void PrintLogs(MasterClient& client, const std::string& id, uint32_t attempt, bool follow) {
  const bool pinned = attempt > 0;
  LogCursor cursor{.attempt = attempt};
  while (true) {
    // What the task was before this read: once it had finished (or moved
    // past the attempt shown) and a read after that brings nothing new,
    // nothing more will come (the last bytes may trail the exit).
    json task = follow ? ValueOrExit(client.Get("/api/tasks/" + id)) : json::object();
    auto printed = PrintNewOutput(client, id, cursor);
    if (!printed.ok()) FailWith(printed.status());
    if (!follow) break;
    if (*printed) continue;
    const uint32_t latest = task.value("attempts", 0u);
    const bool newer_attempt = cursor.attempt > 0 && latest > cursor.attempt;
    if (newer_attempt && !pinned) {
      cursor = LogCursor{.attempt = latest};
      std::cerr << "[gpulse: attempt " << latest << " of task " << id << "]\n" << std::flush;
      continue;
    }
    if (task.value("finished", false) || newer_attempt) break;
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Waits until the task has finished (or `timeout_s` > 0 has passed: exit
// 124), says how it ended on stderr, and ends the command with the task's
// exit code (0 when it succeeded; 1 when it ended without one).
void WaitAndExitWithTask(MasterClient& client, const std::string& id, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (true) {
    json task = ValueOrExit(client.Get("/api/tasks/" + id));
    std::string state = task.value("state", std::string());
    if (task.value("finished", false)) {
      int code = task["exit_code"].is_number_integer() ? task["exit_code"].get<int>() : 1;
      if (state == "succeeded") code = 0;
      std::cerr << id << " " << state
                << (task["exit_code"].is_number() ? " (exit code " + Str(task["exit_code"]) + ")" : "") << "\n";
      if (code != 0) throw CLI::RuntimeError(code);
      return;
    }
    if (timeout_s > 0 && std::chrono::steady_clock::now() >= deadline) {
      Fail("timed out waiting for " + id + " (state " + state + ")", kExitTimeout);
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

void AddSubmit(CLI::App& app, const GlobalOptions& global) {
  struct Flags {
    uint32_t gpus = 0, cpus = 1, max_attempts = 3;
    std::string memory, name;
    std::vector<std::string> env, command;
    bool allow_unfit = false, wait = false, follow = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "submit", "Submit a task; prints its id alone on stdout (with --follow: its output instead)");
  Describe(cmd, {"gpulse submit --gpus 2 --memory 16GiB --name train -- python train.py --epochs 10",
                 "gpulse submit --follow --gpus 1 -- nvidia-smi"});
  cmd->add_option("--gpus", f->gpus, "whole GPUs to allocate")->capture_default_str();
  cmd->add_option("--cpus", f->cpus, "CPU cores to allocate")->capture_default_str();
  cmd->add_option("--memory", f->memory, "memory to allocate, e.g. 4GiB");
  cmd->add_option("--name", f->name, "a name to recognise the task by");
  cmd->add_option("--max-attempts", f->max_attempts, "runs to try if its worker dies")->capture_default_str();
  cmd->add_option("--env", f->env, "KEY=VALUE added to the task's environment (repeatable)");
  cmd->add_flag("--allow-unfit", f->allow_unfit,
                "queue it even if no registered worker could ever hold it (wait for one); "
                "without it such a task is refused");
  cmd->add_flag("--wait", f->wait, "wait until it has finished and exit with its exit code");
  cmd->add_flag("-f,--follow", f->follow,
                "print its output as it runs (stdout, stderr) and exit with its exit code; the id goes to stderr");
  cmd->add_option("command", f->command, "the command and its arguments, after --")->required();
  cmd->callback([&global, f] {
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
    auto client = ConnectOrExit(global);
    json task = ValueOrExit(client->Post("/api/tasks", body));
    const std::string id = task.value("id", std::string());
    if (f->follow) {
      std::cerr << "[gpulse: submitted " << id << "]\n" << std::flush;
      PrintLogs(*client, id, 0, /*follow=*/true);
    } else {
      std::cout << id << "\n" << std::flush;
    }
    if (f->follow || f->wait) WaitAndExitWithTask(*client, id, 0);
  });
}

void AddStatus(CLI::App& app, const GlobalOptions& global) {
  struct Flags {
    std::string id;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("status", "Show one task: times, command, resources, GPUs, why it waits, usage");
  Describe(cmd, {"gpulse status t-000014"});
  cmd->add_option("id", f->id, "task id")->required();
  cmd->add_flag("--json", f->json, "print the task object as JSON");
  cmd->callback([&global, f] {
    auto client = ConnectOrExit(global);
    json task = ValueOrExit(client->Get("/api/tasks/" + f->id));
    if (f->json) {
      std::cout << task.dump(2) << "\n";
    } else {
      std::cout << RenderTask(task, TerminalView(false));
    }
  });
}

void AddLogs(CLI::App& app, const GlobalOptions& global) {
  struct Flags {
    std::string id;
    bool follow = false;
    uint32_t attempt = 0;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("logs", "Print a task's stdout (to stdout) and stderr (to stderr)");
  Describe(cmd, {"gpulse logs -f t-000014", "gpulse logs --attempt 1 t-000014 2>/dev/null"});
  cmd->add_option("id", f->id, "task id")->required();
  cmd->add_flag("-f,--follow", f->follow,
                "keep printing new output until the task finishes, moving on to each new attempt");
  cmd->add_option("--attempt", f->attempt, "print this attempt's output (1 is the first; default: the latest)")
      ->check(CLI::PositiveNumber);
  cmd->callback([&global, f] {
    auto client = ConnectOrExit(global);
    PrintLogs(*client, f->id, f->attempt, f->follow);
  });
}

void AddCancel(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("cancel", "Cancel a task (SIGTERM, then SIGKILL after a grace period)");
  Describe(cmd, {"gpulse cancel t-000014"});
  cmd->add_option("id", *id, "task id")->required();
  cmd->callback([&global, id] {
    auto client = ConnectOrExit(global);
    json task = ValueOrExit(client->Post("/api/tasks/" + *id + "/cancel", json::object()));
    const std::string state = task.value("state", std::string("?"));
    const std::string shown = task.value("id", *id);
    if (state == "cancelled") {
      std::cout << "cancelled " << shown << " (it had not started)\n";
    } else {
      std::cout << "cancelling " << shown << " on " << Str(task["worker"], "its worker")
                << " (SIGTERM, then SIGKILL after the master's cancel grace period)\n";
    }
  });
}

void AddWait(CLI::App& app, const GlobalOptions& global) {
  struct Flags {
    std::string id;
    double timeout = 0;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("wait", "Wait for a task to finish; exit with its exit code");
  Describe(cmd, {"gpulse wait --timeout 3600 t-000014 && echo done"});
  cmd->add_option("id", f->id, "task id")->required();
  cmd->add_option("--timeout", f->timeout, "give up after this many seconds (exit 124)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([&global, f] {
    auto client = ConnectOrExit(global);
    WaitAndExitWithTask(*client, f->id, f->timeout);
  });
}

}  // namespace

void AddTaskCommands(CLI::App& app, const GlobalOptions& global) {
  AddTasks(app, global);
  AddSubmit(app, global);
  AddStatus(app, global);
  AddLogs(app, global);
  AddCancel(app, global);
  AddWait(app, global);
}

}  // namespace gpulse::cli
