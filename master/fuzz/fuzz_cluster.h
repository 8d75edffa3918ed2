// FuzzCluster: what the master's fuzzers (master/fuzz/) run each input
// against — a recovered Cluster over the in-memory store, with History, a
// LogStore in a temp dir and the ClusterLinkHandler, all as MasterServer
// wires them, and a known state: worker "w1" (2 GPUs) registered on
// `w1_session`, task t-000001 placed on it (attempt 1), task t-000002
// queued (2 GPUs, submitted after the placement round). Fresh for every
// input, so one input cannot make the next one pass or fail.
//
// Not thread-safe; one per input. Any failure to set up aborts (the fuzzer
// itself is broken, not the code under test).
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "link/messages.h"
#include "master/core/cluster.h"
#include "master/core/cluster_link_handler.h"
#include "master/core/history.h"
#include "master/core/placement.h"
#include "master/store/log_store.h"
#include "master/store/task_store.h"

namespace gpulse::master::fuzz {

// Turns off the master's log (spdlog): a line per input would only slow
// a fuzzer down.
inline void SilenceLogs() { spdlog::set_level(spdlog::level::off); }

// A worker's downward half that drops what the master sends.
class DiscardingChannel final : public WorkerChannel {
 public:
  void SendAssign(const Task&) override {}
  void SendCancel(const std::string&, std::chrono::milliseconds) override {}
};

// A folder for every FuzzCluster's task logs, made once per process and
// removed at exit.
inline const std::string& FuzzLogDir() {
  static const std::string* dir = [] {
    std::string path = (std::filesystem::temp_directory_path() / "gpulse-master-fuzz-XXXXXX").string();
    if (::mkdtemp(path.data()) == nullptr) std::abort();
    static std::string folder = path;
    std::atexit([] { std::filesystem::remove_all(folder); });
    return new std::string(path);
  }();
  return *dir;
}

inline link::Registration FuzzWorkerRegistration() {
  link::Registration r;
  r.worker_id = "w1";
  r.address = "10.0.0.1";
  r.capacity = {"w1.example", 32, uint64_t{256} << 30};
  r.heartbeat_interval = std::chrono::milliseconds(1000);
  for (uint32_t i = 0; i < 2; ++i) {
    r.gpus.push_back({i, "GPU-w1-" + std::to_string(i), "NVIDIA H100 80GB HBM3",
                      "00000000:0" + std::to_string(i) + ":00.0", uint64_t{80} << 30});
  }
  return r;
}

struct FuzzCluster {
  FuzzCluster() : store(NewMemoryTaskStore()), policy(NewLeastLoadedPolicy()) {
    clock.Advance(std::chrono::hours(24 * 365 * 56));  // a wall time in this century
    cluster = std::make_unique<Cluster>(*store, *policy, clock);
    if (!cluster->Recover().ok()) std::abort();
    // The logs of earlier inputs stay; the store caps each stream.
    auto opened = LogStore::Open(FuzzLogDir(), 64 * 1024);
    if (!opened.ok()) std::abort();
    logs = std::move(*opened);
    handler = std::make_unique<ClusterLinkHandler>(*cluster, history, *logs, clock);
    w1_session.channel = &w1_channel;
    w1_session.peer = "ipv4:10.0.0.1:50000";
    if (!handler->OnRegister(w1_session, FuzzWorkerRegistration()).ok()) std::abort();
    TaskSpec placed;
    placed.name = "train";
    placed.argv = {"/usr/bin/train", "--epochs=3"};
    placed.cpus = 2;
    placed.memory_bytes = uint64_t{1} << 30;
    placed.gpus = 1;
    if (!cluster->Submit(placed).ok()) std::abort();
    cluster->Schedule();
    TaskSpec waiting = placed;
    waiting.gpus = 2;
    if (!cluster->Submit(waiting).ok()) std::abort();
  }

  ManualClock clock;
  std::unique_ptr<TaskStore> store;
  std::unique_ptr<PlacementPolicy> policy;
  std::unique_ptr<Cluster> cluster;
  History history;
  std::unique_ptr<LogStore> logs;
  std::unique_ptr<ClusterLinkHandler> handler;
  DiscardingChannel w1_channel;
  WorkerSession w1_session;
};

}  // namespace gpulse::master::fuzz
