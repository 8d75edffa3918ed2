#!/usr/bin/env bash
# The device check's dry run: scripts/device-check.sh's `run` half on a machine
# without a GPU, so that the script cannot rot between the rare runs on a lent
# GPU machine. CTest runs it (device_check_dry_run); by hand:
#
#   tests/device_check/dry_run.sh BIN_DIR LIB_DIR   (or scripts/device-check.sh dry-run)
#
# It builds nothing. From the build under test (BIN_DIR: gpulse, sampler_bench
# if built; LIB_DIR: the NVML simulator) it assembles a bundle as `bundle` does,
# drops its execute bits as a carried folder may, and runs `run` against it
# several times at once, each with its own copy of scenario.json and its own
# results folder:
#   gpulse       loads the NVML simulator (GPULSE_NVML_LIBRARY) on that scenario;
#   nvidia-smi   is fake-bin/nvidia-smi, and nvidia-ml-py fake-python/pynvml.py,
#                both answering from the same scenario;
#   the load     is fake-gpulse-load, bundled as gpulse-gpu-load: it makes
#                the simulated GPUs busy by rewriting the scenario (the real
#                gpulse-gpu-load, where built, is only run to see it fail
#                cleanly without a driver);
#   sampler_bench is the real one on the simulator, or fake-sampler-bench
#                when the build has none (the sanitizer build).
# Each case expects an exit code and lines in its output; the timing targets
# are loosened (the simulator on a shared machine is not a GPU), except where
# a case misses one on purpose. It exits 0 if every case behaved, 1 if not.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${1:?usage: $0 BIN_DIR LIB_DIR}"
LIB="${2:?usage: $0 BIN_DIR LIB_DIR}"
SIM="$LIB/libnvidia-ml-sim.so"
CASE_LIMIT=100  # seconds per case; all run at once
started=$SECONDS
FAILED=0

TMP="$(mktemp -d "${TMPDIR:-/tmp}/gpulse-dry-run.XXXXXX")" || exit 1
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

problem() { echo "DRY RUN FAILED: $*"; FAILED=1; }

