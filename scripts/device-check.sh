#!/usr/bin/env bash
# Checks gpulse's telemetry against a real NVIDIA GPU.
#
# Usage
#   scripts/device-check.sh bundle   Here, in the checkout the device call will
#                                    send: builds gpulse, sampler_bench and
#                                    gpulse-gpu-load (RelWithDebInfo, as `make
#                                    build` and the documented figures;
#                                    stripped) into build-device/ and copies
#                                    them, with every shared library they need
#                                    except glibc's own, into .device/
#                                    (git-ignored).
#   scripts/device-check.sh run      On the GPU machine, from the repository
#                                    root, with .device/ present: the checks
#                                    below. Results go to $OUT (else
#                                    .device/results): at most 8 files, no
#                                    folders.
#   scripts/device-check.sh dry-run [BIN_DIR [LIB_DIR]]
#                                    Here, without a GPU: `run` against the NVML
#                                    simulator, a fake nvidia-smi and a fake load
#                                    generator (tests/device_check/), built from
#                                    BIN_DIR/LIB_DIR (default build/bin,
#                                    build/lib). `make test` runs it (CTest:
#                                    device_check_dry_run).
#   scripts/device-check.sh assemble BIN_DIR DEST
#                                    The copying half of `bundle`, from any build
#                                    (the dry run uses it).
#
# The device call (the session's `run` tool), after `bundle` in this checkout:
#   command:   "scripts/device-check.sh run"
#   carry:     [".device"]
#   timeout_s: 420
# A run usually takes one to two minutes and ends itself within 390 s
# (GPULSE_CHECK_BUDGET) even when a step hangs, so 420 s returns its results in
# every case, and a 15-minute device budget holds the machine's start, a run
# and a rerun.
#
# Exit codes of `run`; the first that applies, in this order:
#   1  gpulse is wrong: a value disagrees with nvidia-smi or nvidia-ml-py,
#      utilization does not follow the load, or gpulse / sampler_bench fails
#      or hangs. Fix gpulse; a rerun will say the same.
#   3  a timing target was missed (and every value agreed). Read the figures.
#   2  the environment is odd, so the check cannot run or a part could not be
#      made: no bundle, glibc older than the bundle needs, libraries missing,
#      nvidia-smi missing, failing or hanging, no load generator. The context
#      printed first says what the machine is; a rerun there will not help.
#   0  every value agreed and every target was met.
#
# What `run` does, each step bounded (60 s each, the benchmark 240 s):
#   0. prints the context: kernel, OS release, glibc, driver version,
#      persistence mode and pstate of each GPU, and where the bundle came from;
#   1. checks the bundle: execute bits (restored: carry may drop them), built
#      from this checkout's sources (warns if not), this machine's glibc at
#      least the bundle's floor, every library resolving (ldd);
#   2. compares `gpulse sample --json` with nvidia-smi GPU by GPU, by the table
#      in scripts/device_check.py (and with nvidia-ml-py when installed);
#   3. times nvidia-smi per query (in the shell), then sampler_bench on the real
#      driver: NVML init+query+shutdown per sample, the persistent session, a
#      full Sampler::Take(); targets: full sample <= 100 us per GPU, >= 20x
#      faster than init per sample, >= 500x faster than nvidia-smi;
#   4. starts a load on every GPU (one candidate at a time: the bundled
#      gpulse-gpu-load, which needs only the driver; else a CUDA spin kernel
#      built there with nvcc; else PyTorch matmuls), waits for its ready signal
#      (after the first kernel; up to 30 s), and checks that gpulse reads
#      >= 80 % utilization, then <= 20 % once it is stopped; on GPUs with GPM
#      (Hopper and later) also graphics-engine activity >= 0.5, then <= 0.2
#      (the GPM figures of the samples that have them; gpulse must have them
#      where nvidia-ml-py says the GPU supports GPM). sampler_bench's
#      BM_GpmRead shows what the slow poller's GPM read costs (no target).
#
# Settings (environment; the defaults are for the device; the dry run loosens
# the targets and shortens the limits):
#   OUT                            where results go (default .device/results)
#   GPULSE_DEVICE_DIR              the bundle (default .device)
#   GPULSE_CHECK_BUDGET            seconds the whole run may take (390)
#   GPULSE_CHECK_STEP_TIMEOUT      seconds per step (60)
#   GPULSE_CHECK_BENCH_TIMEOUT     seconds for sampler_bench (240)
#   GPULSE_CHECK_BENCH_MIN_TIME    --benchmark_min_time per benchmark (0.5)
#   GPULSE_CHECK_TARGET_SAMPLE_US  full sample, us per GPU, at most (100)
#   GPULSE_CHECK_TARGET_VS_INIT    persistent session vs init per sample, at least (20)
#   GPULSE_CHECK_TARGET_VS_NVSMI   full sample vs nvidia-smi, at least (500)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEVICE_DIR="${GPULSE_DEVICE_DIR:-$ROOT/.device}"
HELPER="$ROOT/scripts/device_check.py"

