// WorkerLinkService: the master's end of each worker's bidirectional stream
// (proto/gpulse.proto, WorkerLink.Connect).
//
// Thin gRPC glue: every stream is a reactor that checks the cluster token,
// turns wire messages into Cluster calls, and implements WorkerChannel so
// the Cluster can send assignments and cancels down the same stream. All
// state lives in Cluster and LogStore, which outlive the service.
#pragma once

#include <string>

#include "master/core/cluster.h"
#include "master/core/history.h"
#include "master/store/log_store.h"
#include "proto/gpulse.grpc.pb.h"

namespace gpulse::master {

class WorkerLinkService final : public gpulse::v1::WorkerLink::CallbackService {
 public:
  WorkerLinkService(Cluster& cluster, LogStore& logs, History& history, std::string token)
      : cluster_(cluster), logs_(logs), history_(history), token_(std::move(token)) {}

  grpc::ServerBidiReactor<gpulse::v1::WorkerMessage, gpulse::v1::MasterMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  Cluster& cluster_;
  LogStore& logs_;
  History& history_;
  const std::string token_;
};

}  // namespace gpulse::master
