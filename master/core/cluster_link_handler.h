// ClusterLinkHandler: the master's WorkerLinkHandler. It fans what workers
// say out to Cluster (registration, live figures, task states), History
// (the figures' recent past, stamped with the injected Clock) and LogStore
// (task output).
//
// Thread-safe: it keeps no state of its own beyond the sessions the streams
// own; Cluster, History and LogStore are thread-safe.
#pragma once

#include "common/clock.h"
#include "master/core/cluster.h"
#include "master/core/history.h"
#include "master/core/worker_link_handler.h"
#include "master/store/log_store.h"

namespace gpulse::master {

class ClusterLinkHandler final : public WorkerLinkHandler {
 public:
  // All four must outlive the handler.
  ClusterLinkHandler(Cluster& cluster, History& history, LogStore& logs, Clock& clock)
      : cluster_(cluster), history_(history), logs_(logs), clock_(clock) {}

  // Registers the worker with the Cluster (see Cluster::RegisterWorker for
  // what its errors mean) and its GPUs' rings with History, at the
  // heartbeat interval the Cluster granted (which the reply carries).
  Result<link::Registered> OnRegister(WorkerSession& session, const link::Registration& registration) override;
  // Drops implausible figures (DropImplausibleFigures), records the sample
  // in History at the clock's wall time, then has the Cluster ingest the
  // heartbeat and count what was dropped (its NotFound ends the stream).
  Status OnHeartbeat(const WorkerSession& session, link::Heartbeat heartbeat) override;
  // Applies the update to the Cluster; a refused (stale) update is logged.
  Status OnTaskUpdate(const WorkerSession& session, const link::TaskUpdate& update) override;
  // Appends the chunk to its attempt's log in the LogStore if the Cluster
  // accepts it (Cluster::AcceptOutput: only the worker's own current
  // attempts); a chunk the Cluster refuses is logged and dropped. For a
  // worker that re-sends refused output: a chunk that starts past the
  // stored end is refused (the worker re-sends from that end), and one the
  // store could not take (a full disk) is refused from where the store
  // ends and the task says so (Cluster::NoteOutputNotStored) until output
  // is stored again. For other workers a failed append is logged and the
  // chunk dropped (the next one then notes a gap).
  Result<std::optional<link::OutputRefused>> OnLogChunk(const WorkerSession& session,
                                                        const link::LogChunk& chunk) override;
  // Tells the Cluster the worker's stream closed, if the session registered.
  void OnDisconnect(const WorkerSession& session) override;

 private:
  Cluster& cluster_;
  History& history_;
  LogStore& logs_;
  Clock& clock_;
};

}  // namespace gpulse::master
