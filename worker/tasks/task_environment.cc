#include "worker/tasks/task_environment.h"

#include <unistd.h>

#include <cstring>
#include <type_traits>

extern char** environ;

namespace gpulse::worker {
namespace {

template <typename T>
std::string JoinWithCommas(const std::vector<T>& items) {
  std::string out;
  for (const T& item : items) {
    if (!out.empty()) out += ',';
    if constexpr (std::is_same_v<T, std::string>) {
      out += item;
    } else {
      out += std::to_string(item);
    }
  }
  return out;
}

}  // namespace

Environment CleanBaseEnvironment(const Environment& worker_env, const std::string& home) {
  Environment env;
  env["PATH"] = kTaskPath;
  auto lang = worker_env.find("LANG");
  env["LANG"] = lang != worker_env.end() && !lang->second.empty() ? lang->second : "C.UTF-8";
  if (!home.empty()) env["HOME"] = home;
  return env;
}

Environment BuildTaskEnvironment(const Environment& base, const TaskLaunch& launch) {
  Environment env = base;
  for (const auto& [name, value] : launch.env) env[name] = value;

  const bool has_gpus = !launch.gpu_uuids.empty();
  const std::string uuids = JoinWithCommas(launch.gpu_uuids);
  env["CUDA_VISIBLE_DEVICES"] = uuids;
  env["NVIDIA_VISIBLE_DEVICES"] = has_gpus ? uuids : "void";
  env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID";
  env["GPULSE_TASK_ID"] = launch.task_id;
  env["GPULSE_TASK_ATTEMPT"] = std::to_string(launch.attempt);
  env["GPULSE_GPU_INDICES"] = JoinWithCommas(launch.gpu_indices);
  return env;
}

Environment CurrentProcessEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const char* equals = std::strchr(*entry, '=');
    if (equals == nullptr || equals == *entry) continue;
    // The first definition wins, as getenv() would return it.
    env.emplace(std::string(*entry, static_cast<size_t>(equals - *entry)), std::string(equals + 1));
  }
  return env;
}

std::vector<std::string> ToEnvStrings(const Environment& env) {
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

bool IsValidEnvName(const std::string& name) {
  return !name.empty() && name.find('=') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace gpulse::worker