RUN_BUDGET="${GPULSE_CHECK_BUDGET:-390}"
STEP_TIMEOUT="${GPULSE_CHECK_STEP_TIMEOUT:-60}"
BENCH_TIMEOUT="${GPULSE_CHECK_BENCH_TIMEOUT:-240}"
BENCH_MIN_TIME="${GPULSE_CHECK_BENCH_MIN_TIME:-0.5}"
TARGET_SAMPLE_US="${GPULSE_CHECK_TARGET_SAMPLE_US:-100}"
TARGET_VS_INIT="${GPULSE_CHECK_TARGET_VS_INIT:-20}"
TARGET_VS_NVSMI="${GPULSE_CHECK_TARGET_VS_NVSMI:-500}"
READY_TIMEOUT=30   # for the load generator's first kernel or matrix product
LOAD_SECONDS=60    # the most a load runs; it is stopped once measured
UNDER_LOAD_MIN=80  # % utilization, every GPU, every sample under load
IDLE_MAX=20        # % utilization once the load is stopped
GPM_UNDER_LOAD_MIN=0.5  # GPM graphics-engine activity (ratio) under load, where the GPU has GPM
GPM_IDLE_MAX=0.2        # the same once the load is stopped

# The glibc parts of a system; everything else a binary links is bundled
# (the GPU machine may run another distribution, older or newer).
GLIBC_LIBS_RE='^(linux-vdso|linux-gate|ld-linux[^ ]*|libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libnsl|libmvec|libcrypt)\.so'

die() { echo "device-check: $*" >&2; exit 2; }

# ------------------------------------------------------------- bundle ----

bundle() {
  local build="$ROOT/build-device" launcher=()
  command -v cmake >/dev/null || die "cmake not found"
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$ROOT" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPULSE_BUILD_BENCHMARKS=ON \
    "${launcher[@]}" >/dev/null || die "configure failed"
  cmake --build "$build" -j"${JOBS:-$(nproc)}" --target gpulse sampler_bench gpulse-gpu-load ||
    die "build failed"
  assemble "$build/bin" "$DEVICE_DIR"
  echo "bundled into $DEVICE_DIR ($(du -sh "$DEVICE_DIR" | cut -f1)):"
  sed 's/^/  /' "$DEVICE_DIR/BUNDLE"
  cat <<EOF
Next, the device call from this checkout (see the header of $0):
  command: "scripts/device-check.sh run", carry: [".device"], timeout_s: 420
EOF
}

# assemble BIN_DIR DEST: copies gpulse, sampler_bench and gpulse-gpu-load
# from BIN_DIR (all but gpulse may be missing; run reports it) with their
# libraries into DEST, behind wrappers, and records where they came from.
assemble() {
  local bin="$1" dest="$2" exe
  [[ -x "$bin/gpulse" ]] || die "no gpulse in $bin"
  rm -rf "$dest"
  mkdir -p "$dest/bin" "$dest/lib" || die "cannot create $dest"
  for exe in gpulse sampler_bench gpulse-gpu-load; do
    [[ -x "$bin/$exe" ]] && bundle_program "$bin/$exe" "$dest"
  done
  cat >"$dest/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the GPU checks; see scripts/device-check.sh.
cd "$(dirname "${BASH_SOURCE[0]}")/.." && exec scripts/device-check.sh run "$@"
RUN
  chmod +x "$dest/run.sh"
  write_bundle_info "$bin" "$dest"
  local size_kib
  size_kib="$(du -sk "$dest" | cut -f1)"
  ((size_kib < 60 * 1024)) ||
    echo "warning: the bundle is $((size_kib / 1024)) MiB; a device call carries at most 64 MiB" >&2
}

