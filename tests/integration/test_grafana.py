#!/usr/bin/env python3
"""The Grafana dashboards (dashboards/grafana) against a real influxd seeded by the gateway.

Seeding: a day of readings, one poll of every device every 30 minutes from 24 h ago, each
taken by `selgw run --once` under libfaketime (the gateway's wall clock set to that moment)
against selgw-sim started at the same simulated moment, into one journal; one soil probe is
silent for five hours of the night (its polls time out) and miscalibrated (some of its EC
values out of range). Then a gateway with the InfluxDB
sink and no devices delivers the journal to influxd: every point in InfluxDB was written by
the gateway's sink.

Checks: every dashboard is well-formed Grafana JSON on the provisioned data source (and up
to date with make_dashboards.py); every template variable's query returns the tag values
the journal holds; every query of every panel, with its variables, $timeFilter and
$__interval substituted as Grafana does, runs without error, returns something, has the
columns and series (tag sets) it is meant to have, and each value equals what the query
means computed from the journal records themselves (last, count, min, mean, max per series
and per time bucket, the coverage arithmetic). The failed device shows in the device-health
panels, its flagged values in the plot's quality panel, and a day's coverage adds up to the
share of polls that returned ok."""
import glob
import json
import math
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

GRAFANA_DIR = os.path.join(h.SOURCE_DIR, "dashboards", "grafana")
DASHBOARD_DIR = os.path.join(GRAFANA_DIR, "dashboards")
DATASOURCE_FILE = os.path.join(GRAFANA_DIR, "provisioning", "datasources", "selgw-influxdb.yaml")
PROVIDER_FILE = os.path.join(GRAFANA_DIR, "provisioning", "dashboards", "selgw.yaml")

STEP = 1800  # seconds between two polls of the seeded day
STEPS = 48  # a day
INTERVAL = "10m"  # what the test gives $__interval
INTERVAL_S = 600
POLL_INTERVAL = STEP  # the season summary's $poll_interval: the seeded devices' interval
SILENT_STEPS = range(6, 16)  # soil-2 does not answer for these polls (5 hours)
UTC_OFFSET_S = 8 * 3600  # Asia/Shanghai, the season summary's days

BASE, PLOT = "itest-base", "plot-tea"
DEVICES = [  # id, profile, plot: every field the dashboards show is read on plot-tea
    ("soil-1", "sn-3002-tr-ecthnpkph", "plot-tea"),
    ("air-1", "xy-md02", "plot-tea"),
    ("soil-2", "cwt-soil-thc-s", "plot-tea"),
    ("soil-3", "renke-rs-ecthph-n01", "plot-konjac"),
]
FAILING = "soil-2"
# soil-2 is also miscalibrated: its EC (400..800 uS/cm simulated) times 40 crosses the
# profile's 20000 uS/cm limit, so some of its readings are flagged out_of_range
MISCALIBRATED = ("soil-2", "soil_ec", 40)
TAGS = ("base", "bus", "crop", "device", "gateway", "households", "plot", "profile", "status")
GRAFANA_BUILTINS = {"timeFilter", "__interval", "interval", "col"}


def faketime_library():
    found = glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")
    return found[0] if found else None


def grafana_regex_escape(value):
    """What Grafana's InfluxDB data source does to a variable's value inside a regex."""
    return re.sub(r"([\\^$*+?.()|\[\]{}/])", r"\\\1", value)


def load_dashboards():
    out = []
    for path in sorted(glob.glob(os.path.join(DASHBOARD_DIR, "*.json"))):
        with open(path, encoding="utf-8") as f:
            out.append((os.path.basename(path), json.load(f)))
    return out


