#!/bin/sh
# Heartbeat ingest under callgrind (issue 10, section 5): instructions and
# simulated L1 data-cache misses per 8-GPU heartbeat for each variant of
# BM_IngestHeartbeat (/0 no task, /1 a running task on every GPU, /2 the
# same master after those tasks finished), counted in IngestRound alone (one
# heartbeat of each of 1,000 workers; under callgrind a round takes longer
# than --benchmark_min_time, so the benchmark runs exactly one). Each count
# is also split into the allocator's part (glibc's malloc and free, whose
# work depends on the heap's history: fastbin consolidation comes and goes
# with the layout) and gpulse's own.
# Unlike the benchmark's times these counts do not depend on what else runs
# on the machine. Wants valgrind and BUILD/bin/placement_bench (default
# build), or BENCH=path/to/placement_bench.
#   scripts/count-ingest-instructions.sh
#   NO_FASTBINS=1 scripts/count-ingest-instructions.sh   # glibc.malloc.mxfast=0
set -eu
bench=${BENCH:-${BUILD:-build}/bin/placement_bench}
dir=$(mktemp -d /tmp/gpulse-callgrind.XXXXXX)
trap 'rm -rf "$dir"' EXIT
if [ -n "${NO_FASTBINS:-}" ]; then
  export GLIBC_TUNABLES=glibc.malloc.mxfast=0
fi
for variant in 0 1 2; do
  valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no --toggle-collect='*IngestRound*' \
    --callgrind-out-file="$dir/v$variant.out" \
    "$bench" --benchmark_filter="IngestHeartbeat/$variant\$" --benchmark_min_time=0.01 \
    >"$dir/v$variant.log" 2>&1
  if ! grep -Eq "IngestHeartbeat/$variant +[0-9.]+ ms +[0-9.]+ ms +1 " "$dir/v$variant.log"; then
    echo "IngestHeartbeat/$variant ran more than one round:" >&2
    cat "$dir/v$variant.log" >&2
    exit 1
  fi
  allocator=$(callgrind_annotate --inclusive=no --threshold=100 "$dir/v$variant.out" 2>/dev/null |
    awk '/malloc\.c:/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')
  # "summary: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw"
  awk -v v="$variant" -v a="$allocator" '/^summary:/ {
    printf "IngestHeartbeat/%s: %.0f instructions (%.0f gpulse, %.0f allocator), %.1f L1 data misses per heartbeat\n",
      v, $2 / 1000, ($2 - a) / 1000, a / 1000, ($6 + $7) / 1000 }' "$dir/v$variant.out"
done
