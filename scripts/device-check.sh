#!/usr/bin/env bash
# Checks gpulse's telemetry against a real NVIDIA GPU.
#
#   scripts/device-check.sh bundle   On the build machine: builds gpulse and
#                                    sampler_bench (Release) and copies them,
#                                    with every shared library they need except
#                                    glibc's own, into .device/ (git-ignored).
#   scripts/device-check.sh run      On the GPU machine, from the repository
#                                    root, with .device/ present: runs the
#                                    checks below and writes results to $OUT
#                                    (or .device/results). Exits 1 if any check
#                                    disagrees, 2 if it cannot run at all.
#
# The run checks, in about two minutes:
#   1. the bundled binaries resolve all their libraries (ldd);
#   2. `gpulse sample --json` agrees with nvidia-smi, GPU by GPU, within
#      tolerances for fast-moving values (and with nvidia-ml-py if installed);
#   3. timings from one run: nvidia-smi per query, NVML init+query+shutdown per
#      sample, the persistent session per sample, a full Sampler::Take();
#      targets: full one-GPU sample <= 100 us, >= 20x faster than init per
#      sample, >= 500x faster than nvidia-smi;
#   4. under load (a CUDA spin kernel: bundled, else built there with nvcc,
#      else torch matmuls), gpulse reads high utilization, and low
#      utilization once the load stops.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEVICE_DIR="$ROOT/.device"

# The glibc parts of a system; everything else a binary links is bundled
# (the GPU machine may run another distribution, older or newer).
GLIBC_LIBS_RE='^(linux-vdso|linux-gate|ld-linux[^ ]*|libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libnsl|libmvec|libcrypt)\.so'

die() { echo "device-check: $*" >&2; exit 2; }