def yaml_values(path, key):
    """The values of `key: value` lines of a YAML file (comments skipped); enough for the
    two flat provisioning files, without a YAML library."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\s*(?:-\s+)?" + re.escape(key) + r":\s*(\S.*?)\s*$", line)
            if m and not line.lstrip().startswith("#"):
                out.append(m.group(1))
    return out


# ---------------------------------------------------------------------------------------
# What a query means, computed from the journal's readings.

COLUMN = re.compile(r'^(?:(\w+)\("(\w+)"\)((?:\s*[*/+-]\s*[0-9.]+)*)|"(\w+)")\s+AS\s+"([^"]+)"$')


class Query:
    """The parts of one of our InfluxQL SELECTs (after substitution) that say what it shows:
    columns (function, field, arithmetic after it, alias), tag conditions, GROUP BY."""

    def __init__(self, text):
        self.text = text
        m = re.match(r'^SELECT (.*) FROM "(\w+)" WHERE (.*?)'
                     r'(?: GROUP BY (.*?))?(?: fill\((\w+)\))?(?: tz\(\'([^\']+)\'\))?$', text)
        if not m:
            raise AssertionError(f"not a query of the expected shape: {text}")
        select, self.measurement, where, group, self.fill, self.tz = m.groups()
        if self.tz not in (None, "Asia/Shanghai"):
            raise AssertionError(f"no model of the time zone {self.tz}: {text}")
        self.columns = []
        for item in re.split(r",\s*(?=\w+\(|\")", select):
            c = COLUMN.match(item.strip())
            if not c:
                raise AssertionError(f"select item without an alias: {item!r} in {text}")
            func, field, arith, raw_field, alias = c.groups()
            self.columns.append((func, field or raw_field, arith or "", alias))
        self.regex_tags = re.findall(r'"(\w+)" =~ /(.*?)/ AND', where + " AND")
        self.status = re.findall(r'"status" (=|!=) \'(\w+)\'', where)
        t = re.search(r"time >= (\d+)ms and time <= (\d+)ms", where)
        self.t_from, self.t_to = int(t.group(1)) * 10**6, int(t.group(2)) * 10**6
        group = group or ""
        g = re.match(r"time\((\d+)([smhd])\)", group)
        self.bucket_ns = int(g.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[
            g.group(2)] * 10**9 if g else None
        self.group_tags = re.findall(r'"(\w+)"', group)

    def matches(self, r):
        if not self.t_from <= r["time_ns"] <= self.t_to:
            return False
        for tag, pattern in self.regex_tags:
            if not re.search(pattern, r["tags"].get(tag, "")):
                return False
        for op, value in self.status:
            if (r["tags"]["status"] == value) != (op == "="):
                return False
        return True

    def fields(self):
        return {field for _, field, _, _ in self.columns}

    def bucket(self, t_ns):
        """Start of the GROUP BY time() bucket of t (local days with tz())."""
        shift = UTC_OFFSET_S * 10**9 if self.tz else 0
        return (t_ns + shift) // self.bucket_ns * self.bucket_ns - shift


def aggregate(func, values, arith):
    """func over the (time, value) pairs of one series or bucket, then the arithmetic."""
    if func is None or func == "last":
        v = max(values)[1]
    elif func == "count":
        v = len(values)
    elif func == "min":
        v = min(x for _, x in values)
    elif func == "max":
        v = max(x for _, x in values)
    elif func == "mean":
        v = sum(x for _, x in values) / len(values)
    else:
        raise AssertionError(f"no model of {func}()")
    for op, number in re.findall(r"([*/+-])\s*([0-9.]+)", arith):
        if op not in "*/":
            raise AssertionError(f"no model of {op} after an aggregate: {arith!r}")
        v = float(v) * float(number) if op == "*" else float(v) / float(number)
    return v


def close(a, b):
    return a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and
                      math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9))


def point_of(record):
    """A journal reading as InfluxDB holds it (docs/INFLUXDB.md): tags and fields."""
    tags = {k: record.get(k, "") for k in TAGS if k != "households"}
    tags["households"] = ",".join(x["household"] for x in record.get("households", []))
    fields = {"attempts": record["attempts"], "seq": record["seq"]}
    flagged = []
    for name, fv in record["fields"].items():
        if fv["quality"] in ("ok", "out_of_range") and fv["value"] is not None:
            fields[name] = float(fv["value"])
        if fv["quality"] == "out_of_range":
            flagged.append(name + (":out_of_range" if fv["value"] is not None else ":invalid"))
    if flagged:
        fields["quality"] = ",".join(flagged)
    secs = h.reading_seconds(record)
    return {"time_ns": int(round(secs * 1e6)) * 1000, "tags": tags, "fields": fields}


class Grafana(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.lib = faketime_library()
        if not cls.lib:
            raise SystemExit("libfaketime is missing: scripts/setup.sh installs faketime")
        cls.dir = h.tempdir("grafana")
        cls.influx = servers.Influxd(cls.dir)
        try:
            cls.seed()
        except BaseException:
            cls.influx.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.influx.stop()

    @classmethod
    def config(cls, devices):
        sim_port = cls.sim_port
        cfg = h.make_config(
            "itest-grafana",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
              "response_timeout": "%dms" % h.scaled(500), "retries": 1}],
            [{"id": d, "bus": "tcp0", "unit_id": i + 1, "profile": p, "plot": plot,
              "interval": "30m"} for i, (d, p, plot) in enumerate(DEVICES)] if devices else [])
        for d in cfg["devices"]:
            if d["id"] == MISCALIBRATED[0]:
                d["calibration"] = {MISCALIBRATED[1]: {"scale": MISCALIBRATED[2]}}
        cfg["journal"] = {"dir": os.path.join(cls.dir, "journal")}
        return cfg

    @classmethod
    def seed(cls):
        cls.sim_port = h.free_port()
        poll_path = h.write_config(os.path.join(cls.dir, "poll.yaml"), cls.config(True))
        now = int(time.time())
        t0 = now // STEP * STEP - STEPS * STEP
        env = {"LD_PRELOAD": cls.lib, "TZ": "UTC", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        started = time.monotonic()
        for k in range(STEPS):
            t = t0 + k * STEP
            extra = ["--fault", f"{FAILING}=silent"] if k in SILENT_STEPS else []
            sim = h.Simulator(poll_path, "--start-time", str(t), *extra)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
            run = subprocess.run([h.SELGW_BIN, "run", "-c", poll_path, "--once", "--no-print"],
                                 env=dict(os.environ, FAKETIME="@" + stamp, **env),
                                 stdin=subprocess.DEVNULL, capture_output=True,
                                 timeout=h.scaled(60), preexec_fn=h.die_with_parent)
            sim.stop()
            err = run.stderr.decode("utf-8", "replace")
            report = h.sanitizer_report(err)
            if report:
                raise AssertionError("selgw run --once: sanitizer report\n" + report)
            if run.returncode != (1 if extra else 0):
                raise AssertionError(f"poll at {stamp}: exit status {run.returncode}\n{err}")
        h.say(f"{STEPS} polls of {len(DEVICES)} devices journaled from "
              f"{time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime(t0))} every {STEP // 60} min "
              f"({time.monotonic() - started:.1f} s)")

        cls.records = [r for r in servers.journal_records(poll_path) if r["type"] == "reading"]
        cls.points = [point_of(r) for r in cls.records]
        drain = cls.config(False)
        drain["influxdb"] = {"url": cls.influx.url, "database": cls.influx.database,
                             "batch_lines": 1000, "retry": {"min": "200ms", "max": "1s"}}
        drain_path = h.write_config(os.path.join(cls.dir, "drain.yaml"), drain)
        gw = h.Gateway(drain_path, "--no-print")
        try:
            want = {r["seq"] for r in cls.records}
            ok = h.wait_until(lambda: want <= set(cls.influx.column(
                'SELECT "seq" FROM "reading"', "seq")), h.scaled(60), interval=0.3)
        finally:
            status = gw.stop()
        if not ok or status != 0:
            raise AssertionError("the gateway did not deliver the day to influxd\n"
                                 + gw.describe())
        stored = cls.influx.column('SELECT "seq" FROM "reading"', "seq")
        h.say(f"the gateway's influxdb sink wrote {len(stored)} points "
              f"({len(cls.records)} readings in the journal)")
        times = [p["time_ns"] for p in cls.points]
        # the seeded day, as Grafana would put it in $timeFilter (milliseconds)
        cls.t_from_ms = min(times) // 10**6 - 60000
        cls.t_to_ms = max(times) // 10**6 + 60000

    # -----------------------------------------------------------------------------------

    def substitute(self, text, values):
        """Grafana's interpolation of a raw InfluxQL query: $timeFilter, $__interval and
        the template variables (regex-escaped; several values as (a|b))."""
        out = text.replace("$timeFilter", f"time >= {self.t_from_ms}ms and "
                                          f"time <= {self.t_to_ms}ms")
        out = out.replace("$__interval", INTERVAL).replace("$interval", INTERVAL)

        def var(m):
            name = m.group(1) or m.group(2)
            if name in ("col",) or name.startswith("tag_"):
                return m.group(0)
            if name not in values:
                raise AssertionError(f"no value for ${name} in {text}")
            v = values[name]
            if isinstance(v, list):
                return "(" + "|".join(grafana_regex_escape(x) for x in v) + ")"
            return v if re.fullmatch(r"[0-9.]+", v) else grafana_regex_escape(v)
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", var, out)

    def run_query(self, q, where):
        res = self.influx.query(q)
        results = res.get("results", [])
        self.assertEqual(len(results), 1, f"{where}: {res}")
        self.assertNotIn("error", results[0], f"{where}: {q}\n{results[0].get('error')}")
        series = results[0].get("series", [])
        self.assertTrue(series, f"{where}: the query returned nothing: {q}")
        return series

    def variable_values(self, dashboard):
        """Runs the template variables' queries in order, each with the values chosen so
        far (base and plot: the test's; device: all, as its 'All' does), checking each
        returns the tag values the journal holds."""
        values = {}
        for v in dashboard["templating"]["list"]:
            where = f"{dashboard['uid']}: variable ${v['name']}"
            if v["type"] == "custom":
                self.assertIn(str(POLL_INTERVAL), [o["value"] for o in v["options"]], where)
                values[v["name"]] = str(POLL_INTERVAL)
                continue
            self.assertEqual(v["type"], "query", where)
            q = self.substitute(v["query"], values)
            series = self.run_query(q, where)
            got = sorted(row[1] for s in series for row in s["values"])
            key = re.search(r'WITH KEY = "(\w+)"', q).group(1)
            conds = re.findall(r'"(\w+)" =~ /(.*?)/', q)
            want = sorted({p["tags"][key] for p in self.points
                           if all(re.search(pat, p["tags"][t]) for t, pat in conds)})
            self.assertEqual(got, want, f"{where}: {q}")
            chosen = {"base": BASE, "plot": PLOT}.get(v["name"])
            if chosen is None:
                values[v["name"]] = got  # 'All'
            else:
                self.assertIn(chosen, got, where)
                values[v["name"]] = chosen
        return values

    def check_query(self, where, q):
        """One panel query: no error, something returned, the columns and series it is
        meant to have, every value equal to the same computation on the journal's points."""
        query = Query(q)
        self.assertEqual(query.measurement, "reading", where)
        series = self.run_query(q, where)
        selected = [p for p in self.points if query.matches(p)
                    and query.fields() & set(p["fields"])]
        expected = {}
        for p in selected:
            key = tuple(p["tags"][t] for t in query.group_tags)
            expected.setdefault(key, []).append(p)
        got_keys = set()
        for s in series:
            self.assertEqual(s["columns"], ["time"] + [c[3] for c in query.columns],
                             f"{where}: columns")
            key = tuple((s.get("tags") or {}).get(t, "") for t in query.group_tags)
            got_keys.add(key)
            self.assertIn(key, expected, f"{where}: a series the data does not hold: {key}")
            self.check_values(where, query, s, expected[key])
        self.assertEqual(got_keys, set(expected), f"{where}: series (by {query.group_tags})")
        return series

    def check_values(self, where, query, s, points):
        rows = s["values"]
        if query.bucket_ns is None:
            self.assertEqual(len(rows), 1, f"{where}: one row per series")
            groups = {None: points}
        else:
            groups = {}
            for p in points:
                groups.setdefault(query.bucket(p["time_ns"]), []).append(p)
        selector = [c for c in query.columns if c[0] is None]
        anchor = None
        if selector:  # a field beside one selector: the values of the selector's point
            func, field = next((c[0], c[1]) for c in query.columns if c[0])
            anchor = max((p["time_ns"], p) for p in points if field in p["fields"])[1]
        for row in rows:
            t = row[0]
            bucket = groups.get(t if query.bucket_ns else None, [])
            for i, (func, field, arith, alias) in enumerate(query.columns, start=1):
                pairs = [(p["time_ns"], p["fields"][field]) for p in bucket
                         if field in p["fields"]]
                what = f"{where}: {alias} of {s.get('tags')} at {t}"
                if func is None:
                    self.assertEqual(row[i], anchor["fields"].get(field), what)
                    # the journal's JSON has microseconds, InfluxDB the nanoseconds
                    self.assertLess(abs(t - anchor["time_ns"]), 1000, what)
                elif not pairs:
                    # InfluxDB 1.x counts nothing as 0, whatever the fill
                    want = 0 if func == "count" else {"null": None, "0": 0, None: None}[query.fill]
                    self.assertEqual(row[i], want, what + " (an empty bucket)")
                else:
                    want = aggregate(func, pairs, arith)
                    self.assertTrue(close(row[i], want), f"{what}: {row[i]} != {want}")
        if query.bucket_ns:
            # every bucket holding data is in the answer (the empty ones as fill says)
            self.assertLessEqual(set(groups), {row[0] for row in rows}, f"{where}: buckets")

    # -----------------------------------------------------------------------------------

    def test_dashboards_are_well_formed(self):
        res = subprocess.run([h.SYSTEM_PYTHON, os.path.join(GRAFANA_DIR, "make_dashboards.py"),
                              "--check"], capture_output=True, text=True)
        self.assertEqual(res.returncode, 0, res.stderr)
        uid = yaml_values(DATASOURCE_FILE, "uid")
        self.assertEqual(uid, ["selgw-influxdb"])
        self.assertEqual(yaml_values(DATASOURCE_FILE, "type"), ["influxdb"])
        self.assertEqual(yaml_values(PROVIDER_FILE, "type"), ["file"])
        self.assertTrue(yaml_values(PROVIDER_FILE, "path"))
        dashboards = load_dashboards()
        self.assertEqual(len(dashboards), 4, [n for n, _ in dashboards])
        uids = set()
        for name, d in dashboards:
            self.assertEqual(name, d["uid"] + ".json")
            self.assertRegex(d["uid"], r"^[a-z0-9-]{1,40}$")
            self.assertNotIn(d["uid"], uids)
            uids.add(d["uid"])
            self.assertTrue(d["title"] and isinstance(d["schemaVersion"], int), name)
            self.assertGreaterEqual(d["schemaVersion"], 36, name)
            variables = {v["name"] for v in d["templating"]["list"]}
            for v in d["templating"]["list"]:
                if v["type"] == "query":
                    self.assertEqual(v["datasource"]["uid"], uid[0], f"{name} ${v['name']}")
            ids = set()
            self.assertTrue(d["panels"], name)
            for p in d["panels"]:
                where = f"{name}: panel {p.get('title')!r}"
                self.assertNotIn(p["id"], ids, where)
                ids.add(p["id"])
                self.assertRegex(p["title"], r"^[\u4e00-\u9fff]", where + " (Chinese first)")
                self.assertTrue(p.get("description"), where)
                self.assertEqual(p["datasource"], {"type": "influxdb", "uid": uid[0]}, where)
                self.assertEqual(set(p["gridPos"]), {"h", "w", "x", "y"}, where)
                self.assertLessEqual(p["gridPos"]["x"] + p["gridPos"]["w"], 24, where)
                if p["type"] == "timeseries":
                    custom = p["fieldConfig"]["defaults"]["custom"]
                    self.assertIs(custom["spanNulls"], False, where + ": gaps are bridged")
                self.assertTrue(p["targets"], where)
                for t in p["targets"]:
                    self.assertEqual(t["datasource"]["uid"], uid[0], where)
                    self.assertTrue(t["rawQuery"], where)
                    q = t["query"]
                    self.assertNotRegex(q, r"fill\((linear|previous)\)", where)
                    if re.search(r"GROUP BY time\(", q):
                        self.assertRegex(q, r"fill\((null|0)\)", where + ": no explicit fill")
                    for name_ in re.findall(r"\$\{?(\w+)", q):
                        self.assertIn(name_, variables | GRAFANA_BUILTINS, where)
        h.say(f"{len(dashboards)} dashboards, "
              f"{sum(len(d['panels']) for _, d in dashboards)} panels, well-formed")

    def test_every_query_returns_what_it_shows(self):
        checked = 0
        for name, d in load_dashboards():
            values = self.variable_values(d)
            for p in d["panels"]:
                for t in p["targets"]:
                    where = f"{d['uid']}: panel {p['title']!r} ({t['refId']})"
                    q = self.substitute(t["query"], values)
                    with self.subTest(panel=where):
                        series = self.check_query(where, q)
                        checked += 1
                        h.say(f"{where}: {len(series)} series, "
                              f"{sum(len(s['values']) for s in series)} rows")
        self.assertGreater(checked, 20)

    def panel(self, uid, title_start):
        d = next(d for _, d in load_dashboards() if d["uid"] == uid)
        values = self.variable_values(d)
        p = next(p for p in d["panels"] if p["title"].startswith(title_start))
        return self.substitute(p["targets"][0]["query"], values)

    def test_failed_device_shows_in_device_health(self):
        q = self.panel("selgw-devices", "失败轮询汇总")
        series = self.check_query("failed polls table", q)
        rows = {(s["tags"]["device"], s["tags"]["status"]): s["values"][0] for s in series}
        self.assertEqual(set(rows), {(FAILING, "timeout")})
        count, most = rows[(FAILING, "timeout")][1:]
        self.assertEqual(count, len(SILENT_STEPS))
        self.assertEqual(most, 2, "a timed-out poll was tried twice (retries: 1)")
        q = self.panel("selgw-devices", "各设备最后数据点")
        last = {(s["tags"]["device"], s["tags"]["status"]) for s in
                self.check_query("last point per device", q)}
        self.assertIn((FAILING, "timeout"), last)
        self.assertEqual({d for d, _ in last}, {d for d, _, _ in DEVICES})
        h.say(f"{FAILING}: {count} timeouts in the failed-polls table, its last timeout and "
              "last ok point in the last-point table")

    def test_plot_shows_its_devices_and_coverage(self):
        q = self.panel("selgw-plot", "土壤含水率")
        devices = {s["tags"]["device"] for s in self.check_query("plot soil moisture", q)}
        self.assertEqual(devices, {"soil-1", "soil-2"})
        q = self.panel("selgw-season", "数据覆盖率")
        series = self.check_query("coverage", q)
        total = {s["tags"]["device"]: sum(v[1] for v in s["values"]) for s in series}
        # the seeded day is STEPS polls of POLL_INTERVAL: 100 % for a device that always
        # answered, less the silent hours for the one that did not
        self.assertEqual(set(total), {"soil-1", "air-1", "soil-2"})
        self.assertAlmostEqual(total["soil-1"], 100.0, places=6)
        self.assertAlmostEqual(total["air-1"], 100.0, places=6)
        self.assertAlmostEqual(total[FAILING], 100.0 * (STEPS - len(SILENT_STEPS)) / STEPS,
                               places=6)
        q = self.panel("selgw-plot", "最近的质量标记")
        flagged = {s["tags"]["device"]: s["values"][0][1] for s in
                   self.check_query("last quality flag", q)}
        self.assertEqual(flagged, {MISCALIBRATED[0]: MISCALIBRATED[1] + ":out_of_range"})
        h.say(f"{MISCALIBRATED[0]}: {sum('quality' in p['fields'] for p in self.points)} of "
              f"its {sum(p['tags']['device'] == MISCALIBRATED[0] for p in self.points)} "
              f"readings flagged {flagged[MISCALIBRATED[0]]}")
        h.say("coverage over the day: " + ", ".join(f"{d} {v:.1f} %" for d, v in
                                                    sorted(total.items())))


if __name__ == "__main__":
    unittest.main(verbosity=2)
