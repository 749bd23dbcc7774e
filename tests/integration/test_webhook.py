#!/usr/bin/env python3
"""The webhook sink in a running gateway, against a local robot that answers in WeCom's
format (fake_webhook.py).

The gateway polls a simulated device; ALERT records are put into its journal by
alert_append (a test helper: the alert engine will journal them itself) while the gateway
is stopped, since the journal is locked while it runs. The test checks that:

- `selgw check` names the sink and the robot's host, never its URL or key;
- the alerts in the journal are posted in journal order, once each, in Chinese with the
  base's name from the config, the readings between them passed over;
- the webhook cursor follows the journal (readings do not hold it back) and neither
  /api/v1/status, /metrics nor the log show the key;
- with the robot gone, polling goes on (readings keep being journaled);
- after a restart of the gateway, with the robot back on the same port, only the new
  alerts are posted (the cursor survived), and the gateway stops cleanly."""
import json
import os
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_webhook.py")
KEY = "itest-robot-key-7f3a"
BUILD_DIR = os.environ.get("SELGW_BUILD_DIR") or os.path.join(h.SOURCE_DIR, "build")
ALERT_APPEND = os.path.join(BUILD_DIR, "tests", "alert_append")


class Robot:
    """fake_webhook.py on a port (0: any), its requests read from its log."""

    def __init__(self, directory, name, port=0):
        self.log = os.path.join(directory, name + ".log")
        self.proc = h.Process("fake-webhook", [h.SYSTEM_PYTHON, FAKE, "--log", self.log,
                                               "--control", os.path.join(directory, "control"),
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
        if not os.path.exists(ALERT_APPEND):
            self.fail(f"{ALERT_APPEND} is missing (build the tests)")
        self.dir = h.tempdir("webhook")
        self.robot = Robot(self.dir, "before")
        self.http_port = h.free_port()
        self.journal = os.path.join(self.dir, "journal")
        sim_port = h.free_port()
        cfg = h.make_config(
            "itest-webhook",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
              "response_timeout": "200ms", "retries": 0}],
            [{"id": "soil-01", "bus": "tcp0", "unit_id": 1, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "200ms"}])
        cfg["journal"] = {"dir": self.journal}
        cfg["http"] = {"listen": f"127.0.0.1:{self.http_port}"}
        cfg["webhook"] = {"format": "wecom", "url_env": "SELGW_TEST_WEBHOOK_URL",
                          "rate_limit": 600, "timeout": "2s",
                          "retry": {"min": "100ms", "max": "1s"}}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.env = {"SELGW_TEST_WEBHOOK_URL":
                    f"http://127.0.0.1:{self.robot.port}/cgi-bin/webhook/send?key={KEY}"}
        # selgw-sim and selgw check load the config whole, secrets included
        os.environ.update(self.env)
        self.sim = h.Simulator(self.cfg_path)
        self.gw = None

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()
        self.robot.stop()
        os.environ.pop("SELGW_TEST_WEBHOOK_URL", None)

    def append_alerts(self, first, count):
        res = h.subprocess.run([ALERT_APPEND, self.journal, "itest-base", "plot-", str(first),
                                str(count)], capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)

    def start_gateway(self):
        self.gw = h.Gateway(self.cfg_path, "--no-print", env=self.env)
        self.gw.wait_for(r"HTTP API on", h.scaled(15), stream="err")

    def status(self):
        return json.loads(get(f"http://127.0.0.1:{self.http_port}/api/v1/status"))

    def wait_requests(self, n, what):
        if not h.wait_until(lambda: len(self.robot.requests()) >= n, h.scaled(30)):
            raise AssertionError(f"{what}: {len(self.robot.requests())} of {n} requests\n"
                                 + self.gw.describe())
        return self.robot.requests()

    def check_in_order(self, requests, first):
        plots = [content(r).split("地块 ")[1].split("（")[0] for r in requests]
        self.assertEqual(plots, [f"plot-{i:03d}" for i in range(first, first + len(plots))])

    def test_webhook(self):
        # -- selgw check names the host only ----------------------------------------------
        res = h.selgw("check", "-c", self.cfg_path)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn(f"sink webhook: alerts to a WeCom group robot at 127.0.0.1:"
                      f"{self.robot.port}, Chinese, at most 600 a minute", res.stdout)
        self.assertNotIn(KEY, res.stdout + res.stderr)

        # -- alerts journaled before the start are posted, in order, once each -------------
        self.append_alerts(0, 3)
        self.start_gateway()
        requests = self.wait_requests(3, "the first alerts")
        self.check_in_order(requests, 0)
        first = content(requests[0])
        self.assertTrue(first.startswith("**【告警】**集成测试基地 / 地块 plot-000（茶叶）："
                                         "空气温度 1.5 °C，低于 2 °C，自 "), first)
        for r in requests:
            self.assertEqual(r["path"], f"/cgi-bin/webhook/send?key={KEY}")
            self.assertEqual(r["content_type"], "application/json; charset=utf-8")
        h.say(f"3 alerts posted in order: {first}")

        # -- the cursor follows the journal; the key is nowhere ---------------------------
        def cursor_caught_up():
            st = self.status()
            sink = [s for s in st["sinks"] if s["name"] == "webhook"]
            return sink and sink[0]["cursor"] >= st["journal"]["committed_seq"] - 20
        if not h.wait_until(cursor_caught_up, h.scaled(15)):
            raise AssertionError("the webhook cursor lags the journal: "
                                 + json.dumps(self.status()))
        status_text = get(f"http://127.0.0.1:{self.http_port}/api/v1/status")
        metrics = get(f"http://127.0.0.1:{self.http_port}/metrics")
        self.assertIn('sink="webhook"', metrics)
        for text in (status_text, metrics, "\n".join(self.gw.stderr())):
            self.assertNotIn(KEY, text)
        self.assertEqual(len(self.robot.requests()), 3)

        # -- the robot goes away: polling goes on -----------------------------------------
        self.robot.stop()
        committed = self.status()["journal"]["committed_seq"]
        time.sleep(h.scaled(1.5))
        self.assertGreater(self.status()["journal"]["committed_seq"], committed + 3)
        self.assertEqual(self.gw.stop(), 0)

        # -- a restart with new alerts: only those are posted, on the same port -----------
        self.append_alerts(3, 2)
        port = self.robot.port
        self.robot = Robot(self.dir, "after", port)
        self.assertEqual(self.robot.port, port)
        self.start_gateway()
        requests = self.wait_requests(2, "the alerts after the restart")
        time.sleep(h.scaled(1))
        requests = self.robot.requests()
        self.assertEqual(len(requests), 2)
        self.check_in_order(requests, 3)
        self.assertEqual(self.gw.stop(), 0)
        self.assertNotIn(KEY, "\n".join(self.gw.stderr()))
        h.say("after a restart only the 2 new alerts were posted")


if __name__ == "__main__":
    unittest.main(verbosity=2)
