#!/usr/bin/env bash
# Runs the Google Benchmark programs of one build directory (`make bench`):
# sampler_bench, placement_bench, history_bench and pki_bench from <build>/bin/, each
# with the flags docs/benchmarks.md, docs/telemetry.md and docs/dashboard.md
# quote, each stopped after BENCH_TIMEOUT seconds (default 600).
#
#   scripts/run-benchmarks.sh [build-dir]     (default: build)
#
# Figures go to <build-dir>/benchmarks/<UTC time>/: <program>.txt (the
# console table) and <program>.json (--benchmark_out). The heartbeat load
# generator (gpulse-loadgen) is not run here: it wants a quiet machine and
# its own flags (docs/benchmarks.md).
#
# Exit status: 0 when every program ran to the end; 1 when one failed or
# timed out (the others still run); 2 when the programs are not built.
set -uo pipefail

build="${1:-build}"
timeout_s="${BENCH_TIMEOUT:-600}"
bin="$build/bin"

# program and its flags, as the docs give them
declare -A flags=(
  [sampler_bench]="--benchmark_min_time=1 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true"
  [placement_bench]=""
  [history_bench]=""
  [pki_bench]="--benchmark_repetitions=5 --benchmark_report_aggregates_only=true"
)
programs=(sampler_bench placement_bench history_bench pki_bench)

missing=()
for p in "${programs[@]}"; do
  [[ -x "$bin/$p" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "run-benchmarks: not built in $bin: ${missing[*]}" >&2
  echo "  build them with: cmake -S . -B $build -DGPULSE_BUILD_BENCHMARKS=ON &&" \
       "cmake --build $build -j2 --target ${programs[*]} nvml_sim" >&2
  exit 2
fi

out="$build/benchmarks/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
echo "== benchmarks of $build, figures in $out/ (at most ${timeout_s} s per program)"

status=0
for p in "${programs[@]}"; do
  # shellcheck disable=SC2086  # the flags are words
  cmd=("$bin/$p" ${flags[$p]} --benchmark_out="$out/$p.json" --benchmark_out_format=json)
  echo "== ${cmd[*]}"
  timeout --kill-after=10 "$timeout_s" "${cmd[@]}" 2>&1 | tee "$out/$p.txt"
  rc=${PIPESTATUS[0]}
  if ((rc == 124 || rc == 137)); then
    echo "run-benchmarks: $p did not finish within ${timeout_s} s (BENCH_TIMEOUT)" >&2
    status=1
  elif ((rc != 0)); then
    echo "run-benchmarks: $p failed with exit status $rc" >&2
    status=1
  fi
done

echo "== figures in $out/:"
ls -1 "$out"
exit "$status"
