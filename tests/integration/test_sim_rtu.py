#!/usr/bin/python3
"""The gateway against selgw-sim over Modbus RTU, through a socat pty pair.

socat links two ptys at DIR/gw (the gateway's serial device) and DIR/sim (the simulator's,
--serial). Several devices with different unit ids share the one line, as on an RS-485 bus;
the simulator emulates the line's timing (--wire-timing). All of them read ok.

Then the line disappears (the simulator and socat are killed, as when a USB RS-485 adapter is
unplugged) and comes back (both started again): the gateway logs the loss, reports the gap as
failed readings, reopens the line by itself and reads ok again, without being restarted.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

DEVICES = [
    # id, unit, profile, plot, interval
    ("p1-soil", 2, "cwt-soil-thc-s", "plot-tea", "500ms"),
    ("p1-npk", 3, "jxct-jxbs-3001-npk", "plot-tea", "1s"),
    ("p2-soil", 4, "seeed-s-soil-mtec-02", "plot-konjac", "800ms"),
    ("p1-air", 5, "xy-md02", "plot-tea", "500ms"),
    ("p1-ph", 17, "renke-rs-ecthph-n01", "plot-tea", "1s"),
    ("gh-co2", 104, "senseair-k30", "plot-gh", "1s"),
]


class SimRtu(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.profiles = h.profiles_by_name()

    def setUp(self):
        self.dir = h.tempdir("sim-rtu")
        self.gw_tty = os.path.join(self.dir, "gw")
        self.sim_tty = os.path.join(self.dir, "sim")
        self.cfg = h.make_config(
            "itest-rtu-gw",
            buses=[{"id": "rtu0", "type": "rtu", "device": self.gw_tty, "baud": 19200,
                    "parity": "E", "data_bits": 8, "stop_bits": 1,
                    "response_timeout": "300ms", "retries": 1}],
            devices=[{"id": i, "bus": "rtu0", "unit_id": u, "profile": p, "plot": pl,
                      "interval": iv} for i, u, p, pl, iv in DEVICES])
        self.cfg_path = h.write_config(os.path.join(self.dir, "rtu.yaml"), self.cfg)
        self.socat = self.sim = self.gw = None
        self.start_line()

    def start_line(self):
        self.socat = h.SocatPair(self.gw_tty, self.sim_tty)
        self.sim = h.Simulator(self.cfg_path, "--serial", f"rtu0={self.sim_tty}",
                               "--wire-timing")

    def stop_line(self):
        self.assertEqual(self.sim.stop(), 0, self.sim.describe())
        self.socat.stop()
        self.assertTrue(h.wait_until(lambda: not os.path.lexists(self.gw_tty), h.scaled(5)),
                        "socat removed its links")

    def tearDown(self):
        for p in (self.gw, self.sim, self.socat):
            if p:
                p.stop()

    def check_ok(self, readings):
        for r in readings:
            self.assertEqual(r["status"], "ok", r)
            h.check_reading_tags(self, self.cfg, r)
            h.check_values_in_range(self, self.profiles[r["profile"]], r)

    def test_once(self):
        """--once over the line: every unit id answers."""
        res = h.selgw("run", "--once", "-c", self.cfg_path)
        h.say(f"selgw run --once over {self.gw_tty}: exit status {res.returncode}")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertEqual(h.count_by_device(res.readings), {d[0]: 1 for d in DEVICES},
                         res.describe())
        self.check_ok(res.readings)
        h.say(f"{len(DEVICES)} devices (unit ids {', '.join(str(d[1]) for d in DEVICES)}) "
              "on one line: all ok, tags and ranges right")

    def test_line_lost_and_back(self):
        """The line goes away and comes back; the gateway recovers by itself."""
        self.gw = h.Gateway(self.cfg_path)
        rs = self.gw.wait_readings(
            lambda rs: all(h.count_by_device(rs, "ok").get(d[0], 0) >= 2 for d in DEVICES),
            h.scaled(15), "two ok readings of every device")
        self.check_ok(rs)
        h.say(f"continuous polling over the line: {len(rs)} readings, all ok")

        before = len(rs)
        err_before = len(self.gw.stderr())
        self.stop_line()
        h.say("simulator and socat killed: the line is gone")
        self.gw.wait_readings(lambda rs: any(r["status"] != "ok" for r in rs[before:]),
                              h.scaled(10), "failed readings while the line is gone")
        time.sleep(1.0)
        self.assertTrue(self.gw.alive(), "the gateway keeps running without its line")
        down = self.gw.readings()[before:]
        statuses = sorted({r["status"] for r in down if r["status"] != "ok"})
        h.say(f"while the line is gone: {len(down)} readings, statuses {statuses}")
        for r in down:
            if r["status"] != "ok":
                self.assertTrue(all(f["quality"] == "read_failed" and f["value"] is None
                                    for f in r["fields"].values()), r)
        loss = [line for line in self.gw.stderr()[err_before:]
                if h.re.search(r"rtu0.*(link lost|cannot connect|cannot open)", line)]
        self.assertTrue(loss, "the gateway logs the loss of the line\n" + self.gw.describe())
        h.say(f"loss logged: {loss[0]}")

        after = len(self.gw.readings())
        self.start_line()
        h.say("socat and simulator started again at the same paths")
        rs = self.gw.wait_readings(
            lambda rs: all(h.count_by_device(rs[after:], "ok").get(d[0], 0) >= 1
                           for d in DEVICES),
            h.scaled(45), "ok readings of every device after the line came back")
        self.check_ok([r for r in rs[after:] if r["status"] == "ok"])
        self.assertTrue(self.gw.alive())
        back = [line for line in self.gw.stderr()[err_before:]
                if h.re.search(r"rtu0.*(back to normal|open)", line)]
        self.assertTrue(back, "the gateway logs that the line is back\n" + self.gw.describe())
        h.say(f"recovery logged: {back[-1]}")
        h.say("readings resumed for every device without restarting the gateway "
              f"(pid {self.gw.pid} still the same)")
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
