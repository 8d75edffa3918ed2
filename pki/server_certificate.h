// EnsureServerCertificate: the master's TLS server certificate, issued by
// the cluster CA and kept beside it, renewed on start when it needs to be.
//
// Files, in the folder given (the CA's, <data-dir>/pki):
//   server.key  mode 0600
//   server.crt  mode 0644
//
// Not synchronised: call once at start-up, before serving.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"
#include "pki/cluster_ca.h"

namespace gpulse::pki {

struct ServerCertificateOptions {
  // The machine's name to include; empty means gethostname(). A hostname
  // that is not a valid DNS name is left out.
  std::string hostname;
  // More DNS names or IP addresses (--tls-san).
  std::vector<std::string> extra_names;
  std::chrono::seconds validity = kLeafValidity;
  // A certificate that expires sooner than this is replaced.
  std::chrono::seconds renew_before = std::chrono::hours(24 * 30);
};

struct ServerCertificate {
  std::string certificate_path;
  std::string key_path;
  // What the certificate is valid for: "DNS:localhost", "IP:127.0.0.1", ...
  std::vector<std::string> names;
  // Whether this call issued it, and why ("none yet", "expires within 30
  // days", "its names differ from those asked", ...): worth a log line.
  bool issued = false;
  std::string reason;
};

// Keeps a server certificate in `dir` valid for localhost, 127.0.0.1, ::1,
// the hostname and options.extra_names (ServerAltNames), for serverAuth,
// issued by `ca`. The one on disk is kept unless it is missing or
// unreadable, was not issued by `ca` (e.g. the CA was replaced), does not
// match its key, expires within options.renew_before (by `ca`'s clock), or
// has other names than those asked; then a new key and certificate replace
// both files (key first, each written atomically).
// InvalidArgument for a malformed extra name; PermissionDenied for a
// server.key that group or others may read (with the chmod to run);
// otherwise the file system's or OpenSSL's error.
Result<ServerCertificate> EnsureServerCertificate(const ClusterCa& ca, const std::string& dir,
                                                  const ServerCertificateOptions& options = {});

}  // namespace gpulse::pki
