#include "pki/certificate_builder.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pki/openssl_error.h"

namespace gpulse::pki {
namespace {

using BignumPtr = std::unique_ptr<BIGNUM, OpensslFree<BN_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, OpensslFree<GENERAL_NAMES_free>>;
using NamePtr = std::unique_ptr<GENERAL_NAME, OpensslFree<GENERAL_NAME_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpensslFree<X509_EXTENSION_free>>;

constexpr std::chrono::minutes kBackdate{5};

Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return OpensslError("draw a serial number");
  bytes[0] &= 0x7f;  // positive, as RFC 5280 asks
  BignumPtr serial(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!serial || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpensslError("set a serial number");
  }
  return Status::Ok();
}

Status AddExtension(X509* cert, X509V3_CTX* context, int nid, const char* value) {
  ExtensionPtr extension(X509V3_EXT_nconf_nid(nullptr, context, nid, value));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpensslError(std::string("add the ") + OBJ_nid2sn(nid) + " extension");
  }
  return Status::Ok();
}

Status AddAltNames(X509* cert, const std::vector<AltName>& alt_names) {
  NamesPtr names(GENERAL_NAMES_new());
  if (!names) return OpensslError("allocate subjectAltName");
  for (const AltName& alt : alt_names) {
    NamePtr name(GENERAL_NAME_new());
    ASN1_STRING* value = ASN1_STRING_type_new(alt.kind == AltName::Kind::kIp ? V_ASN1_OCTET_STRING : V_ASN1_IA5STRING);
    if (!name || value == nullptr) return OpensslError("allocate a subjectAltName entry");
    std::string bytes = alt.value;
    if (alt.kind == AltName::Kind::kIp) {
      unsigned char address[16];
      bool v4 = inet_pton(AF_INET, alt.value.c_str(), address) == 1;
      if (!v4 && inet_pton(AF_INET6, alt.value.c_str(), address) != 1) {
        ASN1_STRING_free(value);
        return InvalidArgument("'" + alt.value + "' is not an IP address");
      }
      bytes.assign(reinterpret_cast<const char*>(address), v4 ? 4 : 16);
    }
    if (ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size())) != 1) {
      ASN1_STRING_free(value);
      return OpensslError("set a subjectAltName entry");
    }
    GENERAL_NAME_set0_value(name.get(), alt.kind == AltName::Kind::kIp ? GEN_IPADD : GEN_DNS, value);
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) return OpensslError("add a subjectAltName entry");
    name.release();  // owned by `names` now
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpensslError("add the subjectAltName extension");
  }
  return Status::Ok();
}

Status AddExtensions(X509* cert, X509* issuer, const CertificateSpec& spec) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
  RETURN_IF_ERROR(AddExtension(cert, &context, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExtension(cert, &context, NID_authority_key_identifier, "keyid:always"));
  switch (spec.kind) {
    case CertificateKind::kCa:
      RETURN_IF_ERROR(AddExtension(cert, &context, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
      return AddExtension(cert, &context, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    case CertificateKind::kServer:
      RETURN_IF_ERROR(AddExtension(cert, &context, NID_basic_constraints, "critical,CA:FALSE"));
      RETURN_IF_ERROR(AddExtension(cert, &context, NID_key_usage, "critical,digitalSignature"));
      RETURN_IF_ERROR(AddExtension(cert, &context, NID_ext_key_usage, "serverAuth"));
      return AddAltNames(cert, spec.alt_names);
    case CertificateKind::kClient:
      RETURN_IF_ERROR(AddExtension(cert, &context, NID_basic_constraints, "critical,CA:FALSE"));
      RETURN_IF_ERROR(AddExtension(cert, &context, NID_key_usage, "critical,digitalSignature"));
      return AddExtension(cert, &context, NID_ext_key_usage, "clientAuth");
  }
  return Internal("unknown certificate kind");
}

}  // namespace

Result<CertPtr> BuildCertificate(const CertificateSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                                 EVP_PKEY* issuer_key) {
  ERR_clear_error();
  CertPtr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return OpensslError("start a certificate");
  RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  auto since = std::chrono::system_clock::to_time_t(spec.now - kBackdate);
  auto until = std::chrono::system_clock::to_time_t(spec.now + spec.validity);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(spec.common_name.c_str());
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), since) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), until) == nullptr ||
      X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8, cn, -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : subject) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return OpensslError("fill in a certificate for '" + Printable(spec.common_name) + "'");
  }
  RETURN_IF_ERROR(AddExtensions(cert.get(), issuer, spec));
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) {
    return OpensslError("sign a certificate for '" + Printable(spec.common_name) + "'");
  }
  return cert;
}

}  // namespace gpulse::pki
