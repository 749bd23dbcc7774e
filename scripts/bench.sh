#!/usr/bin/env bash
# Builds selgw and runs the benchmarks in tests/bench; they print figures and assert no
# timings. Extra arguments go to both (e.g. --seconds 10).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
/usr/bin/python3 tests/bench/bench_poll.py "$@"
/usr/bin/python3 tests/bench/bench_rtu.py "$@"
# issue 13: selgw against collectd on 50 devices at 1 Hz, and the 1,000-device shape
# (docs/BENCHMARKS.md)
/usr/bin/python3 tests/bench/bench_vs_collectd.py --seconds 300 "$@"
/usr/bin/python3 tests/bench/bench_vs_collectd.py --seconds 300 --devices 1000 --buses 20 \
  --interval 10 --profile bench-hr20 --warmup 15 "$@"
# issue 13: an hour of 1,000 devices at 1 s (memory over uptime), and the journal's
# throughput when every fdatasync takes 20-50 ms (docs/BENCHMARKS.md)
(cd build && SELGW_BIN=$PWD/selgw SELGW_SIM_BIN=$PWD/selgw-sim \
  /usr/bin/python3 ../tests/bench/bench_soak_rss.py --seconds 3600)
(cd build && SELGW_BIN=$PWD/selgw SELGW_SIM_BIN=$PWD/selgw-sim \
  SELGW_SLOWSYNC_LIB=$PWD/tests/libselgw_slowsync.so \
  /usr/bin/python3 ../tests/bench/bench_slow_storage.py --seconds 10)
./build/tests/bench_journal
./build/tests/bench_history
/usr/bin/python3 tests/bench/bench_drain.py
/usr/bin/python3 tests/bench/bench_evidence.py
/usr/bin/python3 tests/bench/bench_verify_chains.py
# The long versions of what CI runs briefly: 100 SIGKILLs of a signing gateway, 20 rounds of
# an archive and a gateway of the fleet killed, a 9-minute
# fault run, an hour on a full disk (as root), and every fuzz target for 10 minutes.
(cd build && SELGW_CRASH_KILLS=100 SELGW_BIN=$PWD/selgw SELGW_SIM_BIN=$PWD/selgw-sim \
  /usr/bin/python3 ../tests/integration/test_evidence_crash.py)
(cd build && SELGW_FLEET_KILLS=20 SELGW_BIN=$PWD/selgw SELGW_SIM_BIN=$PWD/selgw-sim \
  /usr/bin/python3 ../tests/integration/test_fleet.py)
(cd build && SELGW_FAULT_SECONDS=540 SELGW_BIN=$PWD/selgw SELGW_SIM_BIN=$PWD/selgw-sim \
  /usr/bin/python3 ../tests/integration/test_fault_run.py)
if [ "$(id -u)" = 0 ]; then
  (cd build && SELGW_DISK_FULL_SECONDS=3600 SELGW_BIN=$PWD/selgw SELGW_SIM_BIN=$PWD/selgw-sim \
    /usr/bin/python3 ../tests/integration/test_disk_full.py DiskFull.test_full_disk_is_a_condition)
fi
./scripts/fuzz.sh 600
