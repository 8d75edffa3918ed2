// What the master and worker read out of a certificate they were handed
// (a peer's, from the TLS handshake, or one on disk), all on PEM text:
// its common name, the fingerprint of its public key, its names, its
// expiry; whether it was issued by a given CA; and the CA pin, the one
// value an operator compares to trust a cluster CA it was sent over the
// network (as `kubeadm join --discovery-token-ca-cert-hash` does).
//
// Stateless and thread-safe. Malformed PEM is InvalidArgument.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gpulse::pki {

// The certificate's subject common name (a worker's certificate: its id).
Result<std::string> CertificateCommonName(std::string_view cert_pem);

// "sha256:<64 hex digits>": SHA-256 over the DER of the certificate's
// SubjectPublicKeyInfo. It names the key, not the certificate, so it stays
// the same when a certificate is renewed for the same key: what the master
// binds a worker id to.
Result<std::string> PublicKeyFingerprint(std::string_view cert_pem);

// A peer's identity as the master binds it: the worker id its certificate
// names and the fingerprint of the key it certifies, read with one parse.
struct PeerIdentity {
  std::string common_name;
  std::string key_fingerprint;  // "sha256:<hex>", as PublicKeyFingerprint
};
Result<PeerIdentity> ReadPeerIdentity(std::string_view cert_pem);

// The subjectAltName entries, "DNS:<name>" / "IP:<address>", in order.
Result<std::vector<std::string>> CertificateAltNames(std::string_view cert_pem);

// The end of the certificate's validity.
Result<std::chrono::system_clock::time_point> CertificateNotAfter(std::string_view cert_pem);

enum class CertificatePurpose { kServer, kClient };

// OK when `cert_pem` is valid at `at`, was issued by the CA in `ca_pem` and
// may be used for `purpose` (X509_verify_cert, `ca_pem` the only trust
// anchor). PermissionDenied with OpenSSL's reason otherwise.
Status VerifyCertificate(std::string_view cert_pem, std::string_view ca_pem, CertificatePurpose purpose,
                         std::chrono::system_clock::time_point at = std::chrono::system_clock::now());

// OK when the private key in `key_pem` is the one `cert_pem` certifies;
// FailedPrecondition when not.
Status CheckKeyMatchesCertificate(std::string_view key_pem, std::string_view cert_pem);

// The CA pin of `ca_pem`: its PublicKeyFingerprint ("sha256:<hex>").
Result<std::string> CaPin(std::string_view ca_pem);

// `pin` in canonical form ("sha256:" and 64 lower-case hex digits; upper-case
// hex and a "SHA256:" prefix are accepted). InvalidArgument otherwise.
Result<std::string> NormalizeCaPin(std::string_view pin);

// OK when the CA certificate `ca_pem` has the pin `pin`. InvalidArgument
// when the pin is malformed, PermissionDenied (giving both pins: neither is
// secret) when it does not match.
Status VerifyCaPin(std::string_view ca_pem, std::string_view pin);

}  // namespace gpulse::pki
