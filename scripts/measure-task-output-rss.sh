#!/bin/sh
# Worker memory while a task writes a lot of output (issue 8, observation 9):
# starts gpulse-master and gpulse-worker (plaintext, loopback, simulated GPU)
# from BUILD (default build), runs one task that writes SIZE (default 500M)
# of output, samples the worker's RSS every 0.2 s until the task has ended and
# its output is stored, then prints the largest sample and the kernel's peak
# (VmHWM). Caps are off (0) unless MAX_OUTPUT / MAX_LOG say otherwise, so all
# of the output travels. Usage: scripts/measure-task-output-rss.sh [SIZE]
set -eu
size=${1:-500M}
build=${BUILD:-build}
dir=$(mktemp -d /tmp/gpulse-rss.XXXXXX)
trap 'kill $worker $master 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
"$build/bin/gpulse-master" --insecure --listen 127.0.0.1:0 --http 127.0.0.1:0 --data-dir "$dir/m" \
  --ports-file "$dir/ports" --max-task-log "${MAX_LOG:-0}" >"$dir/master.log" 2>&1 &
master=$!
while [ ! -s "$dir/ports" ]; do sleep 0.1; done
grpc=$(sed 's/.*"grpc_port": \([0-9]*\).*/\1/' "$dir/ports")
http=$(sed 's/.*"http_port": \([0-9]*\).*/\1/' "$dir/ports")
echo '{"driver_version": "550.54.15", "gpus": [{"model": "NVIDIA H100 80GB HBM3", "utilization_gpu": 0}]}' >"$dir/scenario.json"
GPULSE_NVML_SIM_SCENARIO="$dir/scenario.json" GPULSE_NVML_LIBRARY="$build/lib/libnvidia-ml-sim.so" \
  "$build/bin/gpulse-worker" --insecure --master "127.0.0.1:$grpc" --token-file "$dir/m/token" \
  --work-dir "$dir/w" --interval 1 --task-user root --max-task-output "${MAX_OUTPUT:-0}" >"$dir/worker.log" 2>&1 &
worker=$!
token=$(cat "$dir/m/token")
api() { curl -sf -H "Authorization: Bearer $token" "$@"; }
until api "http://127.0.0.1:$http/api/workers" | grep -q '"healthy"'; do sleep 0.2; done
idle=$(awk '/VmRSS/ {print $2}' /proc/$worker/status)
id=$(api -X POST -d "{\"argv\": [\"/bin/sh\", \"-c\", \"head -c $size /dev/zero\"]}" \
  "http://127.0.0.1:$http/api/tasks" | sed 's/.*"id": *"\([^"]*\)".*/\1/')
max=0
start=$(date +%s)
while ! api "http://127.0.0.1:$http/api/tasks/$id" | grep -q '"state": *"succeeded"'; do
  rss=$(awk '/VmRSS/ {print $2}' /proc/$worker/status)
  [ "$rss" -gt "$max" ] && max=$rss
  sleep 0.2
done
end=$(date +%s)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$worker/status)
stored=$(du -sb "$dir/m/logs" | cut -f1)
echo "task output $size: worker RSS idle ${idle} KiB, largest sample ${max} KiB, peak (VmHWM) ${hwm} KiB;" \
  "master stored ${stored} bytes of logs in $((end - start)) s"
