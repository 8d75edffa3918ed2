// What the cluster PKI costs, for the connection set-up figures in
// docs/benchmarks.md: creating and loading the CA (master start), issuing
// the server certificate (first start, renewals), a worker's signing request
// and the master's signature (a worker's first join), and reading a peer's
// identity (every worker stream).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "pki/certificate_info.h"
#include "pki/cluster_ca.h"
#include "pki/join_string.h"
#include "pki/server_certificate.h"
#include "pki/worker_identity.h"
#include "testkit/temp_dir.h"

namespace gpulse::pki {
namespace {

// Aborts the benchmark run with `status`'s message when it is an error.
void Check(benchmark::State& state, const Status& status) {
  if (!status.ok()) state.SkipWithError(status.ToString().c_str());
}

// A CA, a worker identity and one signed worker certificate, made once.
struct Fixture {
  testkit::TempDir dir{"gpulse-pki-bench"};
  std::unique_ptr<ClusterCa> ca;
  std::unique_ptr<WorkerIdentity> worker;
  std::string csr, worker_cert;

  static Fixture& Get() {
    static Fixture* fixture = [] {
      auto* f = new Fixture;
      f->ca = std::make_unique<ClusterCa>(ClusterCa::LoadOrCreate(f->dir.File("pki")).value());
      f->worker = std::make_unique<WorkerIdentity>(WorkerIdentity::LoadOrCreate(f->dir.File("worker")).value());
      f->csr = *f->worker->MakeCsr("gpu-node-07");
      f->worker_cert = *f->ca->SignWorkerCsr(f->csr, "gpu-node-07");
      return f;
    }();
    return *fixture;
  }
};

// A new CA on disk: key generation, self-signature, two fsynced files.
void BM_CreateCa(benchmark::State& state) {
  testkit::TempDir dir("gpulse-pki-bench");
  int n = 0;
  for (auto _ : state) {
    auto ca = ClusterCa::LoadOrCreate(dir.File("ca" + std::to_string(n++)));
    if (!ca.ok()) Check(state, ca.status());
  }
}
BENCHMARK(BM_CreateCa)->Unit(benchmark::kMicrosecond);

// A master's start with its CA already there.
void BM_LoadCa(benchmark::State& state) {
  Fixture& f = Fixture::Get();
  for (auto _ : state) {
    auto ca = ClusterCa::LoadOrCreate(f.dir.File("pki"));
    if (!ca.ok()) Check(state, ca.status());
  }
}
BENCHMARK(BM_LoadCa)->Unit(benchmark::kMicrosecond);

// A new key pair and server certificate for the default names and two more.
void BM_IssueServerCertificate(benchmark::State& state) {
  Fixture& f = Fixture::Get();
  auto names = ServerAltNames("gpu-master.lab", {"10.0.0.1", "gpulse.internal"});
  for (auto _ : state) {
    auto issued = f.ca->IssueServerCertificate(*names);
    if (!issued.ok()) Check(state, issued.status());
  }
}
BENCHMARK(BM_IssueServerCertificate)->Unit(benchmark::kMicrosecond);

// A master's start when its server certificate is still good: read, verify
// against the CA, compare names, check the key.
void BM_EnsureServerCertificateKept(benchmark::State& state) {
  Fixture& f = Fixture::Get();
  ServerCertificateOptions options;
  options.hostname = "gpu-master.lab";
  Check(state, EnsureServerCertificate(*f.ca, f.dir.File("pki"), options).status());
  for (auto _ : state) {
    auto kept = EnsureServerCertificate(*f.ca, f.dir.File("pki"), options);
    if (!kept.ok() || kept->issued) Check(state, Internal("the certificate was not kept"));
  }
}
BENCHMARK(BM_EnsureServerCertificateKept)->Unit(benchmark::kMicrosecond);

// The worker's side of a first join: its signing request.
void BM_MakeWorkerCsr(benchmark::State& state) {
  Fixture& f = Fixture::Get();
  for (auto _ : state) {
    auto csr = f.worker->MakeCsr("gpu-node-07");
    if (!csr.ok()) Check(state, csr.status());
  }
}
BENCHMARK(BM_MakeWorkerCsr)->Unit(benchmark::kMicrosecond);

// The master's side of a first join: checking and signing the request.
void BM_SignWorkerCsr(benchmark::State& state) {
  Fixture& f = Fixture::Get();
  for (auto _ : state) {
    auto cert = f.ca->SignWorkerCsr(f.csr, "gpu-node-07");
    if (!cert.ok()) Check(state, cert.status());
  }
}
BENCHMARK(BM_SignWorkerCsr)->Unit(benchmark::kMicrosecond);

// What the master reads from each worker stream's peer certificate to bind
// the id to the key.
void BM_ReadPeerIdentity(benchmark::State& state) {
  Fixture& f = Fixture::Get();
  for (auto _ : state) {
    auto identity = ReadPeerIdentity(f.worker_cert);
    if (!identity.ok()) Check(state, identity.status());
    benchmark::DoNotOptimize(identity);
  }
}
BENCHMARK(BM_ReadPeerIdentity)->Unit(benchmark::kMicrosecond);

// The worker's check of a master's CA against the pin in its join string.
void BM_ParseJoinStringAndVerifyPin(benchmark::State& state) {
  Fixture& f = Fixture::Get();
  std::string text = *FormatJoinString({"gpu-master.lab:7070", f.ca->pin(), std::string(64, 'a')});
  for (auto _ : state) {
    auto join = ParseJoinString(text);
    if (!join.ok()) Check(state, join.status());
    Check(state, VerifyCaPin(f.ca->certificate_pem(), join->ca_pin));
  }
}
BENCHMARK(BM_ParseJoinStringAndVerifyPin)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace gpulse::pki

BENCHMARK_MAIN();
