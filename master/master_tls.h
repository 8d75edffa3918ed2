// MasterTls: the TLS material one master serves with — its certificate
// (and the chain it presents), its key, and the cluster CA that workers and
// the CLI trust it by — either the cluster CA the master keeps in
// <data-dir>/pki (created on first start, with a server certificate it
// issues and renews) or the operator's own files (--tls-cert, --tls-key,
// --tls-ca).
//
// Call at start-up, before serving; the result is a plain value.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace gpulse::master {

struct MasterTlsOptions {
  std::string data_dir;
  // All three, or none (then the data dir's cluster CA is used).
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  // More names for the generated certificate (--tls-san).
  std::vector<std::string> extra_names;
};

struct MasterTls {
  std::string ca_file;         // what workers (--ca-file) and the CLI trust
  std::string ca_pem;
  std::string ca_pin;          // "sha256:<hex>", for --ca-pin and join strings
  std::string cert_file;       // the server certificate (HTTP serves this file)
  std::string key_file;
  std::string key_pem;
  std::string cert_chain_pem;  // the certificate, then the CA: what the worker link presents
  std::vector<std::string> names;  // what the certificate is valid for, when known
  std::string note;            // what start-up did ("issued a new server certificate: none yet")
};

// Loads or makes the master's TLS material as described above. Fails, with
// the fix in the message, when only some of the operator's files are given,
// a key is readable by others, the key does not match the certificate, the
// certificate was not issued by the CA, or the data dir's CA cannot be
// loaded or made (see ClusterCa::LoadOrCreate).
Result<MasterTls> PrepareMasterTls(const MasterTlsOptions& options);

// The CA file a master with `data_dir` uses by default.
std::string DefaultCaFile(const std::string& data_dir);

}  // namespace gpulse::master
