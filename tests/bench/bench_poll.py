#!/usr/bin/env python3
"""Benchmark: CPU time and peak RSS of the gateway polling 200 simulated devices.

200 devices of the shipped soil and air profiles on 4 Modbus TCP buses (50 each) served by
selgw-sim, each polled every second, for 60 s (--seconds to change). Prints the gateway's
CPU time (user + system, from wait4) per thousand readings and its peak resident set."""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import benchlib  # noqa: E402

PROFILES = ["cwt-soil-thc-s", "renke-rs-ecth-n01-tr", "sn-3002-tr-ecthnpkph",
            "jxct-jxbs-3001-npk", "seeed-s-soil-mtec-02", "xy-md02"]


def write_config(path, buses, per_bus, interval):
    lines = ["gateway: {id: bench-gw}",
             "journal: {dir: %s}" % os.path.join(os.path.dirname(path), "journal"),
             "bases:", "  - {id: bench-base, name: Bench base}",
             "plots:", "  - id: bench-plot", "    base: bench-base", "    crop: tea",
             "    households:", "      - {household: HH-001, contract: C-1, from: 2020-01-01}",
             "buses:"]
    ports = []
    for b in range(buses):
        port = benchlib.free_port()
        ports.append(port)
        lines += ["  - {id: tcp%d, type: tcp, host: 127.0.0.1, port: %d, response_timeout: 1s}"
                  % (b, port)]
    lines.append("devices:")
    n = 0
    for b in range(buses):
        for u in range(1, per_bus + 1):
            lines.append("  - {id: dev%03d, bus: tcp%d, unit_id: %d, profile: %s, plot: bench-plot,"
                         " interval: %s}" % (n, b, u, PROFILES[n % len(PROFILES)], interval))
            n += 1
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--buses", type=int, default=4)
    ap.add_argument("--interval", default="1s")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "bench.yaml")
        write_config(cfg, args.buses, args.devices // args.buses, args.interval)
        sim = benchlib.start_sim(["-c", cfg])
        try:
            t0 = time.monotonic()
            col, ru, status = benchlib.run_gateway_measured(cfg, args.seconds)
            wall = time.monotonic() - t0
        finally:
            benchlib.stop(sim)
    cpu = ru.ru_utime + ru.ru_stime
    per_k = cpu / col.count * 1000 * 1000 if col.count else float("nan")
    print("bench_poll: %d devices on %d TCP buses, interval %s, %.0f s"
          % (args.devices, args.buses, args.interval, wall))
    print("  readings          %d (%.1f/s), ok %d, failed %d"
          % (col.count, col.count / wall, col.ok, col.count - col.ok))
    print("  gateway CPU       %.3f s (user %.3f, sys %.3f) = %.1f%% of one core"
          % (cpu, ru.ru_utime, ru.ru_stime, 100 * cpu / wall))
    print("  CPU per 1000 readings  %.1f ms" % per_k)
    print("  peak RSS          %.1f MiB" % (ru.ru_maxrss / 1024))
    print("  exit status       %d" % status)
    return 0 if status == 0 and col.count > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