bundle() {
  local build="$ROOT/build-device"
  command -v cmake >/dev/null || die "cmake not found"
  cmake -S "$ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGPULSE_BUILD_BENCHMARKS=ON \
    >/dev/null || die "configure failed"
  cmake --build "$build" -j2 --target gpulse sampler_bench || die "build failed"

  rm -rf "$DEVICE_DIR"
  mkdir -p "$DEVICE_DIR/bin" "$DEVICE_DIR/lib"
  local exe lib name
  for exe in gpulse sampler_bench; do
    cp "$build/bin/$exe" "$DEVICE_DIR/bin/$exe.real"
    strip --strip-unneeded "$DEVICE_DIR/bin/$exe.real" 2>/dev/null || true
    # ldd lines: "libfoo.so.1 => /path/libfoo.so.1 (0x...)" or "/lib64/ld-linux... (0x...)".
    while read -r lib; do
      name="$(basename "$lib")"
      [[ "$name" =~ $GLIBC_LIBS_RE ]] && continue
      if [[ ! -e "$DEVICE_DIR/lib/$name" ]]; then
        cp -L "$lib" "$DEVICE_DIR/lib/$name"
        strip --strip-unneeded "$DEVICE_DIR/lib/$name" 2>/dev/null || true
      fi
    done < <(ldd "$build/bin/$exe" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
    # The wrapper puts the bundled libraries first for this binary only, so
    # nvidia-smi, python and nvcc keep the machine's own libstdc++.
    cat >"$DEVICE_DIR/bin/$exe" <<WRAPPER
#!/usr/bin/env bash
here="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
export LD_LIBRARY_PATH="\$here/../lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "\$here/$exe.real" "\$@"
WRAPPER
    chmod +x "$DEVICE_DIR/bin/$exe"
  done
  local nvcc
  if nvcc="$(find_nvcc)"; then
    write_spin_source "$DEVICE_DIR"
    # Statically linked CUDA runtime; PTX for compute_75 so that any newer GPU
    # can JIT it (the driver must still be new enough for this toolkit).
    if "$nvcc" -O2 -gencode arch=compute_75,code=compute_75 -gencode arch=compute_90,code=sm_90 \
         -o "$DEVICE_DIR/bin/gpulse-load" "$DEVICE_DIR/spin.cu"; then
      echo "built the load generator with $("$nvcc" --version | tail -1)"
    else
      echo "warning: nvcc could not build the load generator; the run will try nvcc or torch there" >&2
    fi
    rm -f "$DEVICE_DIR/spin.cu"
  fi
  cat >"$DEVICE_DIR/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the GPU checks; see scripts/device-check.sh.
cd "$(dirname "${BASH_SOURCE[0]}")/.." && exec scripts/device-check.sh run "$@"
RUN
  chmod +x "$DEVICE_DIR/run.sh"
  (cd "$ROOT" && git rev-parse HEAD 2>/dev/null) >"$DEVICE_DIR/VERSION" || true
  echo "bundled into $DEVICE_DIR ($(du -sh "$DEVICE_DIR" | cut -f1)):"
  ls -l "$DEVICE_DIR/bin" "$DEVICE_DIR/lib"
}

# ---------------------------------------------------------------- run ----

FAILURES=0
RESULTS=""
LOG=""
WORK=""

say() { echo "$*" | tee -a "$LOG"; }
fail() { say "FAIL: $*"; FAILURES=$((FAILURES + 1)); }

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

NVSMI_FIELDS="index,uuid,name,utilization.gpu,utilization.memory,memory.total,memory.used,temperature.gpu,power.draw,power.limit,clocks.sm,clocks.mem,fan.speed"

# Compares one gpulse JSON sample with one nvidia-smi CSV snapshot.
compare_with_nvidia_smi() {
  python3 - "$1" "$2" <<'PY'
import csv, json, sys

sample = json.loads(open(sys.argv[1]).read().splitlines()[-1])
rows = list(csv.reader(open(sys.argv[2]), skipinitialspace=True))
MIB = 1024 * 1024
problems = []

def num(text):
    text = text.strip()
    if text.startswith("[") or text in ("N/A", ""):
        return None  # "[N/A]", "[Not Supported]"
    return float(text)

if not sample["nvml"]["available"]:
    print("gpulse says NVML is unavailable: %s" % sample["nvml"]["error"])
    sys.exit(1)
gpus = {g["index"]: g for g in sample["gpus"]}
if len(gpus) != len(rows):
    problems.append("gpulse sees %d GPUs, nvidia-smi %d" % (len(gpus), len(rows)))

def close(label, ours, theirs, tolerance):
    if theirs is None and ours is None:
        return
    if theirs is None or ours is None:
        problems.append("%s: gpulse %s, nvidia-smi %s" % (label, ours, theirs))
    elif abs(ours - theirs) > tolerance:
        problems.append("%s: gpulse %.1f, nvidia-smi %.1f (tolerance %.1f)" % (label, ours, theirs, tolerance))

for row in rows:
    (index, uuid, name, util, mem_util, mem_total, mem_used, temp, power, power_limit,
     clock_sm, clock_mem, fan) = row
    g = gpus.get(int(index))
    tag = "GPU %s" % index
    if g is None:
        problems.append("%s: missing from gpulse" % tag)
        continue
    if g["error"]:
        problems.append("%s: gpulse reports an error: %s" % (tag, g["error"]))
        continue
    if g["uuid"] != uuid.strip():
        problems.append("%s uuid: gpulse %s, nvidia-smi %s" % (tag, g["uuid"], uuid))
    if g["name"] != name.strip():
        problems.append("%s name: gpulse %r, nvidia-smi %r" % (tag, g["name"], name))
    def mib(v):
        return None if v is None else v / MIB
    close(tag + " memory.total MiB", mib(g["memory_total_bytes"]), num(mem_total), 1)
    # Drivers differ on whether "used" includes memory the driver reserves.
    close(tag + " memory.used MiB", mib(g["memory_used_bytes"]), num(mem_used), 1024)
    close(tag + " utilization.gpu %", g["utilization_gpu"], num(util), 25)
    close(tag + " utilization.memory %", g["utilization_memory"], num(mem_util), 25)
    close(tag + " temperature C", g["temperature_c"], num(temp), 3)
    theirs_power = num(power)
    close(tag + " power.draw W", g["power_w"], theirs_power,
          max(20.0, 0.15 * (theirs_power or 0)))
    close(tag + " power.limit W", g["power_limit_w"], num(power_limit), 1)
    theirs_sm = num(clock_sm)
    close(tag + " clocks.sm MHz", g["clock_sm_mhz"], theirs_sm, max(100.0, 0.2 * (theirs_sm or 0)))
    close(tag + " clocks.mem MHz", g["clock_mem_mhz"], num(clock_mem), 50)
    close(tag + " fan.speed %", g["fan_percent"], num(fan), 10)

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
}

# Cross-checks against NVIDIA's own Python bindings, when installed.
compare_with_pynvml() {
  python3 - "$1" <<'PY'
import json, sys
try:
    import pynvml
except ImportError:
    print("SKIP: nvidia-ml-py (pynvml) is not installed")
    sys.exit(0)
sample = json.loads(open(sys.argv[1]).read().splitlines()[-1])
pynvml.nvmlInit()
problems = []
def text(v):
    return v.decode() if isinstance(v, bytes) else v
try:
    for g in sample["gpus"]:
        h = pynvml.nvmlDeviceGetHandleByIndex(g["index"])
        if text(pynvml.nvmlDeviceGetUUID(h)) != g["uuid"]:
            problems.append("GPU %d uuid differs from pynvml" % g["index"])
        if text(pynvml.nvmlDeviceGetName(h)) != g["name"]:
            problems.append("GPU %d name differs from pynvml" % g["index"])
        if pynvml.nvmlDeviceGetMemoryInfo(h).total != g["memory_total_bytes"]:
            problems.append("GPU %d memory total differs from pynvml" % g["index"])
        limit = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
        if g["power_limit_w"] is None or abs(limit - g["power_limit_w"]) > 1:
            problems.append("GPU %d power limit: pynvml %.1f, gpulse %s" % (g["index"], limit, g["power_limit_w"]))
        temp = pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)
        if g["temperature_c"] is None or abs(temp - g["temperature_c"]) > 3:
            problems.append("GPU %d temperature: pynvml %d, gpulse %s" % (g["index"], temp, g["temperature_c"]))
finally:
    pynvml.nvmlShutdown()
for p in problems:
    print(p)
print("pynvml agrees" if not problems else "pynvml disagrees")
sys.exit(1 if problems else 0)
PY
}

