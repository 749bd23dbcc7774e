#!/usr/bin/env python3
"""Benchmark: the journal's throughput ceiling when every fdatasync takes 20-50 ms, as on
an SD card or eMMC (issue 13).

Runs tests/bench/bench_journal (threads appending reading-sized payloads as fast as they
can, fsync: batch, the default 50 ms commit interval) twice for --seconds: on this disk as
it is, and with tests/integration/slowsync.c preloaded, which sleeps --delay (default
20-50) milliseconds in every fdatasync and fsync. Prints for each the records committed per
second, fdatasyncs per second and records per fdatasync, and the ratio. The group commit
keeps the ceiling far above what a gateway produces (1,000 devices at 10 s: 100 records/s)
because a slower fdatasync makes each batch larger, not the commits later.

Nothing is asserted about time; the exit status is 1 only if bench_journal failed.
SELGW_SLOWSYNC_LIB names the shim (ctest sets it); bench_journal is looked for next to
SELGW_BIN (build/tests/bench_journal)."""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as h  # noqa: E402


def run(bench, args, env=None):
    full = dict(os.environ)
    full.update(env or {})
    res = subprocess.run([bench] + args, capture_output=True, text=True, env=full)
    if res.returncode != 0:
        raise SystemExit("bench_journal failed (%d)\n%s%s" % (res.returncode, res.stdout,
                                                            res.stderr))
    out = res.stdout
    committed = float(re.search(r"^committed .*: (\d+) records/s", out, re.M).group(1))
    m = re.search(r"^fdatasync\s+(\d+) in all: ([\d.]+) per second, (\d+) records per", out,
                  re.M)
    return out, committed, int(m.group(1)), float(m.group(2)), int(m.group(3))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10,
                    help="length of each run (the undelayed one writes some GB)")
    ap.add_argument("--delay", default="20-50", help="fdatasync delay, MIN-MAX milliseconds")
    ap.add_argument("--payload", type=int, default=300,
                    help="bytes per record (a reading of a few fields is about 300)")
    ap.add_argument("--threads", type=int, default=4, help="appending threads")
    args = ap.parse_args()
    bench = os.path.join(os.path.dirname(h.SELGW_BIN), "tests", "bench_journal")
    lib = os.environ.get("SELGW_SLOWSYNC_LIB",
                         os.path.join(os.path.dirname(h.SELGW_BIN), "tests",
                                      "libselgw_slowsync.so"))
    for path in (bench, lib):
        if not os.path.exists(path):
            print("bench_slow_storage: %s missing (build the tests)" % path)
            return 1
    common = ["--seconds", "%g" % args.seconds, "--payload", str(args.payload),
              "--threads", str(args.threads)]
    _, base, _, base_fps, base_per = run(bench, common)
    report = os.path.join(h.tempdir("bench_slow_storage"), "slowsync.report")
    env = h.preload_env(lib, bench)
    env.update(SELGW_SLOWSYNC_MS=args.delay, SELGW_SLOWSYNC_REPORT=report)
    out, slow, _, slow_fps, slow_per = run(bench, common, env)
    with open(report) as f:
        calls, delay_ms = f.read().split()[1::2]
    mean_delay = float(delay_ms) / int(calls)
    print("bench_slow_storage: %d threads appending %d-byte records for %g s, fsync batch, "
          "commit interval 50 ms" % (args.threads, args.payload, args.seconds))
    print("  this disk as it is:       %9.0f records/s committed, %5.1f fdatasync/s, "
          "%7d records per fdatasync" % (base, base_fps, base_per))
    print("  fdatasync + %s ms (mean %.1f ms over %s calls): %9.0f records/s committed, "
          "%5.1f fdatasync/s, %7d records per fdatasync"
          % (args.delay, mean_delay, calls, slow, slow_fps, slow_per))
    print("  ceiling under the delay: %.2fx of the undelayed one; %.0fx the 100 records/s "
          "of 1,000 devices at 10 s" % (slow / base if base else float("nan"), slow / 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
