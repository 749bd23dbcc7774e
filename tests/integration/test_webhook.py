#!/usr/bin/env python3
"""The webhook sink in a running gateway, end to end with the alert engine: selgw-sim's air
temperature is scripted through its control file (`value DEV FIELD X` lines and SIGHUP,
docs/SIMULATOR.md), the gateway's frost rule raises and clears the alert, and a local robot
that answers in WeCom's format (fake_webhook.py) receives it.

A cold night (test_cold_night_robot_down_in_the_middle):
- `selgw check` names the sink and the robot's host, never its URL or key;
- the frost alert raised is posted in WeCom's markdown, in Chinese, with the base's name;
- the robot goes away: polling goes on, the clearing is journaled and waits; the robot back
  on the same port receives it, so the group gets the raise and the clear, in that order,
  once each (delayed, none lost);
- neither /api/v1/status, /metrics nor the log show the key;
- after a restart of the gateway, only a new alert is posted (the cursor survived).

The webhook turned on later (test_turned_on_later_posts_no_history): a gateway without a
webhook raises and clears a frost alert; with the webhook configured, the next start posts
neither of those (its log says how many earlier records it skips), only the next alert."""
import json
import os
import signal
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_webhook.py")
KEY = "itest-robot-key-7f3a"
HEAD = "集成测试基地 / 地块 plot-tea（茶叶）：空气温度 "


