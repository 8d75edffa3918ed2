// FetchPinnedCa against real TLS servers (cpp-httplib's, on the system's
// OpenSSL) on loopback: the pinned CA is returned only when the master
// presents it and its certificate chains to it.
#include "pki/ca_discovery.h"

#include <httplib.h>

#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "common/host_port.h"
#include "pki/cluster_ca.h"
#include "pki/server_certificate.h"
#include "testkit/eventually.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::pki {
namespace {

using std::chrono::seconds;

// An HTTP(S) server on a free loopback port, serving until destroyed.
class Serving {
 public:
  explicit Serving(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    testkit::Eventually([this] { return server_->is_running(); }, seconds(10));
  }
  ~Serving() {
    server_->stop();
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

class CaDiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = ClusterCa::LoadOrCreate(dir_.File("cluster"));
    ASSERT_OK(ca);
    ca_ = std::make_unique<ClusterCa>(std::move(*ca));
    auto other = ClusterCa::LoadOrCreate(dir_.File("other"));
    ASSERT_OK(other);
    other_ca_ = std::make_unique<ClusterCa>(std::move(*other));
  }

  // A TLS server whose certificate `issuer` signed, presenting that
  // certificate followed by `chain_extra` (PEM), as the master presents its
  // certificate and then the cluster CA.
  std::unique_ptr<Serving> TlsServer(const ClusterCa& issuer, const std::string& chain_extra) {
    auto server = EnsureServerCertificate(issuer, dir_.File(std::to_string(++servers_)));
    EXPECT_OK(server);
    const std::string chain = dir_.File(std::to_string(servers_) + "/chain.crt");
    EXPECT_TRUE(testkit::WriteFile(chain, testkit::ReadFileOrEmpty(server->certificate_path) + chain_extra));
    auto tls = std::make_unique<httplib::SSLServer>(chain.c_str(), server->key_path.c_str());
    EXPECT_TRUE(tls->is_valid());
    return std::make_unique<Serving>(std::move(tls));
  }

  testkit::TempDir dir_{"gpulse-ca-discovery"};
  std::unique_ptr<ClusterCa> ca_;
  std::unique_ptr<ClusterCa> other_ca_;
  int servers_ = 0;
};

TEST_F(CaDiscoveryTest, ReturnsThePinnedCaTheMasterPresents) {
  auto master = TlsServer(*ca_, ca_->certificate_pem());
  auto fetched = FetchPinnedCa(master->address(), ca_->pin());
  ASSERT_OK(fetched);
  EXPECT_EQ(*fetched, ca_->certificate_pem());
}

TEST_F(CaDiscoveryTest, RefusesAMasterOfAnotherCluster) {
  auto foreign = TlsServer(*other_ca_, other_ca_->certificate_pem());
  auto fetched = FetchPinnedCa(foreign->address(), ca_->pin());
  EXPECT_EQ(fetched.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(fetched.status().message().find(other_ca_->pin()), std::string::npos) << fetched.status().message();
}

TEST_F(CaDiscoveryTest, RefusesTheRightCaWhenTheMastersCertificateIsNotFromIt) {
  // An impostor can copy the (public) cluster CA into its chain, but not
  // have it sign its own certificate.
  auto impostor = TlsServer(*other_ca_, ca_->certificate_pem());
  auto fetched = FetchPinnedCa(impostor->address(), ca_->pin());
  EXPECT_EQ(fetched.status().code(), StatusCode::kPermissionDenied) << fetched.status().message();
}

TEST_F(CaDiscoveryTest, RefusesAMasterThatSendsNoCa) {
  auto bare = TlsServer(*ca_, "");
  auto fetched = FetchPinnedCa(bare->address(), ca_->pin());
  EXPECT_EQ(fetched.status().code(), StatusCode::kPermissionDenied) << fetched.status().message();
}

TEST_F(CaDiscoveryTest, APlaintextServerOrNoServerIsUnavailable) {
  auto plaintext = std::make_unique<Serving>(std::make_unique<httplib::Server>());
  EXPECT_EQ(FetchPinnedCa(plaintext->address(), ca_->pin(), seconds(2)).status().code(), StatusCode::kUnavailable);
  const std::string gone = plaintext->address();
  plaintext.reset();
  EXPECT_EQ(FetchPinnedCa(gone, ca_->pin(), seconds(2)).status().code(), StatusCode::kUnavailable);
}

TEST_F(CaDiscoveryTest, AMalformedPinIsInvalid) {
  EXPECT_EQ(FetchPinnedCa("127.0.0.1:1", "sha256:abc").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpulse::pki
