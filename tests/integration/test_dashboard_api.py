#!/usr/bin/env python3
"""The dashboard's data API of a running gateway against selgw-sim (docs/API.md).

A gateway polls three devices of the tea plot, one of them silent (selgw-sim --fault), and
one of the konjac plot. With a password (`selgw passwd`, its hash in the config):

- every path, /metrics too, answers 401 with a Basic challenge without the password or with
  a wrong one, 200 with it; the password is not in the log, and listening beyond loopback
  without TLS is warned about at start; `selgw status` takes it from SELGW_HTTP_PASSWORD
  and says so when it is missing;
- /api/v1/plots lists the base and plots, their households as active or not on the local
  day, their devices, and the latest value of each (device, field), equal to the journal's
  reading of that time (`selgw journal --dump`); the silent device's fields are read_failed
  without value;
- /api/v1/plots/PLOT/history over a period holds exactly the journal's readings of the
  plot's devices in it (points without value for failed polls; the only other points are
  gap marks without value), none of another plot's; the silent device's series has no
  value at all; an unknown plot is 404, a bad period 400;
- /api/v1/plots/PLOT/notes holds an annotation made with `selgw annotate` and the plot's
  tags record.

With a self-signed certificate made by openssl, the API speaks HTTPS only; and a listener
beyond loopback with neither password nor TLS is warned about."""
import base64
import datetime
import json
import os
import ssl
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

TEA = ["soil-01", "soil-02"]
SILENT = "soil-03"
KONJAC = "konjac-01"
PASSWORD = "Tea-frost-2026!"


def make_cfg(test, http):
    sim_port = h.free_port()
    devices = [{"id": d, "bus": "tcp0", "unit_id": i + 1, "profile": "cwt-soil-thc-s",
                "plot": "plot-tea", "interval": "200ms"}
               for i, d in enumerate(TEA + [SILENT])]
    devices.append({"id": KONJAC, "bus": "tcp0", "unit_id": 9, "profile": "cwt-soil-thc-s",
                    "plot": "plot-konjac", "interval": "200ms"})
    cfg = h.make_config(
        "itest-dash",
        [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
          "response_timeout": "150ms", "retries": 0}], devices)
    cfg["journal"] = {"dir": os.path.join(test.dir, "journal")}
    cfg["http"] = http
    return cfg