[[ -x "$BIN/gpulse" ]] || { echo "no gpulse in $BIN" >&2; exit 1; }
[[ -f "$SIM" ]] || { echo "no NVML simulator at $SIM" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

# ---- the bundle, from this build ----
BUNDLE="$TMP/bundle"
if ! "$ROOT/scripts/device-check.sh" assemble "$BIN" "$BUNDLE" >"$TMP/assemble.log" 2>&1; then
  cat "$TMP/assemble.log"
  echo "DRY RUN FAILED: assembling the bundle failed"
  exit 1
fi
if [[ ! -e "$BUNDLE/bin/sampler_bench" ]]; then
  echo "note: $BIN has no sampler_bench (built without benchmarks); the timing step runs fake-sampler-bench"
  cp "$HERE/fake-sampler-bench" "$BUNDLE/bin/sampler_bench"
fi
# Where the build has the real load generator, it must fail cleanly without a
# GPU (or, on a machine with one, run); the bundle then gets the fake.
if [[ -x "$BIN/gpulse-gpu-load" ]]; then
  timeout 20 "$BIN/gpulse-gpu-load" 1 "$TMP/real-load-ready" >"$TMP/real-load.txt" 2>&1
  rc=$?
  if [[ $rc == 0 && -e "$TMP/real-load-ready" ]] ||
     { [[ $rc == 1 && ! -e "$TMP/real-load-ready" ]] && grep -q '^gpulse-gpu-load: ' "$TMP/real-load.txt"; }; then
    echo "gpulse-gpu-load here: exit $rc, $(head -1 "$TMP/real-load.txt")"
  else
    problem "gpulse-gpu-load 1 READY: exit $rc, ready file $(ls "$TMP/real-load-ready" 2>&1): $(cat "$TMP/real-load.txt")"
  fi
fi
cp "$HERE/fake-gpulse-load" "$BUNDLE/bin/gpulse-gpu-load"
for f in bin/gpulse bin/gpulse.real run.sh BUNDLE SOURCES.sha256; do
  [[ -e "$BUNDLE/$f" ]] || problem "the bundle lacks $f"
done
grep -q '^glibc_floor=[0-9]' "$BUNDLE/BUNDLE" || problem "the bundle does not record its glibc floor"
grep -q '^commit=' "$BUNDLE/BUNDLE" || problem "the bundle does not record its commit"
compgen -G "$BUNDLE/lib/libstdc++.so*" >/dev/null || problem "the bundle lacks libstdc++"
compgen -G "$BUNDLE/lib/lib[cm].so*" >/dev/null && problem "the bundle carries glibc's own libraries"
chmod -x "$BUNDLE"/bin/* "$BUNDLE/run.sh"  # as a carried folder may arrive

# Variants of the bundle for two cases (hard links: only BUNDLE or the list changes).
cp -al "$BUNDLE" "$TMP/bundle-old-glibc"
sed 's/^glibc_floor=.*/glibc_floor=99.0/' "$BUNDLE/BUNDLE" >"$TMP/bundle-old-glibc/BUNDLE.new" &&
  mv "$TMP/bundle-old-glibc/BUNDLE.new" "$TMP/bundle-old-glibc/BUNDLE"
cp -al "$BUNDLE" "$TMP/bundle-other-sources"
sed '1s/^[0-9a-f]\{8\}/00000000/' "$BUNDLE/SOURCES.sha256" >"$TMP/bundle-other-sources/SOURCES.new" &&
  mv "$TMP/bundle-other-sources/SOURCES.new" "$TMP/bundle-other-sources/SOURCES.sha256"

# The python3 behind any shim (pyenv's costs ~0.15 s a start), first on PATH.
PY_DIR="$(dirname "$(python3 -c 'import sys; print(sys.executable)')")"
export PYTHONDONTWRITEBYTECODE=1  # leaves the source tree as it was

# ---- the cases ----
# start_case NAME BUNDLE [VAR=VALUE...]: `run` in the background.
start_case() {
  local name="$1" bundle="$2" dir="$TMP/$1"
  shift 2
  mkdir -p "$dir/out"
  cp "$HERE/scenario.json" "$dir/scenario.json"
  (
    env OUT="$dir/out" GPULSE_DEVICE_DIR="$bundle" \
      PATH="$HERE/fake-bin:$PY_DIR:$PATH" PYTHONPATH="$HERE/fake-python${PYTHONPATH:+:$PYTHONPATH}" \
      GPULSE_NVML_LIBRARY="$SIM" GPULSE_NVML_SIM_SCENARIO="$dir/scenario.json" \
      GPULSE_CHECK_BUDGET=90 GPULSE_CHECK_BENCH_MIN_TIME=0.01 \
      GPULSE_CHECK_TARGET_SAMPLE_US=100000000 GPULSE_CHECK_TARGET_VS_INIT=0 GPULSE_CHECK_TARGET_VS_NVSMI=0 \
      "$@" timeout -k 5 "$CASE_LIMIT" "$ROOT/scripts/device-check.sh" run >"$dir/stdout" 2>&1
    echo $? >"$dir/rc"
    echo $((SECONDS - started)) >"$dir/seconds"
  ) &
  PIDS+=($!)
}

start_case agree "$BUNDLE"
start_case disagree "$TMP/bundle-other-sources" \
  FAKE_NVIDIA_SMI_LIE="0:temperature.gpu=+10;0:fan.speed=[N/A];1:fan.speed=0"
start_case slow "$BUNDLE" GPULSE_CHECK_TARGET_SAMPLE_US=0.001
start_case load-unseen "$BUNDLE" FAKE_LOAD_MODE=stuck
start_case no-load "$BUNDLE" FAKE_LOAD_MODE=crash
start_case old-glibc "$TMP/bundle-old-glibc"
start_case smi-hangs "$BUNDLE" FAKE_NVIDIA_SMI_HANG=1 GPULSE_CHECK_STEP_TIMEOUT=2
start_case old-driver "$BUNDLE" FAKE_NVIDIA_SMI_UNKNOWN_FIELDS=enforced.power.limit

# Every case is bounded by its own timeout; this bound is the last resort.
deadline=$((SECONDS + CASE_LIMIT + 10))
for pid in "${PIDS[@]}"; do
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && problem "a case outlived its time limit"
done

# ---- the verdicts ----
# expect NAME CODE PATTERN...: the case exited CODE and its log (everything
# `run` said, and more) has every PATTERN (extended regular expressions).
expect() {
  local name="$1" code="$2" dir="$TMP/$1" pattern rc
  shift 2
  rc="$(cat "$dir/rc" 2>/dev/null || echo none)"
  echo "== case $name: exit $rc (expected $code), $(cat "$dir/seconds" 2>/dev/null) s"
  local ok=1
  [[ "$rc" == "$code" ]] || { problem "$name: exit $rc, expected $code"; ok=0; }
  for pattern in "$@"; do
    grep -qE -- "$pattern" "$dir/stdout" "$dir/out/device-check.log" 2>/dev/null ||
      { problem "$name: no line matches /$pattern/"; ok=0; }
  done
  if [[ $ok == 0 ]]; then
    sed 's/^/   | /' "$dir/stdout"
  else
    grep -E '^(DISAGREE|TARGET MISSED|ENVIRONMENT|WARN|exit )' "$dir/stdout" | sed 's/^/   /'
  fi
}

expect agree 0 \
  '^kernel: ' '^os: ' '^glibc: +[0-9]' '^gpus: +index, name, driver_version, persistence_mode, pstate' \
  '^ +0, NVIDIA H200, 570\.124\.06, Enabled, P0' \
  "^ok: this checkout's sources are the ones the bundle was built from" '^ok: glibc ' \
  '^ok: all libraries resolve' '^ok: gpulse agrees with nvidia-smi \(2 GPU' '^ok: nvidia-ml-py agrees' \
  '^nvidia-smi per query \(timed by the shell, 10 runs\): [0-9]+ us' '^full Sampler::Take\(\): +[0-9.]+ us' \
  '^ok: timing targets met' '^load generator: .*gpulse-gpu-load is busy' \
  '^lowest GPU utilization read: 100%' '^highest GPU utilization read: 0%' '^exit 0: '
expect disagree 1 \
  'GPU 0 temperature.gpu: gpulse 31.0, nvidia-smi 41.0' 'GPU 0 fan.speed: gpulse 35, nvidia-smi absent' \
  'GPU 1 fan.speed: gpulse absent, nvidia-smi 0' '^WARN: 1 file\(s\) differ from the ones the bundle was built from' \
  '^exit 1: '
expect slow 3 '^TARGET MISSED: full sample took' '^ok: gpulse agrees with nvidia-smi' '^exit 3: '
expect load-unseen 1 '^DISAGREE: under load: lowest GPU utilization read: 0%' '^exit 1: '
expect no-load 2 'gpulse-gpu-load exited \(status 1\) before its first kernel' \
  '^fake nvcc .* -arch=sm_90 ' '^WARN: nvcc could not build the load generator for sm_90' \
  '^load generator: PyTorch with CUDA is not available' '^ENVIRONMENT: no load generator could run' '^exit 2: '
expect old-glibc 2 '^ENVIRONMENT: this machine has glibc [0-9.]+, older than the 99\.0 the bundle needs' '^exit 2: '
expect smi-hangs 2 '^ENVIRONMENT: nvidia-smi did not finish within its time limit' '^exit 2: '
expect old-driver 2 \
  '^ENVIRONMENT: nvidia-smi --query-gpu=.* failed \(exit 2\): Field "enforced.power.limit" is not a valid field to query' \
  '^exit 2: '

# What comes back from a device call: at most 8 files, no folders.
out="$TMP/agree/out"
for f in device-check.log gpulse-sample.json nvidia-smi.csv nvidia-smi-q.txt bench.json gpulse-load.json gpulse-idle.json; do
  [[ -s "$out/$f" ]] || problem "agree: no $f in the results"
done
[[ $(find "$out" -mindepth 1 | wc -l) -le 8 ]] || problem "agree: more than 8 results: $(ls "$out")"
[[ -z "$(find "$out" -mindepth 1 ! -type f)" ]] || problem "agree: results hold more than plain files"
python3 -c 'import json, sys
gpus = {b.get("gpus") for b in json.load(open(sys.argv[1]))["benchmarks"] if "gpus" in b}
sys.exit(0 if gpus == {2.0} else "sampler_bench saw %s GPUs, not the scenario'"'"'s 2: not on the real-NVML path?" % gpus)' \
  "$out/bench.json" || problem "agree: bench.json"
for f in "$BUNDLE"/bin/*; do [[ -x "$f" ]] || problem "$f was left without its execute bit"; done

echo "dry run: $((SECONDS - started)) s"
if [[ $FAILED != 0 ]]; then
  echo "dry run FAILED (cases' output above; logs were in $TMP)"
  exit 1
fi
echo "dry run passed: 8 cases behaved as expected"
