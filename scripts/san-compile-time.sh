#!/usr/bin/env bash
# Compares the CPU time clang++ and g++ need for the sanitizer build
# (-O0 -g, ASan + UBSan) on the same source files, without ccache, one
# compile at a time, so that the comparison holds on a loaded machine
# (CPU seconds, user + sys, are what a build of the whole tree adds up;
# wall seconds are printed too, with the load average).
#
#   scripts/san-compile-time.sh BUILD_DIR FILE...
#
# BUILD_DIR is a clang-configured sanitizer build (its compile_commands.json
# gives each file's command); FILE is a path from the repo root, e.g.
# master/core/cluster.cc. Generated headers (proto/*.pb.h) must exist there.
set -euo pipefail
build="$1"; shift
root="$(cd "$(dirname "$0")/.." && pwd)"
db="$build/compile_commands.json"
[[ -f "$db" ]] || { echo "no $db (configure $build first)" >&2; exit 1; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
printf '%-44s %10s %10s %10s %10s\n' file clang_cpu_s gcc_cpu_s clang_wall gcc_wall
total_clang=0; total_gcc=0
for file in "$@"; do
  cmd=$(python3 - "$db" "$root/$file" <<'PY'
import json, shlex, sys
for entry in json.load(open(sys.argv[1])):
    # The fuzzers' instrumented copies of a library compile the same file.
    if entry["file"] == sys.argv[2] and "fuzzer" not in entry["command"]:
        args = shlex.split(entry["command"])
        if args[0].endswith("ccache"):
            args = args[1:]
        # No object file, no dependency file: only the compile is timed.
        out, skip = [], False
        for a in args:
            if skip: skip = False; continue
            if a in ("-o", "-MF", "-MT"): skip = True; continue
            if a == "-MD": continue
            out.append(a)
        print(entry["directory"]); print(shlex.join(out[1:])); break
PY
)
  [[ -n "$cmd" ]] || { echo "$file: not in $db" >&2; exit 1; }
  dir=$(sed -n 1p <<<"$cmd"); flags=$(sed -n 2p <<<"$cmd")
  measure() {  # prints "cpu_seconds wall_seconds"
    local t0 t1 s
    t0=$(date +%s.%N)
    s=$( { /usr/bin/time -f '%U %S' bash -c "cd '$dir' && $1 $flags -o /dev/null" ; } 2>&1 >/dev/null | tail -1)
    t1=$(date +%s.%N)
    awk -v s="$s" -v a="$t0" -v b="$t1" 'BEGIN{split(s,p," "); printf "%.2f %.2f\n", p[1]+p[2], b-a}'
  }
  read -r c_cpu c_wall < <(measure clang++)
  read -r g_cpu g_wall < <(measure g++)
  printf '%-44s %10s %10s %10s %10s\n' "$file" "$c_cpu" "$g_cpu" "$c_wall" "$g_wall"
  total_clang=$(awk -v a="$total_clang" -v b="$c_cpu" 'BEGIN{print a+b}')
  total_gcc=$(awk -v a="$total_gcc" -v b="$g_cpu" 'BEGIN{print a+b}')
done
awk -v c="$total_clang" -v g="$total_gcc" 'BEGIN{printf "total CPU s: clang %.1f, g++ %.1f (clang takes %.0f %% of g++)\n", c, g, 100*c/g}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
