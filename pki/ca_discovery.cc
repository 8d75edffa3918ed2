#include "pki/ca_discovery.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <memory>
#include <vector>

#include "common/host_port.h"
#include "common/posix_error.h"
#include "common/unique_fd.h"
#include "pki/certificate_info.h"
#include "pki/openssl_error.h"
#include "pki/openssl_util.h"

namespace gpulse::pki {
namespace {

using SslCtxPtr = std::unique_ptr<SSL_CTX, OpensslFree<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpensslFree<SSL_free>>;

// A blocking TCP connection to host:port whose connect, reads and writes
// each give up after `timeout`.
Result<UniqueFd> Dial(const std::string& host, int port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return Unavailable("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, &freeaddrinfo);
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd.valid()) continue;
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() too
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) return fd;
    last_error = ErrnoText(errno);
  }
  return Unavailable("cannot connect to " + host + ":" + service + ": " + last_error);
}

}  // namespace

Result<std::string> FetchPinnedCa(const std::string& address, std::string_view pin,
                                  std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(const std::string want, NormalizeCaPin(pin));
  ASSIGN_OR_RETURN(auto host_port, SplitHostPort(address));
  if (host_port.second == 0) return InvalidArgument("'" + address + "' has no port to connect to");
  ASSIGN_OR_RETURN(UniqueFd fd, Dial(host_port.first, host_port.second, timeout));

  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return OpensslError("make a TLS context");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Verification happens below, against the pinned CA, once the chain is in
  // hand; until then nothing but the handshake is sent.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl) return OpensslError("make a TLS connection");
  static const unsigned char kAlpn[] = {2, 'h', '2'};  // what gRPC servers speak
  SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof kAlpn);
  in6_addr ignored{};
  if (inet_pton(AF_INET, host_port.first.c_str(), &ignored) != 1 &&
      inet_pton(AF_INET6, host_port.first.c_str(), &ignored) != 1) {
    SSL_set_tlsext_host_name(ssl.get(), host_port.first.c_str());
  }
  SSL_set_fd(ssl.get(), fd.get());
  if (SSL_connect(ssl.get()) != 1) {
    return OpensslError("TLS handshake with the master at " + address + " (is it serving TLS?)",
                        StatusCode::kUnavailable);
  }
  CertPtr leaf(SSL_get1_peer_certificate(ssl.get()));
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());
  SSL_shutdown(ssl.get());
  if (!leaf || chain == nullptr) return PermissionDenied("the master at " + address + " presented no certificate");

  std::vector<std::string> seen;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    X509* cert = sk_X509_value(chain, i);
    auto fingerprint = SpkiFingerprint(cert);
    if (!fingerprint.ok()) continue;
    if (*fingerprint != want || X509_check_ca(cert) == 0) {
      seen.push_back(*fingerprint);
      continue;
    }
    RETURN_IF_ERROR(VerifyChain(leaf.get(), cert, X509_PURPOSE_SSL_SERVER, std::chrono::system_clock::now(),
                                "the master's certificate"));
    return CertificatePem(cert);
  }
  std::string saw;
  for (const auto& s : seen) saw += (saw.empty() ? "" : ", ") + s;
  return PermissionDenied("the master at " + address + " presents no CA with the pinned " + want +
                          " (it presented " + (saw.empty() ? std::string("none") : saw) +
                          "): a different cluster, or someone in between; check the pin with "
                          "`gpulse-master --print-join` on the master");
}

}  // namespace gpulse::pki