# bundle_program EXE DEST: EXE as DEST/bin/NAME.real, its non-glibc libraries
# in DEST/lib, and a wrapper DEST/bin/NAME that puts them first for this
# program only (nvidia-smi, python and nvcc keep the machine's own libstdc++).
bundle_program() {
  local exe="$1" dest="$2" name lib
  name="$(basename "$exe")"
  cp "$exe" "$dest/bin/$name.real"
  strip --strip-unneeded "$dest/bin/$name.real" 2>/dev/null || true
  # ldd lines: "libfoo.so.1 => /path/libfoo.so.1 (0x...)" or "/lib64/ld-linux... (0x...)".
  while read -r lib; do
    [[ "$(basename "$lib")" =~ $GLIBC_LIBS_RE ]] && continue
    if [[ ! -e "$dest/lib/$(basename "$lib")" ]]; then
      cp -L "$lib" "$dest/lib/"
      strip --strip-unneeded "$dest/lib/$(basename "$lib")" 2>/dev/null || true
    fi
  done < <(ldd "$exe" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
  cat >"$dest/bin/$name" <<WRAPPER
#!/usr/bin/env bash
here="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
export LD_LIBRARY_PATH="\$here/../lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "\$here/$name.real" "\$@"
WRAPPER
  chmod +x "$dest/bin/$name"
}

# The newest glibc symbol version any bundled file needs: the oldest glibc the
# bundle can run on.
glibc_floor() {
  local dest="$1"
  if ! command -v objdump >/dev/null; then
    machine_glibc  # without objdump: the build machine's, to be safe
    return
  fi
  for f in "$dest"/bin/*.real "$dest"/lib/*; do
    [[ -f "$f" ]] && objdump -T "$f" 2>/dev/null
  done | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -Vu | tail -1
}

# BUNDLE (key=value) says what the bundle is; SOURCES.sha256 lists the
# checkout's files as they were, so that `run` can tell whether the checkout it
# runs in is the one the bundle was built from, even without .git.
write_bundle_info() {
  local bin="$1" dest="$2" commit="unknown" dirty="unknown" build_type
  if commit="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null)"; then
    [[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && dirty=no || dirty=yes
    (cd "$ROOT" && git ls-files -z | grep -zv -e '\.md$' -e '^docs/' | xargs -0 sha256sum) \
      >"$dest/SOURCES.sha256" 2>/dev/null
  else
    commit=unknown
  fi
  build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$bin/../CMakeCache.txt" 2>/dev/null)"
  cat >"$dest/BUNDLE" <<EOF
commit=$commit
uncommitted_changes=$dirty
built=$(date -u +%FT%TZ)
build_type=${build_type:-unknown}
build_os=$(os_release)
build_glibc=$(machine_glibc)
glibc_floor=$(glibc_floor "$dest")
EOF
}

# ---------------------------------------------------------- common -------

os_release() {
  # shellcheck disable=SC1091
  (. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}") || echo unknown
}

# This machine's glibc version, e.g. 2.36 (empty if it cannot tell).
machine_glibc() {
  getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}' ||
    ldd --version 2>/dev/null | head -1 | grep -o '[0-9]\+\.[0-9]\+$'
}

version_less() { [[ "$1" != "$2" && "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" == "$1" ]]; }

find_nvcc() {
  local c
  for c in "$(command -v nvcc 2>/dev/null)" /usr/local/cuda/bin/nvcc; do
    [[ -n "$c" && -x "$c" ]] && { echo "$c"; return 0; }
  done
  return 1
}

# ---------------------------------------------------------------- run ----

RESULTS="" LOG="" WORK="" DEADLINE=0
NVSMI="" GPULSE="" BENCH="" SMI_FIELDS="" LOAD_PID=""
DISAGREEMENTS=0 MISSED_TARGETS=0 ENV_PROBLEMS=0 FINDINGS=()

say() { echo "$*" | tee -a "$LOG"; }
warn() { say "WARN: $*"; }
# The three kinds of finding, one per exit code.
disagree() { say "DISAGREE: $*"; DISAGREEMENTS=$((DISAGREEMENTS + 1)); FINDINGS+=("1 gpulse: $*"); }
missed() { say "TARGET MISSED: $*"; MISSED_TARGETS=$((MISSED_TARGETS + 1)); FINDINGS+=("3 timing: $*"); }
odd() { say "ENVIRONMENT: $*"; ENV_PROBLEMS=$((ENV_PROBLEMS + 1)); FINDINGS+=("2 environment: $*"); }
odd_and_stop() { odd "$*"; finish; }

# bounded LIMIT CMD...: runs CMD for at most LIMIT seconds, or what is left of
# the run's budget if less. Returns CMD's status, 124 if it was stopped.
bounded() {
  local limit="$1"; shift
  local left=$((DEADLINE - SECONDS))
  ((left < limit)) && limit=$left
  ((limit > 0)) || return 124
  timeout -k 5 "$limit" "$@"
}

# How a bounded command ended, for messages.
ended() { [[ $1 == 124 ]] && echo "did not finish within its time limit" || echo "failed (exit $1)"; }

# ": what FILE says" (its first 300 bytes on one line), or nothing if empty.
said() {
  local text
  text="$(head -c 300 "$1" 2>/dev/null | tr -s '\n' ' ')"
  [[ -n "${text// /}" ]] && echo ": $text"
}

# wait_for_exit PID SECONDS: reaps PID if it exits in time; returns its status,
# or 124 if it is still running.
wait_for_exit() {
  local pid="$1" end=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < end)) || return 124
    sleep 0.1
  done
  wait "$pid"
}

# wait_for_file FILE SECONDS PID: 0 once FILE exists, 1 if PID exits first or
# time runs out.
wait_for_file() {
  local file="$1" end=$((SECONDS + $2)) pid="$3"
  while [[ ! -e "$file" ]]; do
    kill -0 "$pid" 2>/dev/null && ((SECONDS < end)) || return 1
    sleep 0.1
  done
}

bundle_info() { sed -n "s/^$1=//p" "$DEVICE_DIR/BUNDLE" 2>/dev/null; }

finish() {
  stop_load
  local code=0 meaning="every value agreed and every target was met" f
  if ((DISAGREEMENTS)); then
    code=1 meaning="gpulse is wrong somewhere (fix it; a rerun will say the same)"
  elif ((MISSED_TARGETS)); then
    code=3 meaning="a timing target was missed; the values agree"
  elif ((ENV_PROBLEMS)); then
    code=2 meaning="the environment is odd; see the context above"
  fi
  say "== summary: $DISAGREEMENTS disagreement(s), $MISSED_TARGETS missed target(s), $ENV_PROBLEMS environment problem(s)"
  for f in "${FINDINGS[@]}"; do say "  $f"; done
  say "results in $RESULTS"
  say "exit $code: $meaning"
  exit "$code"
}

start_run() {
  cd "$ROOT" || die "cannot enter $ROOT"
  DEADLINE=$((SECONDS + RUN_BUDGET))
  RESULTS="${OUT:-$DEVICE_DIR/results}"
  mkdir -p "$RESULTS" || die "cannot create $RESULTS"
  LOG="$RESULTS/device-check.log"
  : >"$LOG"
  WORK="$(mktemp -d)" || die "mktemp failed"
  trap 'stop_load; rm -rf "$WORK"' EXIT
  trap 'say "stopped by a signal"; exit 2' TERM INT HUP
  GPULSE="$DEVICE_DIR/bin/gpulse"
  BENCH="$DEVICE_DIR/bin/sampler_bench"
  say "gpulse device check, $(date -u +%FT%TZ)"
}

find_nvidia_smi() {
  local c
  for c in "$(command -v nvidia-smi 2>/dev/null)" /usr/bin/nvidia-smi /usr/local/nvidia/bin/nvidia-smi; do
    [[ -n "$c" && -x "$c" ]] && { echo "$c"; return 0; }
  done
  return 1
}

find_nvml_library() {
  local c
  c="$(ldconfig -p 2>/dev/null | awk '/libnvidia-ml\.so\.1 / {print $NF; exit}')"
  [[ -n "$c" ]] && { echo "$c"; return 0; }
  for c in /usr/local/nvidia/lib64/libnvidia-ml.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 \
           /usr/lib64/libnvidia-ml.so.1 /usr/lib/libnvidia-ml.so.1; do
    [[ -e "$c" ]] && { echo "$c"; return 0; }
  done
  return 1
}

# query_nvidia_smi FIELDS FILE: nvidia-smi's CSV for FIELDS (no header, no
# units) into FILE, its complaints into FILE.err.
query_nvidia_smi() {
  bounded "$STEP_TIMEOUT" "$NVSMI" --query-gpu="$1" --format=csv,noheader,nounits >"$2" 2>"$2.err"
}

# 0. What the machine is, printed before anything can fail.
print_context() {
  say "== context"
  say "kernel:  $(uname -srm)"
  say "os:      $(os_release)"
  say "glibc:   $(machine_glibc)"
  if [[ -f "$DEVICE_DIR/BUNDLE" ]]; then
    say "bundle:  commit $(bundle_info commit) (uncommitted changes: $(bundle_info uncommitted_changes)), $(bundle_info build_type), built $(bundle_info built) on $(bundle_info build_os), needs glibc >= $(bundle_info glibc_floor)"
  else
    say "bundle:  none in $DEVICE_DIR"
  fi
  command -v python3 >/dev/null || odd_and_stop "python3 is needed to compare results and is not installed"
  NVSMI="$(find_nvidia_smi)" || odd_and_stop "nvidia-smi not found: is this a GPU machine?"
  local rc
  query_nvidia_smi index,name,driver_version,persistence_mode,pstate "$WORK/context.csv"
  rc=$?
  if [[ $rc != 0 ]]; then
    odd_and_stop "nvidia-smi $(ended $rc)$(said "$WORK/context.csv")$(said "$WORK/context.csv.err")"
  fi
  say "gpus:    index, name, driver_version, persistence_mode, pstate"
  sed 's/^/         /' "$WORK/context.csv" | tee -a "$LOG"
  bounded "$STEP_TIMEOUT" "$NVSMI" -q >"$RESULTS/nvidia-smi-q.txt" 2>&1 ||
    warn "nvidia-smi -q failed; what it printed is in nvidia-smi-q.txt"
}

# 1. The bundle: present, executable, from this checkout, runnable here.
check_bundle() {
  say "== bundle"
  [[ -f "$DEVICE_DIR/BUNDLE" && -f "$GPULSE" ]] ||
    odd_and_stop "no bundle in $DEVICE_DIR: run 'scripts/device-check.sh bundle' in the checkout that the device call sends, and carry .device"
  # A carried folder can lose its execute bits.
  chmod +x "$DEVICE_DIR"/bin/* "$DEVICE_DIR/run.sh" 2>/dev/null
  local f
  for f in "$DEVICE_DIR"/bin/*; do
    [[ -x "$f" ]] || odd_and_stop "cannot make $f executable"
  done
  check_provenance
  local floor have
  floor="$(bundle_info glibc_floor)" have="$(machine_glibc)"
  if [[ -z "$have" ]]; then
    odd_and_stop "cannot tell this machine's glibc version (not a glibc system?); the bundle needs glibc >= $floor"
  elif [[ -n "$floor" ]] && version_less "$have" "$floor"; then
    odd_and_stop "this machine has glibc $have, older than the $floor the bundle needs (built on $(bundle_info build_os)); its programs cannot start here. Build the bundle on a system with glibc <= $have"
  fi
  say "ok: glibc $have >= $floor"
  if bounded "$STEP_TIMEOUT" env LD_LIBRARY_PATH="$DEVICE_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
       ldd "$DEVICE_DIR"/bin/*.real >"$WORK/ldd.txt" 2>&1 &&
     ! grep -q "not found" "$WORK/ldd.txt"; then
    say "ok: all libraries resolve"
  else
    cat "$WORK/ldd.txt" >>"$LOG"
    odd_and_stop "unresolved libraries: $(grep "not found" "$WORK/ldd.txt" | head -3 | tr -s '\t\n' '  ')"
  fi
}

# Warns when the checkout is not the one the bundle was built from.
check_provenance() {
  local built head changed
  built="$(bundle_info commit)"
  if head="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null)" && [[ "$head" != "$built" ]]; then
    warn "the bundle was built from commit $built; this checkout is at $head"
  fi
  if [[ ! -f "$DEVICE_DIR/SOURCES.sha256" ]]; then
    warn "the bundle does not list its sources; cannot tell whether it matches this checkout"
    return
  fi
  changed="$(sha256sum -c --quiet "$DEVICE_DIR/SOURCES.sha256" 2>/dev/null | sed 's/: .*//')"
  if [[ -n "$changed" ]]; then
    warn "$(wc -l <<<"$changed") file(s) differ from the ones the bundle was built from: $(head -5 <<<"$changed" | tr '\n' ' ')— rebuild it with 'scripts/device-check.sh bundle' if they matter"
  else
    say "ok: this checkout's sources are the ones the bundle was built from"
  fi
}

# gpulse_sample FILE ARGS...: `gpulse sample ARGS` into FILE; a failure or a
# hang is gpulse's.
gpulse_sample() {
  local file="$1" rc; shift
  bounded "$STEP_TIMEOUT" "$GPULSE" sample "$@" >"$file" 2>>"$LOG"
  rc=$?
  [[ $rc == 0 ]] || disagree "gpulse sample $* $(ended $rc)"
  return $rc
}

# 2. Agreement with nvidia-smi and nvidia-ml-py.
check_agreement() {
  say "== gpulse sample vs nvidia-smi"
  SMI_FIELDS="$(python3 "$HELPER" fields)" || odd_and_stop "python3 cannot run $HELPER"
  gpulse_sample "$WORK/first.json" --json || return
  if grep -q '"NVML library not found' "$WORK/first.json"; then
    local lib
    if lib="$(find_nvml_library)"; then
      odd "libnvidia-ml.so.1 is not on the loader's path (found $lib); continuing with GPULSE_NVML_LIBRARY=$lib"
      export GPULSE_NVML_LIBRARY="$lib"
    fi
  fi
  gpulse_sample "$WORK/text.txt" && cat "$WORK/text.txt" >>"$LOG"
  local attempt rc
  # Fast-moving values may differ between the two snapshots: retry twice.
  for attempt in 1 2 3; do
    ((attempt == 1)) || sleep 1
    gpulse_sample "$WORK/sample.json" --json || return
    cp "$WORK/sample.json" "$RESULTS/gpulse-sample.json"
    query_nvidia_smi "$SMI_FIELDS" "$WORK/nvsmi.csv"
    rc=$?
    cat "$WORK/nvsmi.csv.err" >>"$LOG"
    cp "$WORK/nvsmi.csv" "$RESULTS/nvidia-smi.csv"
    if [[ $rc != 0 ]]; then
      odd "nvidia-smi --query-gpu=$SMI_FIELDS $(ended $rc)$(said "$WORK/nvsmi.csv")$(said "$WORK/nvsmi.csv.err")"
      return
    fi
    python3 "$HELPER" compare "$WORK/sample.json" "$WORK/nvsmi.csv" >"$WORK/compare.txt" 2>&1
    rc=$?
    [[ $rc == 1 ]] || break
  done
  cat "$WORK/compare.txt" >>"$LOG"
  case $rc in
    0) say "ok: gpulse agrees with nvidia-smi ($(wc -l <"$WORK/nvsmi.csv") GPU(s), fields $SMI_FIELDS)" ;;
    1) disagree "gpulse disagrees with nvidia-smi: $(head -4 "$WORK/compare.txt" | paste -sd ';' -)" ;;
    *) odd "cannot compare with nvidia-smi: $(head -2 "$WORK/compare.txt" | paste -sd ';' -)" ;;
  esac

  say "== gpulse vs nvidia-ml-py"
  bounded "$STEP_TIMEOUT" python3 "$HELPER" pynvml "$WORK/sample.json" >"$WORK/pynvml.txt" 2>&1
  rc=$?
  cat "$WORK/pynvml.txt" >>"$LOG"
  case $rc in
    0) say "ok: $(tail -1 "$WORK/pynvml.txt")" ;;
    1) disagree "gpulse disagrees with nvidia-ml-py: $(head -4 "$WORK/pynvml.txt" | paste -sd ';' -)" ;;
    *) odd "nvidia-ml-py $(ended $rc): $(tail -2 "$WORK/pynvml.txt" | paste -sd ';' -)" ;;
  esac
}

