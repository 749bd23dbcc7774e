#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz/fuzz_*.c) with clang, libFuzzer, ASan and UBSan and
# runs each for SECONDS (default 30), starting from its seed corpus and the inputs that once
# crashed it. A crash fails the run and leaves the input as build-fuzz/crash-*: add it to
# tests/fuzz/regressions/<target>/ with the fix. Usage: scripts/fuzz.sh [SECONDS [TARGET]]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
only=${2:-}
jobs=$(nproc 2>/dev/null || echo 2)
CC=clang cmake -S . -B build-fuzz -DSELGW_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  [ -z "$only" ] || [ "$name" = "$only" ] || [ "$name" = "fuzz_$only" ] || continue
  targets+=("$name")
done
cmake --build build-fuzz -j"$jobs" --target "${targets[@]}" >/dev/null
for name in "${targets[@]}"; do
  corpus=${name#fuzz_}
  work=build-fuzz/corpus/$corpus
  mkdir -p "$work"
  log=build-fuzz/$name.log
  status=0
  (cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "./tests/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$name-" "corpus/$corpus" "../tests/fuzz/corpus/$corpus" \
    "../tests/fuzz/regressions/$corpus") >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)" "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $name failed (exit $status); the input is build-fuzz/$name-*; its report:" >&2
    grep -E -A40 "==[0-9]+==ERROR|runtime error|SUMMARY" "$log" | head -80 >&2 || tail -40 "$log" >&2
    exit 1
  fi
  echo "fuzz: $name ran ${seconds}s without a failure"
done
