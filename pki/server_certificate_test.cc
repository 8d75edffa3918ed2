#include "pki/server_certificate.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "pki/certificate_info.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::pki {
namespace {

using ::std::chrono::hours;

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr ReadX509(const std::string& path) {
  std::string pem = testkit::ReadFileOrEmpty(path);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

// What a TLS client does with the server's certificate: X509_verify_cert
// with the cluster CA as the only anchor, for serverAuth, and checks the
// name it dialled (a host name or an IP address). Returns the X509_V_* code.
int VerifyAsTlsClient(X509* server, X509* ca, const std::string& name) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* context = X509_STORE_CTX_new();
  X509_STORE_CTX_init(context, store, server, nullptr);
  X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
  int result = X509_verify_cert(context) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(context);
  X509_STORE_CTX_free(context);
  X509_STORE_free(store);
  return result;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

class ServerCertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = ClusterCa::LoadOrCreate(pki_);
    ASSERT_OK(ca);
    ca_ = std::make_unique<ClusterCa>(std::move(*ca));
    options_.hostname = "gpu-master.lab";
    options_.extra_names = {"10.1.2.3", "Master.Example.com", "fd00::7"};
  }

  testkit::TempDir dir_{"gpulse-server-cert"};
  std::string pki_ = dir_.File("pki");
  std::unique_ptr<ClusterCa> ca_;
  ServerCertificateOptions options_;
};

