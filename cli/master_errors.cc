#include "cli/master_errors.h"

#include "cli/command_exit.h"

namespace gpulse::cli {
namespace {

// "<what> (HTTP <n>)".
std::string Http(const std::string& what, int http_status) {
  return what + " (HTTP " + std::to_string(http_status) + ")";
}

// The message of a failure the master could not help: the API's text, when
// it gave one, after what happened; then what to do.
std::string ServerSide(const std::string& what, int http_status, const std::string& api_message,
                       const std::string& advice) {
  std::string message = Http(what, http_status);
  if (!api_message.empty()) message += ": " + api_message;
  return message + "; " + advice;
}

}  // namespace

Status StatusFromHttp(int http_status, const std::string& api_message) {
  // The API's own message already says what was wrong with the request.
  auto refused = [&](StatusCode code, const std::string& what) {
    return Status(code, api_message.empty() ? Http(what, http_status) : api_message);
  };
  const std::string try_again = "try again shortly";
  switch (http_status) {
    case 400: return refused(StatusCode::kInvalidArgument, "the master rejected the request as malformed");
    case 401:
      return refused(StatusCode::kUnauthenticated,
                     "the master refused the cluster token; pass the right --token-file (or GPULSE_TOKEN_FILE)");
    case 403: return refused(StatusCode::kPermissionDenied, "the master does not allow this request");
    case 404:
      return refused(StatusCode::kNotFound, "the master knows no such thing; is --master a gpulse-master?");
    case 405:
    case 501:
      return refused(StatusCode::kFailedPrecondition,
                     "the master does not support this request; are gpulse and gpulse-master the same version?");
    case 409: return refused(StatusCode::kFailedPrecondition, "the request does not fit the current state");
    case 413: return refused(StatusCode::kInvalidArgument, "the request is too large for the master");
    case 422: return refused(StatusCode::kResourceExhausted, "the cluster cannot satisfy the request");
    case 408: return Unavailable(ServerSide("the master timed out waiting for the request", http_status, api_message, try_again));
    case 429: return Unavailable(ServerSide("the master is busy", http_status, api_message, try_again));
    case 502:
    case 504:
      return Unavailable(ServerSide("a proxy in front of the master could not get an answer from it", http_status,
                                    api_message, "is gpulse-master running? " + try_again));
    case 503:
      return Unavailable(ServerSide("the master cannot serve this now", http_status, api_message, try_again));
    case 507:
      return StorageFull(ServerSide("the master's disk is full", http_status, api_message,
                                    "free space in its data directory, then try again"));
    case 500:
      return Internal(ServerSide("the master failed on this request", http_status, api_message,
                                 "its log says why"));
    default: break;
  }
  if (http_status >= 300 && http_status < 400) {
    return InvalidArgument(Http("the master answered with a redirect", http_status) +
                           "; point --master (or GPULSE_MASTER) at gpulse-master's HTTP address itself");
  }
  if (http_status >= 400 && http_status < 500) return refused(StatusCode::kInvalidArgument, "the master refused the request");
  if (http_status >= 500 && http_status < 600) {
    return Internal(ServerSide("the master failed on this request", http_status, api_message, "its log says why"));
  }
  return Internal(ServerSide("the master sent a reply gpulse does not understand", http_status, api_message,
                             "is --master a gpulse-master?"));
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kResourceExhausted:
    case StatusCode::kStorageFull: return kExitFailure;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied: return kExitNotAllowed;
    case StatusCode::kUnavailable: return kExitUnavailable;
    case StatusCode::kInternal: return kExitInternal;
  }
  return kExitInternal;
}

}  // namespace gpulse::cli
