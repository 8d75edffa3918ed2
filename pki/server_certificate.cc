#include "pki/server_certificate.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <climits>

#include "common/private_file.h"
#include "pki/certificate_info.h"
#include "pki/openssl_util.h"

namespace gpulse::pki {
namespace {

std::string ThisHostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

std::vector<std::string> Texts(const std::vector<AltName>& names) {
  std::vector<std::string> out;
  for (const AltName& name : names) out.push_back(name.ToString());
  return out;
}

std::string Days(std::chrono::seconds duration) {
  return std::to_string(std::chrono::duration_cast<std::chrono::hours>(duration).count() / 24) + " days";
}

// Why the certificate on disk must be replaced, or "" when it may stay. Any
// failure to read it is a reason, not an error: a new one fixes it.
std::string WhyReissue(const ClusterCa& ca, const ServerCertificate& files, const std::vector<std::string>& names,
                       const ServerCertificateOptions& options) {
  auto cert = ReadCertificateFile(files.certificate_path);
  if (!cert.ok()) return cert.status().code() == StatusCode::kNotFound ? "there was none" : cert.status().message();
  auto now = ca.clock().WallNow();
  if (Status trusted = VerifyCertificate(*cert, ca.certificate_pem(), CertificatePurpose::kServer, now); !trusted.ok()) {
    return trusted.message();
  }
  auto not_after = CertificateNotAfter(*cert);
  if (!not_after.ok()) return not_after.status().message();
  if (*not_after - now < options.renew_before) return "it expires within " + Days(options.renew_before);
  auto on_disk = CertificateAltNames(*cert);
  if (!on_disk.ok()) return on_disk.status().message();
  if (*on_disk != names) return "its names differ from those asked";
  auto key = ReadOwnerOnlyFile(files.key_path, "server private key", kMaxPemBytes);
  if (!key.ok()) return key.status().message();
  if (Status match = CheckKeyMatchesCertificate(*key, *cert); !match.ok()) return match.message();
  return "";
}

}  // namespace

Result<ServerCertificate> EnsureServerCertificate(const ClusterCa& ca, const std::string& dir,
                                                  const ServerCertificateOptions& options) {
  std::string hostname = options.hostname.empty() ? ThisHostname() : options.hostname;
  ASSIGN_OR_RETURN(std::vector<AltName> names, ServerAltNames(hostname, options.extra_names));
  ServerCertificate result;
  result.certificate_path = dir + "/server.crt";
  result.key_path = dir + "/server.key";
  result.names = Texts(names);
  RETURN_IF_ERROR(EnsurePrivateDir(dir));
  // A key others could read is the operator's to fix, not ours to replace
  // silently: it may have been copied already.
  if (Status key = RequireOwnerOnly(result.key_path, "server private key");
      key.code() == StatusCode::kPermissionDenied) {
    return key;
  }
  result.reason = WhyReissue(ca, result, result.names, options);
  if (result.reason.empty()) return result;
  ASSIGN_OR_RETURN(IssuedCertificate issued, ca.IssueServerCertificate(names, options.validity));
  Status written = WriteFileAtomically(result.key_path, issued.private_key_pem, 0600);
  OPENSSL_cleanse(issued.private_key_pem.data(), issued.private_key_pem.size());
  RETURN_IF_ERROR(written);
  RETURN_IF_ERROR(WriteFileAtomically(result.certificate_path, issued.certificate_pem, 0644));
  result.issued = true;
  return result;
}

}  // namespace gpulse::pki