# Writes the CUDA load generator's source to $1/spin.cu: it keeps every SM of
# every GPU busy for the given number of seconds.
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
  }
  return 0;
}
CU
}

find_nvcc() {
  local c
  for c in "$(command -v nvcc 2>/dev/null)" /usr/local/cuda/bin/nvcc; do
    [[ -n "$c" && -x "$c" ]] && { echo "$c"; return 0; }
  done
  return 1
}

# Starts a load generator for $1 seconds on every GPU and sets LOAD_PID.
# Tries, in order, the spin binary built at bundle time (its CUDA runtime may
# need a newer driver than this machine has), spin built here with nvcc, and
# torch matmuls. Returns 1 when none stays up.
LOAD_PID=""
start_load() {
  local seconds="$1" candidate nvcc waited
  local candidates=()
  [[ -x "$DEVICE_DIR/bin/gpulse-load" ]] && candidates+=("$DEVICE_DIR/bin/gpulse-load")
  if nvcc="$(find_nvcc)"; then
    write_spin_source "$WORK"
    if "$nvcc" -O2 -o "$WORK/spin" "$WORK/spin.cu" >>"$LOG" 2>&1; then
      candidates+=("$WORK/spin")
    else
      say "WARN: nvcc could not build the load generator (see log)"
    fi
  fi
  if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    cat >"$WORK/spin.py" <<'PY'
import sys, time, torch
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
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
PY
    printf '#!/usr/bin/env bash\nexec python3 %q "$@"\n' "$WORK/spin.py" >"$WORK/spin-torch"
    chmod +x "$WORK/spin-torch"
    candidates+=("$WORK/spin-torch")
  fi
  for candidate in "${candidates[@]}"; do
    "$candidate" "$seconds" >>"$LOG" 2>&1 &
    LOAD_PID=$!
    # CUDA context creation (and torch's start-up) comes first.
    for waited in 1 2 3 4 5 6; do
      sleep 1
      kill -0 "$LOAD_PID" 2>/dev/null || break
    done
    if kill -0 "$LOAD_PID" 2>/dev/null; then
      say "load generator: $candidate (up after ${waited}s)"
      return 0
    fi
    wait "$LOAD_PID"
    say "WARN: load generator $candidate exited early (see log)"
  done
  LOAD_PID=""
  return 1
}

