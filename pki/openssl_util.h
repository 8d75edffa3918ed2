// pki's internal toolbox over OpenSSL 3: owning handles, PEM in and out,
// key generation, and the few facts read out of certificates and signing
// requests. Only pki/*.cc include this; the public headers keep OpenSSL's
// types out of the rest of gpulse (they speak PEM strings).
//
// Every failure is a Status made by OpensslError (pki/openssl_error.h).
// Stateless and thread-safe; a handle is owned by one thread at a time.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gpulse::pki {

template <auto Free>
struct OpensslFree {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, OpensslFree<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, OpensslFree<X509_free>>;
using CsrPtr = std::unique_ptr<X509_REQ, OpensslFree<X509_REQ_free>>;

// The most bytes of PEM a certificate, key or signing request may have;
// anything larger is refused before OpenSSL parses it.
inline constexpr size_t kMaxPemBytes = 64 * 1024;

// A new ECDSA P-256 key pair: accepted by every TLS stack gpulse meets
// (gRPC, cpp-httplib, browsers, curl), and cheap to make and use.
Result<KeyPtr> GenerateKey();

// The first PEM block of its kind in `pem`. `what` names it in errors
// ("the CA certificate"); malformed input is InvalidArgument.
Result<CertPtr> ParseCertificate(std::string_view pem, std::string_view what);
Result<CsrPtr> ParseCsr(std::string_view pem, std::string_view what);
// Unencrypted PKCS#8 or traditional PEM; an encrypted key is refused (no
// passphrase prompt, ever).
Result<KeyPtr> ParsePrivateKey(std::string_view pem, std::string_view what);

// The private key in the file at `path`, which must be owner-only
// (ReadOwnerOnlyFile: a key others may read is refused with the fix).
Result<KeyPtr> ReadPrivateKeyFile(const std::string& path, std::string_view what);
// Writes `key` to `path` as PKCS#8 PEM, atomically, mode 0600.
Status WritePrivateKeyFile(const std::string& path, EVP_PKEY* key);

// The text of a certificate file (public: any mode will do). NotFound when
// missing, InvalidArgument when larger than kMaxPemBytes.
Result<std::string> ReadCertificateFile(const std::string& path);

Result<std::string> CertificatePem(X509* cert);
Result<std::string> CsrPem(X509_REQ* csr);
Result<std::string> PrivateKeyPem(EVP_PKEY* key);  // unencrypted PKCS#8

// "sha256:<64 lower-case hex digits>" over the DER of `key`'s
// SubjectPublicKeyInfo (the same hash kubeadm pins a CA by).
Result<std::string> SpkiFingerprint(EVP_PKEY* key);
// The same for the key `cert` certifies, hashed from the certificate's own
// SubjectPublicKeyInfo (no round trip through a provider key: several
// times cheaper on OpenSSL 3.0).
Result<std::string> SpkiFingerprint(X509* cert);

// The single commonName of `name` as UTF-8. InvalidArgument when there is
// none, more than one, or one with a NUL inside.
Result<std::string> CommonNameOf(const X509_NAME* name);

// The subjectAltName entries of `cert` as "DNS:<name>" / "IP:<address>"
// (addresses in inet_ntop's canonical form), in certificate order; other
// kinds of entry are skipped. Empty when the extension is absent.
Result<std::vector<std::string>> AltNamesOf(X509* cert);

// Whether `cert` is valid at `at` and chains to `ca` for `purpose`
// (X509_PURPOSE_SSL_SERVER or X509_PURPOSE_SSL_CLIENT), checked by
// X509_verify_cert with `ca` as the only trust anchor. PermissionDenied
// naming `what` and OpenSSL's reason otherwise.
Status VerifyChain(X509* cert, X509* ca, int purpose, std::chrono::system_clock::time_point at,
                   std::string_view what);

// `text` made safe to quote in a message: at most 64 characters, anything
// outside printable ASCII as \xNN.
std::string Printable(std::string_view text);

}  // namespace gpulse::pki
