// The worker-identity flow: a worker's key and signing request, the
// master's signature, and the checks on both sides.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "pki/certificate_info.h"
#include "pki/cluster_ca.h"
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

std::string Pem(X509_REQ* csr) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, csr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

X509_REQ* ParseCsrPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_REQ* csr = PEM_read_bio_X509_REQ(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return csr;
}

// A CSR made with plain OpenSSL, for the shapes WorkerIdentity never makes.
std::string HandMadeCsr(EVP_PKEY* key, const char* common_name, const char* extensions = nullptr) {
  X509_REQ* csr = X509_REQ_new();
  X509_REQ_set_version(csr, X509_REQ_VERSION_1);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_REQ_set_pubkey(csr, key);
  if (extensions != nullptr) {
    STACK_OF(X509_EXTENSION)* list = sk_X509_EXTENSION_new_null();
    X509V3_CTX context;
    X509V3_set_ctx(&context, nullptr, nullptr, csr, nullptr, 0);
    sk_X509_EXTENSION_push(list, X509V3_EXT_nconf_nid(nullptr, &context, NID_basic_constraints, "critical,CA:TRUE"));
    sk_X509_EXTENSION_push(list, X509V3_EXT_nconf_nid(nullptr, &context, NID_ext_key_usage, extensions));
    X509_REQ_add_extensions(csr, list);
    sk_X509_EXTENSION_pop_free(list, X509_EXTENSION_free);
  }
  X509_REQ_sign(csr, key, EVP_sha256());
  std::string pem = Pem(csr);
  X509_REQ_free(csr);
  return pem;
}

class WorkerCsrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = ClusterCa::LoadOrCreate(dir_.File("master/pki"));
    ASSERT_OK(ca);
    ca_ = std::make_unique<ClusterCa>(std::move(*ca));
    auto identity = WorkerIdentity::LoadOrCreate(dir_.File("worker/identity"));
    ASSERT_OK(identity);
    identity_ = std::make_unique<WorkerIdentity>(std::move(*identity));
  }

  testkit::TempDir dir_{"gpulse-worker-csr"};
  std::unique_ptr<ClusterCa> ca_;
  std::unique_ptr<WorkerIdentity> identity_;
};

TEST_F(WorkerCsrTest, SignedCertificateNamesTheWorkerAndCertifiesItsKeyForClientAuthOnly) {
  auto csr = identity_->MakeCsr("gpu-node-07");
  ASSERT_OK(csr);
  auto cert = ca_->SignWorkerCsr(*csr, "gpu-node-07");
  ASSERT_OK(cert);
  EXPECT_EQ(*CertificateCommonName(*cert), "gpu-node-07");
  EXPECT_EQ(*PublicKeyFingerprint(*cert), identity_->public_key_fingerprint());
  auto peer = ReadPeerIdentity(*cert);
  ASSERT_OK(peer);
  EXPECT_EQ(peer->common_name, "gpu-node-07");
  EXPECT_EQ(peer->key_fingerprint, identity_->public_key_fingerprint());
  EXPECT_OK(VerifyCertificate(*cert, ca_->certificate_pem(), CertificatePurpose::kClient));
  EXPECT_EQ(VerifyCertificate(*cert, ca_->certificate_pem(), CertificatePurpose::kServer).code(),
            StatusCode::kPermissionDenied);
  auto not_after = CertificateNotAfter(*cert);
  ASSERT_OK(not_after);
  EXPECT_GT(*not_after - std::chrono::system_clock::now(), std::chrono::hours(24 * 364));
  EXPECT_TRUE(CertificateAltNames(*cert)->empty());
}

TEST_F(WorkerCsrTest, WorkerKeyIsOwnerOnlyAndKeptAcrossRestarts) {
  EXPECT_EQ(ModeOf(identity_->key_path()), 0600u);
  EXPECT_EQ(ModeOf(dir_.File("worker/identity")), 0700u);
  auto again = WorkerIdentity::LoadOrCreate(dir_.File("worker/identity"));
  ASSERT_OK(again);
  EXPECT_EQ(again->public_key_fingerprint(), identity_->public_key_fingerprint());
  EXPECT_FALSE(again->certificate_pem().has_value());
}

