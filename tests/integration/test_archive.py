#!/usr/bin/env python3
"""selgw archive end to end (docs/ARCHIVE.md): a signing gateway with the evidence uplink
on, simulated devices, mosquitto, a PostgreSQL of the test's own and two archive processes
on one shared subscription.

Takeover and burst: one archive is killed with SIGKILL while records flow and the other
goes on storing; the killed one comes back with its client id and gets what its session
kept. Then both are stopped while the gateway goes on, started again to the burst of
queued records while a test session holds the table locked against writes, and one is
killed with SIGKILL while it waits inside its transaction (messages in flight, none
acknowledged), and started again. A message that is not a record is kept aside in
evidence_rejected. A plot bundle exported from the archive equals the journal's. At the end
every record of the gateway's journal is in PostgreSQL exactly once, with its exact bytes
(its hash is the journal's), and no chain break is flagged.

PostgreSQL down: an archive whose commit fails exits (status 3) without acknowledging;
the message is delivered again to its session when it comes back, so nothing is lost."""
import hashlib
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

PREFIX = "itest"
GATEWAY = "itest-archive-gw"
DEVICES = [("soil-1", "cwt-soil-thc-s", "plot-tea"), ("soil-2", "sn-3002-tr-ecthnpkph", "plot-tea"),
           ("soil-3", "jxct-jxbs-3001-npk", "plot-konjac"), ("air-1", "xy-md02", "plot-gh"),
           ("co2-1", "senseair-k30", "plot-gh"), ("gh-1", "generic-climate", "plot-gh")]


def gateway_config(sim_port, broker, key, journal, devices=True):
    cfg = h.make_config(
        GATEWAY,
        [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
          "response_timeout": "500ms"}],
        [{"id": d, "bus": "tcp0", "unit_id": i + 1, "profile": p, "plot": plot,
          "interval": "100ms"} for i, (d, p, plot) in enumerate(DEVICES)] if devices else [])
    cfg["uplink"] = {"host": "127.0.0.1", "port": broker.port, "topic_prefix": PREFIX,
                     "max_inflight": 100, "reconnect": {"min": "200ms", "max": "1s"}}
    if key:
        cfg["signing"] = {"secret_key": key, "seal_interval": "1s"}
    if journal:
        cfg["journal"] = {"dir": journal}
    return cfg


