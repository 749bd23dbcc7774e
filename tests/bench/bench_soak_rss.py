#!/usr/bin/env python3
"""Benchmark: does selgw's memory grow with uptime? (issue 13: "an hour-long run at a
compressed interval shows flat RSS")

One run starts, on loopback: mosquitto, selgw-sim serving --devices devices of a bench
profile (default 1,000 x bench-hr20 over 20 simulated TCP endpoints) and selgw as a real
base runs it (journal fsync batch, MQTT QoS 1, signing on, the HTTP API), polling every
--interval seconds (default 1 s: ten times the 1,000-device shape's 10 s, so an hour here
is ten hours of polls there). Every --sample seconds it prints one line: selgw's VmRSS,
VmHWM, RssAnon (heap and stacks: what would grow with a leak) and RssFile, its CPU share
since the last sample (and the simulator's and mosquitto's, which share the machine),
polls, records delivered to MQTT and the journal's size on disk.

At the end: RSS at 5, 30 and 60 minutes (the sample nearest to each that the run reached),
the least-squares slope of VmRSS and RssAnon per hour over the samples after --warmup, and
the journal's size. Nothing is asserted about memory or time; the exit status is 1 only if
selgw died, did not stop cleanly, or polled nothing. CI runs it for 25 s
(bench.soak_rss_smoke); scripts/bench.sh for an hour."""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import bench_vs_collectd as vs  # noqa: E402  (its config, /proc and /metrics readers)
import harness as h  # noqa: E402
import servers  # noqa: E402


def status_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[key] = int(rest.split()[0])
    return out


