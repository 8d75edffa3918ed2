// ClusterCa: the cluster's own certificate authority, kept in the master's
// data dir. It signs the master's server certificate and each worker's
// client certificate; workers trust it (by its file, or by its pin in a
// join string) and nothing else.
//
// Files, in the folder given to LoadOrCreate (the master uses
// <data-dir>/pki; the folder is kept 0700):
//   ca.key  the CA's private key (ECDSA P-256, PKCS#8 PEM), mode 0600
//   ca.crt  its self-signed certificate (10 years), mode 0644
//
// Thread-safety: a loaded ClusterCa is immutable; its const methods may be
// called from any number of threads at once (OpenSSL 3 allows sharing a
// key and a certificate read-only).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "pki/alt_name.h"

namespace gpulse::pki {

inline constexpr std::chrono::seconds kCaValidity = std::chrono::hours(24 * 3650);
inline constexpr std::chrono::seconds kLeafValidity = std::chrono::hours(24 * 365);

// A certificate and the private key it certifies, both PEM.
struct IssuedCertificate {
  std::string certificate_pem;
  std::string private_key_pem;
};

class ClusterCa {
 public:
  // Loads the CA from `dir`, or creates it there when `dir` holds neither
  // file (creating `dir` too, mode 0700). A ca.key without its ca.crt (a
  // crash between the two writes) gets a new certificate for the same key,
  // so the pin does not change. `clock`'s wall time dates what is issued.
  // Fails (and changes nothing) when:
  //   - ca.key may be read by group or others: PermissionDenied with the
  //     chmod that fixes it;
  //   - ca.crt exists without ca.key: FailedPrecondition (the key is lost;
  //     restore it, or remove ca.crt to start a new CA that every worker
  //     must rejoin);
  //   - the files do not parse, do not belong together, or ca.crt is not a
  //     CA certificate or has expired: FailedPrecondition / InvalidArgument;
  //   - the folder or files cannot be made: the PosixError.
  static Result<ClusterCa> LoadOrCreate(const std::string& dir, const Clock& clock = SystemClock::Instance());

  ClusterCa(ClusterCa&&) noexcept;
  ClusterCa& operator=(ClusterCa&&) noexcept;
  ~ClusterCa();

  // Whether LoadOrCreate made a new CA (worth a log line: workers that
  // trusted an earlier one must rejoin).
  bool created() const;
  const std::string& certificate_pem() const;
  const std::string& certificate_path() const;
  // The pin workers check the CA by: "sha256:<hex>" (CaPin of the certificate).
  const std::string& pin() const;
  const Clock& clock() const;

  // A new key pair and a server certificate for it, valid for `names` (at
  // least one), `validity` from now, for serverAuth only. Internal on an
  // OpenSSL failure.
  Result<IssuedCertificate> IssueServerCertificate(const std::vector<AltName>& names,
                                                   std::chrono::seconds validity = kLeafValidity) const;

  // Signs a worker's certificate signing request (PEM) after the worker
  // proved, by token, to be `expected_worker_id`. The certificate has
  // CN = expected_worker_id, the CSR's public key, clientAuth only, and
  // `validity`; nothing else of the CSR (other names, extensions) is used.
  // Refuses, changing nothing:
  //   - InvalidArgument: malformed or oversized PEM, a signature that does
  //     not verify with the CSR's own key (altered in transit, or not made
  //     by the key's holder), a key type other than EC P-256/P-384,
  //     Ed25519 or RSA >= 2048 bits, an empty expected id;
  //   - PermissionDenied: a CSR whose common name is not expected_worker_id.
  Result<std::string> SignWorkerCsr(std::string_view csr_pem, std::string_view expected_worker_id,
                                    std::chrono::seconds validity = kLeafValidity) const;

 private:
  struct State;
  explicit ClusterCa(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace gpulse::pki