TEST_F(ServerCertificateTest, VerifiesAgainstTheCaForEveryNameItCarries) {
  auto server = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(server);
  EXPECT_TRUE(server->issued);
  const std::vector<std::string> names = {"DNS:localhost",          "IP:127.0.0.1",
                                          "IP:::1",                 "DNS:gpu-master.lab",
                                          "IP:10.1.2.3",            "DNS:master.example.com",
                                          "IP:fd00::7"};
  EXPECT_EQ(server->names, names);
  auto on_disk = CertificateAltNames(testkit::ReadFileOrEmpty(server->certificate_path));
  ASSERT_OK(on_disk);
  EXPECT_EQ(*on_disk, names);

  X509Ptr cert = ReadX509(server->certificate_path), ca = ReadX509(ca_->certificate_path());
  ASSERT_TRUE(cert && ca);
  for (const char* name : {"localhost", "127.0.0.1", "::1", "gpu-master.lab", "10.1.2.3", "master.example.com",
                           "fd00::7"}) {
    EXPECT_EQ(VerifyAsTlsClient(cert.get(), ca.get(), name), X509_V_OK)
        << name << ": " << X509_verify_cert_error_string(VerifyAsTlsClient(cert.get(), ca.get(), name));
  }
  EXPECT_EQ(VerifyAsTlsClient(cert.get(), ca.get(), "other.example.com"), X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(VerifyAsTlsClient(cert.get(), ca.get(), "10.1.2.4"), X509_V_ERR_IP_ADDRESS_MISMATCH);
  // A server certificate is not a client certificate.
  EXPECT_EQ(VerifyCertificate(testkit::ReadFileOrEmpty(server->certificate_path), ca_->certificate_pem(),
                              CertificatePurpose::kClient)
                .code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(ModeOf(server->key_path), 0600u);
  EXPECT_EQ(ModeOf(server->certificate_path), 0644u);
  EXPECT_OK(CheckKeyMatchesCertificate(testkit::ReadFileOrEmpty(server->key_path),
                                       testkit::ReadFileOrEmpty(server->certificate_path)));
}

TEST_F(ServerCertificateTest, CertificateFromAnotherCaFailsVerification) {
  auto other_ca = ClusterCa::LoadOrCreate(dir_.File("other-pki"));
  ASSERT_OK(other_ca);
  auto foreign = EnsureServerCertificate(*other_ca, dir_.File("other-pki"), options_);
  ASSERT_OK(foreign);
  X509Ptr cert = ReadX509(foreign->certificate_path), ca = ReadX509(ca_->certificate_path());
  ASSERT_TRUE(cert && ca);
  EXPECT_EQ(VerifyAsTlsClient(cert.get(), ca.get(), "localhost"), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  Status status = VerifyCertificate(testkit::ReadFileOrEmpty(foreign->certificate_path), ca_->certificate_pem(),
                                    CertificatePurpose::kServer);
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(status.message().find("issuer"), std::string::npos) << status.message();
}

TEST_F(ServerCertificateTest, KeptWhileStillGood) {
  auto first = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(first);
  std::string cert = testkit::ReadFileOrEmpty(first->certificate_path);
  std::string key = testkit::ReadFileOrEmpty(first->key_path);
  auto again = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(again);
  EXPECT_FALSE(again->issued) << again->reason;
  EXPECT_EQ(testkit::ReadFileOrEmpty(again->certificate_path), cert);
  EXPECT_EQ(testkit::ReadFileOrEmpty(again->key_path), key);
}

TEST_F(ServerCertificateTest, ReissuedWhenMissing) {
  ASSERT_OK(EnsureServerCertificate(*ca_, pki_, options_));
  std::filesystem::remove(pki_ + "/server.crt");
  auto again = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(again);
  EXPECT_TRUE(again->issued);
  EXPECT_EQ(again->reason, "there was none");
}

TEST_F(ServerCertificateTest, ReissuedWhenItsNamesDifferFromThoseAsked) {
  auto first = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(first);
  options_.extra_names.push_back("gpulse.internal");
  auto more = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(more);
  EXPECT_TRUE(more->issued);
  EXPECT_EQ(more->reason, "its names differ from those asked");
  EXPECT_EQ(CertificateAltNames(testkit::ReadFileOrEmpty(more->certificate_path))->back(), "DNS:gpulse.internal");
  options_.extra_names = {};
  auto fewer = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(fewer);
  EXPECT_TRUE(fewer->issued);
  EXPECT_EQ(fewer->names.size(), 4u);
}

TEST_F(ServerCertificateTest, ReissuedWhenItExpiresWithinThirtyDays) {
  options_.validity = hours(24 * 29);
  ASSERT_OK(EnsureServerCertificate(*ca_, pki_, options_));
  options_.validity = kLeafValidity;
  auto renewed = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(renewed);
  EXPECT_TRUE(renewed->issued);
  EXPECT_EQ(renewed->reason, "it expires within 30 days");
  auto not_after = CertificateNotAfter(testkit::ReadFileOrEmpty(renewed->certificate_path));
  ASSERT_OK(not_after);
  EXPECT_GT(*not_after - ca_->clock().WallNow(), hours(24 * 364));
  // 31 days left is enough.
  options_.validity = hours(24 * 31);
  std::filesystem::remove(pki_ + "/server.crt");
  ASSERT_OK(EnsureServerCertificate(*ca_, pki_, options_));
  auto kept = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(kept);
  EXPECT_FALSE(kept->issued) << kept->reason;
}

TEST_F(ServerCertificateTest, ReissuedWhenTheCaWasReplaced) {
  ASSERT_OK(EnsureServerCertificate(*ca_, pki_, options_));
  std::filesystem::remove(pki_ + "/ca.key");
  std::filesystem::remove(pki_ + "/ca.crt");
  auto new_ca = ClusterCa::LoadOrCreate(pki_);
  ASSERT_OK(new_ca);
  auto again = EnsureServerCertificate(*new_ca, pki_, options_);
  ASSERT_OK(again);
  EXPECT_TRUE(again->issued);
  EXPECT_OK(VerifyCertificate(testkit::ReadFileOrEmpty(again->certificate_path), new_ca->certificate_pem(),
                              CertificatePurpose::kServer));
}

TEST_F(ServerCertificateTest, ReissuedWhenTheKeyDoesNotMatch) {
  auto first = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(first);
  auto other = ca_->IssueServerCertificate({*ParseAltName("localhost")});
  ASSERT_OK(other);
  ASSERT_TRUE(testkit::WriteFile(first->key_path, other->private_key_pem));
  auto again = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(again);
  EXPECT_TRUE(again->issued);
  EXPECT_OK(CheckKeyMatchesCertificate(testkit::ReadFileOrEmpty(again->key_path),
                                       testkit::ReadFileOrEmpty(again->certificate_path)));
}

TEST_F(ServerCertificateTest, KeyThatOthersMayReadIsRefused) {
  auto first = EnsureServerCertificate(*ca_, pki_, options_);
  ASSERT_OK(first);
  ASSERT_EQ(::chmod(first->key_path.c_str(), 0644), 0);
  auto refused = EnsureServerCertificate(*ca_, pki_, options_);
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("chmod 600 " + first->key_path), std::string::npos);
  EXPECT_EQ(ModeOf(first->key_path), 0644u);  // left for the operator, not silently replaced
}

TEST_F(ServerCertificateTest, MalformedExtraNameIsRefused) {
  options_.extra_names = {"bad name!"};
  auto refused = EnsureServerCertificate(*ca_, pki_, options_);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("'bad name!'"), std::string::npos) << refused.status().message();
  EXPECT_FALSE(std::filesystem::exists(pki_ + "/server.crt"));
}

}  // namespace
}  // namespace gpulse::pki
