// BuildCertificate: makes and signs the three kinds of certificate the
// cluster CA issues. Internal to pki/ (the public entry points are
// ClusterCa and WorkerIdentity).
//
// Every certificate gets a random 127-bit serial number, SHA-256 with the
// issuer's key, a validity that starts five minutes before `now` (clocks
// drift), and only the extensions its kind needs; nothing is copied from a
// signing request but its public key.
//
// Stateless and thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "pki/alt_name.h"
#include "pki/openssl_util.h"

namespace gpulse::pki {

enum class CertificateKind {
  kCa,      // CA:TRUE, pathlen 0, keyCertSign + cRLSign
  kServer,  // CA:FALSE, digitalSignature, serverAuth, subjectAltName
  kClient,  // CA:FALSE, digitalSignature, clientAuth
};

struct CertificateSpec {
  CertificateKind kind = CertificateKind::kClient;
  std::string common_name;
  std::vector<AltName> alt_names;  // kServer only
  std::chrono::system_clock::time_point now;
  std::chrono::seconds validity{0};
};

// A certificate for `subject_key` as `spec` says, signed by `issuer_key`;
// `issuer` is the issuer's certificate, or null for a self-signed CA (then
// `issuer_key` must be `subject_key`'s private half). Internal on OpenSSL
// failure.
Result<CertPtr> BuildCertificate(const CertificateSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                                 EVP_PKEY* issuer_key);

}  // namespace gpulse::pki