TEST_F(WorkerCsrTest, WorkerKeyThatOthersMayReadIsRefused) {
  ASSERT_EQ(::chmod(identity_->key_path().c_str(), 0644), 0);
  auto refused = WorkerIdentity::LoadOrCreate(dir_.File("worker/identity"));
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("chmod 600 " + identity_->key_path()), std::string::npos);
}

TEST_F(WorkerCsrTest, RequestForAnotherWorkerIdIsRefused) {
  auto csr = identity_->MakeCsr("gpu-node-07");
  ASSERT_OK(csr);
  auto refused = ca_->SignWorkerCsr(*csr, "gpu-node-08");
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("'gpu-node-07'"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("'gpu-node-08'"), std::string::npos);
  // A CN that only starts with the id, and none at all, are refused too.
  EXPECT_EQ(ca_->SignWorkerCsr(*identity_->MakeCsr("gpu-node-0"), "gpu-node-07").status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(ca_->SignWorkerCsr(*csr, "").status().code(), StatusCode::kInvalidArgument);
}

// Changing the CN inside a signed request (here to the id the master
// expects) breaks its signature: only the signature check can refuse it.
TEST_F(WorkerCsrTest, AlteredRequestIsRefusedByItsSignature) {
  auto csr_pem = identity_->MakeCsr("gpu-node-07");
  ASSERT_OK(csr_pem);
  X509_REQ* csr = ParseCsrPem(*csr_pem);
  ASSERT_NE(csr, nullptr);
  unsigned char* der = nullptr;
  int length = i2d_X509_REQ(csr, &der);
  X509_REQ_free(csr);
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  size_t at = bytes.find("gpu-node-07");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 10] = '8';  // gpu-node-08
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  X509_REQ* tampered = d2i_X509_REQ(nullptr, &p, static_cast<long>(bytes.size()));
  ASSERT_NE(tampered, nullptr);
  std::string tampered_pem = Pem(tampered);
  X509_REQ_free(tampered);

  auto refused = ca_->SignWorkerCsr(tampered_pem, "gpu-node-08");
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("signature does not verify"), std::string::npos)
      << refused.status().message();
}

TEST_F(WorkerCsrTest, MalformedRequestsAreRefused) {
  EXPECT_EQ(ca_->SignWorkerCsr("", "w").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ca_->SignWorkerCsr("not a csr", "w").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ca_->SignWorkerCsr(ca_->certificate_pem(), "w").status().code(), StatusCode::kInvalidArgument);
  std::string huge = "-----BEGIN CERTIFICATE REQUEST-----\n" + std::string(20000, 'A') + "\n";
  auto too_big = ca_->SignWorkerCsr(huge, "w");
  EXPECT_EQ(too_big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("at most"), std::string::npos);
  auto csr = identity_->MakeCsr("w");
  ASSERT_OK(csr);
  EXPECT_EQ(ca_->SignWorkerCsr(csr->substr(0, csr->size() / 2), "w").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(WorkerCsrTest, WeakKeysAreRefused) {
  EVP_PKEY* rsa1024 = EVP_RSA_gen(1024);
  ASSERT_NE(rsa1024, nullptr);
  auto refused = ca_->SignWorkerCsr(HandMadeCsr(rsa1024, "w"), "w");
  EVP_PKEY_free(rsa1024);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("2048"), std::string::npos) << refused.status().message();
  EVP_PKEY* ed25519 = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(ed25519, nullptr);
  X509_REQ* csr = X509_REQ_new();
  X509_REQ_set_version(csr, X509_REQ_VERSION_1);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("w"), -1, -1, 0);
  X509_REQ_set_pubkey(csr, ed25519);
  X509_REQ_sign(csr, ed25519, nullptr);
  EXPECT_OK(ca_->SignWorkerCsr(Pem(csr), "w"));
  X509_REQ_free(csr);
  EVP_PKEY_free(ed25519);
}

