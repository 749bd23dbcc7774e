#!/usr/bin/env python3
"""Benchmark: draining a backlog into InfluxDB after an outage.

A journal is filled with 1,000,000 synthetic readings of 200 devices (tests/bench/
journal_fill, as if polled during a long outage); then a gateway with no devices, on that
journal, delivers them into influxd (Debian's influxdb 1.6, started here on a free port).
Reported: points/s of the drain, next to the rate of posting the same line protocol
(`selgw journal --dump --format lp`), in gzip batches of 5,000 lines, with curl to the same
server in the same run: the server's own limit. Aim: drain >= 0.8 of curl's rate."""
import argparse
import gzip
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import benchlib  # noqa: E402
import harness as h  # noqa: E402
import servers  # noqa: E402

JOURNAL_FILL = os.environ.get("SELGW_JOURNAL_FILL",
                              os.path.join(benchlib.BUILD, "tests", "journal_fill"))
PROFILES = ["cwt-soil-thc-s", "sn-3002-tr-ecthnpkph", "xy-md02", "seeed-s-soil-mtec-02"]


def write_configs(tmp, influx, devices):
    journal = os.path.join(tmp, "journal")
    head = ["gateway: {id: bench-drain}",
            "journal: {dir: %s, segment_size: 64MiB}" % journal,
            "http: {enabled: false}",
            "influxdb: {url: '%s', database: drain, batch_lines: 5000}" % influx.url,
            "bases: [{id: bench-base, name: Bench base 紫阳}]",
            "plots:",
            "  - id: bench-plot",
            "    base: bench-base",
            "    crop: tea",
            "    households:",
            "      - {household: HH-001, contract: C-1, from: 2020-01-01}",
            "      - {household: HH-002, contract: C-2, from: 2020-01-01}",
            "buses: [{id: tcp0, type: tcp, host: 127.0.0.1, port: %d}]" % benchlib.free_port()]
    # unit ids must be unique on the bus: spread devices over buses when there are many
    fill = head[:-1] + ["buses:"] + [
        "  - {id: tcp%d, type: tcp, host: 127.0.0.1, port: %d}" % (b, benchlib.free_port())
        for b in range((devices + 246) // 247)] + ["devices:"] + [
        "  - {id: dev%03d, bus: tcp%d, unit_id: %d, profile: %s, plot: bench-plot, interval: 60s}"
        % (i, i // 247, i % 247 + 1, PROFILES[i % len(PROFILES)]) for i in range(devices)]
    drain = head + ["devices: []"]
    paths = []
    for name, lines in (("fill.yaml", fill), ("drain.yaml", drain)):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def influx_cursor(journal_dir):
    """The InfluxDB sink's persisted cursor (docs/JOURNAL.md: cursor.<sink> holds the last
    delivered sequence number as text). Read directly: `selgw journal` would verify the
    whole journal on every call and take CPU from the drain being measured."""
    try:
        with open(os.path.join(journal_dir, "cursor.influxdb")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--devices", type=int, default=200)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="selgw-bench-drain-", dir="/tmp")
    influx = servers.Influxd(tmp, database="drain")
    try:
        influx.query("CREATE DATABASE curl", method="POST")
        fill_cfg, drain_cfg = write_configs(tmp, influx, args.devices)
        out = subprocess.run([JOURNAL_FILL, fill_cfg, str(args.readings)], check=True,
                             capture_output=True, text=True).stdout
        print(out.strip())
        last = int(re.search(r"last seq (\d+)", out).group(1))

        # The server's own limit: the same line protocol, posted with curl.
        lp = os.path.join(tmp, "backlog.lp")
        with open(lp, "w") as f:
            subprocess.run([benchlib.SELGW, "journal", "-c", drain_cfg, "--dump", "--format",
                            "lp"], check=True, stdout=f)
        batches = []
        with open(lp, "rb") as f:
            lines = f.readlines()
        for i in range(0, len(lines), 5000):
            path = os.path.join(tmp, "batch%05d.gz" % (i // 5000))
            with open(path, "wb") as g:
                g.write(gzip.compress(b"".join(lines[i:i + 5000]), 6))
            batches.append(path)
        url = influx.url + "/write?db=curl&precision=ns"
        argv = ["curl", "-sS", "--fail"]
        for k, path in enumerate(batches):
            if k:
                argv.append("--next")
            argv += ["-sS", "--fail", "-H", "Content-Encoding: gzip", "--data-binary",
                     "@" + path, url, "-o", "/dev/null"]
        t0 = time.monotonic()
        subprocess.run(argv, check=True)
        curl_s = time.monotonic() - t0
        curl_rate = len(lines) / curl_s

        # The gateway drains its journal.
        t0 = time.monotonic()
        gw = subprocess.Popen([benchlib.SELGW, "run", "-q", "-c", drain_cfg, "--no-print"])
        while influx_cursor(os.path.join(tmp, "journal")) < last and gw.poll() is None:
            time.sleep(0.2)
        drain_s = time.monotonic() - t0
        benchlib.stop(gw)
        points = influx.column('SELECT count("seq") FROM "reading"', "count")
        drain_rate = len(lines) / drain_s
        print("bench_drain: %d readings of %d devices, %d lines of line protocol (%.0f MB)"
              % (args.readings, args.devices, len(lines), os.path.getsize(lp) / 1e6))
        print("  curl, gzip batches of 5000   %.1f s  %.0f points/s" % (curl_s, curl_rate))
        print("  selgw drain                  %.1f s  %.0f points/s" % (drain_s, drain_rate))
        print("  ratio                        %.2f (aim >= 0.8)" % (drain_rate / curl_rate))
        print("  points in InfluxDB after drain  %s" % (points[0] if points else 0))
    finally:
        influx.stop()
        subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
