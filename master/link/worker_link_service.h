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
//
// Per-worker identity (with `identities`, master/core/worker_identities.h):
// RequestCertificate signs a worker's first-join signing request after the
// token; every Register is checked against the client certificate the
// stream's TLS handshake presented (the server asks for one and verifies
// it against the cluster CA, but accepts a handshake without one) before
// the handler sees it, and a refusal ends the stream with
// PERMISSION_DENIED and the reason, also logged. Without `identities`
// (--insecure, or an operator's CA whose key the master lacks)
// RequestCertificate answers FAILED_PRECONDITION and any id may register
// with the token.
#pragma once

#include <string>

#include "master/core/worker_identities.h"
#include "master/core/worker_link_handler.h"
#include "proto/gpulse.grpc.pb.h"

namespace gpulse::master {

// The largest message the master accepts from a worker (the gRPC server's
// max receive size; a larger one ends the stream with RESOURCE_EXHAUSTED).
// It fits the heartbeat of the largest worker the master accepts
// (kMaxGpusPerWorker = 64 GPUs), with room:
//   per GPU: index, UUID (~40 B), name (~40 B), PCI bus id (~16 B), 15
//     figures (<= 11 B each: 165 B), an error text (<= 256 B) and up to
//     128 processes (pid + memory, <= 19 B each: 2.4 KiB)  ~ 3 KiB
//   x 64 GPUs                                             ~ 195 KiB
//   host figures, NVML state, collector stats              < 2 KiB
//   running tasks: up to 1,024 (id, attempt, pid ~ 30 B) plus all 64 GPU
//     UUIDs once                                          ~ 33 KiB
// about 230 KiB; a log chunk is at most 64 KiB of output (LogTailer) and a
// registration is smaller than a heartbeat. 1 MiB leaves 4x headroom
// instead of gRPC's 4 MiB default (or the 8 MiB set before), so one
// message can no longer make the master parse and hold megabytes.
constexpr int kMaxWorkerMessageBytes = 1 << 20;

class WorkerLinkService final : public gpulse::v1::WorkerLink::CallbackService {
 public:
  // `identities` may be null (see above); it outlives the service.
  WorkerLinkService(WorkerLinkHandler& handler, std::string token, WorkerIdentities* identities = nullptr)
      : handler_(handler), token_(std::move(token)), identities_(identities) {}

  grpc::ServerBidiReactor<gpulse::v1::WorkerMessage, gpulse::v1::MasterMessage>* Connect(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* RequestCertificate(grpc::CallbackServerContext* context,
                                               const gpulse::v1::CertificateRequest* request,
                                               gpulse::v1::CertificateReply* reply) override;

 private:
  WorkerLinkHandler& handler_;
  const std::string token_;
  WorkerIdentities* const identities_;
};

}  // namespace gpulse::master
