#!/usr/bin/python3
"""Faulty devices next to healthy ones on the same bus, over TCP and over RTU.

selgw-sim injects faults (--fault): a dead device (silent), one that answers every request
with a Modbus exception, one slower than the bus's response timeout, and one whose answers
are corrupt. Checked while `selgw run` polls them for some seconds:
  - each faulty device is reported with the right status (timeout, exception with its code,
    timeout, bad_frame), every field read_failed;
  - the healthy devices keep their schedule (ok polls at least 70 % of what their interval
    gives over the period, and no failed reading);
  - the dead device is polled less often than a healthy device of the same interval
    (backoff);
  - once the faults are cleared at run time (a control file and SIGHUP to the simulator), the
    faulty devices come back to ok by themselves.
Also a TCP peer that goes away and comes back on the same port: readings resume.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

OBSERVE_S = 6.0
HEALTHY = ["healthy-a", "healthy-b"]


def devices(bus):
    return [
        {"id": "healthy-a", "bus": bus, "unit_id": 1, "profile": "cwt-soil-thc-s",
         "plot": "plot-tea", "interval": "500ms"},
        {"id": "healthy-b", "bus": bus, "unit_id": 2, "profile": "xy-md02",
         "plot": "plot-tea", "interval": "1s"},
        {"id": "dead", "bus": bus, "unit_id": 10, "profile": "renke-rs-ecth-n01-tr",
         "plot": "plot-tea", "interval": "1s"},
        {"id": "refusing", "bus": bus, "unit_id": 11, "profile": "senseair-k30",
         "plot": "plot-gh", "interval": "1s"},
        {"id": "slow", "bus": bus, "unit_id": 12, "profile": "seeed-s-soil-mtec-02",
         "plot": "plot-konjac", "interval": "1s"},
        {"id": "garbled", "bus": bus, "unit_id": 13, "profile": "generic-climate",
         "plot": "plot-gh", "interval": "1s"},
    ]


def interval_s(cfg, dev_id):
    d = next(d for d in cfg["devices"] if d["id"] == dev_id)
    return h.duration_ms(d["interval"]) / 1000.0


class FaultScenario:
    """Mixin: the checks common to TCP and RTU. Subclasses set up self.cfg, self.cfg_path,
    self.sim (with the faults), self.control and self.exception_code."""

    FAULTS = {"dead": "timeout", "refusing": "exception", "slow": "timeout",
              "garbled": "bad_frame"}

    slow_ms = 1500

    def fault_args(self):
        return ["--fault", "dead=silent",
                "--fault", f"refusing=exception:{self.exception_code}",
                "--fault", f"slow=slow:{self.slow_ms}",
                "--fault", "garbled=corrupt",
                "--control", self.control]

    def run_scenario(self):
        self.gw = h.Gateway(self.cfg_path)
        self.gw.wait_readings(lambda rs: len(h.count_by_device(rs)) == len(self.cfg["devices"]),
                              h.scaled(10), "a reading of every device")
        time.sleep(OBSERVE_S)
        readings = self.gw.readings()
        h.say(f"{len(readings)} readings in the first ~{OBSERVE_S:.0f}s")
        by_dev = {}
        for r in readings:
            by_dev.setdefault(r["device"], []).append(r)

        # Faulty devices: the right status, nothing decoded.
        for dev_id, status in self.FAULTS.items():
            rs = by_dev.get(dev_id, [])
            self.assertTrue(rs, f"{dev_id}: no readings\n" + self.gw.describe())
            for r in rs:
                self.assertEqual(r["status"], status, r)
                h.check_reading_tags(self, self.cfg, r)
                for name, fv in r["fields"].items():
                    self.assertEqual(fv["quality"], "read_failed", f"{dev_id}.{name}")
                    self.assertIsNone(fv["value"], f"{dev_id}.{name}")
                if status == "exception":
                    self.assertEqual(r["exception"], self.exception_code, r)
            h.say(f"{dev_id}: {len(rs)} readings, all status {status}"
                  + (f" (exception {self.exception_code})" if status == "exception" else ""))

        # The log names the exception and what it usually means, once for the run.
        named = {3: "exception 3, illegal data value: the device refused the read's length "
                    "(a read too wide for it)",
                 6: "exception 6, server device busy: the device is busy, try again later"}
        refusing = [line for line in self.gw.stderr() if "device refusing " in line]
        want = (": device answered with a Modbus exception: "
                + named[self.exception_code])
        self.assertTrue(any(line.endswith(want) for line in refusing),
                        f"no log line ending {want!r}:\n" + "\n".join(refusing))

        # Healthy devices keep their schedule.
        times = [h.reading_seconds(r) for r in readings]
        span = max(times) - min(times)
        profiles = h.profiles_by_name()
        for dev_id in HEALTHY:
            rs = by_dev[dev_id]
            bad = [r for r in rs if r["status"] != "ok"]
            self.assertEqual(bad, [], f"{dev_id}: failed readings next to faulty devices")
            for r in rs:
                h.check_values_in_range(self, profiles[r["profile"]], r)
            expected = span / interval_s(self.cfg, dev_id) + 1
            h.say(f"{dev_id}: {len(rs)} ok polls over {span:.1f}s "
                  f"(about {expected:.1f} expected at its interval)")
            self.assertGreaterEqual(len(rs), 0.7 * expected, dev_id)

        # Backoff: the dead device is polled less often than healthy-b (same interval).
        dead, healthy = len(by_dev["dead"]), len(by_dev["healthy-b"])
        h.say(f"backoff: dead polled {dead} times, healthy-b (same interval) {healthy} times")
        self.assertEqual(interval_s(self.cfg, "dead"), interval_s(self.cfg, "healthy-b"))
        self.assertLess(dead, healthy, "a dead device is polled less often")
        self.assertLessEqual(dead, 0.8 * healthy)

        # Clear the faults at run time: a control file and SIGHUP.
        with open(self.control, "w") as f:
            f.write("# faults cleared by the test\n")
            for dev_id in self.FAULTS:
                f.write(f"{dev_id} none\n")
        mark = len(self.gw.readings())
        self.sim.send_signal(h.signal.SIGHUP)
        h.say("faults cleared: control file with 'none' for each, SIGHUP to the simulator")
        rs = self.gw.wait_readings(
            lambda rs: all(h.count_by_device(rs[mark:], "ok").get(d, 0) >= 1
                           for d in self.FAULTS),
            h.scaled(45), "ok readings of the formerly faulty devices")
        for r in rs[mark:]:
            if r["status"] == "ok":
                h.check_values_in_range(self, profiles[r["profile"]], r)
        self.assertTrue(self.gw.alive())
        back = [line for line in self.gw.stderr() if "back to normal" in line]
        h.say(f"every formerly faulty device is ok again by itself ({len(back)} "
              "'back to normal' log lines)")
        for dev_id in self.FAULTS:
            self.assertTrue(any(f"device {dev_id} " in line for line in back),
                            f"{dev_id}: recovery logged\n" + self.gw.describe())
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())


class FaultsTcp(FaultScenario, unittest.TestCase):
    exception_code = 3

    @classmethod
    def setUpClass(cls):
        h.check_binaries()

    def setUp(self):
        self.dir = h.tempdir("faults-tcp")
        self.control = os.path.join(self.dir, "control")
        self.gw = None
        self.sim = None

    def start(self, faults=True, port=0):
        sim_cfg = h.write_config(os.path.join(self.dir, "sim.yaml"), h.make_config(
            "itest-faults-tcp", [self.bus(h.free_port())], devices("tcp0")))
        args = ["--tcp", f"tcp0=127.0.0.1:{port}"] + (self.fault_args() if faults else [])
        self.sim = h.Simulator(sim_cfg, *args)
        self.port = self.sim.tcp_port("tcp0")
        self.cfg = h.make_config("itest-faults-tcp", [self.bus(self.port)], devices("tcp0"))
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), self.cfg)
        self.sim_cfg = sim_cfg

    def bus(self, port):
        return {"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": port,
                "response_timeout": "250ms", "retries": 1}

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()

    def test_faults_tcp(self):
        """Silent, exception, slow, corrupt devices on a TCP bus."""
        self.start()
        h.say(f"TCP bus on 127.0.0.1:{self.port}")
        self.run_scenario()

    def test_peer_goes_away_and_comes_back(self):
        """The simulator is killed and started again on the same port."""
        self.start(faults=False)
        self.gw = h.Gateway(self.cfg_path)
        self.gw.wait_readings(
            lambda rs: all(h.count_by_device(rs, "ok").get(d["id"], 0) >= 1
                           for d in self.cfg["devices"]),
            h.scaled(10), "an ok reading of every device")
        self.assertEqual(self.sim.stop(), 0, self.sim.describe())
        mark = len(self.gw.readings())
        err_mark = len(self.gw.stderr())
        h.say(f"simulator stopped; port {self.port} closed")
        self.gw.wait_readings(lambda rs: any(r["status"] != "ok" for r in rs[mark:]),
                              h.scaled(10), "failed readings while the peer is away")
        time.sleep(1.0)
        down = self.gw.readings()[mark:]
        statuses = sorted({r["status"] for r in down} - {"ok"})
        h.say(f"while the peer is away: statuses {statuses}")
        self.assertTrue(set(statuses) <= {"connect_failed", "disconnected", "timeout"},
                        statuses)
        self.assertTrue(any(h.re.search(r"tcp0.*(link lost|cannot connect)", line)
                            for line in self.gw.stderr()[err_mark:]),
                        "the loss is logged\n" + self.gw.describe())

        restart_mark = len(self.gw.readings())
        self.sim = h.Simulator(self.sim_cfg, "--tcp", f"tcp0=127.0.0.1:{self.port}")
        h.say(f"simulator started again on the same port {self.port}")
        self.gw.wait_readings(
            lambda rs: all(h.count_by_device(rs[restart_mark:], "ok").get(d["id"], 0) >= 1
                           for d in self.cfg["devices"]),
            h.scaled(45), "ok readings of every device after the peer came back")
        self.assertTrue(self.gw.alive())
        h.say("readings resumed for every device, gateway not restarted")
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())


class TricklingTcpDevice(unittest.TestCase):
    def test_a_reply_trickling_in_times_out(self):
        """A device that sends a correct reply a byte every 0.25 s (each byte well within the
        byte timeout) is a timeout: the whole reply has one deadline, the response timeout
        plus one byte timeout, so such a device cannot hold its bus for seconds a poll."""
        import socket
        import struct
        import threading
        h.check_binaries()
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        sent = []

        def serve():
            conn, _ = server.accept()
            with conn:
                request = b""
                while len(request) < 12:
                    chunk = conn.recv(12 - len(request))
                    if not chunk:
                        return
                    request += chunk
                tid, _, _, unit, fc, _, count = struct.unpack(">HHHBBHH", request)
                reply = struct.pack(">HHHBBB", tid, 0, 3 + 2 * count, unit, fc, 2 * count)
                reply += b"\x00\x01" * count
                try:
                    for b in reply:
                        conn.sendall(bytes([b]))
                        sent.append(b)
                        time.sleep(0.25)
                except OSError:
                    pass  # the gateway gave up and closed: as it should

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        res = h.selgw("read", "--tcp", f"127.0.0.1:{port}", "--unit", "1",
                      "--profile", "cwt-soil-thc-s", "--timeout", "700")
        t.join(timeout=15)
        server.close()
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("no answer within 700 ms", res.stderr, res.describe())
        h.say(f"a reply trickled a byte every 0.25 s: timeout after {len(sent)} bytes")


class FaultsRtu(FaultScenario, unittest.TestCase):
    exception_code = 6  # server device busy
    # An RTU answer carries no transaction id: a late answer that arrives while the master
    # waits for another request is taken for that request's answer (or, from another unit,
    # is a bad frame for it), as on a real RS-485 line. So the slow device here answers
    # only after the test is over; over TCP (transaction ids) late answers do arrive.
    slow_ms = 120000

    @classmethod
    def setUpClass(cls):
        h.check_binaries()

    def setUp(self):
        self.dir = h.tempdir("faults-rtu")
        self.control = os.path.join(self.dir, "control")
        self.gw = self.sim = self.socat = None
        gw_tty, sim_tty = os.path.join(self.dir, "gw"), os.path.join(self.dir, "sim")
        self.cfg = h.make_config(
            "itest-faults-rtu",
            [{"id": "rtu0", "type": "rtu", "device": gw_tty, "baud": 38400,
              "response_timeout": "250ms", "retries": 1}],
            devices("rtu0"))
        self.cfg_path = h.write_config(os.path.join(self.dir, "rtu.yaml"), self.cfg)
        self.socat = h.SocatPair(gw_tty, sim_tty)
        self.sim_tty = sim_tty
        if self._testMethodName == "test_faults_rtu":
            # Without --wire-timing; test_slow_device_wire_timing covers the line's timing.
            self.sim = h.Simulator(self.cfg_path, "--serial", f"rtu0={sim_tty}",
                                   *self.fault_args())

    def tearDown(self):
        for p in (self.gw, self.sim, self.socat):
            if p:
                p.stop()

    def test_faults_rtu(self):
        """Silent, exception, slow, corrupt devices on one RS-485 line (socat pty pair)."""
        self.run_scenario()

    def test_slow_device_wire_timing(self):
        """With --wire-timing, a slow device's pending answer must not hold back the
        answers of the other devices: a device that has not started to answer does not
        occupy a real line."""
        self.sim = h.Simulator(self.cfg_path, "--serial", f"rtu0={self.sim_tty}",
                               "--wire-timing", "--fault", "slow=slow:20000")
        self.gw = h.Gateway(self.cfg_path)
        time.sleep(4.0)
        readings = self.gw.readings()
        counts = h.count_by_device(readings, "ok")
        h.say(f"--wire-timing, slow:20000: ok polls per device {counts}")
        times = [h.reading_seconds(r) for r in readings]
        span = max(times) - min(times)
        for dev_id in HEALTHY:
            expected = span / interval_s(self.cfg, dev_id) + 1
            self.assertGreaterEqual(counts.get(dev_id, 0), 0.7 * expected, dev_id)


if __name__ == "__main__":
    unittest.main(verbosity=2)
