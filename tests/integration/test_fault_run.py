#!/usr/bin/env python3
"""A fault run that counts end to end: a signing gateway polls 20 simulated devices and
delivers to a real mosquitto and a real influxd while, one after another at random, it is
killed with SIGKILL and restarted, the broker is stopped, influxd is stopped, influxd hangs
(SIGSTOP), the journal's disk fills up and is freed (a tmpfs of its own, when run as root),
and a device falls silent. Then the faults end, the sinks drain, and everything is counted
against the journal:

- InfluxDB: every reading of the journal is a point, with its hash, and nothing else (lost
  = 0; a point written twice is one point, so duplicated = 0 by construction);
- MQTT: every record of the journal was received with its hash (lost = 0); duplicates are
  counted (QoS 1 is at least once: a record published again after a kill or an outage
  carries the same seq, by which a consumer drops it) and must all be redeliveries;
- every reading the journal refused (the full disk) is in a GAP record, and no journal
  number was given twice;
- the whole period of each plot exports and VERIFIES.

SELGW_FAULT_SECONDS sets the length (60 s in CI; scripts/bench.sh runs 540 s)."""
import os
import random
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

SECONDS = float(os.environ.get("SELGW_FAULT_SECONDS", "60"))
PREFIX = "fault"
ROOT = os.geteuid() == 0


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class FaultRun(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("fault-run")
        self.broker = servers.Mosquitto(self.dir)
        self.influx = servers.Influxd(self.dir)
        self.sub = servers.Subscriber(self.broker, PREFIX + "/#")
        self.broker.proc.wait_for(r"selgw-itest-subscriber", h.scaled(10), stream="err")
        self.fs = None
        journal = os.path.join(self.dir, "journal")
        if ROOT:
            self.fs = os.path.join(self.dir, "fs")
            os.mkdir(self.fs)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", self.fs],
                           check=True)
            journal = os.path.join(self.fs, "journal")
        self.ballast = os.path.join(self.fs, "ballast") if self.fs else None
        self.key = os.path.join(self.dir, "gateway.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        self.pubkey = res.stdout.strip()
        sim_port = h.free_port()
        self.devices = ["soil-%02d" % i for i in range(1, 21)]
        cfg = h.make_config(
            "itest-fault",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
              "response_timeout": "300ms"}],
            [{"id": d, "bus": "tcp0", "unit_id": i + 1, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea" if i % 2 else "plot-konjac", "interval": "100ms"}
             for i, d in enumerate(self.devices)])
        cfg["journal"] = {"dir": journal, "segment_size": "1MiB"}
        cfg["mqtt"] = {"host": "127.0.0.1", "port": self.broker.port, "protocol": 5, "qos": 1,
                       "topic_prefix": PREFIX, "reconnect": {"min": "200ms", "max": "1s"}}
        cfg["influxdb"] = {"url": self.influx.url, "database": self.influx.database,
                           "timeout": "2s", "retry": {"min": "200ms", "max": "1s"}}
        cfg["signing"] = {"secret_key": self.key, "seal_interval": "2s"}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        drain = dict(cfg, devices=[])
        self.drain_path = h.write_config(os.path.join(self.dir, "drain.yaml"), drain)
        self.control = os.path.join(self.dir, "control")
        self.sim = h.Simulator(self.cfg_path, "--control", self.control)
        self.gw = None
        self.runs = []  # every gateway process, for their logs
        self.events = []

    def tearDown(self):
        for p in (self.gw, self.sim, self.sub):
            if p:
                p.stop()
        if self.influx.proc and self.influx.proc.alive():
            os.kill(self.influx.proc.pid, signal.SIGCONT)
        self.broker.stop()
        self.influx.stop()
        if self.fs:
            subprocess.run(["umount", self.fs])

    def start_gateway(self):
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.runs.append(self.gw)
        self.gw.wait_for(r"polling 20 devices", h.scaled(15), stream="err")

    def fill(self):
        free = os.statvfs(self.fs).f_bavail * os.statvfs(self.fs).f_frsize
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.posix_fallocate(fd, 0, free)
        except OSError:
            pass
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        os.close(fd)

    # -- the faults: each takes a few seconds and ends in a working state --------------

    def kill(self, rnd):
        self.gw.stop(sig=signal.SIGKILL)
        time.sleep(rnd.uniform(0.1, 1.0))
        self.start_gateway()

    def broker_down(self, rnd):
        self.broker.stop()
        time.sleep(rnd.uniform(2, 5))
        self.broker.start()

    def influx_down(self, rnd):
        self.influx.stop()
        time.sleep(rnd.uniform(2, 5))
        self.influx.start()

    def influx_hung(self, rnd):
        os.kill(self.influx.proc.pid, signal.SIGSTOP)
        time.sleep(rnd.uniform(3, 6))
        os.kill(self.influx.proc.pid, signal.SIGCONT)

    def disk_full(self, rnd):
        self.fill()
        time.sleep(rnd.uniform(4, 8))
        os.unlink(self.ballast)

    def device_silent(self, rnd):
        dev = rnd.choice(self.devices)
        with open(self.control, "w") as f:
            f.write("%s silent\n" % dev)
        self.sim.send_signal(signal.SIGHUP)
        time.sleep(rnd.uniform(2, 4))
        with open(self.control, "w") as f:
            f.write("%s none\n" % dev)
        self.sim.send_signal(signal.SIGHUP)

    def test_fault_run(self):
        rnd = random.Random(int(os.environ.get("SELGW_TEST_SEED", "11")))
        faults = [self.kill, self.broker_down, self.influx_down, self.influx_hung,
                  self.device_silent] + ([self.disk_full] if self.fs else [])
        t0 = time.time()
        self.start_gateway()
        end = time.monotonic() + SECONDS
        order = []
        while time.monotonic() < end or not order:
            if not order:
                order = faults[:]
                rnd.shuffle(order)
            fault = order.pop()
            self.events.append(fault.__name__)
            fault(rnd)
            time.sleep(rnd.uniform(0.5, 2))
        h.say("%.0f s of faults: %s" % (SECONDS, ", ".join(
            "%s x%d" % (n, self.events.count(n)) for n in sorted(set(self.events)))))

        # the faults are over: the gateway stops, and one with no devices on the same journal
        # delivers what is left
        time.sleep(h.scaled(2))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        t_end = time.time()
        records = servers.journal_records(self.cfg_path)
        journal_seq = records[-1]["seq"]
        self.gw = h.Gateway(self.drain_path, "--no-print")
        self.gw.wait_for(r"polling 0 devices", h.scaled(15), stream="err")
        readings = {r["seq"] for r in records if r["type"] == "reading"}

        def delivered():
            in_influx = set(self.influx.column('SELECT "seq" FROM "reading"', "seq"))
            got = set(self.sub.seqs())
            return readings <= in_influx and set(r["seq"] for r in records) <= got
        self.assertTrue(h.wait_until(delivered, h.scaled(120), interval=1),
                        "the sinks did not catch up\n" + self.gw.describe())
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())

        seqs = [r["seq"] for r in records]
        self.assertEqual(len(seqs), len(set(seqs)), "a journal number was given twice")
        self.assertEqual(seqs, sorted(seqs))
        holes = [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1]
        # numbers skip only where a GAP record says records were lost or never written
        gaps = [r for r in records if r["type"] == "gap"]
        for a, b in holes:
            self.assertTrue(any(g["first"] <= a + 1 and b - 1 <= g["last"] for g in gaps),
                            "journal numbers %d..%d missing without a GAP" % (a + 1, b - 1))
        readings = {r["seq"]: r["hash"] for r in records if r["type"] == "reading"}
        by_seq = {r["seq"]: r for r in records}

        # InfluxDB: every reading once, with its hash; nothing else
        rows = self.influx.query('SELECT "seq", "hash" FROM "reading"')["results"][0]["series"]
        points = []
        for series in rows:
            i_seq, i_hash = series["columns"].index("seq"), series["columns"].index("hash")
            points += [(row[i_seq], row[i_hash]) for row in series["values"]]
        influx_seqs = [s for s, _ in points]
        lost_influx = set(readings) - set(influx_seqs)
        extra_influx = set(influx_seqs) - set(readings)
        bad_hash = [s for s, hh in points if s in readings and readings[s] != hh]
        self.assertEqual(len(lost_influx), 0, "readings missing in InfluxDB")
        self.assertEqual(len(extra_influx), 0, "points InfluxDB has and the journal does not")
        self.assertEqual(len(influx_seqs), len(set(influx_seqs)), "a point is in InfluxDB twice")
        self.assertEqual(len(bad_hash), 0, "points whose hash is not the journal's")

        # MQTT: every record, with its hash; duplicates are redeliveries of the same record
        messages = [obj for _, obj in self.sub.messages()
                    if "seq" in obj and obj["seq"] <= journal_seq]  # not the drain's own
        got = [m["seq"] for m in messages]
        lost_mqtt = set(seqs) - set(got)
        self.assertEqual(len(lost_mqtt), 0, "records never received over MQTT")
        foreign = [m for m in messages if m["seq"] not in by_seq]
        self.assertEqual(len(foreign), 0, "messages of records the journal does not hold")
        wrong = [m["seq"] for m in messages if m.get("hash") != by_seq[m["seq"]].get("hash")]
        self.assertEqual(len(wrong), 0, "messages whose hash is not the journal record's")
        duplicates = len(got) - len(set(got))

        # every run of refused readings (the disk was full long enough to fill the memory
        # for unwritten records) is in a GAP record with its count
        refused_gaps = [g for g in gaps if "were not journaled" in g["text"]]
        refused = sum(int(g["text"].split()[0]) for g in refused_gaps)
        logged = []
        for run in self.runs:
            logged += [int(n) for n in re.findall(
                r"journaling readings: back to normal after (\d+) failures?",
                "\n".join(run.stderr()))]
        in_gaps = [int(g["text"].split()[0]) for g in refused_gaps
                   if "ended unexpectedly" not in g["text"]]
        self.assertEqual(sorted(logged), sorted(in_gaps), "refusals without their GAP record")

        # and the evidence of each plot over the whole run
        for plot in ("plot-tea", "plot-konjac"):
            bundle = os.path.join(self.dir, plot + ".evidence")
            res = h.selgw("export", "-c", self.cfg_path, "--plot", plot, "--from", utc(t0),
                          "--to", utc(t_end - 1), "-o", bundle)
            self.assertEqual(res.returncode, 0, res.describe())
            res = h.selgw("verify", bundle, "--pubkey", self.pubkey)
            self.assertEqual(res.returncode, 0, res.stdout[-3000:])
        h.say("journal: %d records (up to %d), %d readings; InfluxDB: %d points, lost 0, "
              "duplicated 0; MQTT: %d messages, lost 0, %d redelivered; %d readings refused, all "
              "in %d GAP records; both plots' whole period VERIFIED"
              % (len(records), journal_seq, len(readings), len(points), len(got), duplicates,
                 refused, len(refused_gaps)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
