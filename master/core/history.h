// History: the recent past of every worker's figures, for the dashboard's
// charts — per worker CPU %, memory % and mean GPU %, per GPU utilization %,
// memory used, temperature and power — one point per heartbeat.
//
// Each worker's points live in fixed-size rings (one column per figure, all
// sharing one time column) sized to cover `window` at that worker's
// heartbeat interval; the oldest point is overwritten once a ring is full.
// Rings exist only for registered workers and their registered GPUs: they
// are allocated by Register (again when a worker registers another interval
// or other GPUs, keeping the points of GPUs that stay and freeing the rest),
// so recording allocates nothing, and a heartbeat naming other GPUs cannot
// make the master allocate. Forget frees a worker's rings. An unknown figure
// is stored as unknown (NaN) and served as null, never as 0.
//
// Thread-safe: the worker map has a reader/writer lock taken shared on the
// hot path, and each worker's rings have their own mutex, so heartbeats of
// different workers never wait for each other.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "master/model/model.h"
#include "sample/gpu_identity.h"
#include "sample/sample.h"

namespace gpulse::master {

struct HistoryConfig {
  // How far back the charts reach (gpulse-master --history-window SECONDS).
  std::chrono::seconds window{3600};
  // The most points kept per worker whatever its interval, so a worker that
  // sends very often cannot take unbounded memory.
  size_t max_points = 36000;
  // Assumed when a worker states no interval.
  std::chrono::milliseconds default_interval{5000};
};

// A copy of one worker's points, oldest first. Every column has t_ms.size()
// entries; NaN marks an unknown value.
struct WorkerHistory {
  std::chrono::milliseconds interval{0};
  std::vector<int64_t> t_ms;  // wall time of each heartbeat, ms since the Unix epoch
  std::vector<float> cpu_percent;
  std::vector<float> memory_percent;
  std::vector<float> gpu_percent;

  struct Gpu {
    // Its index, and the latest known UUID, name, PCI bus id and total memory.
    GpuIdentity identity;
    std::vector<float> utilization_gpu;
    std::vector<double> memory_used_bytes;
    std::vector<float> temperature_c;
    std::vector<float> power_w;
  };
  std::vector<Gpu> gpus;  // by NVML index
};

class History {
 public:
  explicit History(HistoryConfig config = {});
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // `worker_id` registered with heartbeat `interval` (0: the default),
  // which sizes its rings (CapacityFor), and `gpus` (by NVML index; the
  // caller bounds how many). Creates its rings, or resizes them keeping the
  // newest points; GPUs no longer registered lose theirs.
  void Register(const std::string& worker_id, std::chrono::milliseconds interval,
                const std::vector<GpuIdentity>& gpus);
  // Frees everything held for `worker_id`; a later Record for it does
  // nothing until it registers again.
  void Forget(const std::string& worker_id);

  // Appends the figures of one heartbeat's `sample` for `worker_id`,
  // received at `at` (its host, mean GPU and per-GPU figures; the rest of
  // the sample is not kept). Registered GPUs missing from this sample get
  // an unknown point; samples of GPUs it did not register are ignored; a
  // worker that never registered (or was forgotten) is ignored.
  void Record(const std::string& worker_id, const Sample& sample, WallTime at);

  // The bytes the rings of every worker hold, for tests and bounds.
  size_t BytesHeld() const;

  // The points of `worker_id` taken strictly after `since` (all when
  // absent), oldest first; nullopt when nothing was ever recorded for it.
  std::optional<WorkerHistory> Get(const std::string& worker_id,
                                   std::optional<WallTime> since = std::nullopt) const;

  // How many points a worker with this interval keeps.
  size_t CapacityFor(std::chrono::milliseconds interval) const;
  const HistoryConfig& config() const { return config_; }

 private:
  struct Ring;
  std::shared_ptr<Ring> Find(const std::string& worker_id) const;

  const HistoryConfig config_;
  mutable std::shared_mutex map_mu_;  // guards rings_ (the map, not the rings)
  // shared_ptr: a Record or Get in flight keeps a forgotten worker's rings
  // alive until it is done.
  std::unordered_map<std::string, std::shared_ptr<Ring>> rings_;
};

// The JSON of GET /api/workers/{id}/history (docs/dashboard.md): columns
// under "t", "host" and "gpus", unknown values as null.
nlohmann::json HistoryToJson(const std::string& worker_id, const WorkerHistory& history,
                             std::chrono::seconds window);

}  // namespace gpulse::master
