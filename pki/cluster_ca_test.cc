#include "pki/cluster_ca.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "pki/certificate_info.h"
#include "pki/worker_identity.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::pki {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(ClusterCaTest, CreatedOnceAndLoadedAsTheSameCaAfterwards) {
  testkit::TempDir dir("gpulse-ca");
  auto first = ClusterCa::LoadOrCreate(dir.File("pki"));
  ASSERT_OK(first);
  EXPECT_TRUE(first->created());
  auto second = ClusterCa::LoadOrCreate(dir.File("pki"));
  ASSERT_OK(second);
  EXPECT_FALSE(second->created());
  EXPECT_EQ(second->certificate_pem(), first->certificate_pem());
  EXPECT_EQ(second->pin(), first->pin());
  EXPECT_EQ(first->pin().rfind("sha256:", 0), 0u);
  EXPECT_EQ(first->pin().size(), 7u + 64u);
  EXPECT_EQ(testkit::ReadFileOrEmpty(first->certificate_path()), first->certificate_pem());
}

TEST(ClusterCaTest, KeyIsOwnerOnlyCertificateIsPublicFolderIsPrivate) {
  testkit::TempDir dir("gpulse-ca");
  std::string pki = dir.File("pki");
  ASSERT_EQ(::mkdir(pki.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(pki.c_str(), 0755), 0);
  ASSERT_OK(ClusterCa::LoadOrCreate(pki));
  EXPECT_EQ(ModeOf(pki), 0700u);
  EXPECT_EQ(ModeOf(pki + "/ca.key"), 0600u);
  EXPECT_EQ(ModeOf(pki + "/ca.crt"), 0644u);
}

TEST(ClusterCaTest, KeyThatOthersMayReadIsRefusedWithTheFix) {
  testkit::TempDir dir("gpulse-ca");
  std::string pki = dir.File("pki"), key = pki + "/ca.key";
  ASSERT_OK(ClusterCa::LoadOrCreate(pki));
  std::string cert_before = testkit::ReadFileOrEmpty(pki + "/ca.crt");
  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
  auto refused = ClusterCa::LoadOrCreate(pki);
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("chmod 600 " + key), std::string::npos) << refused.status().message();
  EXPECT_EQ(testkit::ReadFileOrEmpty(pki + "/ca.crt"), cert_before);  // nothing replaced
  ASSERT_EQ(::chmod(key.c_str(), 0640), 0);
  EXPECT_EQ(ClusterCa::LoadOrCreate(pki).status().code(), StatusCode::kPermissionDenied);
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  EXPECT_OK(ClusterCa::LoadOrCreate(pki));
}

TEST(ClusterCaTest, CertificateWithoutItsKeyIsRefusedNotReplaced) {
  testkit::TempDir dir("gpulse-ca");
  std::string pki = dir.File("pki");
  ASSERT_OK(ClusterCa::LoadOrCreate(pki));
  std::filesystem::remove(pki + "/ca.key");
  auto refused = ClusterCa::LoadOrCreate(pki);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("restore the key"), std::string::npos) << refused.status().message();
  EXPECT_FALSE(std::filesystem::exists(pki + "/ca.key"));
}

// A crash between writing the key and the certificate leaves a key alone:
// the next start certifies the same key, so workers' pins still hold.
TEST(ClusterCaTest, KeyWithoutCertificateKeepsItsPin) {
  testkit::TempDir dir("gpulse-ca");
  std::string pki = dir.File("pki");
  auto first = ClusterCa::LoadOrCreate(pki);
  ASSERT_OK(first);
  std::filesystem::remove(pki + "/ca.crt");
  auto second = ClusterCa::LoadOrCreate(pki);
  ASSERT_OK(second);
  EXPECT_EQ(second->pin(), first->pin());
  EXPECT_TRUE(std::filesystem::exists(pki + "/ca.crt"));
}

TEST(ClusterCaTest, CertificateOfAnotherKeyIsRefused) {
  testkit::TempDir dir("gpulse-ca");
  ASSERT_OK(ClusterCa::LoadOrCreate(dir.File("a")));
  ASSERT_OK(ClusterCa::LoadOrCreate(dir.File("b")));
  std::filesystem::copy_file(dir.File("b/ca.crt"), dir.File("a/ca.crt"),
                             std::filesystem::copy_options::overwrite_existing);
  auto refused = ClusterCa::LoadOrCreate(dir.File("a"));
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("does not belong to"), std::string::npos);
}

TEST(ClusterCaTest, CertificateIsASelfSignedCaForTenYears) {
  testkit::TempDir dir("gpulse-ca");
  auto ca = ClusterCa::LoadOrCreate(dir.File("pki"));
  ASSERT_OK(ca);
  BIO* bio = BIO_new_mem_buf(ca->certificate_pem().data(), static_cast<int>(ca->certificate_pem().size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_ca(cert), 1);
  EXPECT_EQ(X509_check_issued(cert, cert), X509_V_OK);
  EXPECT_EQ(X509_verify(cert, X509_get0_pubkey(cert)), 1);
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(cert)), EVP_PKEY_EC);
  int days = 0, seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
  EXPECT_GE(days, 3650);
  X509_free(cert);
}

// The CA's const methods are shared by every connection's handler.
TEST(ClusterCaTest, SignsFromSeveralThreadsAtOnce) {
  testkit::TempDir dir("gpulse-ca");
  auto ca = ClusterCa::LoadOrCreate(dir.File("pki"));
  ASSERT_OK(ca);
  constexpr int kThreads = 4;
  std::vector<std::string> csrs, certs(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    auto identity = WorkerIdentity::LoadOrCreate(dir.File("w" + std::to_string(i)));
    ASSERT_OK(identity);
    auto csr = identity->MakeCsr("worker-" + std::to_string(i));
    ASSERT_OK(csr);
    csrs.push_back(*csr);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 5; ++round) {
        auto cert = ca->SignWorkerCsr(csrs[i], "worker-" + std::to_string(i));
        if (cert.ok()) certs[i] = *cert;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_FALSE(certs[i].empty());
    EXPECT_OK(VerifyCertificate(certs[i], ca->certificate_pem(), CertificatePurpose::kClient));
    EXPECT_EQ(*CertificateCommonName(certs[i]), "worker-" + std::to_string(i));
  }
}

}  // namespace
}  // namespace gpulse::pki