def dir_bytes(path):
    """Bytes of the files under path, without the journal's 4 MiB space.reserve."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            if name == "space.reserve":
                continue
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # a cursor's temporary file renamed away meanwhile
    return total


def slope_per_hour(points):
    """Least-squares slope of (seconds, KiB) points, in KiB per hour."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return float("nan")
    return sum((t - mx) * (v - my) for t, v in points) / sxx * 3600


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3600, help="length of the run")
    ap.add_argument("--sample", type=float, default=30, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=300,
                    help="seconds at the start left out of the slope (default 300)")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--buses", type=int, default=20)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    ap.add_argument("--profile", default="bench-hr20", help="a profile of tests/bench/profiles")
    ap.add_argument("--keep", help="write configs, journal and broker data here (kept)")
    args = ap.parse_args()
    if args.devices % args.buses:
        ap.error("--devices must be a multiple of --buses")

    tmp = args.keep or h.tempdir("bench_soak_rss")
    os.makedirs(tmp, exist_ok=True)
    broker = servers.Mosquitto(tmp)
    cfg = vs.gateway_config(tmp, args.buses, args.devices // args.buses, args.profile,
                            args.interval)
    sim = h.Simulator(h.write_config(os.path.join(tmp, "sim.yaml"), dict(cfg)))
    cfg["mqtt"] = {"host": "127.0.0.1", "port": broker.port, "qos": 1,
                   "topic_prefix": "soak-selgw"}
    key = os.path.join(tmp, "gw.key")
    if not os.path.exists(key):
        subprocess.run([h.SELGW_BIN, "keygen", key], check=True, capture_output=True)
    cfg["signing"] = {"secret_key": key}
    listen = "127.0.0.1:%d" % h.free_port()
    cfg["http"] = {"listen": listen}
    gw_path = h.write_config(os.path.join(tmp, "gw.yaml"), cfg)
    journal = cfg["journal"]["dir"]

    print("bench_soak_rss: %d devices x %s on %d simulated TCP endpoints every %g s "
          "(%.0f polls/s), journal + MQTT QoS 1 + signing; %.0f s, a sample every %g s"
          % (args.devices, args.profile, args.buses, args.interval,
             args.devices / args.interval, args.seconds, args.sample), flush=True)
    print("  %6s %8s %8s %8s %8s %4s %6s %6s %6s %9s %9s %9s" % (
        "t s", "RSS KiB", "HWM KiB", "anon KiB", "file KiB", "thr", "gw %", "sim %",
        "mqtt %", "polls", "mqtt del", "journal MB"), flush=True)
    gw = h.Gateway(gw_path)
    status, samples = 0, []
    others = {"sim": sim.pid, "mosquitto": broker.proc.pid}
    try:
        t0 = time.monotonic()
        last_t, last_cpu = t0, {"gw": sum(vs.cpu_ticks(gw.pid))}
        last_cpu.update({k: sum(vs.cpu_ticks(p)) for k, p in others.items()})
        next_at = t0
        while True:
            next_at += args.sample
            end = t0 + args.seconds
            time.sleep(max(0.0, min(next_at, end) - time.monotonic()))
            if not gw.alive():
                raise AssertionError("selgw exited during the run\n" + gw.describe())
            now = time.monotonic()
            st = status_kib(gw.pid)
            cpu = {"gw": sum(vs.cpu_ticks(gw.pid))}
            cpu.update({k: sum(vs.cpu_ticks(p)) for k, p in others.items()})
            share = {k: 100 * (cpu[k] - last_cpu[k]) / (now - last_t) for k in cpu}
            last_t, last_cpu = now, cpu
            text = vs.scrape_metrics(listen)
            polls = vs.metric_sum(text, "selgw_bus_polls_total")
            delivered = vs.metric_sum(text, 'selgw_sink_delivered_total{sink="mqtt"}')
            jbytes = dir_bytes(journal)
            samples.append((now - t0, st, polls, jbytes))
            print("  %6.0f %8d %8d %8d %8d %4d %6.1f %6.1f %6.1f %9.0f %9.0f %9.1f" % (
                now - t0, st["VmRSS"], st["VmHWM"], st["RssAnon"], st["RssFile"],
                st["Threads"], share["gw"], share["sim"], share["mosquitto"], polls,
                delivered, jbytes / 1e6), flush=True)
            if now >= end - 0.01:
                break
        skipped = vs.metric_sum(vs.scrape_metrics(listen), "selgw_bus_skipped_polls_total")
    finally:
        code = gw.stop()
        if code != 0:
            print("selgw exited with %s\n%s" % (code, gw.describe(10)))
            status = 1
        sim.stop()
        broker.stop()

    def at(minutes):
        want = minutes * 60
        best = min(samples, key=lambda s: abs(s[0] - want))
        return best if abs(best[0] - want) <= args.sample else None

    print("summary:")
    for minutes in (5, 30, 60):
        s = at(minutes)
        if s:
            print("  at %2d min (%5.0f s): VmRSS %.1f MiB, RssAnon %.1f MiB, VmHWM %.1f MiB"
                  % (minutes, s[0], s[1]["VmRSS"] / 1024, s[1]["RssAnon"] / 1024,
                     s[1]["VmHWM"] / 1024))
        else:
            print("  at %2d min: not reached" % minutes)
    warm = [s for s in samples if s[0] >= args.warmup]
    print("  after %.0f s warm-up (%d samples): VmRSS slope %+.1f KiB/h, RssAnon slope "
          "%+.1f KiB/h; VmRSS min %.1f max %.1f MiB"
          % (args.warmup, len(warm),
             slope_per_hour([(s[0], s[1]["VmRSS"]) for s in warm]),
             slope_per_hour([(s[0], s[1]["RssAnon"]) for s in warm]),
             min((s[1]["VmRSS"] for s in warm), default=0) / 1024,
             max((s[1]["VmRSS"] for s in warm), default=0) / 1024))
    last = samples[-1]
    print("  polls %.0f (%.1f/s), skipped %.0f; journal %.1f MB on disk (%.0f bytes per poll)"
          % (last[2], last[2] / last[0], skipped, last[3] / 1e6,
             last[3] / last[2] if last[2] else float("nan")))
    if not last[2] or last[2] != last[2]:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
