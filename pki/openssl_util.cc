#include "pki/openssl_util.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "common/posix_error.h"
#include "common/private_file.h"
#include "pki/openssl_error.h"

namespace gpulse::pki {
namespace {

using BioPtr = std::unique_ptr<BIO, OpensslFree<BIO_free_all>>;
using StorePtr = std::unique_ptr<X509_STORE, OpensslFree<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpensslFree<X509_STORE_CTX_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, OpensslFree<GENERAL_NAMES_free>>;

// Refuses a passphrase prompt: gpulse keys are never encrypted, and a
// daemon must not block on a terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

Result<BioPtr> ReadBio(std::string_view pem, std::string_view what) {
  ERR_clear_error();
  if (pem.size() > kMaxPemBytes) {
    return InvalidArgument(std::string(what) + " is " + std::to_string(pem.size()) + " bytes, more than the " +
                           std::to_string(kMaxPemBytes) + " allowed");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpensslError("read " + std::string(what));
  return bio;
}

Result<std::string> Drain(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return OpensslError("write PEM");
  return std::string(data, static_cast<size_t>(size));
}

template <typename Writer>
Result<std::string> WritePem(Writer write, std::string_view what) {
  ERR_clear_error();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return OpensslError("write " + std::string(what) + " as PEM");
  return Drain(bio.get());
}

}  // namespace

Result<KeyPtr> GenerateKey() {
  ERR_clear_error();
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return OpensslError("generate a P-256 key");
  return key;
}

Result<CertPtr> ParseCertificate(std::string_view pem, std::string_view what) {
  ASSIGN_OR_RETURN(BioPtr bio, ReadBio(pem, what));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!cert) return OpensslError("parse " + std::string(what), StatusCode::kInvalidArgument);
  return cert;
}

Result<CsrPtr> ParseCsr(std::string_view pem, std::string_view what) {
  ASSIGN_OR_RETURN(BioPtr bio, ReadBio(pem, what));
  CsrPtr csr(PEM_read_bio_X509_REQ(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!csr) return OpensslError("parse " + std::string(what), StatusCode::kInvalidArgument);
  return csr;
}

Result<KeyPtr> ParsePrivateKey(std::string_view pem, std::string_view what) {
  ASSIGN_OR_RETURN(BioPtr bio, ReadBio(pem, what));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) return OpensslError("parse " + std::string(what), StatusCode::kInvalidArgument);
  return key;
}

Result<KeyPtr> ReadPrivateKeyFile(const std::string& path, std::string_view what) {
  ASSIGN_OR_RETURN(std::string pem, ReadOwnerOnlyFile(path, what, kMaxPemBytes));
  return ParsePrivateKey(pem, std::string(what) + " " + path);
}

Status WritePrivateKeyFile(const std::string& path, EVP_PKEY* key) {
  ASSIGN_OR_RETURN(std::string pem, PrivateKeyPem(key));
  Status status = WriteFileAtomically(path, pem, 0600);
  OPENSSL_cleanse(pem.data(), pem.size());
  return status;
}

Result<std::string> ReadCertificateFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return PosixError("cannot open certificate " + path, errno);
  std::string pem(kMaxPemBytes + 1, '\0');
  in.read(pem.data(), static_cast<std::streamsize>(pem.size()));
  pem.resize(static_cast<size_t>(in.gcount()));
  if (pem.size() > kMaxPemBytes) return InvalidArgument(path + " is larger than a certificate can be");
  return pem;
}

Result<std::string> CertificatePem(X509* cert) {
  return WritePem([cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); }, "a certificate");
}

Result<std::string> CsrPem(X509_REQ* csr) {
  return WritePem([csr](BIO* bio) { return PEM_write_bio_X509_REQ(bio, csr); }, "a signing request");
}

Result<std::string> PrivateKeyPem(EVP_PKEY* key) {
  return WritePem(
      [key](BIO* bio) { return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr); },
      "a private key");
}

// "sha256:<hex>" of `length` bytes of DER at `der`, which it frees.
Result<std::string> Sha256OfDer(unsigned char* der, int length) {
  if (length <= 0) return OpensslError("encode a public key");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  int ok = EVP_Digest(der, static_cast<size_t>(length), digest, &digest_length, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (ok != 1) return OpensslError("hash a public key");
  std::string text = "sha256:";
  char hex[3];
  for (unsigned int i = 0; i < digest_length; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", digest[i]);
    text += hex;
  }
  return text;
}

Result<std::string> SpkiFingerprint(EVP_PKEY* key) {
  ERR_clear_error();
  unsigned char* der = nullptr;
  int length = i2d_PUBKEY(key, &der);
  return Sha256OfDer(der, length);
}

Result<std::string> SpkiFingerprint(X509* cert) {
  ERR_clear_error();
  unsigned char* der = nullptr;
  int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  return Sha256OfDer(der, length);
}

Result<std::string> CommonNameOf(const X509_NAME* name) {
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return InvalidArgument("the subject has no common name (CN)");
  if (X509_NAME_get_index_by_NID(name, NID_commonName, index) >= 0) {
    return InvalidArgument("the subject has more than one common name (CN)");
  }
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) return OpensslError("read the common name (CN)", StatusCode::kInvalidArgument);
  std::string text(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  if (text.find('\0') != std::string::npos) return InvalidArgument("the common name (CN) has a NUL character in it");
  return text;
}

Result<std::vector<std::string>> AltNamesOf(X509* cert) {
  ERR_clear_error();
  int critical = 0;
  NamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  std::vector<std::string> out;
  if (!names) {
    if (critical == -1) return out;  // no such extension
    return OpensslError("read the subjectAltName extension", StatusCode::kInvalidArgument);
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                         static_cast<size_t>(ASN1_STRING_length(dns))));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      int family = ASN1_STRING_length(ip) == 4 ? AF_INET : ASN1_STRING_length(ip) == 16 ? AF_INET6 : 0;
      char text[INET6_ADDRSTRLEN] = {};
      if (family == 0 || inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof text) == nullptr) {
        return InvalidArgument("the certificate has an IP address entry of " + std::to_string(ASN1_STRING_length(ip)) +
                               " bytes");
      }
      out.push_back(std::string("IP:") + text);
    }
  }
  return out;
}

Status VerifyChain(X509* cert, X509* ca, int purpose, std::chrono::system_clock::time_point at,
                   std::string_view what) {
  ERR_clear_error();
  StorePtr store(X509_STORE_new());
  StoreCtxPtr context(X509_STORE_CTX_new());
  if (!store || !context || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(context.get(), store.get(), cert, nullptr) != 1 ||
      X509_STORE_CTX_set_purpose(context.get(), purpose) != 1) {
    return OpensslError("set up the verification of " + std::string(what));
  }
  X509_STORE_CTX_set_time(context.get(), 0, std::chrono::system_clock::to_time_t(at));
  if (X509_verify_cert(context.get()) == 1) return Status::Ok();
  return CertificateVerifyError(std::string(what) + " is not trusted by the cluster CA",
                                X509_STORE_CTX_get_error(context.get()));
}

std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\') {
      out += c;
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    }
  }
  if (text.size() > 64) out += "...";
  return out;
}

}  // namespace gpulse::pki
