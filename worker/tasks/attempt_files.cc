#include "worker/tasks/attempt_files.h"

#include <time.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/private_file.h"

namespace gpulse::worker {
namespace {

using nlohmann::json;

const char* KindName(TaskEvent::Kind kind) { return TaskEventKindName(kind); }

Result<TaskEvent::Kind> KindFromName(const std::string& name) {
  for (auto kind : {TaskEvent::Kind::kStarted, TaskEvent::Kind::kExited, TaskEvent::Kind::kFailedToStart,
                    TaskEvent::Kind::kCancelled}) {
    if (name == TaskEventKindName(kind)) return kind;
  }
  return InvalidArgument("unknown event kind '" + name + "'");
}

template <typename F>
auto Parsing(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("malformed attempt ") + what + " file: " + e.what());
  }
}

}  // namespace

std::filesystem::path AttemptsRoot(const std::filesystem::path& work_dir) { return work_dir / "attempts"; }

std::filesystem::path AttemptDirFor(const std::filesystem::path& work_dir, const std::string& task_id,
                                    uint32_t attempt) {
  return AttemptsRoot(work_dir) / (task_id + "." + std::to_string(attempt));
}

std::string SerializeLaunch(const SupervisedLaunch& s) {
  const TaskLaunch& l = s.launch;
  json j = {{"task_id", l.task_id},       {"attempt", l.attempt},         {"argv", l.argv},
            {"env", l.env},               {"gpu_indices", l.gpu_indices}, {"gpu_uuids", l.gpu_uuids},
            {"cpus", l.cpus},             {"memory_bytes", l.memory_bytes},
            {"work_dir", s.work_dir.string()}, {"containment", s.containment},
            {"task_user", s.task_user}};
  return j.dump();
}

Result<SupervisedLaunch> ParseLaunch(const std::string& text) {
  return Parsing("launch", [&]() -> Result<SupervisedLaunch> {
    const json j = json::parse(text);
    SupervisedLaunch s;
    s.launch.task_id = j.at("task_id").get<std::string>();
    s.launch.attempt = j.at("attempt").get<uint32_t>();
    s.launch.argv = j.at("argv").get<std::vector<std::string>>();
    s.launch.env = j.at("env").get<std::map<std::string, std::string>>();
    s.launch.gpu_indices = j.at("gpu_indices").get<std::vector<uint32_t>>();
    s.launch.gpu_uuids = j.at("gpu_uuids").get<std::vector<std::string>>();
    s.launch.cpus = j.at("cpus").get<uint32_t>();
    s.launch.memory_bytes = j.at("memory_bytes").get<uint64_t>();
    s.work_dir = j.at("work_dir").get<std::string>();
    s.containment = j.at("containment").get<std::string>();
    s.task_user = j.value("task_user", std::string());  // absent in files of workers before --task-user
    return s;
  });
}

std::string SerializeState(const SupervisorState& state) {
  return json{{"supervisor_pid", state.supervisor_pid},
              {"supervisor_start_time", state.supervisor_start_time},
              {"task_pid", state.task_pid}}
      .dump();
}

Result<SupervisorState> ParseState(const std::string& text) {
  return Parsing("state", [&]() -> Result<SupervisorState> {
    const json j = json::parse(text);
    SupervisorState state;
    state.supervisor_pid = j.at("supervisor_pid").get<pid_t>();
    state.supervisor_start_time = j.at("supervisor_start_time").get<uint64_t>();
    state.task_pid = j.at("task_pid").get<pid_t>();
    if (state.supervisor_pid <= 0) return InvalidArgument("attempt state names no supervisor pid");
    return state;
  });
}

std::string SerializeExit(const TaskEvent& e) {
  return json{{"kind", KindName(e.kind)},   {"task_id", e.task_id}, {"attempt", e.attempt},
              {"pid", e.pid},               {"exit_code", e.exit_code}, {"message", e.message},
              {"out_of_memory", e.out_of_memory}}
      .dump();
}

Result<TaskEvent> ParseExit(const std::string& text) {
  return Parsing("exit", [&]() -> Result<TaskEvent> {
    const json j = json::parse(text);
    TaskEvent e;
    ASSIGN_OR_RETURN(e.kind, KindFromName(j.at("kind").get<std::string>()));
    if (e.kind == TaskEvent::Kind::kStarted) return InvalidArgument("an exit record cannot say 'started'");
    e.task_id = j.at("task_id").get<std::string>();
    e.attempt = j.at("attempt").get<uint32_t>();
    e.pid = j.at("pid").get<pid_t>();
    e.exit_code = j.at("exit_code").get<int>();
    e.message = j.at("message").get<std::string>();
    e.out_of_memory = j.at("out_of_memory").get<bool>();
    return e;
  });
}

Result<uint64_t> ProcessStartTime(pid_t pid, const std::filesystem::path& proc) {
  ASSIGN_OR_RETURN(std::string stat, ReadSmallFile(proc / std::to_string(pid) / "stat"));
  // The command name (field 2) may hold spaces and parentheses: count
  // fields after its last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return InvalidArgument("malformed stat of pid " + std::to_string(pid));
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return InvalidArgument("short stat of pid " + std::to_string(pid));
  }
  return std::stoull(field);
}

Result<std::string> ReadSmallFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read '" + path.string() + "'");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Status WriteAttemptFile(const std::filesystem::path& path, const std::string& data) {
  return WriteFileAtomically(path.string(), data, 0600);
}

int64_t MonotonicNowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string SerializeLease(int64_t deadline_ns) { return std::to_string(deadline_ns) + "\n"; }

Result<int64_t> ParseLease(const std::string& text) {
  try {
    size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used == 0 || (used < text.size() && text.substr(used) != "\n")) throw std::invalid_argument("trailing");
    return static_cast<int64_t>(value);
  } catch (const std::exception&) {
    return InvalidArgument("malformed lease '" + text + "'");
  }
}

}  // namespace gpulse::worker
