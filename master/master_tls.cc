#include "master/master_tls.h"

#include "common/private_file.h"
#include "pki/certificate_info.h"
#include "pki/cluster_ca.h"
#include "pki/server_certificate.h"

#include <fstream>
#include <sstream>

namespace gpulse::master {
namespace {

Result<std::string> ReadPublicFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read the " + std::string(what) + " " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<MasterTls> OperatorTls(const MasterTlsOptions& options) {
  if (options.cert_file.empty() || options.key_file.empty() || options.ca_file.empty()) {
    return InvalidArgument("--tls-cert, --tls-key and --tls-ca go together: give all three, or none to use the "
                           "cluster CA the master keeps in its data dir");
  }
  MasterTls tls;
  tls.cert_file = options.cert_file;
  tls.key_file = options.key_file;
  tls.ca_file = options.ca_file;
  ASSIGN_OR_RETURN(std::string cert_pem, ReadPublicFile(options.cert_file, "--tls-cert file"));
  ASSIGN_OR_RETURN(tls.ca_pem, ReadPublicFile(options.ca_file, "--tls-ca file"));
  ASSIGN_OR_RETURN(tls.key_pem, ReadOwnerOnlyFile(options.key_file, "--tls-key file"));
  RETURN_IF_ERROR(pki::CheckKeyMatchesCertificate(tls.key_pem, cert_pem));
  if (Status issued = pki::VerifyCertificate(cert_pem, tls.ca_pem, pki::CertificatePurpose::kServer); !issued.ok()) {
    return FailedPrecondition("--tls-cert is not a valid server certificate from --tls-ca: " + issued.message());
  }
  ASSIGN_OR_RETURN(tls.ca_pin, pki::CaPin(tls.ca_pem));
  ASSIGN_OR_RETURN(tls.names, pki::CertificateAltNames(cert_pem));
  // Workers that know only the pin find the CA in the chain.
  tls.cert_chain_pem = cert_pem;
  if (cert_pem.find(tls.ca_pem) == std::string::npos) {
    if (!tls.cert_chain_pem.empty() && tls.cert_chain_pem.back() != '\n') tls.cert_chain_pem += '\n';
    tls.cert_chain_pem += tls.ca_pem;
  }
  tls.note = "the operator's certificate " + options.cert_file;
  return tls;
}

}  // namespace

std::string DefaultCaFile(const std::string& data_dir) { return data_dir + "/pki/ca.crt"; }

Result<MasterTls> PrepareMasterTls(const MasterTlsOptions& options) {
  if (!options.cert_file.empty() || !options.key_file.empty() || !options.ca_file.empty()) {
    return OperatorTls(options);
  }
  const std::string dir = options.data_dir + "/pki";
  ASSIGN_OR_RETURN(pki::ClusterCa ca, pki::ClusterCa::LoadOrCreate(dir));
  pki::ServerCertificateOptions server_options;
  server_options.extra_names = options.extra_names;
  ASSIGN_OR_RETURN(pki::ServerCertificate server, pki::EnsureServerCertificate(ca, dir, server_options));
  MasterTls tls;
  tls.ca_file = ca.certificate_path();
  tls.ca_pem = ca.certificate_pem();
  tls.ca_pin = ca.pin();
  tls.cert_file = server.certificate_path;
  tls.key_file = server.key_path;
  tls.names = server.names;
  ASSIGN_OR_RETURN(tls.key_pem, ReadOwnerOnlyFile(server.key_path, "server key"));
  ASSIGN_OR_RETURN(std::string cert_pem, ReadPublicFile(server.certificate_path, "server certificate"));
  tls.cert_chain_pem = cert_pem + (cert_pem.empty() || cert_pem.back() == '\n' ? "" : "\n") + tls.ca_pem;
  tls.note = std::string(ca.created() ? "created a new cluster CA; " : "") +
             (server.issued ? "issued a server certificate (" + server.reason + ")" : "kept the server certificate");
  return tls;
}

}  // namespace gpulse::master
