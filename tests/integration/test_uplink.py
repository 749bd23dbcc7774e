#!/usr/bin/env python3
"""The evidence uplink against a real mosquitto (docs/ARCHIVE.md): a signing gateway polls
simulated devices with the uplink on; a persistent MQTT 5 subscriber on PREFIX/+/evidence
receives, for every record of the journal, a message whose payload hashes (BLAKE2b-256)
to the record's hash in `selgw journal --dump` — the exact bytes — with its seq in the
selgw-seq property and the content type application/vnd.selgw.record. The broker is stopped
and started again in the middle; nothing is lost."""
import hashlib
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

PREFIX = "itest"
GATEWAY = "itest-uplink"
DEVICES = [("soil-1", "cwt-soil-thc-s", "plot-tea"), ("soil-2", "sn-3002-tr-ecthnpkph", "plot-tea"),
           ("air-1", "xy-md02", "plot-gh")]


def config(sim_port, broker, key, journal, devices=True):
    return servers.uplink_gateway_config(GATEWAY, sim_port, broker, PREFIX, key, journal,
                                         DEVICES if devices else [])


def check_received(test, records, messages):
    """Every journal record arrived with its seq and its exact bytes; returns the count of
    duplicates (at least once: allowed, and counted)."""
    by_seq = {}
    for topic, ctype, user, payload in messages:
        test.assertEqual(topic, f"{PREFIX}/{GATEWAY}/evidence")
        test.assertEqual(ctype, "application/vnd.selgw.record")
        seq = int(user["selgw-seq"])
        digest = hashlib.blake2b(payload, digest_size=32).hexdigest()
        if seq in by_seq:
            test.assertEqual(by_seq[seq], digest, f"seq {seq} arrived twice with other bytes")
        by_seq[seq] = digest
    missing = [r["seq"] for r in records if r["seq"] not in by_seq]
    test.assertFalse(missing, f"{len(missing)} records never arrived, e.g. {missing[:10]}")
    wrong = [r["seq"] for r in records if by_seq[r["seq"]] != r["hash"]]
    test.assertFalse(wrong, f"{len(wrong)} records arrived with other bytes, e.g. {wrong[:10]}")
    return len(messages) - len(by_seq)


class Uplink(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir(self.id().rsplit(".", 1)[-1])
        self.broker = servers.Mosquitto(self.dir)
        self.sub = servers.EvidenceSubscriber(self.broker, PREFIX)
        self.broker.proc.wait_for(r"selgw-itest-evidence", h.scaled(10), stream="err")
        self.key = os.path.join(self.dir, "gw.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        sim_port = h.free_port()
        sim_cfg = h.write_config(os.path.join(self.dir, "sim.yaml"),
                                 config(sim_port, self.broker, None, None))
        self.sim = h.Simulator(sim_cfg)
        journal = os.path.join(self.dir, "journal")
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"),
                                       config(sim_port, self.broker, self.key, journal))
        self.drain_path = h.write_config(
            os.path.join(self.dir, "drain.yaml"),
            config(sim_port, self.broker, self.key, journal, devices=False))
        self.gw = None

    def tearDown(self):
        for p in (self.gw, self.sim, self.sub):
            if p:
                p.stop()
        self.broker.stop()

    def drain_and_check(self, records):
        """A gateway with no devices on the journal until the subscriber has every one of
        records; then each arrived with its exact bytes. Returns the duplicates."""
        self.gw = h.Gateway(self.drain_path, "--no-print")
        # up before it is judged: the first gateway may have delivered everything already
        self.gw.wait_for(r"evidence uplink 127\.0\.0\.1:\d+: connected", h.scaled(10),
                         stream="err")
        wanted = {r["seq"] for r in records}
        ok = h.wait_until(lambda: wanted <= set(self.sub.seqs()), h.scaled(60), interval=0.3)
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        missing = sorted(wanted - set(self.sub.seqs()))
        self.assertTrue(ok, f"{len(missing)} records never arrived, e.g. {missing[:10]}")
        return check_received(self, records, self.sub.messages())

    def test_every_record_exactly_its_bytes_across_a_broker_restart(self):
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"evidence uplink 127\.0\.0\.1:\d+: connected", h.scaled(10),
                         stream="err")
        self.assertTrue(h.wait_until(lambda: len(self.sub.seqs()) >= 30, h.scaled(20)),
                        "no evidence arrives\n" + self.gw.describe())
        h.say(f"{len(self.sub.seqs())} records arrived; the broker stops")
        self.broker.stop()
        time.sleep(h.scaled(3))
        self.broker.start()
        h.say("broker back")
        time.sleep(h.scaled(3))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())

        # the records the stopped gateway journaled, then a gateway with no devices on the
        # same journal until all of them are delivered
        records = servers.journal_records(self.cfg_path)
        types = {r["type"] for r in records}
        for t in ("reading", "start", "stop", "seal", "tags"):
            self.assertIn(t, types)
        dups = self.drain_and_check(records)
        h.say(f"journal: {len(records)} records ({', '.join(sorted(types))}), all received "
              f"byte-identical with their seq; {dups} duplicates")
        listing = h.selgw("journal", "-c", self.cfg_path)
        self.assertRegex(listing.stdout, r"uplink")

    def test_nobody_subscribed_yet_nothing_lost(self):
        """Before any archive has subscribed (or after a broker restart, which in mosquitto
        2.0 loses the archives' shared subscriptions), the broker acknowledges each record
        with "no matching subscribers" (0x10) and drops it: the uplink must not count that as
        delivered. It publishes again until a subscriber takes the records: all arrive."""
        self.sub.stop()
        # a clean start with the subscriber's id ends its persistent session: nobody listens
        import subprocess
        res = subprocess.run([servers.MOSQUITTO_SUB, "-h", "127.0.0.1", "-p",
                              str(self.broker.port), "-V", "5", "-i", "selgw-itest-evidence",
                              "-t", "nothing/here", "-E"], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"evidence uplink 127\.0\.0\.1:\d+: record seq \d+ reached no "
                         r"subscriber \(the broker dropped it: No matching subscribers\)",
                         h.scaled(10), stream="err")
        time.sleep(h.scaled(2))
        held = len(servers.journal_records(self.cfg_path))
        h.say(f"{held} records journaled while nobody subscribed; a subscriber comes")
        self.sub = servers.EvidenceSubscriber(self.broker, PREFIX)
        self.gw.wait_for(r"a subscriber takes the records again, after \d+ publishes that "
                         r"reached none", h.scaled(20), stream="err")
        self.assertTrue(h.wait_until(lambda: len(set(self.sub.seqs())) >= held, h.scaled(20)))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        records = servers.journal_records(self.cfg_path)
        dups = self.drain_and_check(records)
        h.say(f"all {len(records)} records arrived byte-identical, the first {held} published "
              f"again once somebody subscribed; {dups} duplicates")


if __name__ == "__main__":
    unittest.main()
