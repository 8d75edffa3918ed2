// WorkerLinkService: the master's end of each worker's bidirectional stream
// (proto/gpulse.proto, WorkerLink.Connect).
//
// Thin gRPC glue: every stream is a reactor that checks the cluster token,
// converts each wire message (proto/worker_messages.h) and forwards it to a
// WorkerLinkHandler (master/core), and implements WorkerChannel so the
// Cluster can send assignments and cancels down the same stream. A
// handler's error ends the stream with the matching gRPC status
// (ToGrpcStatus). All state lives behind the handler, which outlives the
// service.
#pragma once

#include <string>

#include "master/core/worker_link_handler.h"
#include "proto/gpulse.grpc.pb.h"

namespace gpulse::master {

class WorkerLinkService final : public gpulse::v1::WorkerLink::CallbackService {
 public:
  WorkerLinkService(WorkerLinkHandler& handler, std::string token)
      : handler_(handler), token_(std::move(token)) {}

  grpc::ServerBidiReactor<gpulse::v1::WorkerMessage, gpulse::v1::MasterMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  WorkerLinkHandler& handler_;
  const std::string token_;
};

}  // namespace gpulse::master