# 3. Timings, in one run.
check_timings() {
  say "== timings"
  local runs=10 t0 t1 rc nvsmi_ns=""
  t0=$(date +%s%N)
  # shellcheck disable=SC2016 # the loop's arguments expand in the inner shell
  bounded "$STEP_TIMEOUT" bash -c \
    'for ((i = 0; i < $1; i++)); do "$0" --query-gpu="$2" --format=csv,noheader,nounits >/dev/null 2>&1 || exit 1; done' \
    "$NVSMI" "$runs" "$SMI_FIELDS"
  rc=$?
  t1=$(date +%s%N)
  if [[ $rc == 0 ]]; then
    nvsmi_ns=$(((t1 - t0) / runs))
    say "nvidia-smi per query (timed by the shell, $runs runs): $((nvsmi_ns / 1000)) us"
  else
    odd "nvidia-smi $(ended $rc) while being timed"
  fi
  if [[ ! -f "$BENCH" ]]; then
    odd "the bundle has no sampler_bench (built with -DGPULSE_BUILD_BENCHMARKS=OFF?)"
    return
  fi
  bounded "$BENCH_TIMEOUT" env GPULSE_BENCH_REAL_NVML=1 "$BENCH" --benchmark_min_time="$BENCH_MIN_TIME" \
    --benchmark_out="$RESULTS/bench.json" --benchmark_out_format=json >>"$LOG" 2>&1
  rc=$?
  if [[ $rc != 0 ]]; then
    disagree "sampler_bench $(ended $rc) on this machine's NVML (see the log)"
    return
  fi
  python3 "$HELPER" timing "$RESULTS/bench.json" "$nvsmi_ns" \
    "$TARGET_SAMPLE_US" "$TARGET_VS_INIT" "$TARGET_VS_NVSMI" >"$WORK/timing.txt" 2>&1
  rc=$?
  grep -v '^TARGET MISSED: ' "$WORK/timing.txt" | tee -a "$LOG"
  case $rc in
    0) say "ok: timing targets met" ;;
    1) while read -r line; do missed "$line"; done < <(sed -n 's/^TARGET MISSED: //p' "$WORK/timing.txt") ;;
    *) disagree "sampler_bench's results are incomplete: $(tail -1 "$WORK/timing.txt")" ;;
  esac
}

