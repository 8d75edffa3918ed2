#!/bin/sh
# The CPU an idle worker uses with and without the NVML events thread
# (issue 10, section 5), side by side: one gpulse-master (plaintext,
# loopback) and two idle gpulse-workers started together, each with GPUS
# simulated GPUs (default 8) and its default 5 s heartbeats: one on the
# NVML simulator (XID/ECC events watched by NvmlEventWatcher's thread), one
# on its legacy variant (no event symbols, so no events thread; nor energy,
# ECC, row remap or clock-reason reads, so the difference is an upper
# bound). After both registered and WARMUP seconds (default 10), reads each
# worker's user+system CPU ticks from /proc/PID/stat over SECONDS (default
# 60) and prints CPU % of one core for each, and the CPU of the full
# worker's thread that woke most often (voluntary context switches): the
# events thread, which waits in nvmlEventSetWait_v2.
# Builds nothing: wants gpulse-master, gpulse-worker and both simulator
# libraries in BUILD (default build).
# Usage: scripts/measure-worker-idle-cpu.sh
set -eu
build=${BUILD:-build}
seconds=${SECONDS_TO_MEASURE:-60}
warmup=${WARMUP:-10}
gpus=${GPUS:-8}
dir=$(mktemp -d /tmp/gpulse-idlecpu.XXXXXX)
master= full= legacy=
trap 'kill $full $legacy $master 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
"$build/bin/gpulse-master" --insecure --listen 127.0.0.1:0 --http 127.0.0.1:0 --data-dir "$dir/m" \
  --ports-file "$dir/ports" >"$dir/master.log" 2>&1 &
master=$!
while [ ! -s "$dir/ports" ]; do sleep 0.1; done
grpc=$(sed 's/.*"grpc_port": \([0-9]*\).*/\1/' "$dir/ports")
http=$(sed 's/.*"http_port": \([0-9]*\).*/\1/' "$dir/ports")
python3 -c "
import json, sys
print(json.dumps({'driver_version': '550.54.15',
                  'gpus': [{'model': 'NVIDIA H100 80GB HBM3', 'utilization_gpu': 0}] * $gpus}))" >"$dir/scenario.json"
start_worker() {  # NAME LIBRARY
  GPULSE_NVML_SIM_SCENARIO="$dir/scenario.json" GPULSE_NVML_LIBRARY="$build/lib/$2" \
    "$build/bin/gpulse-worker" --insecure --master "127.0.0.1:$grpc" --token-file "$dir/m/token" \
    --id "$1" --work-dir "$dir/$1" --task-user root >"$dir/$1.log" 2>&1 &
}
start_worker full libnvidia-ml-sim.so
full=$!
start_worker legacy libnvidia-ml-sim-legacy.so
legacy=$!
token=$(cat "$dir/m/token")
healthy() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http/api/workers/$1" | grep -q '"healthy"'; }
until healthy full && healthy legacy; do sleep 0.5; done
sleep "$warmup"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, clock ticks
# Per thread of the full worker: "TID voluntary-switches ticks".
threads() {
  for t in /proc/$full/task/*; do
    echo "${t##*/} $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status") $(awk '{print $14 + $15}' "$t/stat")"
  done
}
threads >"$dir/threads.before"
f0=$(ticks $full); l0=$(ticks $legacy); t0=$(date +%s.%N)
sleep "$seconds"
f1=$(ticks $full); l1=$(ticks $legacy); t1=$(date +%s.%N)
threads >"$dir/threads.after"
hz=$(getconf CLK_TCK)
pct() { python3 -c "print(f'{100 * ($1) / $hz / ($t1 - $t0):.2f}')"; }
busiest=$(join "$dir/threads.before" "$dir/threads.after" | awk '{print $4 - $2, $5 - $3}' | sort -n | tail -1)
echo "idle worker, $gpus simulated GPUs, 5 s heartbeats, over $seconds s:"
echo "  with the events thread (libnvidia-ml-sim.so):  $(pct "$f1 - $f0") % of a core"
echo "  without (libnvidia-ml-sim-legacy.so):          $(pct "$l1 - $l0") % of a core"
echo "  the full worker's most-woken thread: ${busiest%% *} wake-ups, $(pct "${busiest##* }") % of a core"