# Reads the mean GPU utilization over the readable GPUs from JSON lines.
min_gpu_utilization() {
  python3 -c '
import json, sys
values = [g["utilization_gpu"] for line in open(sys.argv[1]) if line.strip()
          for g in json.loads(line)["gpus"] if g["utilization_gpu"] is not None]
print(min(values) if values else -1)' "$1"
}
max_gpu_utilization() {
  python3 -c '
import json, sys
values = [g["utilization_gpu"] for line in open(sys.argv[1]) if line.strip()
          for g in json.loads(line)["gpus"] if g["utilization_gpu"] is not None]
print(max(values) if values else 101)' "$1"
}

run() {
  cd "$ROOT" || die "cannot enter $ROOT"
  [[ -x "$DEVICE_DIR/bin/gpulse" ]] || die "no bundle: run 'scripts/device-check.sh bundle' first"
  RESULTS="${OUT:-$DEVICE_DIR/results}"
  mkdir -p "$RESULTS"
  LOG="$RESULTS/device-check.log"
  : >"$LOG"
  local GPULSE="$DEVICE_DIR/bin/gpulse" BENCH="$DEVICE_DIR/bin/sampler_bench"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  local work="$WORK"
  command -v python3 >/dev/null || die "python3 is needed to compare results"
  say "gpulse device check, bundle $(cat "$DEVICE_DIR/VERSION" 2>/dev/null || echo unknown), $(date -u +%FT%TZ)"

  # 1. Libraries.
  say "== ldd"
  if LD_LIBRARY_PATH="$DEVICE_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
       ldd "$DEVICE_DIR/bin/gpulse.real" "$DEVICE_DIR/bin/sampler_bench.real" >"$work/ldd.txt" 2>&1 &&
     ! grep -q "not found" "$work/ldd.txt"; then
    say "ok: all libraries resolve"
  else
    cat "$work/ldd.txt" >>"$LOG"
    fail "unresolved libraries (see log)"
  fi

  local nvsmi
  nvsmi="$(find_nvidia_smi)" || die "nvidia-smi not found: is this a GPU machine?"
  "$nvsmi" >>"$LOG" 2>&1 || fail "nvidia-smi itself fails"

  # 2. Agreement with nvidia-smi.
  say "== gpulse sample vs nvidia-smi"
  "$GPULSE" sample --json >"$RESULTS/gpulse-sample.json" 2>>"$LOG"
  if grep -q '"NVML library not found' "$RESULTS/gpulse-sample.json"; then
    local lib
    if lib="$(find_nvml_library)"; then
      fail "libnvidia-ml.so.1 is not on the loader's path (found $lib); continuing with GPULSE_NVML_LIBRARY=$lib"
      export GPULSE_NVML_LIBRARY="$lib"
      "$GPULSE" sample --json >"$RESULTS/gpulse-sample.json" 2>>"$LOG"
    fi
  fi
  "$GPULSE" sample >>"$LOG" 2>&1
  local agreed=0
  # Fast-moving values may differ between the two snapshots: retry twice.
  for _ in 1 2 3; do
    "$GPULSE" sample --json >"$work/sample.json" 2>>"$LOG"
    "$nvsmi" --query-gpu="$NVSMI_FIELDS" --format=csv,noheader,nounits >"$work/nvsmi.csv" 2>>"$LOG"
    if compare_with_nvidia_smi "$work/sample.json" "$work/nvsmi.csv" >"$work/compare.txt" 2>&1; then
      agreed=1
      break
    fi
    sleep 1
  done
  cp "$work/nvsmi.csv" "$RESULTS/nvidia-smi.csv"
  cat "$work/compare.txt" >>"$LOG"
  if [[ $agreed == 1 ]]; then say "ok: gpulse agrees with nvidia-smi"; else fail "gpulse disagrees with nvidia-smi: $(head -3 "$work/compare.txt")"; fi

  say "== gpulse vs nvidia-ml-py"
  if compare_with_pynvml "$work/sample.json" >"$work/pynvml.txt" 2>&1; then
    say "ok: $(tail -1 "$work/pynvml.txt")"
  else
    cat "$work/pynvml.txt" >>"$LOG"
    fail "pynvml cross-check: $(head -3 "$work/pynvml.txt")"
  fi

  # 3. Timings, in one run.
  say "== timings"
  local t0 t1 i runs=10
  t0=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do
    "$nvsmi" --query-gpu="$NVSMI_FIELDS" --format=csv,noheader,nounits >/dev/null 2>&1
  done
  t1=$(date +%s%N)
  local nvsmi_ns=$(((t1 - t0) / runs))
  GPULSE_BENCH_REAL_NVML=1 "$BENCH" --benchmark_min_time=0.5 --benchmark_format=json \
    --benchmark_out="$RESULTS/bench.json" --benchmark_out_format=json >/dev/null 2>>"$LOG" ||
    fail "sampler_bench failed"
  python3 - "$RESULTS/bench.json" "$nvsmi_ns" >"$work/timing.txt" 2>&1 <<'PY'
import json, sys
runs = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
nvsmi_ns = float(sys.argv[2])
def ns(name):
    b = runs.get(name)
    if b is None or b.get("error_occurred"):
        return None
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
    return b["real_time"] * scale
persistent, init, direct, take = (ns("BM_PersistentSession"), ns("BM_InitShutdownPerSample"),
                                  ns("BM_DirectNvmlCalls"), ns("BM_SamplerTake"))
gpus = int(runs.get("BM_PersistentSession", {}).get("gpus", 0)) or 1
print("nvidia-smi per query:            %12.1f us" % (nvsmi_ns / 1e3))
for label, value in (("NVML init+query+shutdown/sample", init), ("persistent session/sample", persistent),
                     ("direct NVML calls/sample", direct), ("full Sampler::Take()", take)):
    print("%-32s %12s" % (label + ":", "n/a" if value is None else "%.1f us" % (value / 1e3)))
problems = []
if None in (persistent, init, take):
    problems.append("a benchmark did not run")
else:
    if persistent and direct:
        print("gpulse overhead per GPU:          %12.2f us" % ((persistent - direct) / gpus / 1e3))
    if gpus == 1 and take > 100e3:
        problems.append("full one-GPU sample took %.1f us (target <= 100 us)" % (take / 1e3))
    if gpus > 1 and take > 100e3 * gpus:
        problems.append("full sample took %.1f us for %d GPUs" % (take / 1e3, gpus))
    if init / persistent < 20:
        problems.append("persistent session only %.1fx faster than init per sample (target 20x)" % (init / persistent))
    if nvsmi_ns / take < 500:
        problems.append("full sample only %.0fx faster than nvidia-smi (target 500x)" % (nvsmi_ns / take))
    print("speed-ups: %.0fx vs init per sample, %.0fx vs nvidia-smi" % (init / persistent, nvsmi_ns / take))
for p in problems:
    print("TARGET MISSED: " + p)
sys.exit(1 if problems else 0)
PY
  local timing_rc=$?
  tee -a "$LOG" <"$work/timing.txt"
  [[ $timing_rc == 0 ]] || fail "timing targets missed"

  # 4. Under load.
  say "== utilization under load"
  if start_load 16; then
    "$GPULSE" sample --json --count 3 --interval 1 >"$RESULTS/gpulse-load.json" 2>>"$LOG"
    wait "$LOAD_PID" || fail "the load generator failed (see log)"
    local low high
    low="$(min_gpu_utilization "$RESULTS/gpulse-load.json")"
    say "under load: lowest GPU utilization read = $low%"
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 80 else 1)' "$low" ||
      fail "gpulse read $low% utilization under load (expected >= 80%)"
    sleep 3
    "$GPULSE" sample --json --count 2 --interval 1 >"$work/idle.json" 2>>"$LOG"
    high="$(max_gpu_utilization "$work/idle.json")"
    say "after load: highest GPU utilization read = $high%"
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 20 else 1)' "$high" ||
      fail "gpulse read $high% utilization after the load stopped (expected <= 20%)"
  else
    fail "no load generator could run (bundled spin, nvcc, torch); see log"
  fi

  say "== summary: $FAILURES failure(s); results in $RESULTS"
  [[ $FAILURES == 0 ]] || exit 1
}

case "${1:-}" in
  bundle) bundle ;;
  run) run ;;
  *) echo "usage: $0 bundle|run" >&2; exit 2 ;;
esac
