#!/usr/bin/env bash
# Installs the Debian packages gpulse needs, when they are missing.
#
#   scripts/install-deps.sh build   # to build and run (make build / make demo)
#   scripts/install-deps.sh test    # also what the test suite uses (make test)
#
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

build_pkgs=(
  g++ make cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libsqlite3-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libcpp-httplib-dev libssl-dev libmicrohttpd-dev
  libtomlplusplus-dev libsystemd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# promtool checks /metrics; chromium and node run the dashboard's browser test;
# python3 and git run the architecture check (scripts/check-deps.py); openssl
# cross-checks the CA pin the way kubeadm's documentation computes it; the
# package test builds the .deb (dpkg-dev's dpkg-shlibdeps, file), verifies
# its units (systemd-analyze, from systemd) and installs it (adduser);
# clang and its runtime libraries (ASan, UBSan, libFuzzer) build the
# sanitizer half of the suite and its fuzzers.
test_pkgs=(prometheus chromium python3 git openssl dpkg-dev file systemd adduser clang libclang-rt-14-dev)

want=("${build_pkgs[@]}")
if [[ "${1:-build}" == "test" ]]; then
  want+=("${test_pkgs[@]}")
  # Any node with npm will do (Debian's, or one installed another way).
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then want+=(nodejs npm); fi
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "gpulse needs these Debian packages: ${missing[*]}" >&2
  echo "Install them as root with:" >&2
  echo "  sudo sh -c '$cmd'" >&2
  exit 1
fi
echo "Installing missing packages: ${missing[*]}"
sh -c "$cmd"
