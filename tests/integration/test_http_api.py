#!/usr/bin/env python3
"""The HTTP API of a running gateway, scraped as Prometheus and an operator would.

A gateway polls three simulated devices, one of them silent (selgw-sim --fault), and
delivers to a real mosquitto, which the test stops for a few seconds. /metrics is parsed
with python3-prometheus-client, and its counters must match what the test caused:

- the silent device's timeouts grow with its polls, every one of which failed, and it never
  succeeded; the healthy devices' polls grow, they never failed, and they have answer
  latencies and a recent last success;
- during the broker outage the MQTT sink's backlog grows and it reports errors, and after
  the broker is back the backlog drains and deliveries resume;
- the journal's committed sequence and the sinks' cursors agree with `selgw journal`.

/api/v1/latest must hold, for each device, exactly the reading the journal has for that
device at that time (`selgw journal --dump`); `selgw status` prints the table from the API,
and says so clearly once the gateway is gone. The gateway stops cleanly with the server
running (exit 0; under SELGW_SANITIZE no leak report)."""
import json
import os
import signal
import sys
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

HEALTHY = ["soil-01", "soil-02"]
SILENT = "soil-03"


def get(url):
    with urllib.request.urlopen(url, timeout=h.scaled(10)) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")


class Metrics:
    """One scrape: samples by (name, frozenset of labels)."""

    def __init__(self, text):
        self.samples = {}
        self.types = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def get(self, name, **labels):
        key = (name, frozenset(labels.items()))
        if key not in self.samples:
            raise AssertionError(f"no sample {name}{labels}")
        return self.samples[key]


