#!/usr/bin/env bash
# Runs the CTest suite of one build directory. Sanitizer builds fail on the
# first report.
set -euo pipefail
build="${1:-build}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
jobs="${JOBS:-$(nproc)}"
echo "== ctest in $build"
ctest --test-dir "$build" --output-on-failure -j"$jobs" --timeout 300
