#!/usr/bin/python3
"""The gateway against selgw-sim over Modbus TCP.

Several devices of different profiles and intervals share one TCP bus. `selgw run` polls
them for some seconds and is stopped with SIGTERM: it exits 0 and logs a clean stop; every
reading is ok, tagged right (gateway, base, plot, crop, the households whose contract covers
the reading's day) and within the profile's ranges; each device was polled about as often
as its interval says (wide margins). `selgw run --once` reads every device once and exits 0.
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

DEVICES = [
    # id, unit, profile, plot, interval
    ("gh-climate", 1, "generic-climate", "plot-gh", "500ms"),
    ("gh-co2", 104, "senseair-k30", "plot-gh", "1s"),
    ("tea-npk", 3, "sn-3002-tr-ecthnpkph", "plot-tea", "2s"),
    ("tea-soil", 4, "cwt-soil-thc-s", "plot-tea", "700ms"),
    ("tea-ph", 5, "renke-rs-ecthph-n01", "plot-tea", "1s"),
    ("tea-deep", 6, "jxct-jxbs-3001-npk", "plot-tea", "1500ms"),
    ("konjac-soil", 7, "seeed-s-soil-mtec-02", "plot-konjac", "1s"),
    ("tea-air", 8, "xy-md02", "plot-tea", "300ms"),
]


def config(port):
    return h.make_config(
        "itest-tcp-gw",
        buses=[{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": port,
                "response_timeout": "1s", "retries": 1}],
        devices=[{"id": i, "bus": "tcp0", "unit_id": u, "profile": p, "plot": pl,
                  "interval": iv, "serial": f"SER-{i}"} for i, u, p, pl, iv in DEVICES])


class SimTcp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.profiles = h.profiles_by_name()

    def setUp(self):
        self.dir = h.tempdir("sim-tcp")
        self.stats = os.path.join(self.dir, "sim-stats.json")
        sim_cfg = h.write_config(os.path.join(self.dir, "sim.yaml"), config(h.free_port()))
        self.sim = h.Simulator(sim_cfg, "--tcp", "tcp0=127.0.0.1:0", "--stats-file", self.stats)
        self.cfg = config(self.sim.tcp_port("tcp0"))
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), self.cfg)
        self.gw = None

    def tearDown(self):
        if self.gw:
            self.gw.stop()
        self.sim.stop()

    def test_run_until_sigterm(self):
        """Continuous polling for some seconds, then SIGTERM."""
        self.gw = h.Gateway(self.cfg_path)
        self.gw.wait_readings(lambda rs: len(h.count_by_device(rs)) == len(DEVICES),
                              h.scaled(10), "a reading of every device")
        period = 6.0
        time.sleep(period)
        status = self.gw.stop()
        readings = self.gw.readings()
        err = "\n".join(self.gw.stderr())
        h.say(f"selgw run for ~{period:.0f}s: {len(readings)} readings, exit status {status}")
        self.assertEqual(status, 0, self.gw.describe())
        self.assertRegex(err, r"Terminated received, stopping", self.gw.describe())
        stopped = h.re.search(r"stopped: (\d+) polls, (\d+) failed", err)
        self.assertIsNotNone(stopped, self.gw.describe())
        self.assertEqual(int(stopped.group(1)), len(readings),
                         "the stop summary counts every reading printed")
        self.assertEqual(int(stopped.group(2)), 0)
        h.say(f"clean stop logged: '{stopped.group(0)}'")

        for r in readings:
            self.assertEqual(r["status"], "ok", r)
            self.assertEqual(r["attempts"], 1, r)
            h.check_reading_tags(self, self.cfg, r)
            h.check_values_in_range(self, self.profiles[r["profile"]], r)
        h.say("every reading: status ok, tags right, households valid on its day, "
              "values within range")
        tea = next(r for r in readings if r["plot"] == "plot-tea")
        self.assertEqual({x["household"] for x in tea["households"]}, {"HH-101", "HH-104"},
                         "expired and future contracts are not tagged")
        gh = next(r for r in readings if r["plot"] == "plot-gh")
        self.assertEqual(gh["households"], [])

        # Poll counts against the intervals, over the span the readings cover.
        times = [h.reading_seconds(r) for r in readings]
        span = max(times) - min(times)
        counts = h.count_by_device(readings)
        for dev_id, unit, profile, plot, interval in DEVICES:
            iv = h.duration_ms(interval) / 1000.0
            expected = span / iv + 1
            got = counts.get(dev_id, 0)
            h.say(f"{dev_id}: {got} polls at {interval} over {span:.1f}s "
                  f"(about {expected:.1f} expected)")
            self.assertGreaterEqual(got, 0.7 * expected - 1, dev_id)
            self.assertLessEqual(got, 1.3 * expected + 1, dev_id)
            dev_times = sorted(h.reading_seconds(r) for r in readings if r["device"] == dev_id)
            self.assertEqual(dev_times, [h.reading_seconds(r) for r in readings
                                         if r["device"] == dev_id], "readings in time order")

        # The simulator saw what the gateway reports.
        self.assertEqual(self.sim.stop(), 0, self.sim.describe())
        with open(self.stats, encoding="utf-8") as f:
            stats = {d["id"]: d for d in json.load(f)["devices"]}
        for dev_id, *_ in DEVICES:
            self.assertGreaterEqual(stats[dev_id]["answered"], counts[dev_id], dev_id)
            self.assertEqual(stats[dev_id]["exceptions"], 0, dev_id)
        h.say("simulator statistics: every device answered at least as often as it was read")

    def test_once(self):
        """--once reads every device exactly once and exits 0."""
        res = h.selgw("run", "--once", "-c", self.cfg_path)
        h.say(f"selgw run --once: exit status {res.returncode}, {len(res.readings)} readings")
        self.assertEqual(res.returncode, 0, res.describe())
        counts = h.count_by_device(res.readings)
        self.assertEqual(counts, {d[0]: 1 for d in DEVICES}, res.describe())
        for r in res.readings:
            self.assertEqual(r["status"], "ok", r)
            h.check_reading_tags(self, self.cfg, r)
            h.check_values_in_range(self, self.profiles[r["profile"]], r)
        h.say("one ok reading per device, tags and ranges right")


if __name__ == "__main__":
    unittest.main(verbosity=2)
