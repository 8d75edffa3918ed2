#!/bin/sh
# A worker's connection set-up (issue 9): the first join (token-authenticated
# certificate request with a signing request, then the stream over mutual
# TLS, Register and Registered) against a reconnect that already holds its
# certificate (mutual TLS, Register, Registered). Starts gpulse-master (TLS,
# its own cluster CA) and, RUNS times each (default 10), a worker with a new
# work dir (a first join) and the same worker again (a reconnect), all on
# loopback, and prints each run's figure and the median of each kind: the
# worker's own "registered ... N ms after the link started" line, which
# counts from when the CA is trusted (--ca-file here) to the master's
# Registered answer, process start-up excluded.
# Usage: scripts/measure-join.sh   (BUILD=build, RUNS=10)
set -eu
build=${BUILD:-build}
runs=${RUNS:-10}
dir=$(mktemp -d /tmp/gpulse-join.XXXXXX)
worker=
trap 'kill $worker $master 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
"$build/bin/gpulse-master" --listen 127.0.0.1:0 --http 127.0.0.1:0 --data-dir "$dir/m" \
  --ports-file "$dir/ports" >"$dir/master.log" 2>&1 &
master=$!
while [ ! -s "$dir/ports" ]; do sleep 0.1; done
grpc=$(sed 's/.*"grpc_port": \([0-9]*\).*/\1/' "$dir/ports")
echo '{"driver_version": "550.54.15", "gpus": [{"model": "NVIDIA H100 80GB HBM3", "utilization_gpu": 0}]}' >"$dir/scenario.json"

# Runs worker $1 on work dir $2 until it has registered; prints its figure.
join_once() {
  log="$dir/$1.$(date +%s%N).log"
  : >"$log"
  GPULSE_NVML_SIM_SCENARIO="$dir/scenario.json" GPULSE_NVML_LIBRARY="$build/lib/libnvidia-ml-sim.so" \
    "$build/bin/gpulse-worker" --master "127.0.0.1:$grpc" --ca-file "$dir/m/pki/ca.crt" \
    --token-file "$dir/m/token" --id "$1" --work-dir "$2" --task-user root --interval 1 >"$log" 2>&1 &
  worker=$!
  until grep -q 'ms after the link started' "$log"; do sleep 0.05; done
  kill $worker; wait $worker 2>/dev/null || true
  worker=
  csr=$(sed -n 's/.*signed a certificate for key .* in \([0-9]*\) ms.*/\1/p' "$log")
  sed -n "s/.*(\(.*\)), \([0-9]*\) ms after the link started.*/\2 \1${csr:+ (certificate request: $csr ms)}/p" "$log"
}

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

i=1
while [ "$i" -le "$runs" ]; do
  join_once "w$i" "$dir/w$i" >>"$dir/first"
  join_once "w$i" "$dir/w$i" >>"$dir/again"
  i=$((i + 1))
done
echo "first join (token + CSR + mutual TLS), ms:"; cat "$dir/first"
echo "reconnect with the kept certificate, ms:"; cat "$dir/again"
echo "median first join: $(cut -d' ' -f1 "$dir/first" | median) ms"
echo "median reconnect:  $(cut -d' ' -f1 "$dir/again" | median) ms"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