def ms_of(text):
    """Milliseconds since the epoch of an RFC 3339 UTC time with a fraction, floored."""
    t = text.rstrip("Z")
    whole, _, frac = t.partition(".")
    dt = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()) * 1000 + int((frac + "000")[:3])


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Client:
    def __init__(self, base, password=None, context=None):
        self.base = base
        self.password = password
        self.context = context

    def get(self, path, password=None):
        req = urllib.request.Request(self.base + path)
        pw = password if password is not None else self.password
        if pw is not None:
            token = base64.b64encode(f"manager:{pw}".encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        with urllib.request.urlopen(req, timeout=h.scaled(10), context=self.context) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")

    def json(self, path):
        status, ctype, text = self.get(path)
        assert (status, ctype) == (200, "application/json"), (status, ctype)
        return json.loads(text)

    def status_of(self, path, password=None):
        try:
            return self.get(path, password)[0], None
        except urllib.error.HTTPError as e:
            return e.code, e


class DashboardApi(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("dashboard-api")
        self.gw = self.sim = None

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()

    def start(self, cfg, *sim_args):
        self.cfg = cfg
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.sim = h.Simulator(self.cfg_path, *sim_args)
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"HTTP API on", h.scaled(15), stream="err")

    def password_hash(self):
        p = subprocess.run([h.SELGW_BIN, "passwd"], input=PASSWORD + "\n", text=True,
                           capture_output=True, timeout=h.scaled(60))
        self.assertEqual(p.returncode, 0, p.stderr)
        line = p.stdout.strip()
        self.assertTrue(line.startswith('password_hash: "$argon2id$'), line)
        self.assertNotIn(PASSWORD, p.stdout + p.stderr)
        return line.split('"')[1]

    def wait_polled(self, client, device, polls):
        def ok():
            st = client.json("/api/v1/status")
            return all(d["health"]["polls"] >= polls for d in st["devices"]
                       if d["id"] in (device,))
        self.assertTrue(h.wait_until(ok, h.scaled(15), interval=0.2), self.gw.describe())

    def test_plots_history_notes_with_a_password(self):
        port = h.free_port()
        self.start(make_cfg(self, {"listen": f"0.0.0.0:{port}",
                                   "password_hash": self.password_hash()}),
                   "--fault", f"{SILENT}=silent")
        self.gw.wait_for(r"with a password but without TLS: the password travels in clear",
                         h.scaled(5), stream="err")
        client = Client(f"http://127.0.0.1:{port}", PASSWORD)

        # -- the password ------------------------------------------------------------------
        for path in ("/metrics", "/api/v1/status", "/api/v1/plots",
                     "/api/v1/plots/plot-tea/history", "/api/v1/plots/plot-tea/notes",
                     "/no-such-path", "/", "/plot/plot-tea", "/assets/app.js"):
            code, err = client.status_of(path, password="")
            self.assertEqual(code, 401, path)
            self.assertEqual(err.headers.get("WWW-Authenticate"),
                             'Basic realm="selgw", charset="UTF-8"')
            self.assertEqual(client.status_of(path, password=PASSWORD[:-1])[0], 401, path)
        req = urllib.request.Request(client.base + "/api/v1/plots")  # no header at all
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(cm.exception.code, 401)
        # after a wrong password the server verifies none for a second (docs/API.md): the
        # right one, not yet remembered, may be refused that long; then it is taken
        self.assertTrue(h.wait_until(lambda: client.status_of("/metrics")[0] == 200,
                                     h.scaled(5), interval=0.3), self.gw.describe())
        # the dashboard's pages and assets too (docs/DASHBOARD.md)
        for path in ("/", "/plot/plot-tea", "/assets/app.js"):
            self.assertEqual(client.status_of(path)[0], 200, path)

        # -- an annotation for the notes ---------------------------------------------------
        res = h.selgw("annotate", "-c", self.cfg_path, "--plot", "plot-tea", "--text",
                      "土壤硒 0.41 mg/kg \"复检\"", "--ref", "LAB-2026-17")
        self.assertEqual(res.returncode, 0, res.describe())
        self.wait_polled(client, SILENT, 3)
        t_from = time.time() - 60
        time.sleep(h.scaled(2))
        t_to = time.time() - 0.5

        # every reading of the period committed: the gateway's history holds a later one of
        # each device (a device's readings are committed in the order of its polls; the
        # silent one's come seconds apart in its backoff)
        def committed_past_to():
            later = client.json("/api/v1/plots/plot-tea/history?from=" + rfc3339(t_to + 0.001))
            return {s["device"] for s in later["series"] if s["points"]} >= set(TEA + [SILENT])
        self.assertTrue(h.wait_until(committed_past_to, h.scaled(15), interval=0.2),
                        self.gw.describe())

        # -- /api/v1/plots ------------------------------------------------------------------
        plots = client.json("/api/v1/plots")
        history = client.json("/api/v1/plots/plot-tea/history?from=" + rfc3339(t_from) +
                              "&to=" + rfc3339(t_to))

        # the latest readings may be newer than the journal's dump for a moment: dump until
        # it has them (an assertion below says which one is missing if it never does)
        dumped = {}

        def journal_has_latest():
            dumped["records"] = servers.journal_records(self.cfg_path)
            keys = {(r["device"], r["time"]) for r in dumped["records"]
                    if r.get("type") == "reading"}
            return all((e["device"], e["time"]) in keys
                       for p in plots["plots"] for e in p["latest"])
        h.wait_until(journal_has_latest, h.scaled(10), interval=0.2)
        records = dumped["records"]
        readings = [r for r in records if r.get("type") == "reading"]
        by_key = {(r["device"], r["time"]): r for r in readings}

        self.assertEqual(plots["gateway"], "itest-dash")
        self.assertEqual(plots["utc_offset"], "+08:00")
        self.assertEqual(plots["bases"], [{"id": "itest-base", "name": "集成测试基地",
                                           "county": "紫阳县", "township": "汉王镇"}])
        self.assertEqual([p["id"] for p in plots["plots"]],
                         ["plot-tea", "plot-gh", "plot-konjac"])
        tea = plots["plots"][0]
        self.assertEqual((tea["base"], tea["crop"], tea["area_mu"]), ("itest-base", "tea", 12.5))
        self.assertEqual([(x["household"], x["active"]) for x in tea["households"]],
                         [("HH-101", True), ("HH-102", False), ("HH-103", False),
                          ("HH-104", True)])
        self.assertIsNone(tea["households"][0]["to"])
        self.assertEqual(tea["households"][0]["from"], "2024-01-01")
        self.assertEqual(tea["devices"], TEA + [SILENT])
        self.assertEqual(plots["plots"][2]["devices"], [KONJAC])
        self.assertEqual(plots["plots"][1]["devices"], [])
        self.assertEqual(tea["alerts"], [])
        seen = set()
        for e in tea["latest"]:
            rec = by_key.get((e["device"], e["time"]))
            self.assertIsNotNone(rec, f"{e['device']} at {e['time']}: not in the journal")
            jf = rec["fields"][e["field"]]
            self.assertEqual((e["unit"], e["quality"]), (jf["unit"], jf["quality"]))
            if jf["value"] is None or jf["quality"] == "read_failed":
                self.assertIsNone(e["value"])
            else:
                self.assertAlmostEqual(e["value"], jf["value"], places=9)
            self.assertGreaterEqual(e["age_s"], 0)
            seen.add((e["device"], e["field"]))
            if e["device"] == SILENT:
                self.assertEqual(e["quality"], "read_failed")
                self.assertIsNone(e["value"])
        self.assertEqual({d for d, _ in seen}, set(TEA + [SILENT]))

        # -- history: the journal's readings of the plot in the period -------------------
        self.assertEqual(history["plot"], "plot-tea")
        self.assertEqual(history["step_s"], 0)  # a few seconds: raw readings
        lo, hi = ms_of(history["from"]), ms_of(history["to"])
        series = {(s["device"], s["field"]): s for s in history["series"]}
        self.assertEqual({d for d, _ in series}, set(TEA + [SILENT]))
        expected = {}
        for r in readings:
            if r["plot"] != "plot-tea" or not lo <= ms_of(r["time"]) <= hi:
                continue
            for name, f in r["fields"].items():
                v = f["value"] if f["quality"] == "ok" else None
                expected.setdefault((r["device"], name), []).append([ms_of(r["time"]), v])
        self.assertEqual(set(series), set(expected))
        for key, s in series.items():
            want = sorted(expected[key])
            got = s["points"]
            self.assertEqual([p for p in got if p in want], want, key)
            extra = [p for p in got if p not in want]
            self.assertTrue(all(p[1] is None for p in extra), (key, extra))
            self.assertEqual(got, sorted(got), key)
            if key[0] == SILENT:
                self.assertTrue(got and all(p[1] is None for p in got), key)
            else:
                self.assertGreater(len(want), 5, key)
        h.say(f"history: {len(series)} series, "
              f"{sum(len(s['points']) for s in series.values())} points")
        day = client.json("/api/v1/plots/plot-tea/history?period=24h")
        self.assertIn(day["step_s"], (0, 120))
        konjac = client.json("/api/v1/plots/plot-konjac/history?period=7d")
        self.assertEqual({s["device"] for s in konjac["series"]}, {KONJAC})
        for path, code in (("/api/v1/plots/nope/history", 404),
                           ("/api/v1/plots/plot-tea/history?period=1y", 400),
                           ("/api/v1/plots/plot-tea/history?from=yesterday", 400),
                           ("/api/v1/plots/plot-tea/notes?period=2d", 400),
                           ("/api/v1/plots/plot-tea/history?from=2026-01-01T00:00:00Z&"
                            "to=2026-02-01T00:00:01Z", 400),
                           ("/api/v1/plots/plot-tea/notes?from=2025-01-01T00:00:00Z", 400),
                           ("/api/v1/plots/plot-tea/other", 404)):
            code_got, err = client.status_of(path)
            self.assertEqual(code_got, code, path)
            self.assertIn("error", json.loads(err.read().decode()), path)

        # -- notes --------------------------------------------------------------------------
        def annotated():
            n = client.json("/api/v1/plots/plot-tea/notes")
            return n if n["annotations"] else None
        self.assertTrue(h.wait_until(annotated, h.scaled(10), interval=0.2))
        notes = annotated()
        self.assertEqual([(a["text"], a["ref"]) for a in notes["annotations"]],
                         [("土壤硒 0.41 mg/kg \"复检\"", "LAB-2026-17")])
        self.assertIn("tags", [e["type"] for e in notes["events"]])
        other = client.json("/api/v1/plots/plot-konjac/notes?period=24h")
        self.assertEqual(other["annotations"], [])

        # -- selgw status: the password from the environment --------------------------------
        url = f"http://127.0.0.1:{port}"
        os.environ.pop("SELGW_HTTP_PASSWORD", None)
        res = h.selgw("status", "--url", url)
        self.assertEqual(res.returncode, 1)
        self.assertIn("the API needs its password: set SELGW_HTTP_PASSWORD", res.stderr)
        os.environ["SELGW_HTTP_PASSWORD"] = PASSWORD
        try:
            res = h.selgw("status", "--url", url)
        finally:
            del os.environ["SELGW_HTTP_PASSWORD"]
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn(SILENT, res.stdout)

        self.gw.stop()
        self.assertNotIn(PASSWORD, "\n".join(self.gw.stderr()))
        self.gw = None

    def test_tls(self):
        cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                            "-subj", "/CN=selgw-test", "-addext",
                            "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        os.chmod(key, 0o600)
        port = h.free_port()
        self.start(make_cfg(self, {"listen": f"0.0.0.0:{port}", "tls_cert": cert,
                                   "tls_key": key}))
        self.gw.wait_for(r"over TLS but without a password: the dashboard is exposed",
                         h.scaled(5), stream="err")
        self.gw.wait_for(r"HTTP API on https://", h.scaled(5), stream="err")
        context = ssl.create_default_context(cafile=cert)
        client = Client(f"https://127.0.0.1:{port}", context=context)
        self.wait_polled(client, "soil-01", 2)
        plots = client.json("/api/v1/plots")
        self.assertEqual(plots["plots"][0]["id"], "plot-tea")
        hist = client.json("/api/v1/plots/plot-tea/history?period=24h")
        self.assertTrue(any(p[1] is not None for s in hist["series"] for p in s["points"]))
        # plain HTTP on the same port gets no answer
        with self.assertRaises(Exception):
            Client(f"http://127.0.0.1:{port}").get("/api/v1/plots")
        # a client that does not trust the certificate refuses it
        with self.assertRaises(urllib.error.URLError):
            Client(f"https://127.0.0.1:{port}",
                   context=ssl.create_default_context()).get("/api/v1/plots")

        # selgw status and read against it: https://, the config's certificate trusted
        res = h.selgw("status", "-c", self.cfg_path)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("gateway itest-dash", res.stdout)
        self.assertIn("soil-01", res.stdout)
        res = h.selgw("status", "-c", self.cfg_path, "--url", f"https://127.0.0.1:{port}")
        self.assertEqual(res.returncode, 0, res.describe())
        # without the certificate (--url alone: the system's CAs) it is refused, as it should
        res = h.selgw("status", "--url", f"https://127.0.0.1:{port}")
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("certificate", res.stderr)
        res = h.selgw("read", "-c", self.cfg_path, "soil-01")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn(f"from its API at https://127.0.0.1:{port}", res.stdout)

    def test_exposed_without_password_is_warned(self):
        port = h.free_port()
        self.start(make_cfg(self, {"listen": f"0.0.0.0:{port}"}))
        self.gw.wait_for(r"warning: .*with neither a password nor TLS: the dashboard is exposed to "
                         r"the LAN without a password", h.scaled(5), stream="err")
        client = Client(f"http://127.0.0.1:{port}")
        self.assertEqual(client.status_of("/api/v1/plots")[0], 200)

        # every API answer says its type is the type (nosniff), errors too
        for path in ("/api/v1/plots", "/metrics", "/api/v1/nothing"):
            try:
                headers = urllib.request.urlopen(client.base + path, timeout=h.scaled(10)).headers
            except urllib.error.HTTPError as e:
                headers = e.headers
            self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff", path)

        # DNS rebinding: without a password, a Host that is a name (another site's page
        # pointing its name here) is refused; an address or localhost, any port, is answered
        def with_host(host, path="/api/v1/plots"):
            req = urllib.request.Request(client.base + path, headers={"Host": host})
            try:
                with urllib.request.urlopen(req, timeout=h.scaled(10)) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()
        for host in ("evil.example", f"evil.example:{port}", f"gateway.local:{port}"):
            for path in ("/api/v1/plots", "/"):
                code, body = with_host(host, path)
                self.assertEqual(code, 421, (host, path))
                self.assertIn("DNS rebinding", json.loads(body)["error"])
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "192.168.1.20:8080",
                     f"[::1]:{port}"):
            self.assertEqual(with_host(host)[0], 200, host)


if __name__ == "__main__":
    unittest.main(verbosity=2)
