// WorkerIdentityRegistry: the first certificate binds an id to its key;
// another key, a bare token or a forgotten binding cannot register it.
#include "master/worker_identity_registry.h"

#include <gtest/gtest.h>

#include "pki/worker_identity.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

class WorkerIdentityRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = pki::ClusterCa::LoadOrCreate(dir_.File("pki"));
    ASSERT_OK(ca.status());
    ca_pem_ = ca->certificate_pem();
    auto registry = WorkerIdentityRegistry::Open(std::move(*ca), *store_, SystemClock::Instance());
    ASSERT_OK(registry.status());
    registry_ = std::move(*registry);
  }

  pki::WorkerIdentity Worker(const std::string& name) {
    auto identity = pki::WorkerIdentity::LoadOrCreate(dir_.File(name));
    EXPECT_OK(identity.status());
    return std::move(*identity);
  }

  // Joins `worker` as `id`: CSR, Issue, stores the certificate.
  Result<std::string> Join(pki::WorkerIdentity& worker, const std::string& id) {
    ASSIGN_OR_RETURN(std::string csr, worker.MakeCsr(id));
    ASSIGN_OR_RETURN(std::string cert, registry_->Issue(id, csr));
    RETURN_IF_ERROR(worker.StoreCertificate(cert, id, ca_pem_));
    return cert;
  }

  testkit::TempDir dir_;
  std::unique_ptr<WorkerKeyStore> store_ = NewMemoryWorkerKeyStore();
  std::string ca_pem_;
  std::unique_ptr<WorkerIdentityRegistry> registry_;
};

TEST_F(WorkerIdentityRegistryTest, FirstJoinBindsTheIdAndItsCertificateRegisters) {
  pki::WorkerIdentity worker = Worker("w1");
  EXPECT_OK(registry_->CheckRegistration("w1", ""));  // unbound: the token is enough
  auto cert = Join(worker, "w1");
  ASSERT_OK(cert.status());
  EXPECT_OK(registry_->CheckRegistration("w1", *cert));
  auto bindings = store_->LoadAll();
  ASSERT_OK(bindings.status());
  ASSERT_EQ(bindings->size(), 1u);
  EXPECT_EQ(bindings->front().key_fingerprint, worker.public_key_fingerprint());
  // The same key asking again (a lost worker.crt) gets a new certificate.
  EXPECT_OK(Join(worker, "w1").status());
}

TEST_F(WorkerIdentityRegistryTest, AnotherKeyOrABareTokenCannotTakeABoundId) {
  pki::WorkerIdentity real = Worker("real");
  pki::WorkerIdentity impostor = Worker("impostor");
  auto real_cert = Join(real, "w1");
  ASSERT_OK(real_cert.status());

  auto stolen = Join(impostor, "w1");
  EXPECT_EQ(stolen.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(stolen.status().message().find("gpulse workers forget w1"), std::string::npos)
      << stolen.status().message();
  Status bare = registry_->CheckRegistration("w1", "");
  EXPECT_EQ(bare.code(), StatusCode::kPermissionDenied);
  // The impostor's own certificate (for another id) does not make it w1.
  auto other_cert = Join(impostor, "w2");
  ASSERT_OK(other_cert.status());
  Status wrong_name = registry_->CheckRegistration("w1", *other_cert);
  EXPECT_EQ(wrong_name.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(wrong_name.message().find("not 'w1'"), std::string::npos) << wrong_name.message();
  EXPECT_OK(registry_->CheckRegistration("w1", *real_cert));  // the real worker is still w1
}

TEST_F(WorkerIdentityRegistryTest, ForgetReleasesTheIdForANewKey) {
  pki::WorkerIdentity old_home = Worker("old");
  pki::WorkerIdentity new_home = Worker("new");
  auto old_cert = Join(old_home, "w1");
  ASSERT_OK(old_cert.status());
  EXPECT_OK(registry_->Forget("w1"));
  EXPECT_EQ(registry_->Forget("w1").code(), StatusCode::kNotFound);
  // The old certificate no longer counts once forgotten.
  EXPECT_EQ(registry_->CheckRegistration("w1", *old_cert).code(), StatusCode::kPermissionDenied);
  auto new_cert = Join(new_home, "w1");
  ASSERT_OK(new_cert.status());
  EXPECT_OK(registry_->CheckRegistration("w1", *new_cert));
  EXPECT_EQ(registry_->CheckRegistration("w1", *old_cert).code(), StatusCode::kPermissionDenied);
}

TEST_F(WorkerIdentityRegistryTest, BindingsAreLoadedFromTheStore) {
  pki::WorkerIdentity worker = Worker("w1");
  auto cert = Join(worker, "w1");
  ASSERT_OK(cert.status());
  auto ca = pki::ClusterCa::LoadOrCreate(dir_.File("pki"));
  ASSERT_OK(ca.status());
  auto reopened = WorkerIdentityRegistry::Open(std::move(*ca), *store_, SystemClock::Instance());
  ASSERT_OK(reopened.status());
  EXPECT_EQ((*reopened)->bound_count(), 1u);
  EXPECT_EQ((*reopened)->CheckRegistration("w1", "").code(), StatusCode::kPermissionDenied);
  EXPECT_OK((*reopened)->CheckRegistration("w1", *cert));
}

}  // namespace
}  // namespace gpulse::master