# Writes a CUDA load generator's source to $1/spin.cu (for nvcc on the GPU
# machine, when the bundled one cannot run). `spin SECONDS
# READY_FILE` keeps every SM of every GPU busy for SECONDS, and creates
# READY_FILE once the first round of kernels has finished.
write_spin_source() {
  cat >"$1/spin.cu" <<'CU'
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

__device__ unsigned long long GlobalTimerNs() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void Spin(unsigned long long ns, unsigned long long* sink) {
  const unsigned long long start = GlobalTimerNs();
  unsigned long long n = 0;
  while (GlobalTimerNs() - start < ns) ++n;
  if (n == 42) *sink = n;  // keeps the loop
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 10;
  const char* ready = argc > 2 ? argv[2] : nullptr;
  int devices = 0;
  cudaError_t rc = cudaGetDeviceCount(&devices);
  if (rc != cudaSuccess || devices == 0) {
    fprintf(stderr, "spin: no usable CUDA device: %s\n", cudaGetErrorString(rc));
    return 1;
  }
  unsigned long long* sink[64] = {};
  int sms[64] = {};
  for (int d = 0; d < devices && d < 64; ++d) {
    cudaSetDevice(d);
    cudaMalloc(&sink[d], sizeof(unsigned long long));
    cudaDeviceGetAttribute(&sms[d], cudaDevAttrMultiProcessorCount, d);
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    for (int d = 0; d < devices && d < 64; ++d) {
      cudaSetDevice(d);
      Spin<<<sms[d] * 4, 256>>>(100000000ULL, sink[d]);  // 100 ms
    }
    for (int d = 0; d < devices && d < 64; ++d) {
      cudaSetDevice(d);
      rc = cudaDeviceSynchronize();
      if (rc == cudaSuccess) rc = cudaGetLastError();
      if (rc != cudaSuccess) {
        fprintf(stderr, "spin: kernel failed: %s\n", cudaGetErrorString(rc));
        return 1;
      }
    }
    if (ready != nullptr) {  // the first round ran: the GPUs are busy
      if (FILE* f = fopen(ready, "w")) fclose(f);
      ready = nullptr;
    }
  }
  return 0;
}
CU
}

