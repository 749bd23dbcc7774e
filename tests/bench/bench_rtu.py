#!/usr/bin/env python3
"""Benchmark: efficiency of polling 30 sensors on one emulated 9600-baud RS-485 line.

selgw-sim plays 30 soil and air sensors on one end of a socat pty pair with --wire-timing
(every frame takes the time its bytes need on a 9600 8N1 line, and the device waits 3.5
characters before it answers); the gateway polls them on the other end with intervals so
short that the line never rests. The least time one poll cycle can take is the sum over
every request of (request bytes + response bytes + 2 x 3.5 characters of silence) x 10 bits
/ 9600 baud. The figure is that least time over the measured cycle time (1.0 = the wire is
never idle longer than the protocol demands)."""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import benchlib  # noqa: E402

PROFILES = ["cwt-soil-thc-s", "renke-rs-ecth-n01-tr", "sn-3002-tr-ecthnpkph",
            "jxct-jxbs-3001-npk", "seeed-s-soil-mtec-02", "xy-md02"]
BAUD = 9600
BITS_PER_CHAR = 10  # 8N1: start + 8 data + stop


def write_config(path, line, sensors):
    lines = ["gateway: {id: bench-rtu}",
             "journal: {dir: %s}" % os.path.join(os.path.dirname(path), "journal"),
             "bases:", "  - {id: bench-base, name: Bench base}",
             "plots:", "  - {id: bench-plot, base: bench-base, crop: tea}",
             "buses:",
             "  - {id: line, type: rtu, device: %s, baud: %d, parity: N, data_bits: 8,"
             " stop_bits: 1, response_timeout: 500ms, retries: 0}" % (line, BAUD),
             "devices:"]
    for i in range(sensors):
        lines.append("  - {id: s%02d, bus: line, unit_id: %d, profile: %s, plot: bench-plot,"
                     " interval: 100ms}" % (i, i + 1, PROFILES[i % len(PROFILES)]))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def wire_seconds_per_cycle(config):
    """Least wire time of one poll of every device, from the gateway's own request plans."""
    out = subprocess.run([benchlib.SELGW, "check", "--plan", "-c", config], check=True,
                         capture_output=True, text=True).stdout
    chars = 0
    requests = 0
    for line in out.splitlines():
        if not line.startswith("plan "):
            continue
        for item in line.split()[6:]:
            fc, rest = item[2:].split("@")
            count = int(rest.split("+")[1])
            request = 8  # unit, function, address, quantity, CRC
            if fc in ("1", "2"):
                response = 5 + (count + 7) // 8
            else:
                response = 5 + 2 * count
            chars += request + response + 7  # 3.5 characters of silence after each frame
            requests += 1
    return chars * BITS_PER_CHAR / BAUD, requests


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--sensors", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gw_end, sim_end = os.path.join(tmp, "gw"), os.path.join(tmp, "sim")
        socat = subprocess.Popen(["socat", "pty,raw,echo=0,link=" + gw_end,
                                  "pty,raw,echo=0,link=" + sim_end],
                                 stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if os.path.exists(gw_end) and os.path.exists(sim_end):
                    break
                time.sleep(0.05)
            cfg = os.path.join(tmp, "bench.yaml")
            write_config(cfg, gw_end, args.sensors)
            least, requests = wire_seconds_per_cycle(cfg)
            sim = benchlib.start_sim(["-c", cfg, "--serial", "line=" + sim_end,
                                      "--wire-timing"])
            try:
                col, ru, status = benchlib.run_gateway_measured(cfg, args.seconds,
                                                                keep_times=True)
            finally:
                benchlib.stop(sim)
        finally:
            benchlib.stop(socat)
    cycles = []
    for times in col.times.values():
        times.sort()
        # the first cycle includes opening the line; leave it out
        cycles += [b - a for a, b in zip(times[1:], times[2:])]
    if not cycles:
        print("bench_rtu: no complete cycles measured")
        return 1
    mean = statistics.mean(cycles)
    median = statistics.median(cycles)
    print("bench_rtu: %d sensors on one %d-baud 8N1 line, %d requests per cycle, %.0f s"
          % (args.sensors, BAUD, requests, args.seconds))
    print("  readings            %d, ok %d" % (col.count, col.ok))
    print("  least wire time     %.1f ms per cycle" % (least * 1000))
    print("  measured cycle      mean %.1f ms, median %.1f ms, max %.1f ms"
          % (mean * 1000, median * 1000, max(cycles) * 1000))
    print("  efficiency          %.3f (least / mean cycle; aim >= 0.9)" % (least / mean))
    print("  gateway CPU         %.2f s" % (ru.ru_utime + ru.ru_stime))
    return 0 if status == 0 and col.ok == col.count else 1


if __name__ == "__main__":
    sys.exit(main())
