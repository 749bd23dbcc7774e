#!/usr/bin/env python3
"""Benchmark: selgw and collectd side by side, polling the same simulated Modbus TCP devices
and publishing to the same mosquitto at QoS 1 (issue 13).

By default 50 devices of four u16 holding registers (tests/bench/profiles/bench-hr4.yaml),
each on its own simulated TCP endpoint (--buses 50: as 50 Modbus TCP devices with their own
addresses), polled every second by both programs at once for --seconds (CI: a short run;
scripts/bench.sh: 300 s):

- selgw as a real base runs it: journal on (fsync batch), MQTT on (QoS 1), signing on.
- collectd 5.12 (Debian collectd-core) with its modbus plugin (one <Host> per simulated
  bus, one <Slave> per device, one <Data> per register) and its mqtt plugin (one
  <Publish> at QoS 1).

Both are measured over the same window after a warm-up: CPU time (utime and stime from
/proc/PID/stat, every thread included) and peak RSS (VmHWM from /proc/PID/status). The
values each one delivered are counted by a subscriber to the broker, so a program that
polls less (or publishes less) shows it. Printed: CPU microseconds per register value
delivered, its user/system split, selgw/collectd ratio, peak RSS. Nothing is asserted about
time; the exit status is 1 only when a program delivered no value at all, or died.

--without-collectd and --profile/--devices/--buses/--interval give the issue's 1,000-device
shape (20 TCP buses x 50 devices at 10 s, the 20-field bench-hr20 profile). selgw's poll
lateness is printed from its metric selgw_poll_lateness_seconds (p50/p99 of the window, as
Prometheus's histogram_quantile estimates them from the buckets), and, as a cross-check,
estimated from the readings' own poll times (see lateness())."""
import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as h  # noqa: E402
import servers  # noqa: E402

COLLECTD = "/usr/sbin/collectd"
COLLECTD_PLUGINS = "/usr/lib/collectd"
COLLECTD_TYPES = "/usr/share/collectd/types.db"
BENCH_PROFILES = os.path.join(HERE, "profiles")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SELGW_PREFIX = "bench-selgw"
COLLECTD_PREFIX = "bench-collectd"


def gateway_config(tmp, buses, per_bus, profile, interval):
    bus_list, devices, ports = [], [], set()
    for b in range(buses):
        port = h.free_port()
        while port in ports:  # the kernel may hand out a port again once it is released
            port = h.free_port()
        ports.add(port)
        bus_list.append({"id": "tcp%02d" % b, "type": "tcp", "host": "127.0.0.1",
                         "port": port, "response_timeout": "1s"})
        for u in range(1, per_bus + 1):
            devices.append({"id": "dev%04d" % len(devices), "bus": "tcp%02d" % b,
                            "unit_id": u, "profile": profile, "plot": "plot-tea",
                            "interval": "%gs" % interval})
    cfg = h.make_config("bench-gw", bus_list, devices, profiles_dir=BENCH_PROFILES)
    cfg["journal"] = {"dir": os.path.join(tmp, "journal")}
    return cfg


