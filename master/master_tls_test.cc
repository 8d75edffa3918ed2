// PrepareMasterTls: the cluster CA the master keeps in its data dir, or the
// operator's own certificate, key and CA, each checked before serving.
#include "master/master_tls.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "pki/certificate_info.h"
#include "pki/cluster_ca.h"
#include "pki/server_certificate.h"
#include "testkit/status_matchers.h"
#include "testkit/temp_dir.h"

namespace gpulse::master {
namespace {

class MasterTlsTest : public ::testing::Test {
 protected:
  // An operator's CA and a server certificate from it, in dir_/<name>/.
  pki::ServerCertificate OperatorFiles(const std::string& name) {
    auto ca = pki::ClusterCa::LoadOrCreate(dir_.File(name));
    EXPECT_OK(ca);
    pki::ServerCertificateOptions options;
    options.extra_names = {"gpu-master.example"};
    auto server = pki::EnsureServerCertificate(*ca, dir_.File(name), options);
    EXPECT_OK(server);
    return *server;
  }

  testkit::TempDir dir_{"gpulse-master-tls"};
};

TEST_F(MasterTlsTest, FirstStartMakesACaAndAServerCertificateWithTheExtraNames) {
  auto tls = PrepareMasterTls({dir_.File("data"), "", "", "", {"10.0.0.7", "master.lab"}});
  ASSERT_OK(tls);
  EXPECT_EQ(tls->ca_file, DefaultCaFile(dir_.File("data")));
  auto pin = pki::CaPin(tls->ca_pem);
  ASSERT_OK(pin);
  EXPECT_EQ(tls->ca_pin, *pin);
  for (const char* name : {"DNS:localhost", "IP:127.0.0.1", "IP:10.0.0.7", "DNS:master.lab"}) {
    EXPECT_NE(std::find(tls->names.begin(), tls->names.end(), name), tls->names.end()) << name;
  }
  // The chain the worker link presents ends with the CA (for --ca-pin).
  EXPECT_NE(tls->cert_chain_pem.find(tls->ca_pem), std::string::npos);
  struct stat key {};
  ASSERT_EQ(::stat(tls->key_file.c_str(), &key), 0);
  EXPECT_EQ(key.st_mode & 0777, 0600u);
  // A second start keeps the same CA.
  auto again = PrepareMasterTls({dir_.File("data"), "", "", "", {"10.0.0.7", "master.lab"}});
  ASSERT_OK(again);
  EXPECT_EQ(again->ca_pin, tls->ca_pin);
}

TEST_F(MasterTlsTest, TheOperatorsFilesAreUsedWhenAllThreeAreGiven) {
  pki::ServerCertificate server = OperatorFiles("op");
  auto tls = PrepareMasterTls({dir_.File("data"), server.certificate_path, server.key_path, dir_.File("op/ca.crt"), {}});
  ASSERT_OK(tls);
  EXPECT_EQ(tls->cert_file, server.certificate_path);
  EXPECT_EQ(tls->ca_file, dir_.File("op/ca.crt"));
  EXPECT_NE(tls->cert_chain_pem.find(tls->ca_pem), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("data/pki")));  // no cluster CA made beside it
}

TEST_F(MasterTlsTest, PartialOrMismatchedOperatorFilesAreRefused) {
  pki::ServerCertificate server = OperatorFiles("op");
  pki::ServerCertificate other = OperatorFiles("other");
  const std::string ca = dir_.File("op/ca.crt");
  EXPECT_EQ(PrepareMasterTls({dir_.File("d"), server.certificate_path, server.key_path, "", {}}).status().code(),
            StatusCode::kInvalidArgument);
  // The key of another certificate.
  EXPECT_FALSE(PrepareMasterTls({dir_.File("d"), server.certificate_path, other.key_path, ca, {}}).ok());
  // A certificate the given CA did not issue.
  auto foreign = PrepareMasterTls({dir_.File("d"), other.certificate_path, other.key_path, ca, {}});
  EXPECT_EQ(foreign.status().code(), StatusCode::kFailedPrecondition) << foreign.status().message();
  // A key others may read.
  ASSERT_EQ(::chmod(server.key_path.c_str(), 0644), 0);
  auto open_key = PrepareMasterTls({dir_.File("d"), server.certificate_path, server.key_path, ca, {}});
  EXPECT_EQ(open_key.status().code(), StatusCode::kPermissionDenied) << open_key.status().message();
}

}  // namespace
}  // namespace gpulse::master