class HttpApi(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("http-api")
        self.broker = servers.Mosquitto(self.dir)
        sim_port = h.free_port()
        self.http_port = h.free_port()
        cfg = h.make_config(
            "itest-http",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
              "response_timeout": "150ms", "retries": 0}],
            [{"id": d, "bus": "tcp0", "unit_id": i + 1, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "200ms"}
             for i, d in enumerate(HEALTHY + [SILENT])])
        cfg["journal"] = {"dir": os.path.join(self.dir, "journal")}
        cfg["mqtt"] = {"host": "127.0.0.1", "port": self.broker.port, "qos": 1,
                       "topic_prefix": "http", "reconnect": {"min": "200ms", "max": "1s"}}
        cfg["http"] = {"listen": f"127.0.0.1:{self.http_port}"}
        self.cfg = cfg
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.sim = h.Simulator(self.cfg_path, "--fault", f"{SILENT}=silent")
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"HTTP API on", h.scaled(15), stream="err")

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()
        self.broker.stop()

    def scrape(self):
        status, ctype, text = get(self.base + "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        return Metrics(text)

    def wait_metric(self, what, predicate, timeout):
        last = [None]

        def ok():
            last[0] = self.scrape()
            return predicate(last[0])
        if not h.wait_until(ok, timeout, interval=0.2):
            raise AssertionError(f"{what}: not within {timeout:.0f}s\n" + self.gw.describe())
        return last[0]

    def backlog(self, m):
        return m.get("selgw_sink_backlog_records", sink="mqtt")

    def check_devices(self, m):
        polls = {d: m.get("selgw_device_polls_total", device=d, bus="tcp0")
                 for d in HEALTHY + [SILENT]}
        silent_timeouts = m.get("selgw_device_poll_failures_total", device=SILENT, bus="tcp0",
                                kind="timeout")
        # every poll of the silent device failed, by a timeout, and it never succeeded
        self.assertEqual(silent_timeouts, polls[SILENT])
        self.assertEqual(m.get("selgw_device_last_success_timestamp_seconds", device=SILENT,
                               bus="tcp0"), 0)
        self.assertEqual(m.get("selgw_device_response_seconds_count", device=SILENT,
                               bus="tcp0"), 0)
        for d in HEALTHY:
            for kind in ("timeout", "exception", "bad_frame", "connect_failed"):
                self.assertEqual(m.get("selgw_device_poll_failures_total", device=d, bus="tcp0",
                                       kind=kind), 0, (d, kind))
            # one request per poll of this profile: one answer timed per poll (the answer
            # of a poll still being finished may be counted already)
            answers = m.get("selgw_device_response_seconds_count", device=d, bus="tcp0")
            self.assertIn(answers - polls[d], (0, 1), d)
            last = m.get("selgw_device_last_success_timestamp_seconds", device=d, bus="tcp0")
            self.assertLess(abs(time.time() - last), h.scaled(10))
            self.assertEqual(m.get("selgw_device_consecutive_failures", device=d, bus="tcp0"), 0)
        # the bus's total is read just before its devices' (a poll may finish in between)
        bus_polls = m.get("selgw_bus_polls_total", bus="tcp0", type="tcp")
        self.assertLessEqual(bus_polls, sum(polls.values()))
        self.assertGreaterEqual(bus_polls, sum(polls.values()) - 3)
        # every poll of the schedule counts its lateness once (retries of the silent device
        # not again), in the same snapshot as the bus's polls; buckets are cumulative
        late = dict(bus="tcp0", type="tcp")
        self.assertEqual(m.get("selgw_poll_lateness_seconds_count", **late), bus_polls)
        cumulative = [m.get("selgw_poll_lateness_seconds_bucket", le=le, **late)
                      for le in ("0.001", "0.01", "0.1", "1", "10", "+Inf")]
        self.assertEqual(cumulative, sorted(cumulative))
        self.assertEqual(cumulative[-1], bus_polls)
        self.assertGreaterEqual(m.get("selgw_poll_lateness_seconds_sum", **late), 0)
        return polls, silent_timeouts

    def test_http_api(self):
        # -- counters grow as the devices are polled ------------------------------------
        m1 = self.wait_metric("every device polled",
                              lambda m: m.get("selgw_device_polls_total", device=SILENT,
                                              bus="tcp0") >= 2, h.scaled(15))
        self.assertEqual(m1.types["selgw_device_response_seconds"], "histogram")
        self.assertEqual(m1.types["selgw_poll_lateness_seconds"], "histogram")
        self.assertEqual(m1.types["selgw_device_polls"], "counter")
        polls1, timeouts1 = self.check_devices(m1)
        time.sleep(h.scaled(1.5))
        m2 = self.scrape()
        polls2, timeouts2 = self.check_devices(m2)
        self.assertGreater(timeouts2, timeouts1)
        for d in HEALTHY:
            self.assertGreater(polls2[d], polls1[d], d)
        self.assertGreater(m2.get("selgw_device_backoff_factor", device=SILENT, bus="tcp0"), 1)
        self.assertEqual(m2.get("selgw_config_generation"), 1)
        self.assertGreater(m2.get("selgw_journal_fsync_seconds_count"), 0)
        # a commit makes at least one record durable, and each is counted in one commit
        commits = m2.get("selgw_journal_commits_total")
        self.assertGreater(commits, 0)
        self.assertLessEqual(commits, m2.get("selgw_journal_committed_seq"))
        self.assertGreaterEqual(m2.get("selgw_journal_commit_records_max"), 1)
        h.say(f"silent device: {timeouts1:.0f} -> {timeouts2:.0f} timeouts; healthy polls "
              f"{polls1} -> {polls2}")

        # -- the broker goes away: the MQTT backlog grows, then drains -------------------
        m = self.wait_metric("the MQTT sink delivering", lambda m: self.backlog(m) <= 5,
                             h.scaled(15))
        delivered_before = m.get("selgw_sink_delivered_total", sink="mqtt")
        self.broker.stop()
        m_out1 = self.wait_metric("the MQTT sink noticing the outage",
                                  lambda m: m.get("selgw_sink_up", sink="mqtt") == 0,
                                  h.scaled(15))
        time.sleep(h.scaled(2))
        m_out2 = self.scrape()
        self.assertGreater(self.backlog(m_out2), self.backlog(m_out1))
        self.assertGreater(self.backlog(m_out2), 10)
        errors = sum(m_out2.get("selgw_sink_errors_total", sink="mqtt", kind=k)
                     for k in ("connect_failed", "disconnected"))
        self.assertGreater(errors, 0)
        h.say(f"broker down: backlog {self.backlog(m_out1):.0f} -> {self.backlog(m_out2):.0f} "
              f"records, {errors:.0f} connection errors")
        self.broker.start()
        m_back = self.wait_metric("the backlog draining", lambda m: self.backlog(m) <= 5,
                                  h.scaled(30))
        self.assertEqual(m_back.get("selgw_sink_up", sink="mqtt"), 1)
        self.assertGreater(m_back.get("selgw_sink_delivered_total", sink="mqtt"),
                           delivered_before + self.backlog(m_out2) - 5)
        self.assertLess(abs(time.time() - m_back.get(
            "selgw_sink_last_delivery_timestamp_seconds", sink="mqtt")), h.scaled(10))
        h.say(f"broker back: backlog {self.backlog(m_back):.0f}")

        # -- /api/v1/latest holds the journal's readings ---------------------------------
        status, ctype, text = get(self.base + "/api/v1/latest")
        self.assertEqual((status, ctype), (200, "application/json"))
        latest = json.loads(text)
        self.assertEqual(latest["gateway"], "itest-http")
        records = servers.journal_records(self.cfg_path)
        by_key = {(r["device"], r["time"]): r for r in records if r.get("type") == "reading"}
        self.assertEqual([d["id"] for d in latest["devices"]], HEALTHY + [SILENT])
        for dev in latest["devices"]:
            rec = by_key.get((dev["id"], dev["time"]))
            self.assertIsNotNone(rec, f"{dev['id']} at {dev['time']}: not in the journal")
            self.assertEqual(dev["status"], rec["status"])
            self.assertEqual([f["name"] for f in dev["fields"]], list(rec["fields"]))
            for f in dev["fields"]:
                jf = rec["fields"][f["name"]]
                self.assertEqual((f["unit"], f["quality"]), (jf["unit"], jf["quality"]))
                if jf["value"] is None:
                    self.assertIsNone(f["value"])
                else:
                    self.assertAlmostEqual(f["value"], jf["value"], places=9)
        silent = latest["devices"][2]
        self.assertEqual(silent["status"], "timeout")
        self.assertGreaterEqual(silent["health"]["consecutive_failures"], 2)
        self.assertIsNone(silent["health"]["last_success"])
        one = json.loads(get(self.base + "/api/v1/latest/soil-01")[2])
        self.assertEqual(one["id"], "soil-01")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            get(self.base + "/api/v1/latest/no-such-device")
        self.assertEqual(cm.exception.code, 404)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(urllib.request.Request(self.base + "/metrics", data=b"x",
                                                          method="POST"), timeout=10)
        self.assertEqual(cm.exception.code, 405)

        # -- /api/v1/status agrees with the journal -------------------------------------
        st = json.loads(get(self.base + "/api/v1/status")[2])
        last_seq = max(r["seq"] for r in records)
        self.assertGreaterEqual(st["journal"]["committed_seq"], last_seq)
        self.assertEqual([s["name"] for s in st["sinks"]], ["mqtt"])
        journal = h.selgw("journal", "-c", self.cfg_path)
        self.assertEqual(journal.returncode, 0, journal.describe())

        # -- a reload: a new generation, served on the same address ---------------------
        self.gw.send_signal(signal.SIGHUP)
        # (the new pollers count from 0: wait until every device was polled again)
        m = self.wait_metric(
            "the reload", lambda m: m.get("selgw_config_generation") == 2 and all(
                m.get("selgw_device_polls_total", device=d, bus="tcp0") >= 1
                for d in HEALTHY + [SILENT]), h.scaled(15))
        self.assertEqual(m.get("selgw_start_time_seconds"),
                         m_back.get("selgw_start_time_seconds"))

        # -- selgw status -----------------------------------------------------------------
        res = h.selgw("status", "-c", self.cfg_path)
        self.assertEqual(res.returncode, 0, res.describe())
        out = res.stdout
        h.say("selgw status:\n" + out)
        self.assertIn("gateway itest-http", out)
        for d in HEALTHY:
            line = next(l for l in out.splitlines() if l.startswith(d + " "))
            self.assertIn(" ok ", line)
            self.assertIn("soil_moisture", line)
        line = next(l for l in out.splitlines() if l.startswith(SILENT + " "))
        self.assertIn("timeout", line)
        self.assertIn("(nothing read)", line)
        self.assertTrue(any(l.startswith("mqtt ") for l in out.splitlines()), out)
        res = h.selgw("status", "--url", self.base + "/")
        self.assertEqual(res.returncode, 0, res.describe())
        # a config of another gateway that names the same address: not taken for it
        other = dict(self.cfg, gateway=dict(self.cfg["gateway"], id="itest-other"))
        other_path = h.write_config(os.path.join(self.dir, "other.yaml"), other)
        res = h.selgw("status", "-c", other_path)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn(f"selgw status: the gateway answering at http://127.0.0.1:{self.http_port} "
                      f"is 'itest-http', not 'itest-other' of {other_path}: another gateway "
                      "holds that address (give each its own http.listen)", res.stderr)

        # -- a clean stop with the server running; then nobody answers -------------------
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        self.gw = None
        res = h.selgw("status", "-c", self.cfg_path)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn(f"selgw status: no gateway answers at http://127.0.0.1:{self.http_port}",
                      res.stderr)
        self.assertIn("Is `selgw run` running", res.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
