#!/bin/sh
# The master with 1,000,000 finished tasks in its store (issue 12): fills a
# fresh data dir with gpulse-fill-store, starts gpulse-master on it
# (plaintext, loopback, --public-reads), and prints its RSS after start and
# after the page requests, and the latency of GET /api/tasks?limit=50 (p50,
# p99 over REQUESTS requests each, by curl on one machine): the first page,
# a page deep in the store (the cursor of task N/2), and pages filtered by
# state and by worker.
# Usage: scripts/measure-task-store.sh [TASKS] (default 1000000)
# FINISHED_AGO=0 makes the tasks finish "now", so the master keeps its
# --max-finished-tasks newest (10,000) in memory: the worst case for RSS.
set -eu
tasks=${1:-1000000}
build=${BUILD:-build}
requests=${REQUESTS:-200}
dir=$(mktemp -d /tmp/gpulse-store.XXXXXX)
master=
trap '[ -n "$master" ] && kill $master 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
"$build/bin/gpulse-fill-store" --data-dir "$dir/m" --tasks "$tasks" --finished-ago "${FINISHED_AGO:-86400}"
echo "store: $(du -sh "$dir/m/gpulse.db" | cut -f1)"
started=$(date +%s.%N)
"$build/bin/gpulse-master" --insecure --public-reads --listen 127.0.0.1:0 --http 127.0.0.1:0 --data-dir "$dir/m" \
  --ports-file "$dir/ports" >"$dir/master.log" 2>&1 &
master=$!
while [ ! -s "$dir/ports" ]; do sleep 0.05; done
ready=$(date +%s.%N)
http=$(sed 's/.*"http_port": \([0-9]*\).*/\1/' "$dir/ports")
base="http://127.0.0.1:$http"
rss() { awk '/VmRSS/ {print int($2 / 1024) " MiB"}' /proc/$master/status; }
echo "master up in $(echo "$ready - $started" | bc) s; RSS $(rss);" \
  "healthz: $(curl -sf "$base/healthz")"
# p50 and p99 of `requests` timed GETs of a path, in ms.
latency() {
  for _ in $(seq "$requests"); do curl -sf -o /dev/null -w '%{time_total}\n' "$base$1"; done | sort -n |
    awk -v path="$1" '{ t[NR] = $1 * 1000 } END {
      printf "%-48s p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms\n", path, t[int(NR * 0.5)], t[int(NR * 0.99)], t[NR] }'
}
latency "/api/tasks?limit=50"
latency "/api/tasks?limit=50&cursor=t$((tasks / 2))"
latency "/api/tasks?limit=50&state=failed&cursor=t$((tasks / 2))"
latency "/api/tasks?limit=50&worker=w7&cursor=t$((tasks / 2))"
latency "/api/tasks/t-$(printf %06d $((tasks / 3)))"
echo "after the requests: RSS $(rss), peak (VmHWM) $(awk '/VmHWM/ {print int($2 / 1024) " MiB"}' /proc/$master/status)"
