#!/usr/bin/env bash
# Builds selgw and runs every test: unit and integration tests in a normal build, again
# under AddressSanitizer + UndefinedBehaviorSanitizer, the unit tests under valgrind, and
# every fuzz target for a bounded time (SELGW_FUZZ_SECONDS, 30 by default).
# Installs what is missing first (scripts/setup.sh). Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

./scripts/setup.sh

echo "== build (RelWithDebInfo) and test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== unit tests under valgrind"
for t in build/tests/test_*; do
  [ -x "$t" ] || continue
  valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect "$t" >/dev/null
  echo "valgrind clean: $(basename "$t")"
done

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer and test"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSELGW_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== fuzz targets (libFuzzer, clang, ASan + UBSan), ${SELGW_FUZZ_SECONDS:-30} s each"
./scripts/fuzz.sh "${SELGW_FUZZ_SECONDS:-30}"
