#include "pki/openssl_error.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <gtest/gtest.h>

namespace gpulse::pki {
namespace {

// Makes OpenSSL fail to parse a certificate, leaving its reasons queued.
void FailToParse(const char* text) {
  BIO* bio = BIO_new_mem_buf(text, -1);
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_EQ(cert, nullptr);
  ASSERT_NE(ERR_peek_error(), 0u);
}

TEST(OpensslErrorTest, GivesOpensslsReasonsAfterTheContextAndDrainsTheQueue) {
  FailToParse("not a certificate");
  Status status = OpensslError("parse the CA certificate", StatusCode::kInvalidArgument);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "parse the CA certificate: no start line (Expecting: CERTIFICATE)");
  EXPECT_EQ(ERR_peek_error(), 0u);
  // Nothing stale is carried into the next error.
  Status next = OpensslError("sign");
  EXPECT_EQ(next.code(), StatusCode::kInternal);
  EXPECT_EQ(next.message(), "sign");
}

TEST(OpensslErrorTest, KeepsTheFirstReasonsOfALongQueue) {
  for (int i = 0; i < 10; ++i) ERR_raise_data(ERR_LIB_X509, X509_R_CERT_ALREADY_IN_HASH_TABLE, "entry %d", i);
  Status status = OpensslError("add");
  EXPECT_NE(status.message().find("entry 0"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("entry 3"), std::string::npos);
  EXPECT_EQ(status.message().find("entry 4"), std::string::npos);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(OpensslErrorTest, VerifyErrorsReadAsOpensslExplainsThem) {
  FailToParse("stale");
  Status status = CertificateVerifyError("the master's certificate", X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "the master's certificate: certificate has expired");
  EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace gpulse::pki