# Writes a PyTorch load generator to $1/spin-torch (same arguments as spin).
write_torch_load() {
  cat >"$1/spin.py" <<'PY'
import os, sys, time, torch
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
ready = sys.argv[2] if len(sys.argv) > 2 else None
mats = []
for d in range(torch.cuda.device_count()):
    a = torch.randn(8192, 8192, device="cuda:%d" % d, dtype=torch.float16)
    mats.append((a, a.clone()))
end = time.time() + seconds
while time.time() < end:
    for a, b in mats:
        for _ in range(8):
            torch.mm(a, b)
    for d in range(len(mats)):
        torch.cuda.synchronize(d)
    if ready:  # the first products are done: the GPUs are busy
        open(ready, "w").close()
        ready = None
PY
  printf '#!/usr/bin/env bash\nexec python3 %q "$@"\n' "$1/spin.py" >"$1/spin-torch"
  chmod +x "$1/spin-torch"
}

# try_load_generator PROGRAM: starts `PROGRAM SECONDS READY_FILE` and waits
# for its ready signal; sets LOAD_PID and returns 0 once it is up, else stops
# it and returns 1.
try_load_generator() {
  local program="$1" ready="$WORK/load-ready" started=$SECONDS rc
  rm -f "$ready"
  say "load generator: trying $program"
  timeout -k 5 $((LOAD_SECONDS + READY_TIMEOUT)) "$program" "$LOAD_SECONDS" "$ready" >>"$LOG" 2>&1 &
  LOAD_PID=$!
  if wait_for_file "$ready" "$READY_TIMEOUT" "$LOAD_PID"; then
    say "load generator: $program is busy (ready after $((SECONDS - started)) s)"
    return 0
  fi
  if kill -0 "$LOAD_PID" 2>/dev/null; then
    warn "$program gave no ready signal within $READY_TIMEOUT s; stopping it"
    stop_load
  else
    wait "$LOAD_PID"
    rc=$?
    warn "$program exited (status $rc) before its first kernel (see the log)"
    LOAD_PID=""
  fi
  return 1
}