def write_collectd_config(path, tmp, cfg, profile, interval, broker_port):
    """One <Data> per register of the profile, one <Host> per bus (its TCP endpoint) with a
    <Slave> per device; the mqtt plugin publishes every value list at QoS 1."""
    fields = h.read_profile(os.path.join(BENCH_PROFILES, profile + ".yaml"))["fields"]
    out = ['Hostname "bench-collectd"', "FQDNLookup false", 'BaseDir "%s"' % tmp,
           'PIDFile "%s/collectd.pid"' % tmp, 'PluginDir "%s"' % COLLECTD_PLUGINS,
           'TypesDB "%s"' % COLLECTD_TYPES, "Interval %g" % interval,
           # enough read threads that 50 hosts are never queued behind each other
           "ReadThreads 5", "WriteThreads 1",
           "LoadPlugin modbus", "LoadPlugin mqtt", "<Plugin modbus>"]
    for f in fields:
        out += ['  <Data "%s">' % f["name"], "    RegisterBase %d" % f["address"],
                "    RegisterType Uint16", "    RegisterCmd ReadHolding",
                "    Type gauge", '    Instance "%s"' % f["name"], "  </Data>"]
    by_bus = {}
    for d in cfg["devices"]:
        by_bus.setdefault(d["bus"], []).append(d)
    for bus in cfg["buses"]:
        out += ['  <Host "%s">' % bus["id"], '    Address "127.0.0.1"',
                '    Port "%d"' % bus["port"], "    Interval %g" % interval]
        for d in by_bus.get(bus["id"], []):
            out += ["    <Slave %d>" % d["unit_id"], '      Instance "%s"' % d["id"]]
            out += ['      Collect "%s"' % f["name"] for f in fields]
            out += ["    </Slave>"]
        out += ["  </Host>"]
    out += ["</Plugin>", "<Plugin mqtt>", '  <Publish "bench">', '    Host "127.0.0.1"',
            "    Port %d" % broker_port, '    ClientId "bench-collectd"', "    QoS 1",
            '    Prefix "%s"' % COLLECTD_PREFIX, "    Retain false", "    StoreRates false",
            "  </Publish>", "</Plugin>"]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


