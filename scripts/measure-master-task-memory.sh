#!/bin/sh
# The master's memory per running task (issue 10, section 5): starts
# gpulse-master (plaintext, loopback, data dir under TMPDIR) and
# gpulse-fleet-sim with WORKERS simulated workers of 8 GPUs (default 1250:
# 10,000 GPUs) heartbeating every INTERVAL seconds (default 5), reads the
# master's RSS once every worker has heartbeated, submits TASKS 1-GPU tasks
# (default 10000; the fleet-sim reports each started and never ends it),
# waits until they all run and two more heartbeat rounds went by, and
# prints the master's RSS growth per running task. Builds nothing: wants
# gpulse-master and gpulse-fleet-sim in BUILD (default build).
# Usage: TMPDIR=/dev/shm scripts/measure-master-task-memory.sh
set -eu
build=${BUILD:-build}
workers=${WORKERS:-1250}
tasks=${TASKS:-10000}
interval=${INTERVAL:-5}
dir=$(mktemp -d "${TMPDIR:-/tmp}/gpulse-taskmem.XXXXXX")
master= sim=
trap 'kill $sim $master 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
"$build/bin/gpulse-master" --insecure --listen 127.0.0.1:0 --http 127.0.0.1:0 --data-dir "$dir/m" \
  --ports-file "$dir/ports" >"$dir/master.log" 2>&1 &
master=$!
while [ ! -s "$dir/ports" ]; do sleep 0.1; done
grpc=$(sed 's/.*"grpc_port": \([0-9]*\).*/\1/' "$dir/ports")
http=$(sed 's/.*"http_port": \([0-9]*\).*/\1/' "$dir/ports")
"$build/bin/gpulse-fleet-sim" --insecure --master "127.0.0.1:$grpc" --token-file "$dir/m/token" \
  --workers "$workers" --gpus 8 --interval "$interval" >"$dir/sim.log" 2>&1 &
sim=$!
token=$(cat "$dir/m/token")
metric() {  # the value of one /metrics series, e.g. metric 'gpulse_tasks{state="running"}'
  curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$http/metrics" |
    awk -v s="$1" 'index($0, s " ") == 1 {print $2}'
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$master/status"; }
until grep -q "^ready $workers" "$dir/sim.log"; do sleep 0.5; done
# Every worker heartbeated at least once since (two rounds: figures in place).
start=$(date +%s)
while [ $(($(date +%s) - start)) -lt $((2 * interval + 1)) ]; do sleep 1; done
before=$(rss)
python3 - "$http" "$token" "$tasks" <<'PY'
import http.client, json, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)
body = json.dumps({"argv": ["/bin/sleep", "infinity"], "gpus": 1, "cpus": 1, "memory_bytes": 1 << 30})
for i in range(n):
    conn.request("POST", "/api/tasks", body, {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    if r.status != 201:
        sys.exit("submit %d: HTTP %d" % (i, r.status))
PY
until [ "$(metric 'gpulse_tasks{state="running"}')" = "$tasks" ]; do sleep 1; done
start=$(date +%s)
while [ $(($(date +%s) - start)) -lt $((2 * interval + 1)) ]; do sleep 1; done
after=$(rss)
echo "master RSS with $workers workers x 8 GPUs: ${before} KiB idle, ${after} KiB with $tasks running tasks;" \
  "$(((after - before) * 1024 / tasks)) bytes per running task"
