#include "pki/certificate_info.h"

#include <cstdio>
#include <filesystem>

#include <gtest/gtest.h>

#include "pki/cluster_ca.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::pki {
namespace {

class CaPinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto a = ClusterCa::LoadOrCreate(dir_.File("a"));
    auto b = ClusterCa::LoadOrCreate(dir_.File("b"));
    ASSERT_OK(a);
    ASSERT_OK(b);
    ca_a_ = a->certificate_pem();
    ca_b_ = b->certificate_pem();
    pin_a_ = a->pin();
  }

  testkit::TempDir dir_{"gpulse-pin"};
  std::string ca_a_, ca_b_, pin_a_;
};

TEST_F(CaPinTest, PinMatchesItsCaAndNoOther) {
  EXPECT_EQ(*CaPin(ca_a_), pin_a_);
  EXPECT_OK(VerifyCaPin(ca_a_, pin_a_));
  Status other = VerifyCaPin(ca_b_, pin_a_);
  EXPECT_EQ(other.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(other.message().find(pin_a_), std::string::npos) << other.message();
  EXPECT_NE(*CaPin(ca_b_), pin_a_);
}

TEST_F(CaPinTest, PinIsTheKeyNotTheCertificate) {
  std::filesystem::remove(dir_.File("a/ca.crt"));  // re-certified for the same key
  auto again = ClusterCa::LoadOrCreate(dir_.File("a"));
  ASSERT_OK(again);
  EXPECT_NE(again->certificate_pem(), ca_a_);
  EXPECT_OK(VerifyCaPin(again->certificate_pem(), pin_a_));
}

TEST_F(CaPinTest, PinIsWhatKubeadmsRecipeComputes) {
  // openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum, as
  // kubeadm documents for --discovery-token-ca-cert-hash.
  std::string command = "openssl x509 -pubkey -noout -in " + dir_.File("a/ca.crt") +
                        " | openssl pkey -pubin -outform der | sha256sum 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[256] = {};
  bool read = std::fgets(line, sizeof line, pipe) != nullptr;
  int exit = ::pclose(pipe);
  if (!read || exit != 0) GTEST_SKIP() << "the openssl command is not installed (scripts/install-deps.sh test)";
  EXPECT_EQ(pin_a_, "sha256:" + std::string(line).substr(0, 64));
}

TEST_F(CaPinTest, PinFormatIsCheckedAndNormalized) {
  std::string upper = "SHA256:" + pin_a_.substr(7);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(*NormalizeCaPin(upper), pin_a_);
  EXPECT_OK(VerifyCaPin(ca_a_, upper));
  for (std::string bad : {std::string(""), std::string("sha256:"), pin_a_.substr(0, 70), pin_a_ + "0",
                          "md5:" + pin_a_.substr(7), "sha256:" + std::string(64, 'g'), pin_a_.substr(7),
                          " " + pin_a_}) {
    EXPECT_EQ(NormalizeCaPin(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(VerifyCaPin(ca_a_, bad).code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(CertificateInfoTest, GarbageIsInvalidArgumentNotACrash) {
  for (std::string bad : {std::string(""), std::string("hello"),
                          std::string("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                          std::string(70000, '-')}) {
    EXPECT_EQ(CertificateCommonName(bad).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(PublicKeyFingerprint(bad).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(CertificateAltNames(bad).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(CaPin(bad).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ReadPeerIdentity(bad).status().code(), StatusCode::kInvalidArgument);
  }
  Status status = CertificateCommonName("hello").status();
  EXPECT_NE(status.message().find("no start line"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace gpulse::pki
