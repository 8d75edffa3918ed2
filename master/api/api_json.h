// The JSON forms of the master's HTTP API (docs/api.md): worker and task
// objects out, task submissions in. Unknown figures are null, never 0.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "master/core/cluster.h"
#include "master/model/model.h"

namespace gpulse::master {

// Seconds since the epoch with millisecond precision, or null.
nlohmann::json TimeToJson(const std::optional<WallTime>& t);

// What the API shows instead of each task environment value: values are
// often secrets (passwords, API keys), so they go to the task's worker and
// nowhere else; the API, the dashboard and the events show names only.
inline constexpr const char* kHiddenEnvValue = "<hidden>";

nlohmann::json WorkerToJson(const Worker& worker, WallTime now);
// The task; its "env" maps each name to kHiddenEnvValue.
// The cluster's GPU efficiency over the last hour and day (docs/api.md,
// "/api/dashboard"): GPU-hours allocated, utilization-weighted GPU-hours
// used, their ratio (null while nothing was allocated), and idle tasks.
nlohmann::json EfficiencyToJson(const ClusterCounts& counts);
// A task's usage (docs/api.md, "usage").
nlohmann::json TaskUsageToJson(const TaskUsage& usage);
nlohmann::json TaskToJson(const Task& task);

// Parses a submission body. Accepted fields: name, argv (required, non-empty
// array of strings), env (object of strings), cpus, gpus, max_attempts,
// allow_unfit (read by SubmitOptionsFromJson)
// (non-negative integers), memory (bytes as an integer, or a size string
// such as "4GiB"). InvalidArgument, with the field named, for anything
// malformed or unknown. Range checks are Cluster::Submit's.
Result<TaskSpec> TaskSpecFromJson(const nlohmann::json& body);
// The submission's options beside the spec: allow_unfit (a boolean,
// default false). InvalidArgument for a value of another type.
Result<SubmitOptions> SubmitOptionsFromJson(const nlohmann::json& body);

}  // namespace gpulse::master
