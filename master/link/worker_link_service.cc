#include "master/link/worker_link_service.h"

#include <grpc/grpc_security_constants.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <mutex>

#include "common/token.h"
#include "master/link/grpc_status.h"
#include "proto/worker_messages.h"

namespace gpulse::master {
namespace {

using gpulse::v1::MasterMessage;
using gpulse::v1::WorkerMessage;

// OK when the call carries "authorization: Bearer <token>"; otherwise
// Unauthenticated with what the worker should check.
Status CheckToken(const grpc::CallbackServerContext& ctx, const std::string& token) {
  auto it = ctx.client_metadata().find("authorization");
  std::string_view header =
      it == ctx.client_metadata().end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
  std::string_view presented = BearerToken(header);
  if (presented.empty()) return Unauthenticated("no cluster token presented (use --token-file)");
  if (!TokensEqual(presented, token)) {
    return Unauthenticated(
        "wrong cluster token: this worker's token does not match the master's (compare --token-file with "
        "<data-dir>/token)");
  }
  return Status::Ok();
}

// A worker id as a worker sent it, safe for a log line: at most 64
// characters, anything outside printable ASCII as '?'.
std::string LoggableId(std::string_view id) {
  std::string out(id.substr(0, 64));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

// The client certificate the stream's TLS handshake presented and the
// server verified against the cluster CA (PEM), or "" when none.
std::string PeerCertificate(const grpc::CallbackServerContext& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (!auth) return "";
  std::vector<grpc::string_ref> values = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

// One worker's stream. Deletes itself when gRPC is done with it.
class WorkerStream final : public grpc::ServerBidiReactor<WorkerMessage, MasterMessage>, public WorkerChannel {
 public:
  WorkerStream(WorkerLinkHandler& handler, const std::string& token, WorkerIdentities* identities,
               grpc::CallbackServerContext* ctx)
      : handler_(handler), identities_(identities) {
    session_.channel = this;
    session_.peer = ctx->peer();
    if (Status token_ok = CheckToken(*ctx, token); !token_ok.ok()) {
      spdlog::warn("refused worker stream from {}: {}", session_.peer, token_ok.message());
      FinishOnce(ToGrpcStatus(token_ok));
      return;
    }
    if (identities_ != nullptr) peer_certificate_ = PeerCertificate(*ctx);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the worker closed its side, or the connection broke
      DisconnectOnce();
      FinishOnce(grpc::Status::OK);
      return;
    }
    if (Status problem = Handle(in_); !problem.ok()) {
      DisconnectOnce();
      FinishOnce(ToGrpcStatus(problem));
      return;
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    outbox_.pop_front();
    if (!ok) {
      outbox_.clear();
      writing_ = false;
    } else if (!outbox_.empty()) {
      StartWrite(&outbox_.front());
      return;
    } else {
      writing_ = false;
    }
    if (finish_pending_) {
      finish_pending_ = false;
      Finish(final_status_);
    }
  }

  void OnDone() override {
    DisconnectOnce();
    delete this;
  }

  void SendAssign(const Task& task) override {
    MasterMessage m;
    proto::ToProto(AssignmentFor(task), m.mutable_assign());
    Enqueue(std::move(m));
  }

  void SendCancel(const std::string& task_id, std::chrono::milliseconds grace) override {
    MasterMessage m;
    proto::ToProto(link::Cancel{task_id, grace}, m.mutable_cancel());
    Enqueue(std::move(m));
  }

 private:
  // Converts and forwards one message; an error ends the stream.
  Status Handle(const WorkerMessage& msg) {
    switch (msg.body_case()) {
      case WorkerMessage::kRegister: {
        if (identities_ != nullptr) {
          if (Status allowed = identities_->CheckRegistration(msg.register_().worker_id(), peer_certificate_);
              !allowed.ok()) {
            spdlog::warn("refused worker registration from {}: {}", session_.peer, allowed.message());
            return allowed;
          }
        }
        ASSIGN_OR_RETURN(link::Registered registered,
                         handler_.OnRegister(session_, proto::FromProto(msg.register_())));
        MasterMessage reply;
        proto::ToProto(registered, reply.mutable_registered());
        Enqueue(std::move(reply));
        return Status::Ok();
      }
      case WorkerMessage::kHeartbeat: {
        RETURN_IF_ERROR(handler_.OnHeartbeat(session_, proto::FromProto(msg.heartbeat())));
        MasterMessage ack;
        ack.mutable_ack()->set_seq(msg.heartbeat().seq());
        Enqueue(std::move(ack));
        return Status::Ok();
      }
      case WorkerMessage::kTaskUpdate: {
        const link::TaskUpdate update = proto::FromProto(msg.task_update());
        RETURN_IF_ERROR(handler_.OnTaskUpdate(session_, update));
        if (update.event_seq > 0) {  // applied or ignored as a repeat: the worker may forget it
          MasterMessage ack;
          proto::ToProto(link::TaskUpdateAck{update.event_seq}, ack.mutable_task_update_ack());
          Enqueue(std::move(ack));
        }
        return Status::Ok();
      }
      case WorkerMessage::kLog: {
        ASSIGN_OR_RETURN(std::optional<link::OutputRefused> refused,
                         handler_.OnLogChunk(session_, proto::FromProto(msg.log())));
        if (refused) {  // after the answers to what came before the chunk, before those to what follows
          MasterMessage m;
          proto::ToProto(*refused, m.mutable_output_refused());
          Enqueue(std::move(m));
        }
        return Status::Ok();
      }
      default: return InvalidArgument("empty or unknown message");
    }
  }

  // Tells the handler the stream is over, once: before the final status
  // goes out when the stream ends from a read (so a worker that reconnects
  // at once finds its id released, not still held by this stream), else
  // at OnDone.
  void DisconnectOnce() {
    if (disconnected_) return;
    disconnected_ = true;
    handler_.OnDisconnect(session_);
  }

  void Enqueue(MasterMessage m) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    outbox_.push_back(std::move(m));  // deque: front() stays valid while writing
    if (!writing_) {
      writing_ = true;
      StartWrite(&outbox_.front());
    }
  }

  // Finishes once; waits for an in-flight write to complete first.
  void FinishOnce(grpc::Status status) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    if (writing_) {
      finish_pending_ = true;
      final_status_ = std::move(status);
    } else {
      Finish(std::move(status));
    }
  }

  WorkerLinkHandler& handler_;
  WorkerIdentities* const identities_;
  std::string peer_certificate_;  // verified client certificate (PEM), "" when none; set once
  WorkerSession session_;  // touched only by the read callbacks and OnDone
  bool disconnected_ = false;  // likewise
  WorkerMessage in_;

  std::mutex mu_;  // guards the members below
  std::deque<MasterMessage> outbox_;
  bool writing_ = false;
  bool finished_ = false;
  bool finish_pending_ = false;
  grpc::Status final_status_;
};

}  // namespace

grpc::ServerBidiReactor<WorkerMessage, MasterMessage>* WorkerLinkService::Connect(
    grpc::CallbackServerContext* context) {
  return new WorkerStream(handler_, token_, identities_, context);
}

grpc::ServerUnaryReactor* WorkerLinkService::RequestCertificate(grpc::CallbackServerContext* context,
                                                                const gpulse::v1::CertificateRequest* request,
                                                                gpulse::v1::CertificateReply* reply) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Status outcome = CheckToken(*context, token_);
  if (outcome.ok() && identities_ == nullptr) {
    outcome = FailedPrecondition(
        "this master issues no worker certificates (it runs with an operator's CA whose key it does not hold, or "
        "--insecure); the worker goes on with the cluster token alone");
  }
  if (outcome.ok()) {
    // Signing is one ECDSA signature and the binding one SQLite commit:
    // short enough for the callback thread.
    auto issued = identities_->Issue(request->worker_id(), request->csr_pem());
    if (issued.ok()) {
      reply->set_certificate_pem(*issued);
      spdlog::info("issued a client certificate for worker {} ({})", LoggableId(request->worker_id()),
                   context->peer());
    } else {
      outcome = issued.status();
    }
  }
  if (!outcome.ok()) {
    spdlog::warn("refused a certificate for worker {} ({}): {}", LoggableId(request->worker_id()),
                 context->peer(), outcome.message());
  }
  reactor->Finish(ToGrpcStatus(outcome));
  return reactor;
}

}  // namespace gpulse::master