class ArchiveTest(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir(self.id().rsplit(".", 1)[-1])
        self.broker = servers.Mosquitto(self.dir)
        self.pg = servers.Postgres(self.dir)
        self.key = os.path.join(self.dir, "gw.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        sim_port = h.free_port()
        self.sim = h.Simulator(h.write_config(os.path.join(self.dir, "sim.yaml"),
                                              gateway_config(sim_port, self.broker, None, None)))
        journal = os.path.join(self.dir, "journal")
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"),
                                       gateway_config(sim_port, self.broker, self.key, journal))
        self.drain_path = h.write_config(
            os.path.join(self.dir, "drain.yaml"),
            gateway_config(sim_port, self.broker, self.key, journal, devices=False))
        self.archive_cfgs = {}
        for name in ("archive-1", "archive-2"):
            self.archive_cfgs[name] = servers.write_archive_config(
                os.path.join(self.dir, f"{name}.yaml"), self.broker, self.pg,
                f"selgw-{name}", PREFIX, name)
        self.archives = {}
        self.gw = None

    def tearDown(self):
        for p in [self.gw, self.sim, *self.archives.values()]:
            if p:
                p.stop()
        self.broker.stop()
        self.pg.stop()

    def start_archive(self, name, ready=r"subscribed to \$share/selgw-archive/itest/\+/evidence "
                                      r"at QoS 1"):
        a = servers.Archive(self.archive_cfgs[name], name)
        a.wait_for(ready, h.scaled(15), stream="err")
        self.archives[name] = a
        return a

    def rows(self):
        return int(self.pg.psql("SELECT count(*) FROM evidence_records")[0][0])

    def wait_rows(self, at_least, what):
        ok = h.wait_until(lambda: self.rows() >= at_least, h.scaled(30), interval=0.1)
        self.assertTrue(ok, f"{what}: fewer than {at_least} records in PostgreSQL\n"
                        + "\n".join(a.describe() for a in self.archives.values()))

    def drain_and_check(self):
        """A gateway with no devices on the journal until PostgreSQL holds every record the
        journal had; then every record exactly once, byte for byte, and no break."""
        records = servers.journal_records(self.cfg_path)
        self.gw = h.Gateway(self.drain_path, "--no-print")
        wanted = {r["seq"] for r in records}
        sql = f"SELECT seq FROM evidence_records WHERE gateway = '{GATEWAY}'"
        ok = h.wait_until(lambda: wanted <= {int(r[0]) for r in self.pg.psql(sql)},
                          h.scaled(90), interval=0.5)
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        self.gw = None
        final = {r["seq"]: r for r in servers.journal_records(self.cfg_path)}
        rows = self.pg.psql("SELECT gateway, seq, encode(payload, 'hex'), encode(hash, 'hex'),"
                            " link, coalesce(link_problem, ''), received_by, chain, chain_seq"
                            " FROM evidence_records ORDER BY seq")
        stored = {}
        for gateway, seq, payload, digest, link, problem, by, chain, chain_seq in rows:
            seq = int(seq)
            self.assertEqual(gateway, GATEWAY)
            self.assertNotIn(seq, stored, f"seq {seq} stored twice")
            self.assertIn(seq, final, f"seq {seq} is in PostgreSQL but not in the journal")
            self.assertEqual(hashlib.blake2b(bytes.fromhex(payload), digest_size=32).hexdigest(),
                             final[seq]["hash"], f"seq {seq}: other bytes than the journal's")
            self.assertEqual(digest, final[seq]["hash"])
            self.assertEqual(chain, final[seq].get("chain", ""))
            self.assertEqual(int(chain_seq), final[seq].get("chain_seq", 0))
            stored[seq] = (link, problem, by)
        missing = sorted(wanted - set(stored))
        self.assertTrue(ok and not missing,
                        f"{len(missing)} journal records not in PostgreSQL, e.g. {missing[:10]}")
        breaks = {s: v for s, v in stored.items() if v[0] == "break"}
        self.assertFalse(breaks, f"chain breaks flagged: {list(breaks.items())[:5]}")
        pending = {s: v for s, v in stored.items() if v[0] == "pending"}
        self.assertFalse(pending, f"links left pending: {sorted(pending)[:10]}")
        rejected = self.pg.psql("SELECT count(*) FROM evidence_rejected")[0][0]
        self.assertEqual(int(rejected), getattr(self, "rejected_expected", 0))
        by = {}
        for link, problem, who in stored.values():
            by[who] = by.get(who, 0) + 1
        types = sorted({r["type"] for r in records})
        h.say(f"journal {len(records)} records before the drain ({', '.join(types)}); "
              f"PostgreSQL {len(stored)} rows, each once, byte-identical, links ok; "
              f"stored by {by}")
        return by

    def export_both(self, records):
        """A plot's bundle exported from the gateway's journal and from the archive: the same
        bytes, and it verifies."""
        readings = [r for r in records if r["type"] == "reading" and r["plot"] == "plot-tea"]
        t1 = readings[len(readings) // 4]["time"]
        t2 = readings[3 * len(readings) // 4]["time"]
        a = servers.export_journal_and_archive(self, self.dir, self.cfg_path, self.key,
                                               self.pg, GATEWAY, "plot-tea", t1, t2)
        lines = a.decode().count("\nrecord ")
        h.say(f"plot-tea {t1} .. {t2}: the bundle from the archive ({lines} records) is "
              f"byte-identical to the journal's and verifies")

    def test_takeover_and_burst(self):
        for name in self.archive_cfgs:
            self.start_archive(name)
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.wait_rows(60, "both archives")

        h.say(f"{self.rows()} records archived; archive-1 is killed (SIGKILL)")
        self.archives["archive-1"].stop(sig=signal.SIGKILL)
        count_2 = "SELECT count(*) FROM evidence_records WHERE received_by = 'selgw-archive-2'"
        before = int(self.pg.psql(count_2)[0][0])
        time.sleep(h.scaled(3))
        during = int(self.pg.psql(count_2)[0][0]) - before
        h.say(f"archive-2 stored {during} records while archive-1 was dead")
        self.assertGreater(during, 20)
        self.start_archive("archive-1")

        h.say("both archives stop; the gateway goes on, the broker queues for their sessions")
        for name in list(self.archives):
            self.assertEqual(self.archives.pop(name).stop(), 0)
        rows_before = self.rows()
        time.sleep(h.scaled(6))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        self.gw = None
        journaled = len(servers.journal_records(self.cfg_path))
        # The burst meets a table locked against writes, so that archive-2 is caught in the
        # middle of it for sure: inside on_message, its transaction waiting, messages in
        # flight and none of them acknowledged. Then it is killed and the lock let go.
        import subprocess
        locker = subprocess.Popen(
            [servers.PSQL, "-X", "-q", "-h", "127.0.0.1", "-p", str(self.pg.port), "-U",
             "postgres", "-d", "selgw"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            text=True)
        locker.stdin.write("BEGIN; LOCK TABLE evidence_records IN SHARE MODE;\n")
        locker.stdin.flush()
        locked = ("SELECT count(*) FROM pg_locks WHERE relation = 'evidence_records'::regclass"
                  " AND mode = 'ShareLock' AND granted")
        self.assertTrue(h.wait_until(lambda: self.pg.psql(locked)[0][0] == "1", h.scaled(10)))
        # the resumed sessions' messages come at once, before the SUBACK: connected is ready
        self.start_archive("archive-1", ready=r"connected .* \(session resumed\)")
        a2 = self.start_archive("archive-2", ready=r"connected .* \(session resumed\)")
        waiting = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                   "'archive-2' AND wait_event_type = 'Lock'")
        caught = h.wait_until(lambda: self.pg.psql(waiting)[0][0] == "1", h.scaled(20))
        a2.stop(sig=signal.SIGKILL)
        del self.archives["archive-2"]
        stored_at_kill = self.rows() - rows_before
        locker.stdin.write("ROLLBACK;\n")
        locker.stdin.close()
        locker.wait(timeout=30)
        self.assertTrue(caught, "archive-2 never waited inside a transaction")
        h.say(f"burst of {journaled - rows_before} queued records: archive-2 killed (SIGKILL) "
              f"inside its transaction, {stored_at_kill} of them stored then")
        self.start_archive("archive-2")
        # a message that is not a record: kept aside with the reason, the archives go on
        res = __import__("subprocess").run(
            [servers.MOSQUITTO_SUB.replace("_sub", "_pub"), "-h", "127.0.0.1", "-p",
             str(self.broker.port), "-V", "5", "-q", "1", "-t", f"{PREFIX}/{GATEWAY}/evidence",
             "-m", "not a record"], capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(h.wait_until(
            lambda: self.pg.psql("SELECT count(*) FROM evidence_rejected")[0][0] == "1",
            h.scaled(10)), "the bad message was not kept in evidence_rejected")
        reason = self.pg.psql("SELECT reason FROM evidence_rejected")[0][0]
        self.assertEqual(reason, "no content type")
        self.rejected_expected = 1
        by = self.drain_and_check()
        self.assertEqual(set(by), {"selgw-archive-1", "selgw-archive-2"})
        self.export_both(servers.journal_records(self.cfg_path))
        for name in list(self.archives):
            a = self.archives.pop(name)
            self.assertEqual(a.stop(), 0, a.describe())

    def test_postgres_down_nothing_acknowledged(self):
        a = self.start_archive("archive-1")
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.wait_rows(30, "archive-1")
        h.say(f"{self.rows()} records archived; PostgreSQL stops")
        self.pg.stop()
        status = a.wait(h.scaled(30))
        err = "\n".join(a.stderr())
        self.assertEqual(status, 3, err)
        self.assertRegex(err, r"cannot commit record seq \d+ of gateway itest-archive-gw: .*"
                              r"exiting without acknowledging it")
        del self.archives["archive-1"]
        h.say("the archive exited without acknowledging; PostgreSQL and the archive come back")
        time.sleep(h.scaled(1))
        self.pg.start()
        self.start_archive("archive-1")
        time.sleep(h.scaled(2))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        self.gw = None
        self.drain_and_check()

    def test_broker_restart_while_the_archive_is_away(self):
        """mosquitto 2.0 restores a persistent session from its persistence file but not the
        session's shared subscription: after a restart, until an archive subscribes again,
        each record is acknowledged "no matching subscribers" (0x10) and dropped. The uplink
        publishes such records again until a subscriber takes them: nothing is lost."""
        a = self.start_archive("archive-1")
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.wait_rows(30, "archive-1")
        self.assertEqual(a.stop(), 0, a.describe())
        del self.archives["archive-1"]
        h.say(f"{self.rows()} records archived; the archive stops, the broker restarts")
        self.broker.stop()
        self.broker.start()
        self.gw.wait_for(r"evidence uplink 127\.0\.0\.1:\d+: record seq \d+ reached no "
                         r"subscriber", h.scaled(15), stream="err")
        time.sleep(h.scaled(2))
        h.say("the gateway's records reach no subscriber; the archive comes back")
        self.start_archive("archive-1")
        self.gw.wait_for(r"a subscriber takes the records again", h.scaled(20), stream="err")
        time.sleep(h.scaled(1))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        self.gw = None
        self.drain_and_check()


if __name__ == "__main__":
    unittest.main()
