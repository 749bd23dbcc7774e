#!/usr/bin/env python3
"""The journal's disk budget, end to end: the uplink is down and undelivered data reaches
max_backlog. With when_full: stop the gateway refuses new readings and raises an alarm
once (nothing already journaled is touched); when the server is back and the backlog
drains below the limit, readings are journaled again, and a GAP record says how many were
refused and why, so the hole in the record is explicit. With when_full: drop_oldest and
signing, the GAP records that stand for the dropped segments are links of the gateway's
evidence chain, and a period after them exports and verifies."""
import os
import re
import sys
import subprocess
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

JOURNAL_FILL = os.path.join(os.path.dirname(h.SELGW_BIN), "tests", "journal_fill")


class DiskBudget(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        if not os.access(JOURNAL_FILL, os.X_OK):
            self.skipTest(f"{JOURNAL_FILL} not built")
        self.dir = h.tempdir("disk-budget")
        self.influx = servers.Influxd(self.dir)
        self.influx.stop()  # the uplink is down
        sim_port = h.free_port()
        cfg = h.make_config(
            "itest-budget",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
            [{"id": "soil-%d" % i, "bus": "tcp0", "unit_id": i, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "100ms"} for i in range(1, 5)])
        cfg["journal"] = {"dir": os.path.join(self.dir, "journal"), "segment_size": "1MiB",
                          "max_backlog": "2MiB", "when_full": "stop"}
        cfg["influxdb"] = {"url": self.influx.url, "database": self.influx.database,
                           "retry": {"min": "100ms", "max": "1s"}}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.sim = h.Simulator(self.cfg_path)
        self.gw = None

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()
        self.influx.stop()

    def test_stop_when_full_then_gap_record(self):
        # The backlog of a long outage, up to the limit: the journal itself refuses the
        # append that would pass it.
        fill = subprocess.run([JOURNAL_FILL, self.cfg_path, "20000"], capture_output=True,
                              text=True)
        self.assertIn("disk budget of 2097152 bytes is used up", fill.stderr)
        filled = servers.journal_records(self.cfg_path)
        h.say(f"journal filled with {len(filled)} readings: the 2MiB budget is used up")

        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"journal.*disk budget used up", h.scaled(15), stream="err")
        time.sleep(h.scaled(2))
        alarms = [x for x in self.gw.stderr() if "disk budget used up" in x]
        self.assertEqual(len(alarms), 1, "the alarm is raised once, not once per reading")
        h.say("alarm: " + alarms[0].split("selgw ", 1)[-1])
        refused_so_far = servers.journal_records(self.cfg_path)
        self.assertEqual(refused_so_far[:len(filled)], filled)
        # (a small start record may still fit under the limit; no reading does)
        self.assertFalse([r for r in refused_so_far[len(filled):] if r["type"] == "reading"],
                         "readings were journaled while the budget was used up")

        h.say("uplink back: influxd started; the backlog drains")
        self.influx.start()

        def gap_and_new_readings():
            recs = servers.journal_records(self.cfg_path)
            gaps = [r for r in recs if r["type"] == "gap"]
            return gaps and recs[-1]["seq"] > gaps[0]["seq"] + 5
        self.assertTrue(h.wait_until(gap_and_new_readings, h.scaled(90), interval=0.5),
                        self.gw.describe())
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        recs = servers.journal_records(self.cfg_path)
        self.assertEqual(recs[:len(filled)], filled, "journaled records were changed")
        gaps = [r for r in recs if r["type"] == "gap"]
        self.assertEqual(len(gaps), 1)
        gap = gaps[0]
        self.assertRegex(gap["text"], r"^\d+ readings polled from \S+Z to \S+Z were not "
                                      r"journaled: journal disk budget used up$")
        refused = int(gap["text"].split()[0])
        self.assertGreater(refused, 10)
        self.assertEqual(gap["gateway"], "itest-budget")
        after = [r for r in recs if r["seq"] > gap["seq"] and r["type"] == "reading"]
        self.assertTrue(after and all(r["status"] == "ok" for r in after))
        err = "\n".join(self.gw.stderr())
        # no flapping at the edge: refusing began once and ended once
        self.assertEqual(len(re.findall(r"the disk budget of \d+ bytes is used up", err)), 1, err)
        self.assertEqual(len(re.findall(r"below the disk budget again after \d+ refused", err)),
                         1, err)
        # every refused reading counted once, and nothing else (a failed GAP is no reading)
        failures = re.search(r"journaling readings: back to normal after (\d+) failures", err)
        self.assertTrue(failures, err)
        self.assertEqual(int(failures.group(1)), refused)
        h.say(f"gap record {gap['seq']}: {gap['text']}; {len(after)} readings journaled after it")


class DropOldestSigned(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        if not os.access(JOURNAL_FILL, os.X_OK):
            self.skipTest(f"{JOURNAL_FILL} not built")
        self.dir = h.tempdir("disk-budget-drop")
        self.influx = servers.Influxd(self.dir)
        self.influx.stop()  # the uplink is down: nothing is delivered
        self.key = os.path.join(self.dir, "gateway.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        self.pubkey = res.stdout.strip()
        sim_port = h.free_port()
        cfg = h.make_config(
            "itest-drop",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
            [{"id": "soil-%d" % i, "bus": "tcp0", "unit_id": i, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "100ms"} for i in range(1, 9)])
        cfg["journal"] = {"dir": os.path.join(self.dir, "journal"), "segment_size": "1MiB",
                          "max_backlog": "2MiB", "when_full": "drop_oldest"}
        cfg["influxdb"] = {"url": self.influx.url, "database": self.influx.database,
                           "retry": {"min": "100ms", "max": "1s"}}
        cfg["signing"] = {"secret_key": self.key, "seal_interval": "1s"}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.sim = h.Simulator(self.cfg_path)
        self.gw = None

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()
        self.influx.stop()

    def test_gaps_of_dropped_segments_are_chained(self):
        # just under the budget: the gateway's own readings make the journal drop
        fill = subprocess.run([JOURNAL_FILL, self.cfg_path, "5800"], capture_output=True,
                              text=True)
        self.assertEqual(fill.returncode, 0, fill.stderr)
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 8 devices", h.scaled(10), stream="err")
        t1 = time.time()
        self.gw.wait_for(r"disk budget of 2097152 bytes reached: dropped", h.scaled(60),
                         stream="err")
        time.sleep(h.scaled(2))
        t2 = time.time()
        time.sleep(h.scaled(1))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        gaps = [r for r in servers.journal_records(self.cfg_path) if r["type"] == "gap"]
        self.assertTrue(gaps)
        for gap in gaps:
            self.assertEqual(gap.get("chain"), "gateway", gap)
            self.assertIn("disk budget", gap["text"])
        bundle = os.path.join(self.dir, "after-drop.evidence")
        res = h.selgw("export", "-c", self.cfg_path, "--plot", "plot-tea", "--from",
                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t1 + 1)), "--to",
                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t2)), "-o", bundle)
        self.assertEqual(res.returncode, 0, res.describe())
        res = h.selgw("verify", bundle, "--pubkey", self.pubkey)
        self.assertEqual(res.returncode, 0, res.stdout[-3000:])
        h.say("%d GAP records of dropped segments, each in the gateway chain; the period "
              "across them VERIFIED" % len(gaps))


if __name__ == "__main__":
    unittest.main(verbosity=2)
