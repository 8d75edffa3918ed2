// The master's `GET /metrics` page (Prometheus text format): the cluster's
// own series under gpulse_ — workers and tasks by state, GPU capacity and
// allocation, heartbeat ages, host figures, collector health — and every
// worker's GPUs as dcgm-exporter-style DCGM_FI_DEV_* series (see
// metrics/sample_metrics.h and docs/dashboard.md for the full list).
//
// Pure functions over snapshots; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "master/core/cluster.h"
#include "master/model/model.h"

namespace gpulse::master {

// Renders the page from a snapshot of the workers and the cluster counts.
// `now` is the wall time heartbeat ages are measured against.
// `running`: the running tasks, for the per-task series (gpulse_task_*).
std::string RenderClusterMetrics(const std::vector<Worker>& workers, const ClusterCounts& counts, WallTime now,
                                 const std::vector<Task>& running = {});

// The same, taking the snapshots from `cluster`.
std::string RenderClusterMetrics(const Cluster& cluster, WallTime now);

}  // namespace gpulse::master
