#include "pki/certificate_info.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

#include "common/token.h"
#include "pki/openssl_error.h"
#include "pki/openssl_util.h"

namespace gpulse::pki {

Result<std::string> CertificateCommonName(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(CertPtr cert, ParseCertificate(cert_pem, "the certificate"));
  return CommonNameOf(X509_get_subject_name(cert.get()));
}

Result<std::string> PublicKeyFingerprint(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(CertPtr cert, ParseCertificate(cert_pem, "the certificate"));
  return SpkiFingerprint(cert.get());
}

Result<PeerIdentity> ReadPeerIdentity(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(CertPtr cert, ParseCertificate(cert_pem, "the peer's certificate"));
  PeerIdentity identity;
  ASSIGN_OR_RETURN(identity.common_name, CommonNameOf(X509_get_subject_name(cert.get())));
  ASSIGN_OR_RETURN(identity.key_fingerprint, SpkiFingerprint(cert.get()));
  return identity;
}

Result<std::vector<std::string>> CertificateAltNames(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(CertPtr cert, ParseCertificate(cert_pem, "the certificate"));
  return AltNamesOf(cert.get());
}

Result<std::chrono::system_clock::time_point> CertificateNotAfter(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(CertPtr cert, ParseCertificate(cert_pem, "the certificate"));
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
    return OpensslError("read the certificate's expiry", StatusCode::kInvalidArgument);
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

Status VerifyCertificate(std::string_view cert_pem, std::string_view ca_pem, CertificatePurpose purpose,
                         std::chrono::system_clock::time_point at) {
  ASSIGN_OR_RETURN(CertPtr cert, ParseCertificate(cert_pem, "the certificate"));
  ASSIGN_OR_RETURN(CertPtr ca, ParseCertificate(ca_pem, "the CA certificate"));
  int openssl_purpose = purpose == CertificatePurpose::kServer ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;
  return VerifyChain(cert.get(), ca.get(), openssl_purpose, at, "the certificate");
}

Status CheckKeyMatchesCertificate(std::string_view key_pem, std::string_view cert_pem) {
  ASSIGN_OR_RETURN(KeyPtr key, ParsePrivateKey(key_pem, "the private key"));
  ASSIGN_OR_RETURN(CertPtr cert, ParseCertificate(cert_pem, "the certificate"));
  if (X509_check_private_key(cert.get(), key.get()) == 1) return Status::Ok();
  return OpensslError("the certificate does not belong to the private key", StatusCode::kFailedPrecondition);
}

Result<std::string> CaPin(std::string_view ca_pem) { return PublicKeyFingerprint(ca_pem); }

Result<std::string> NormalizeCaPin(std::string_view pin) {
  constexpr std::string_view kPrefix = "sha256:";
  std::string lower(pin.substr(0, 200));
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view hex = lower;
  bool well_formed = hex.substr(0, kPrefix.size()) == kPrefix && hex.size() == kPrefix.size() + 64 &&
                     std::all_of(hex.begin() + kPrefix.size(), hex.end(),
                                 [](unsigned char c) { return std::isxdigit(c); });
  if (!well_formed || pin.size() != lower.size()) {
    return InvalidArgument("a CA pin is 'sha256:' followed by 64 hex digits");
  }
  return lower;
}

Status VerifyCaPin(std::string_view ca_pem, std::string_view pin) {
  ASSIGN_OR_RETURN(std::string wanted, NormalizeCaPin(pin));
  ASSIGN_OR_RETURN(std::string actual, CaPin(ca_pem));
  // Neither value is secret, but comparing in constant time costs nothing.
  if (TokensEqual(actual, wanted)) return Status::Ok();
  return PermissionDenied("the master's CA has the pin " + actual + ", not the pinned " + wanted +
                          ": this is not the cluster's CA (or the pin is from another cluster)");
}

}  // namespace gpulse::pki
