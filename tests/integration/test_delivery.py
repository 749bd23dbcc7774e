#!/usr/bin/env python3
"""Store and forward against the real servers: mosquitto and influxd started by the test.

Outage: simulated devices are polled while the broker and influxd are stopped for a while
and started again; afterwards every reading of the journal is in InfluxDB exactly once per
point and every record was received over MQTT (by sequence number), none missing.

Crash: the gateway is killed with SIGKILL at random moments while it polls and delivers,
and started again, several times; the journal recovers cleanly every time, and in the end
the distinct points in InfluxDB are exactly the journal's readings."""
import os
import random
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

DEVICES = [("soil-1", "cwt-soil-thc-s", "plot-tea"), ("soil-2", "sn-3002-tr-ecthnpkph", "plot-tea"),
           ("soil-3", "jxct-jxbs-3001-npk", "plot-konjac"), ("air-1", "xy-md02", "plot-gh"),
           ("co2-1", "senseair-k30", "plot-gh"), ("gh-1", "generic-climate", "plot-gh")]
PREFIX = "itest"


def config(sim_port, broker, influx, interval="200ms", devices=True):
    cfg = h.make_config(
        "itest-delivery",
        [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
          "response_timeout": "500ms"}],
        [{"id": d, "bus": "tcp0", "unit_id": i + 1, "profile": p, "plot": plot,
          "interval": interval} for i, (d, p, plot) in enumerate(DEVICES)] if devices else [])
    cfg["mqtt"] = {"host": "127.0.0.1", "port": broker.port, "protocol": 5, "qos": 1,
                   "topic_prefix": PREFIX, "reconnect": {"min": "200ms", "max": "1s"}}
    cfg["influxdb"] = {"url": influx.url, "database": influx.database, "batch_lines": 1000,
                       "retry": {"min": "200ms", "max": "1s"}}
    return cfg


class Delivery(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir(self.id().rsplit(".", 1)[-1])
        self.broker = servers.Mosquitto(self.dir)
        self.influx = servers.Influxd(self.dir)
        self.sub = servers.Subscriber(self.broker, PREFIX + "/#")
        self.broker.proc.wait_for(r"selgw-itest-subscriber", h.scaled(10), stream="err")
        sim_port = h.free_port()
        sim_cfg = h.write_config(os.path.join(self.dir, "sim.yaml"),
                                 config(sim_port, self.broker, self.influx))
        self.sim = h.Simulator(sim_cfg)
        self.cfg = config(sim_port, self.broker, self.influx)
        self.cfg["journal"] = {"dir": os.path.join(self.dir, "journal")}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), self.cfg)
        drain = config(sim_port, self.broker, self.influx, devices=False)
        drain["journal"] = self.cfg["journal"]
        self.drain_path = h.write_config(os.path.join(self.dir, "drain.yaml"), drain)

    def tearDown(self):
        for p in (getattr(self, "gw", None), self.sim, self.sub):
            if p:
                p.stop()
        self.broker.stop()
        self.influx.stop()

    def drain_and_check(self):
        """Starts a gateway with no devices on the same journal until both sinks have
        delivered everything, then checks InfluxDB and the subscriber against the journal."""
        records = servers.journal_records(self.cfg_path)
        self.assertTrue(records, "the journal is empty")
        seqs = [r["seq"] for r in records]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))),
                         "journal sequence numbers are not contiguous")
        readings = {r["seq"] for r in records if r["type"] == "reading"}
        h.say(f"journal: {len(records)} records, {len(readings)} readings, seq {seqs[0]}..{seqs[-1]}")

        self.gw = h.Gateway(self.drain_path, "--no-print")
        self.gw.wait_for(r"polling 0 devices", h.scaled(10), stream="err")

        def delivered():
            in_influx = self.influx.column('SELECT "seq" FROM "reading"', "seq")
            return readings <= set(in_influx) and set(seqs) <= set(self.sub.seqs())
        ok = h.wait_until(delivered, h.scaled(90), interval=0.5)
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        in_influx = self.influx.column('SELECT "seq" FROM "reading"', "seq")
        received = self.sub.seqs()
        missing_influx = readings - set(in_influx)
        missing_mqtt = set(seqs) - set(received)
        h.say(f"influxdb: {len(in_influx)} points, {len(set(in_influx))} distinct seq; "
              f"mqtt: {len(received)} messages, {len(received) - len(set(received))} duplicates")
        self.assertTrue(ok, f"not delivered in time: {len(missing_influx)} readings missing in "
                            f"InfluxDB, {len(missing_mqtt)} records missing over MQTT")
        self.assertFalse(missing_influx)
        self.assertFalse(missing_mqtt)
        # exactly once per point: every point has a distinct seq, and each is a journal reading
        self.assertEqual(len(in_influx), len(set(in_influx)), "a reading was written twice")
        drain_readings = set(in_influx) - readings
        self.assertFalse(drain_readings, "points in InfluxDB that the journal does not hold")
        return records

    def test_outage(self):
        self.gw = h.Gateway(self.cfg_path, "--print")
        self.gw.wait_readings(lambda rs: len(rs) >= 30, h.scaled(20), "30 readings")
        h.wait_until(lambda: self.influx.column('SELECT count("seq") FROM "reading"', "count"),
                     h.scaled(20), interval=0.2)
        h.say("delivering; now the uplink goes down: broker and influxd stopped")
        self.broker.stop()
        self.influx.stop()
        before = len(self.gw.readings())
        time.sleep(h.scaled(6))
        during = len(self.gw.readings()) - before
        h.say(f"{during} readings journaled during the outage")
        self.assertGreater(during, 50)
        self.broker.start()
        self.influx.start()
        h.say("servers back")
        time.sleep(h.scaled(3))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        err = "\n".join(self.gw.stderr())
        self.assertIn("Terminated received, stopping", err)
        self.assertRegex(err, r"stopped: \d+ polls, 0 failed")
        records = self.drain_and_check()
        printed = {r["seq"] for r in self.gw.readings()}
        journal = {r["seq"] for r in records if r["type"] == "reading"}
        self.assertEqual(printed, journal & printed)
        self.assertGreaterEqual(len(journal), len(printed))

    def test_crash(self):
        rng = random.Random(int(os.environ.get("SELGW_TEST_SEED", "7")))
        runs = 6
        for i in range(runs):
            gw = h.Gateway(self.cfg_path, "--no-print")
            gw.wait_for(r"polling \d+ devices", h.scaled(10), stream="err")
            time.sleep(rng.uniform(0.3, 2.0))
            gw.stop(sig=signal.SIGKILL)
            err = "\n".join(gw.stderr())
            self.assertNotIn("corrupt", err.lower(), err)
            torn = [line for line in gw.stderr() if "torn" in line]
            h.say(f"run {i + 1}: killed with SIGKILL; {len(torn)} torn-tail reports at start")
        check = h.selgw("journal", "-c", self.cfg_path)
        self.assertEqual(check.returncode, 0, check.describe())
        self.drain_and_check()


if __name__ == "__main__":
    unittest.main(verbosity=2)