# Tries the load generators one at a time: the bundled gpulse-gpu-load
# (bench/gpu_load.cc: the driver API and PTX, no toolkit), a spin kernel built
# here with nvcc for this GPU, PyTorch.
start_load() {
  [[ -f "$DEVICE_DIR/bin/gpulse-gpu-load" ]] && try_load_generator "$DEVICE_DIR/bin/gpulse-gpu-load" && return 0
  local nvcc arch
  if nvcc="$(find_nvcc)"; then
    arch="$(bounded "$STEP_TIMEOUT" "$NVSMI" --query-gpu=compute_cap --format=csv,noheader 2>/dev/null |
      head -1 | tr -d ' .')"
    [[ "$arch" =~ ^[0-9]+$ ]] || arch=90
    write_spin_source "$WORK"
    if bounded "$STEP_TIMEOUT" "$nvcc" -O2 -arch="sm_$arch" -o "$WORK/spin" "$WORK/spin.cu" >>"$LOG" 2>&1; then
      try_load_generator "$WORK/spin" && return 0
    else
      warn "nvcc could not build the load generator for sm_$arch (see the log)"
    fi
  fi
  if bounded "$STEP_TIMEOUT" python3 -c \
       'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
    write_torch_load "$WORK"
    try_load_generator "$WORK/spin-torch" && return 0
  else
    say "load generator: PyTorch with CUDA is not available"
  fi
  return 1
}

