#!/usr/bin/env python3
"""Alerts end to end: a signing gateway polls selgw-sim, whose values the test scripts
through the simulator's control file (value/freeze lines, faults, SIGHUP), and delivers to a
real mosquitto. A cold night (hovering at the frost threshold first, a restart of the gateway
in the middle of the frost), a dry spell (with values between the thresholds), a frozen
sensor and a silent one: each alert is raised once and cleared once (the ALERT records of
the plot chains, from `selgw journal --dump`), published on MQTT and retained while active
(a subscriber that connects during the frost gets the raise, one that connects after the
clear gets nothing), and an export of the tea plot verifies with the alerts among its
events."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

# Short durations: the test runs in well under a minute. The stints the test holds a value
# for are far shorter than `for` (0.3 s against 3 s), so a loaded machine has margin.
FOR = "3s"
STINT = 0.3


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Alerts(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("alerts")
        self.key = os.path.join(self.dir, "gateway.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        self.pubkey = res.stdout.strip()
        self.broker = servers.Mosquitto(self.dir)
        cfg = h.make_config(
            "itest-alerts",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": h.free_port(),
              "response_timeout": "100ms", "retries": 0},
             {"id": "tcp1", "type": "tcp", "host": "127.0.0.1", "port": h.free_port(),
              "response_timeout": "100ms", "retries": 0}],
            [{"id": "tea-air", "bus": "tcp0", "unit_id": 1, "profile": "xy-md02",
              "plot": "plot-tea", "interval": "200ms"},
             {"id": "tea-soil", "bus": "tcp0", "unit_id": 2, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "200ms"},
             {"id": "konjac-soil", "bus": "tcp1", "unit_id": 1, "profile": "cwt-soil-thc-s",
              "plot": "plot-konjac", "interval": "200ms"}])
        cfg["signing"] = {"secret_key": self.key, "seal_interval": "1s"}
        cfg["mqtt"] = {"host": "127.0.0.1", "port": self.broker.port, "qos": 1,
                       "client_id": "selgw-itest-alerts"}
        cfg["alerts"] = [
            {"id": "frost", "crops": ["tea"], "field": "air_temperature", "below": 2,
             "clear_above": 3, "for": FOR, "source": "o-cha.net"},
            {"id": "drought", "plots": ["plot-tea"], "field": "soil_moisture", "below": 15,
             "clear_above": 18, "for": FOR},
            {"id": "frozen", "crops": ["konjac"], "field": "soil_moisture", "stuck_for": "5s"},
            {"id": "silent", "plots": ["plot-konjac"], "stale_after": 5},
        ]
        cfg["http"] = {"listen": f"127.0.0.1:{h.free_port()}"}
        self.cfg = cfg
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.control = os.path.join(self.dir, "control")
        self.step = 0
        self.lines = {}
        self.lock = threading.Lock()
        self.write_control()
        self.sim = h.Simulator(self.cfg_path, "--control", self.control)
        # konjac-soil's moisture moves every STINT, whatever the test is waiting for
        self.stepping = threading.Event()
        self.stepper = threading.Thread(target=self.step_konjac, daemon=True)
        self.stepper.start()
        self.sub = servers.Subscriber(self.broker, "selgw/+/+/alert/#")
        time.sleep(h.scaled(0.5))  # its subscription is in before anything is published
        self.gw = None

    def tearDown(self):
        self.stepping.set()
        self.stepper.join()
        for p in (self.gw, self.sim, self.sub):
            if p:
                p.stop()
        self.broker.stop()

    # ---- scripting the simulator ----

    def write_control(self):
        """The control file from self.lines (one per device and field), with konjac-soil's
        moisture moving a little at every step unless it is frozen or silent."""
        self.step += 1
        lines = dict(self.lines)
        if "konjac" not in lines:
            lines["konjac"] = f"value konjac-soil soil_moisture {30 + (self.step % 20) * 0.3:.1f}"
        with open(self.control + ".tmp", "w") as f:
            f.write("\n".join(lines.values()) + "\n")
        os.replace(self.control + ".tmp", self.control)

    def set(self, key, line):
        with self.lock:
            if line is None:
                self.lines.pop(key, None)
            else:
                self.lines[key] = line
            self.write_control()
            self.sim.send_signal(signal.SIGHUP)

    def step_konjac(self):
        while not self.stepping.wait(STINT):
            with self.lock:
                self.write_control()
                self.sim.send_signal(signal.SIGHUP)

    def hold(self, seconds):
        time.sleep(seconds)

    def air(self, value):
        self.set("air", f"value tea-air air_temperature {value}")

    def soil(self, value):
        self.set("soil", f"value tea-soil soil_moisture {value}")

    # ---- what the gateway did ----

    def alerts(self):
        return [r for r in servers.journal_records(self.cfg_path) if r["type"] == "alert"]

    def of(self, rule, state=None):
        return [r for r in self.alerts()
                if r["rule"] == rule and (state is None or r["state"] == state)]

    def wait_alert(self, rule, state, count=1):
        if h.wait_until(lambda: len(self.of(rule, state)) >= count, h.scaled(20), interval=0.3):
            return
        raise AssertionError(f"no {state} alert {rule}: {self.alerts()}\n"
                             + (self.gw.describe() if self.gw else ""))

    def start_gateway(self):
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 3 devices", h.scaled(10), stream="err")

    def api(self, path):
        url = f"http://{self.cfg['http']['listen']}{path}"
        with urllib.request.urlopen(url, timeout=10) as res:
            return json.loads(res.read().decode("utf-8"))

    def plot_alerts(self, plot):
        return next(p for p in self.api("/api/v1/plots")["plots"] if p["id"] == plot)["alerts"]

    def retained(self, topic):
        """What a subscriber connecting now receives retained: (topic, payload) lines."""
        res = subprocess.run([servers.MOSQUITTO_SUB, "-h", "127.0.0.1", "-p",
                              str(self.broker.port), "-t", topic, "-v", "--retained-only",
                              "-W", "2"], capture_output=True, text=True)
        return [line for line in res.stdout.splitlines() if line.strip()]

    def test_alerts_raised_once_cleared_once_published_and_verified(self):
        self.air(10)
        self.soil(30)
        t0 = time.time()
        self.start_gateway()
        self.hold(h.scaled(1))

        # ---- a cold night: hovering at 2 degC first (never below for 3 s) ----
        for i in range(8):
            self.air(1.9 if i % 2 == 0 else 2.1)
            self.hold(STINT)
        self.assertEqual(self.of("frost"), [], "a dip shorter than `for` raised")
        self.air(1.0)
        # meanwhile a dry spell begins
        self.soil(14)
        self.wait_alert("frost", "raised")
        self.wait_alert("drought", "raised")
        raised = self.of("frost", "raised")[0]
        self.assertEqual(raised["device"], "tea-air")
        self.assertEqual(raised["plot"], "plot-tea")
        self.assertEqual(raised["value"], 1.0)
        self.assertEqual(raised["threshold"], 2)
        self.assertEqual(raised["chain"], "plot/plot-tea")
        h.say(f"frost raised: {raised}")

        # retained: a subscriber that connects now gets the raise
        topic = "selgw/itest-base/plot-tea/alert/frost/tea-air"
        self.assertTrue(h.wait_until(lambda: any(
            line.startswith(topic + " ") and '"raised"' in line
            for line in self.retained("selgw/itest-base/plot-tea/alert/#")), h.scaled(10)),
            self.retained("selgw/itest-base/plot-tea/alert/#"))

        # the dashboard's API shows the active alert on its plot's card
        active = [a for a in self.plot_alerts("plot-tea") if a["rule"] == "frost"]
        self.assertEqual(len(active), 1, self.plot_alerts("plot-tea"))
        self.assertEqual((active[0]["field"], active[0]["condition"], active[0]["threshold"],
                          active[0]["device"], active[0]["value"]),
                         ("air_temperature", "below", 2, "tea-air", raised["value"]))

        # a restart in the middle of the frost: not raised a second time
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        self.start_gateway()
        self.assertRegex("\n".join(self.gw.stderr()), r"alerts: 2 active before this start")
        self.hold(h.scaled(4))

        # ---- the dry spell eases to between the thresholds: no clear ----
        self.soil(16.5)
        # ---- dawn: hovering at 3 degC (never above for 3 s), then warm ----
        for i in range(8):
            self.air(3.1 if i % 2 == 0 else 2.9)
            self.hold(STINT)
        self.assertEqual(self.of("frost", "cleared"), [], "a short rise cleared the frost")
        self.assertEqual(self.of("drought", "cleared"), [], "a value between thresholds cleared")
        self.air(8)
        self.soil(25)
        self.wait_alert("frost", "cleared")
        self.wait_alert("drought", "cleared")
        cleared = self.of("frost", "cleared")[0]
        self.assertEqual(cleared["threshold"], 3)
        self.assertEqual(cleared["value"], 8)
        # off the card; the plot's notes list the raise and the clear, as journaled
        self.assertEqual([a for a in self.plot_alerts("plot-tea") if a["rule"] == "frost"], [])
        events = self.api("/api/v1/plots/plot-tea/notes?period=24h")["events"]
        frost = [json.loads(e["text"]) for e in events if e["type"] == "alert"
                 and json.loads(e["text"])["rule"] == "frost"]
        self.assertEqual([(a["state"], a["value"]) for a in frost],
                         [("raised", raised["value"]), ("cleared", 8)], events)

        # ---- a frozen sensor, then a silent one, on the konjac plot ----
        self.set("konjac", "freeze konjac-soil soil_moisture")
        self.hold(h.scaled(1))
        self.wait_alert("frozen", "raised")
        self.set("konjac", None)  # moving again
        self.wait_alert("frozen", "cleared")
        self.set("konjac", "konjac-soil silent")
        self.wait_alert("silent", "raised")
        self.set("konjac", None)
        self.wait_alert("silent", "cleared")
        self.hold(h.scaled(1))
        t_stop = time.time()
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())

        # ---- each raised once, cleared once, in that order ----
        for rule in ("frost", "drought", "frozen", "silent"):
            states = [r["state"] for r in self.of(rule)]
            self.assertEqual(states, ["raised", "cleared"], f"{rule}: {self.of(rule)}")
        log = "\n".join(self.gw.stderr())
        self.assertRegex(log, r"alert frost cleared on plot plot-tea: air_temperature of "
                              r"device tea-air is 8 degC")
        stale = self.of("silent", "raised")[0]
        self.assertIsNone(stale["value"])
        self.assertEqual(stale["field"], "")

        # ---- MQTT: every transition published; nothing retained after the clears ----
        def published():
            return [line for line in self.sub.stdout() if "/alert/" in line]
        self.assertTrue(h.wait_until(lambda: sum('"cleared"' in x for x in published()) >= 4,
                                     h.scaled(10)), "\n".join(published()))
        msgs = published()
        for rule, device, plot in (("frost", "tea-air", "plot-tea"),
                                   ("drought", "tea-soil", "plot-tea"),
                                   ("frozen", "konjac-soil", "plot-konjac"),
                                   ("silent", "konjac-soil", "plot-konjac")):
            topic = f"selgw/itest-base/{plot}/alert/{rule}/{device}"
            mine = [m for m in msgs if m.split(" ", 1)[0] == topic]
            self.assertEqual(sum('"raised"' in m for m in mine), 1, mine)
            self.assertEqual(sum('"cleared"' in m for m in mine), 1, mine)
            # mosquitto_sub -v prints an empty payload as "(null)"
            self.assertTrue(any(m in (topic, topic + " ", topic + " (null)") for m in mine),
                            f"no empty message removing the retained alert on {topic}: {mine}")
        self.assertEqual(self.retained("selgw/+/+/alert/#"), [])
        h.say(f"{len(msgs)} alert messages on MQTT, nothing retained at the end")

        # ---- evidence: the export of the tea plot verifies and lists the alerts ----
        out = os.path.join(self.dir, "plot-tea.evidence")
        res = h.selgw("export", "-c", self.cfg_path, "--plot", "plot-tea", "--from",
                      utc(t0 + 2), "--to", utc(t_stop - 1), "-o", out)
        self.assertEqual(res.returncode, 0, res.describe())
        res = h.selgw("verify", out, "--pubkey", self.pubkey)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("VERIFIED", res.stdout)
        self.assertRegex(res.stdout, r"ALERT raised: frost \(below air_temperature, threshold 2\) "
                                     r"tea-air = 1")
        self.assertRegex(res.stdout, r"ALERT cleared: frost .* tea-air = 8")
        self.assertRegex(res.stdout, r"ALERT raised: drought")
        self.assertNotIn("konjac-soil", res.stdout)

    def test_reload_clears_the_alerts_of_removed_rules_and_keeps_the_others(self):
        self.air(1.0)
        self.soil(14)
        self.start_gateway()
        self.wait_alert("frost", "raised")
        self.wait_alert("drought", "raised")
        # the frost rule removed, the drought rule unchanged, the frozen one changed
        cfg = dict(self.cfg)
        cfg["alerts"] = [a for a in self.cfg["alerts"] if a["id"] != "frost"]
        cfg["alerts"] = [dict(a, stuck_for="6s") if a["id"] == "frozen" else a
                         for a in cfg["alerts"]]
        h.write_config(self.cfg_path, cfg)
        self.gw.send_signal(signal.SIGHUP)
        self.wait_alert("frost", "cleared")
        cleared = self.of("frost", "cleared")[0]
        self.assertIsNone(cleared["value"])  # no reading decided it
        self.assertIsNone(cleared["threshold"])
        # since: when it was raised, i.e. the time of the reading that raised it, a moment
        # before the raise was journaled
        raised_at = h.reading_seconds(self.of("frost", "raised")[0])
        since = h.reading_seconds({"time": cleared["since"]})
        self.assertTrue(raised_at - 1 < since <= raised_at, (cleared, raised_at))
        self.gw.wait_for(r"alert frost cleared on plot plot-tea \(air_temperature of device "
                         r"tea-air\): the rule was removed from the config", h.scaled(5),
                         stream="err")
        self.hold(h.scaled(2))  # still dry, still cold: nothing raised again, nothing cleared
        self.assertEqual([r["state"] for r in self.of("drought")], ["raised"])
        self.assertEqual([r["state"] for r in self.of("frost")], ["raised", "cleared"])
        # on the broker: the drought alert retained, the frost one gone
        topic = "selgw/itest-base/plot-tea/alert/"
        self.assertTrue(h.wait_until(
            lambda: [x.split(" ", 1)[0] for x in self.retained(topic + "#")] == [
                topic + "drought/tea-soil"], h.scaled(10)), self.retained(topic + "#"))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())


if __name__ == "__main__":
    unittest.main()