class Robot:
    """fake_webhook.py on a port (0: any), its requests read from its log."""

    def __init__(self, directory, name, port=0):
        self.log = os.path.join(directory, name + ".log")
        self.proc = h.Process("fake-webhook", [h.SYSTEM_PYTHON, FAKE, "--log", self.log,
                                               "--control", os.path.join(directory, "answer"),
                                               "--port", port])
        self.proc.wait_for(r"^\d+$", h.scaled(15))
        self.port = int(self.proc.stdout()[0])

    def requests(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        self.proc.stop()


def content(request):
    return request["body"]["markdown"]["content"]


def get(url):
    with urllib.request.urlopen(url, timeout=h.scaled(10)) as r:
        return r.read().decode("utf-8")


class Webhook(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("webhook")
        self.robot = None
        self.gw = None
        self.http_port = h.free_port()
        cfg = h.make_config(
            "itest-webhook",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": h.free_port(),
              "response_timeout": "200ms", "retries": 0}],
            [{"id": "tea-air", "bus": "tcp0", "unit_id": 1, "profile": "xy-md02",
              "plot": "plot-tea", "interval": "200ms"}])
        cfg["journal"] = {"dir": os.path.join(self.dir, "journal")}
        cfg["http"] = {"listen": f"127.0.0.1:{self.http_port}"}
        cfg["alerts"] = [{"id": "frost", "crops": ["tea"], "field": "air_temperature",
                          "below": 2, "clear_above": 3, "for": "1s"}]
        self.cfg = cfg
        self.cfg_path = os.path.join(self.dir, "gw.yaml")
        h.write_config(self.cfg_path, cfg)
        self.control = os.path.join(self.dir, "control")
        self.write_air(10)
        self.sim = h.Simulator(self.cfg_path, "--control", self.control)
        self.env = {}

    def tearDown(self):
        for p in (self.gw, self.sim, self.robot):
            if p:
                p.stop()
        os.environ.pop("SELGW_TEST_WEBHOOK_URL", None)

    # ---- the night, scripted ----

    def write_air(self, value):
        with open(self.control + ".tmp", "w") as f:
            f.write(f"value tea-air air_temperature {value}\n")
        os.replace(self.control + ".tmp", self.control)

    def air(self, value):
        self.write_air(value)
        self.sim.send_signal(signal.SIGHUP)

    def frost(self):
        return [r["state"] for r in servers.journal_records(self.cfg_path)
                if r["type"] == "alert" and r["rule"] == "frost"]

    def wait_frost(self, states):
        if not h.wait_until(lambda: self.frost() == states, h.scaled(20), interval=0.3):
            raise AssertionError(f"frost alerts {self.frost()}, expected {states}\n"
                                 + self.gw.describe())

    # ---- the gateway and the robot ----

    def with_webhook(self):
        """The webhook configured, to the robot running now."""
        self.cfg["webhook"] = {"format": "wecom", "url_env": "SELGW_TEST_WEBHOOK_URL",
                               "rate_limit": 600, "timeout": "2s",
                               "retry": {"min": "100ms", "max": "1s"}}
        h.write_config(self.cfg_path, self.cfg)
        self.env = {"SELGW_TEST_WEBHOOK_URL":
                    f"http://127.0.0.1:{self.robot.port}/cgi-bin/webhook/send?key={KEY}"}
        # selgw check and selgw journal load the config whole, secrets included
        os.environ.update(self.env)

    def start_gateway(self):
        self.gw = h.Gateway(self.cfg_path, "--no-print", env=self.env)
        self.gw.wait_for(r"HTTP API on", h.scaled(15), stream="err")

    def status(self):
        return json.loads(get(f"http://127.0.0.1:{self.http_port}/api/v1/status"))

    def webhook_status(self):
        return next(s for s in self.status()["sinks"] if s["name"] == "webhook")

    def wait_requests(self, n, what):
        if not h.wait_until(lambda: len(self.robot.requests()) >= n, h.scaled(30)):
            raise AssertionError(f"{what}: {len(self.robot.requests())} of {n} requests\n"
                                 + self.gw.describe())
        return self.robot.requests()

    def test_cold_night_robot_down_in_the_middle(self):
        self.robot = Robot(self.dir, "before")
        self.with_webhook()
        # -- selgw check names the host only ----------------------------------------------
        res = h.selgw("check", "-c", self.cfg_path)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn(f"sink webhook: alerts to a WeCom group robot at 127.0.0.1:"
                      f"{self.robot.port}, Chinese, at most 600 a minute", res.stdout)
        self.assertNotIn(KEY, res.stdout + res.stderr)

        # -- dusk, then frost: the raise is posted ----------------------------------------
        self.start_gateway()
        self.assertRegex("\n".join(self.gw.stderr()), r"webhook \(127\.0\.0\.1:\d+\): first "
                         r"start \(no cursor file\): the \d+ records already in the journal")
        self.air(1)
        self.wait_frost(["raised"])
        raised = content(self.wait_requests(1, "the frost raised")[0])
        self.assertTrue(raised.startswith("**【告警】**" + HEAD + "1 °C，低于 2 °C，自 "), raised)
        self.assertTrue(raised.endswith("（设备 tea-air）"), raised)
        for r in self.robot.requests():
            self.assertEqual(r["path"], f"/cgi-bin/webhook/send?key={KEY}")
            self.assertEqual(r["content_type"], "application/json; charset=utf-8")
            self.assertEqual(r["body"]["msgtype"], "markdown")
        h.say(f"raised: {raised}")

        # -- the key is nowhere -------------------------------------------------------------
        status_text = get(f"http://127.0.0.1:{self.http_port}/api/v1/status")
        metrics = get(f"http://127.0.0.1:{self.http_port}/metrics")
        self.assertIn('sink="webhook"', metrics)
        for text in (status_text, metrics, "\n".join(self.gw.stderr())):
            self.assertNotIn(KEY, text)

        # -- the robot goes away; dawn comes: the clear waits, polling goes on -------------
        self.robot.stop()
        committed = self.status()["journal"]["committed_seq"]
        self.air(8)
        self.wait_frost(["raised", "cleared"])
        if not h.wait_until(lambda: self.webhook_status()["last_error"] != "ok",
                            h.scaled(20)):
            raise AssertionError("the sink did not try the robot while it was away: "
                                 + json.dumps(self.webhook_status()))
        self.assertGreater(self.status()["journal"]["committed_seq"], committed + 3)
        self.assertEqual(len(self.robot.requests()), 1)

        # -- the robot back on the same port: the clear arrives, after the raise ------------
        port = self.robot.port
        self.robot = Robot(self.dir, "after", port)
        self.assertEqual(self.robot.port, port)
        cleared = content(self.wait_requests(1, "the frost cleared")[0])
        self.assertTrue(cleared.startswith("**【解除】**" + HEAD + "8 °C，已回升至 3 °C 以上"
                                           "（告警自 "), cleared)
        self.assertTrue(cleared.endswith("（设备 tea-air）"), cleared)
        h.say(f"cleared, after the robot came back: {cleared}")
        self.assertEqual(self.gw.stop(), 0)
        self.assertEqual(len(self.robot.requests()), 1)  # the raise was not sent again

        # -- a restart: nothing posted twice, a new frost posted ---------------------------
        self.start_gateway()
        self.assertNotRegex("\n".join(self.gw.stderr()), r"first start")
        self.air(1.5)
        self.wait_frost(["raised", "cleared", "raised"])
        requests = self.wait_requests(2, "the second frost")
        self.assertEqual(len(requests), 2, [content(r) for r in requests])
        self.assertTrue(content(requests[1]).startswith("**【告警】**" + HEAD + "1.5 °C，"),
                        content(requests[1]))
        self.assertEqual(self.gw.stop(), 0)
        self.assertNotIn(KEY, "\n".join(self.gw.stderr()))
        h.say("the raise and the clear arrived in order, once each; after a restart only "
              "the new frost")

    def test_turned_on_later_posts_no_history(self):
        # -- a season without the webhook: a frost raised and cleared ----------------------
        self.start_gateway()
        self.air(1)
        self.wait_frost(["raised"])
        self.air(8)
        self.wait_frost(["raised", "cleared"])
        self.assertEqual(self.gw.stop(), 0)

        # -- the webhook configured: the next start skips what the journal holds ------------
        self.robot = Robot(self.dir, "robot")
        self.with_webhook()
        self.start_gateway()
        self.gw.wait_for(r"webhook \(127\.0\.0\.1:\d+\): first start \(no cursor file\): the "
                         r"[1-9]\d* records already in the journal \(up to seq \d+\), alerts "
                         r"among them, are history and not sent", h.scaled(5), stream="err")
        self.air(1)
        self.wait_frost(["raised", "cleared", "raised"])
        requests = self.wait_requests(1, "the frost after the webhook was configured")
        # the old alerts come first in the journal: had they been posted, they would be here
        self.assertEqual(len(requests), 1, [content(r) for r in requests])
        self.assertTrue(content(requests[0]).startswith("**【告警】**" + HEAD + "1 °C，"),
                        content(requests[0]))
        self.assertEqual(self.gw.stop(), 0)
        self.assertEqual(len(self.robot.requests()), 1)
        h.say("the alerts from before the webhook were not posted, the new one was")


if __name__ == "__main__":
    unittest.main(verbosity=2)