# Stops the load generator this run started, if it is still running.
stop_load() {
  [[ -n "$LOAD_PID" ]] || return 0
  kill -TERM "$LOAD_PID" 2>/dev/null
  # timeout passes the signal on, and kills the generator 5 s later if needed.
  wait_for_exit "$LOAD_PID" 15 >/dev/null 2>&1
  LOAD_PID=""
}

# 4. Utilization follows a real load.
check_load() {
  say "== utilization under load"
  if ! start_load; then
    odd "no load generator could run (bundled gpulse-gpu-load, nvcc, torch); see the log"
    return
  fi
  gpulse_sample "$RESULTS/gpulse-load.json" --json --count 3 --interval 1 || { stop_load; return; }
  if ! kill -0 "$LOAD_PID" 2>/dev/null; then
    wait "$LOAD_PID"
    odd "the load generator stopped (status $?) while gpulse measured; utilization under load not judged"
    LOAD_PID=""
    return
  fi
  stop_load
  python3 "$HELPER" utilization "$RESULTS/gpulse-load.json" --at-least "$UNDER_LOAD_MIN" >"$WORK/load.txt" 2>&1
  local rc=$?
  tee -a "$LOG" <"$WORK/load.txt"
  [[ $rc == 0 ]] || disagree "under load: $(tail -1 "$WORK/load.txt")"
  python3 "$HELPER" gpm "$RESULTS/gpulse-load.json" --at-least "$GPM_UNDER_LOAD_MIN" >"$WORK/gpm-load.txt" 2>&1
  rc=$?
  tee -a "$LOG" <"$WORK/gpm-load.txt"
  [[ $rc == 0 ]] || disagree "GPM under load: $(tail -1 "$WORK/gpm-load.txt")"

  # The driver's figure covers the last sample period: allow it a few seconds.
  local attempt
  : >"$RESULTS/gpulse-idle.json"
  for attempt in 1 2 3 4 5; do
    gpulse_sample "$WORK/idle.json" --json --count 2 --interval 1 || return
    cat "$WORK/idle.json" >>"$RESULTS/gpulse-idle.json"
    python3 "$HELPER" utilization "$WORK/idle.json" --at-most "$IDLE_MAX" >"$WORK/idle.txt" 2>&1
    rc=$?
    [[ $rc == 0 ]] && break
  done
  tee -a "$LOG" <"$WORK/idle.txt"
  [[ $rc == 0 ]] || disagree "after the load stopped: $(tail -1 "$WORK/idle.txt")"
  python3 "$HELPER" gpm "$WORK/idle.json" --at-most "$GPM_IDLE_MAX" >"$WORK/gpm-idle.txt" 2>&1
  rc=$?
  tee -a "$LOG" <"$WORK/gpm-idle.txt"
  [[ $rc == 0 ]] || disagree "GPM after the load stopped: $(tail -1 "$WORK/gpm-idle.txt")"
}

run() {
  start_run
  print_context
  check_bundle
  check_agreement
  check_timings
  check_load
  finish
}

case "${1:-}" in
  bundle) bundle ;;
  run) run ;;
  assemble) [[ $# == 3 ]] || die "usage: $0 assemble BIN_DIR DEST"; assemble "$2" "$3" ;;
  dry-run) exec "$ROOT/tests/device_check/dry_run.sh" "${2:-$ROOT/build/bin}" "${3:-$ROOT/build/lib}" ;;
  *) echo "usage: $0 bundle|run|dry-run [BIN_DIR [LIB_DIR]] (see the header)" >&2; exit 2 ;;
esac