// A worker cannot ask to become a CA or a server: the CA takes the key and
// the name from a request, nothing else.
TEST_F(WorkerCsrTest, ExtensionsAskedForInTheRequestAreIgnored) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  auto cert = ca_->SignWorkerCsr(HandMadeCsr(key, "w", "serverAuth,clientAuth"), "w");
  EVP_PKEY_free(key);
  ASSERT_OK(cert);
  BIO* bio = BIO_new_mem_buf(cert->data(), static_cast<int>(cert->size()));
  X509* x509 = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(x509, nullptr);
  EXPECT_EQ(X509_check_ca(x509), 0);
  EXPECT_EQ(X509_get_extended_key_usage(x509), static_cast<uint32_t>(XKU_SSL_CLIENT));
  X509_free(x509);
  EXPECT_EQ(VerifyCertificate(*cert, ca_->certificate_pem(), CertificatePurpose::kServer).code(),
            StatusCode::kPermissionDenied);
}

TEST_F(WorkerCsrTest, StoredCertificateIsCheckedKeptPrivateAndReloaded) {
  auto cert = ca_->SignWorkerCsr(*identity_->MakeCsr("gpu-node-07"), "gpu-node-07");
  ASSERT_OK(cert);
  ASSERT_OK(identity_->StoreCertificate(*cert, "gpu-node-07", ca_->certificate_pem()));
  EXPECT_EQ(ModeOf(identity_->certificate_path()), 0600u);
  auto again = WorkerIdentity::LoadOrCreate(dir_.File("worker/identity"));
  ASSERT_OK(again);
  ASSERT_TRUE(again->certificate_pem().has_value());
  EXPECT_EQ(*again->certificate_pem(), *cert);
}

TEST_F(WorkerCsrTest, StoreRefusesCertificatesThatAreNotThisWorkersFromThisCa) {
  auto other_ca = ClusterCa::LoadOrCreate(dir_.File("other/pki"));
  ASSERT_OK(other_ca);
  auto other_identity = WorkerIdentity::LoadOrCreate(dir_.File("other/identity"));
  ASSERT_OK(other_identity);
  std::string csr = *identity_->MakeCsr("gpu-node-07");
  auto foreign = other_ca->SignWorkerCsr(csr, "gpu-node-07");
  ASSERT_OK(foreign);
  EXPECT_EQ(identity_->StoreCertificate(*foreign, "gpu-node-07", ca_->certificate_pem()).code(),
            StatusCode::kPermissionDenied);
  auto someone_elses = ca_->SignWorkerCsr(*other_identity->MakeCsr("gpu-node-07"), "gpu-node-07");
  ASSERT_OK(someone_elses);
  EXPECT_EQ(identity_->StoreCertificate(*someone_elses, "gpu-node-07", ca_->certificate_pem()).code(),
            StatusCode::kFailedPrecondition);
  auto renamed = ca_->SignWorkerCsr(*identity_->MakeCsr("gpu-node-09"), "gpu-node-09");
  ASSERT_OK(renamed);
  EXPECT_EQ(identity_->StoreCertificate(*renamed, "gpu-node-07", ca_->certificate_pem()).code(),
            StatusCode::kPermissionDenied);
  EXPECT_FALSE(identity_->certificate_pem().has_value());
  EXPECT_FALSE(std::filesystem::exists(identity_->certificate_path()));
}

TEST_F(WorkerCsrTest, WorkerIdMustFitACommonName) {
  EXPECT_EQ(identity_->MakeCsr("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_OK(identity_->MakeCsr(std::string(64, 'w')));
  EXPECT_EQ(identity_->MakeCsr(std::string(65, 'w')).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpulse::pki
