#!/usr/bin/env bash
# Runs a local gpulse cluster: one master and two workers on loopback, then
# submits a few GPU tasks. On a machine without an NVIDIA driver the workers
# use the NVML simulator (2 and 4 simulated GPUs). Everything speaks TLS with
# the cluster CA the master makes in its data dir: the workers trust it by
# --ca-file, the CLI by GPULSE_CA_FILE.
#
#   GPULSE_DEMO_HTTP=127.0.0.1:8080   dashboard/API address
#   GPULSE_DEMO_GRPC=127.0.0.1:7070   worker listener
#   GPULSE_DEMO_SECONDS=N             stop by itself after N seconds (default: run until Ctrl-C)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=build/bin
lib=build/lib
http="${GPULSE_DEMO_HTTP:-127.0.0.1:8080}"
grpc="${GPULSE_DEMO_GRPC:-127.0.0.1:7070}"
run_dir=build/demo
rm -rf "$run_dir"
mkdir -p "$run_dir"
# The workers' task folders: a worker started as root runs tasks as
# `nobody`, who must be able to reach them (build/ may sit below a 0700
# home), as in the package's 0711 state dir.
work_root=$(mktemp -d "${TMPDIR:-/tmp}/gpulse-demo-work.XXXXXX")
chmod 0711 "$work_root"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping the demo cluster..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work_root"
  echo "Stopped. Logs are in $run_dir/."
}
trap stop INT TERM EXIT

# Real GPUs when the driver's NVML is there; the simulator otherwise.
if ldconfig -p 2>/dev/null | grep -q 'libnvidia-ml\.so\.1 '; then
  echo "NVIDIA driver found: workers read the real GPUs through NVML."
  sim=0
else
  echo "No NVIDIA driver here: workers use the NVML simulator ($lib/libnvidia-ml-sim.so)."
  sim=1
fi

"$bin/gpulse-master" --listen "$grpc" --http "$http" --data-dir "$run_dir/master" \
  >"$run_dir/master.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  [[ -s "$run_dir/master/token" ]] && "$bin/gpulse" workers --master "https://$http" \
    --ca-file "$run_dir/master/pki/ca.crt" --token-file "$run_dir/master/token" >/dev/null 2>&1 && break
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "The master did not start:"; cat "$run_dir/master.log"; exit 1; fi
  sleep 0.1
done
token="$run_dir/master/token"
ca="$run_dir/master/pki/ca.crt"

start_worker() {  # id scenario
  local id=$1 scenario=$2
  if [[ $sim == 1 ]]; then
    GPULSE_NVML_LIBRARY="$PWD/$lib/libnvidia-ml-sim.so" GPULSE_NVML_SIM_SCENARIO="$scenario" GPULSE_NVML_SIM_SEED="$id" \
      "$bin/gpulse-worker" --master "$grpc" --id "$id" --hostname "$id" --interval 2 --token-file "$token" \
      --ca-file "$ca" --work-dir "$work_root/$id" --stop-tasks-on-exit >"$run_dir/$id.log" 2>&1 &
  else
    "$bin/gpulse-worker" --master "$grpc" --id "$id" --hostname "$id" --interval 2 --token-file "$token" \
      --ca-file "$ca" --work-dir "$work_root/$id" --stop-tasks-on-exit >"$run_dir/$id.log" 2>&1 &
  fi
  pids+=($!)
}
start_worker demo-a tools/nvml-sim/scenarios/two-gpus.json
[[ $sim == 1 ]] && start_worker demo-b tools/nvml-sim/scenarios/four-gpus.json

export GPULSE_MASTER="https://$http" GPULSE_TOKEN_FILE="$token" GPULSE_CA_FILE="$ca"
for _ in $(seq 1 100); do
  n=$("$bin/gpulse" workers --json | grep -c '"state": "healthy"' || true)
  [[ $n -ge $(( sim == 1 ? 2 : 1 )) ]] && break
  sleep 0.1
done

echo "Submitting a few tasks..."
"$bin/gpulse" submit --gpus 1 --name train-a -- sh -c 'echo "training on $CUDA_VISIBLE_DEVICES"; sleep 60' >/dev/null
"$bin/gpulse" submit --gpus 2 --name train-b -- sh -c 'echo "training on $CUDA_VISIBLE_DEVICES"; sleep 45' >/dev/null
"$bin/gpulse" submit --gpus 1 --name quick -- sh -c 'nvidia-smi -L 2>/dev/null || echo "GPU $CUDA_VISIBLE_DEVICES"' >/dev/null
"$bin/gpulse" submit --cpus 1 --name cpu-only -- sh -c 'echo no GPU: "[$CUDA_VISIBLE_DEVICES]"' >/dev/null
sleep 1

echo
"$bin/gpulse" workers
echo
"$bin/gpulse" tasks
cat <<MSG

gpulse is running:
  dashboard  https://$http/   (the certificate is from the cluster CA $ca:
             import it in the browser, or accept the warning once;
             then paste the read token: cat $run_dir/master/read-token)
  API        curl --cacert $ca -H "Authorization: Bearer \$(cat $run_dir/master/read-token)" https://$http/api/workers
  metrics    https://$http/metrics   (with the read token as Authorization: Bearer)
  CLI        export GPULSE_MASTER=https://$http GPULSE_TOKEN_FILE=$token GPULSE_CA_FILE=$ca
             $bin/gpulse workers | tasks | submit --gpus 1 -- CMD | logs ID | wait ID
  workers    join more with the line \`$bin/gpulse-master --print-join --data-dir $run_dir/master --listen $grpc\` prints
  logs       $run_dir/
Press Ctrl-C to stop.
MSG

if [[ -n "${GPULSE_DEMO_SECONDS:-}" ]]; then
  sleep "$GPULSE_DEMO_SECONDS"
else
  wait "${pids[0]}"
fi