class ValueCounter:
    """mosquitto_sub on both programs' topics; counts per program the messages and the
    register values in them, by second of arrival, and keeps selgw's poll times per device.

    selgw: one JSON reading per poll, a value per field with a "value". collectd: one
    message per value list, payload "TIME:VALUE[:VALUE...]"."""

    def __init__(self, broker):
        self.lock = threading.Lock()
        self.values = {"selgw": [], "collectd": []}  # (arrival monotonic, values)
        self.poll_times = {}  # selgw device -> [reading time, UTC seconds]
        self.failed = {"selgw": 0, "collectd": 0}
        self.proc = subprocess.Popen(
            [servers.MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
             "-i", "bench-counter", "-v", "-t", SELGW_PREFIX + "/#",
             "-t", COLLECTD_PREFIX + "/#"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=h.die_with_parent)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for raw in self.proc.stdout:
            now = time.monotonic()
            topic, _, payload = raw.decode("utf-8", "replace").rstrip("\n").partition(" ")
            if topic.startswith(COLLECTD_PREFIX + "/"):
                n = max(0, payload.count(":"))  # TIME:V1[:V2...]; "nan" counts as failed
                bad = payload.count("nan")
                with self.lock:
                    self.values["collectd"].append((now, n - bad))
                    self.failed["collectd"] += bad
                continue
            try:
                rec = json.loads(payload)
            except ValueError:
                continue  # the retained "online" status
            if not isinstance(rec, dict) or rec.get("type") != "reading":
                continue
            n = sum(1 for f in rec.get("fields", {}).values() if f.get("value") is not None)
            with self.lock:
                self.values["selgw"].append((now, n))
                if rec.get("status") != "ok":
                    self.failed["selgw"] += 1
                self.poll_times.setdefault(rec["device"], []).append(parse_utc(rec["time"]))

    def window(self, who, t0, t1):
        """(messages, values) that arrived in [t0, t1)."""
        with self.lock:
            items = [n for t, n in self.values[who] if t0 <= t < t1]
        return len(items), sum(items)

    def total(self, who):
        with self.lock:
            return sum(n for _, n in self.values[who])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.thread.join(5)


def parse_utc(text):
    # "2026-11-28T13:55:21.123456Z"
    secs = time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return secs + float("0" + text[19:-1])


def cpu_ticks(pid):
    """(utime, stime) in seconds, every thread of the process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK  # fields 14 and 15


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(p / 100 * (len(sorted_values) - 1)))))
    return sorted_values[i]


def lateness(poll_times, interval):
    """The schedule's lateness without a metric for it: a device polled on a fixed grid
    every `interval` has its k-th reading at phase + k * interval; the phase is taken as the
    earliest (time - k * interval) of that device, so a reading's lateness is how far it
    came after the grid's best case. Returns sorted lateness in seconds over all readings.
    (A scheduler that drifts would show as growing lateness; one that skips a slot as a
    k jump, which is counted in skipped.)"""
    out, skipped = [], 0
    for times in poll_times.values():
        times = sorted(times)
        if len(times) < 2:
            continue
        ks = [round((t - times[0]) / interval) for t in times]
        skipped += sum(max(0, b - a - 1) for a, b in zip(ks, ks[1:]))
        offsets = [t - k * interval for t, k in zip(times, ks)]
        base = min(offsets)
        out += [o - base for o in offsets]
    return sorted(out), skipped


def lateness_against_plan(poll_times, bus_of, interval):
    """selgw's poller plans every device of a bus for the same instant each cycle (they all
    start due at once and each next time is the last plus the interval, gateway/poll/
    poller.c), and polls the due devices one after another. The plan's instant of a cycle is
    taken as the time of the bus's first reading in it (so this under-states lateness by
    that first poll's own delay); a reading's lateness is its time minus that. Returns the
    sorted lateness in seconds over all readings of buses with more than one device."""
    by_bus = {}
    for device, times in poll_times.items():
        by_bus.setdefault(bus_of[device], []).extend(times)
    out = []
    for times in by_bus.values():
        if len(times) < 2:
            continue
        times.sort()
        cycles = {}
        for t in times:
            cycles.setdefault(round((t - times[0]) / interval), []).append(t)
        for ts in cycles.values():
            if len(ts) > 1:
                out += [t - ts[0] for t in ts]
    return sorted(out)


def scrape_metrics(listen):
    try:
        with urllib.request.urlopen("http://%s/metrics" % listen, timeout=5) as r:
            return r.read().decode()
    except OSError as e:
        return "# metrics not read: %s\n" % e


def metric_sum(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def lateness_buckets(text):
    """selgw_poll_lateness_seconds_bucket summed over the buses: {upper bound: cumulative}."""
    out = {}
    for line in text.splitlines():
        if line.startswith("selgw_poll_lateness_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            bound = float("inf") if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0) + float(line.rsplit(" ", 1)[1])
    return out


def bucket_quantile(cumulative, q):
    """Prometheus's histogram_quantile over {bound: cumulative count}: linear within the
    bucket holding rank q x count; in the +Inf bucket the largest finite bound."""
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]] if bounds else 0
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for b in bounds:
        if cumulative[b] >= rank and cumulative[b] > below:
            if b == float("inf"):
                return lower
            return lower + (b - lower) * (rank - below) / (cumulative[b] - below)
        lower, below = b, cumulative[b]
    return lower


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20, help="measured window (default 20)")
    ap.add_argument("--warmup", type=float, default=5,
                    help="seconds after both delivered their first value, not measured")
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--buses", type=int, default=50)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    ap.add_argument("--profile", default="bench-hr4", help="a profile of tests/bench/profiles")
    ap.add_argument("--without-collectd", action="store_true")
    ap.add_argument("--no-signing", action="store_true")
    ap.add_argument("--keep", help="write configs, journal and broker data here (kept)")
    ap.add_argument("--selgw-wrap", default="",
                    help="command put before selgw, e.g. 'valgrind --tool=callgrind "
                    "--callgrind-out-file=F' (its CPU figures then mean nothing)")
    ap.add_argument("--attach", action="append", default=[],
                    help="command started when the measured window opens and sent SIGINT "
                    "when it closes; {selgw} and {collectd} become their pids, e.g. "
                    "'strace -c -f -o F -p {selgw}' or 'callgrind_control -z {selgw}'")
    args = ap.parse_args()
    if args.devices % args.buses:
        ap.error("--devices must be a multiple of --buses")
    with_collectd = not args.without_collectd
    if with_collectd and not os.path.exists(COLLECTD):
        print("bench_vs_collectd: %s missing (scripts/setup.sh installs collectd-core)"
              % COLLECTD)
        return 1

    tmp = args.keep or h.tempdir("bench_vs_collectd")
    os.makedirs(tmp, exist_ok=True)
    broker = servers.Mosquitto(tmp)
    counter = ValueCounter(broker)
    cfg = gateway_config(tmp, args.buses, args.devices // args.buses, args.profile,
                         args.interval)
    sim_path = h.write_config(os.path.join(tmp, "sim.yaml"), dict(cfg))
    sim = h.Simulator(sim_path)
    cfg["mqtt"] = {"host": "127.0.0.1", "port": broker.port, "qos": 1,
                   "topic_prefix": SELGW_PREFIX}
    if not args.no_signing:
        key = os.path.join(tmp, "gw.key")
        if not os.path.exists(key):
            subprocess.run([h.SELGW_BIN, "keygen", key], check=True, capture_output=True)
        cfg["signing"] = {"secret_key": key}
    listen = "127.0.0.1:%d" % h.free_port()
    cfg["http"] = {"listen": listen}
    gw_path = h.write_config(os.path.join(tmp, "gw.yaml"), cfg)

    procs = {"selgw": h.Process("selgw", shlex.split(args.selgw_wrap) +
                                [h.SELGW_BIN, "run", "-c", gw_path])}
    if with_collectd:
        cd_path = os.path.join(tmp, "collectd.conf")
        write_collectd_config(cd_path, tmp, cfg, args.profile, args.interval, broker.port)
        procs["collectd"] = h.Process("collectd", [COLLECTD, "-f", "-C", cd_path])
    status = 0
    try:
        deadline = time.monotonic() + h.scaled(30) + 2 * args.interval
        while time.monotonic() < deadline and not all(counter.total(w) for w in procs):
            for who, p in procs.items():
                if not p.alive():
                    raise AssertionError("%s exited at start-up\n%s" % (who, p.describe()))
            time.sleep(0.1)
        for who in procs:
            if not counter.total(who):
                raise AssertionError("%s delivered no value within 30 s\n%s"
                                     % (who, procs[who].describe()))
        time.sleep(args.warmup)
        pids = {w: p.pid for w, p in procs.items()}
        attached = [subprocess.Popen(shlex.split(a.format(**pids)), preexec_fn=h.die_with_parent)
                    for a in args.attach]
        metrics0 = scrape_metrics(listen)
        t0 = time.monotonic()
        cpu0 = {w: cpu_ticks(p.pid) for w, p in procs.items()}
        time.sleep(args.seconds)
        cpu1 = {w: cpu_ticks(p.pid) for w, p in procs.items()}
        t1 = time.monotonic()
        for a in attached:
            if a.poll() is None:
                a.send_signal(signal.SIGINT)
            a.wait(30)
        metrics1 = scrape_metrics(listen)
        rss = {w: (status_kib(p.pid, "VmHWM"), status_kib(p.pid, "VmRSS"))
               for w, p in procs.items()}
        threads = {w: status_kib(p.pid, "Threads") for w, p in procs.items()}
        time.sleep(1)  # what was polled just before t1 arrives; counted by arrival in [t0,t1)
    finally:
        for who, p in procs.items():
            code = p.stop()
            if code != 0:
                print("%s exited with %s\n%s" % (who, code, p.describe(10)))
                status = 1
        sim.stop()
        counter.stop()
        broker.stop()

    wall = t1 - t0
    expected = args.devices * len(h.read_profile(
        os.path.join(BENCH_PROFILES, args.profile + ".yaml"))["fields"]) * wall / args.interval
    print("bench_vs_collectd: %d devices x %s on %d simulated Modbus TCP endpoints, every %g s;"
          " measured %.1f s after %.0f s warm-up" % (args.devices, args.profile, args.buses,
                                                     args.interval, wall, args.warmup))
    print("  selgw: journal fsync batch, MQTT QoS 1, signing %s; collectd %s"
          % ("off" if args.no_signing else "on",
             "modbus + mqtt QoS 1" if with_collectd else "not run"))
    print("  register values expected in the window: %.0f (%.1f/s)" % (expected,
                                                                       expected / wall))
    per_value = {}
    for who in procs:
        msgs, values = counter.window(who, t0, t1)
        ut = cpu1[who][0] - cpu0[who][0]
        st = cpu1[who][1] - cpu0[who][1]
        us = (ut + st) * 1e6 / values if values else float("nan")
        per_value[who] = us
        print("  %-8s delivered %6d values in %5d messages (%.1f values/s, %.0f%% of expected),"
              " failed %d" % (who, values, msgs, values / wall, 100 * values / expected,
                              counter.failed[who]))
        print("  %-8s CPU %.2f s = %.1f%% of a core (user %.2f s, sys %.2f s, sys/user %.1f)"
              % (who, ut + st, 100 * (ut + st) / wall, ut, st, st / ut if ut else float("inf")))
        print("  %-8s CPU per register value %.1f us (user %.1f, sys %.1f)"
              % (who, us, ut * 1e6 / values if values else 0, st * 1e6 / values if values
                 else 0))
        print("  %-8s peak RSS (VmHWM) %.1f MiB, RSS at end %.1f MiB, threads %d"
              % (who, rss[who][0] / 1024, rss[who][1] / 1024, threads[who]))
        if not values:
            status = 1
    if with_collectd:
        print("  ratio selgw/collectd: CPU per value %.2fx, peak RSS %.2fx"
              % (per_value["selgw"] / per_value["collectd"],
                 rss["selgw"][0] / rss["collectd"][0]))
    late, skipped = lateness(counter.poll_times, args.interval)
    if late:
        print("  selgw poll lateness (reading time after its device's best grid slot):"
              " p50 %.1f ms, p99 %.1f ms, max %.1f ms; slots skipped %d"
              % (1e3 * percentile(late, 50), 1e3 * percentile(late, 99), 1e3 * late[-1],
                 skipped))
        if args.devices > args.buses:
            bus_of = {d["id"]: d["bus"] for d in cfg["devices"]}
            plan = lateness_against_plan(counter.poll_times, bus_of, args.interval)
            print("  selgw poll lateness against the plan (reading time after its bus cycle's"
                  " first reading): p50 %.1f ms, p99 %.1f ms, max %.1f ms"
                  % (1e3 * percentile(plan, 50), 1e3 * percentile(plan, 99), 1e3 * plan[-1]))
        counts = [len(v) for v in counter.poll_times.values()]
        print("  selgw readings per device over the run: min %d, median %d, max %d;"
              " devices heard %d of %d" % (min(counts), statistics.median(counts),
                                           max(counts), len(counts), args.devices))
    polls = metric_sum(metrics1, "selgw_bus_polls_total") - metric_sum(metrics0,
                                                                       "selgw_bus_polls_total")
    skipped_m = metric_sum(metrics1, "selgw_bus_skipped_polls_total") - metric_sum(
        metrics0, "selgw_bus_skipped_polls_total")
    b0, b1 = lateness_buckets(metrics0), lateness_buckets(metrics1)
    window = {b: b1[b] - b0.get(b, 0) for b in b1}
    counted = window.get(float("inf"), 0)
    print("  selgw /metrics over the window: polls %d, skipped polls %d" % (polls, skipped_m))
    if counted:
        print("  selgw poll lateness from /metrics (selgw_poll_lateness_seconds, start of a poll"
              " after its planned time, all buses): p50 %.1f ms, p99 %.1f ms over %d polls"
              % (1e3 * bucket_quantile(window, 0.5), 1e3 * bucket_quantile(window, 0.99),
                 counted))
    else:
        print("  selgw poll lateness from /metrics: no selgw_poll_lateness_seconds samples")
    return status


if __name__ == "__main__":
    sys.exit(main())
