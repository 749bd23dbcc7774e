#!/usr/bin/env python3
"""Many gateways into one central side (issue 13, docs/ARCHIVE.md "A fleet"): ten signing
gateways, each with its own id, key and journal, polling two devices each of one selgw-sim
(one TCP bus, a unit id per device, any number of clients), deliver to one influxd (one
database, the `gateway` tag tells them apart) and, through the evidence uplink, to one
mosquitto, from which two `selgw archive` processes on one shared subscription store into
one PostgreSQL.

Midway one archive is killed with SIGKILL and started again with its client id (its
persistent session kept its share), and one gateway is killed with SIGKILL and started
again on its journal. Then every gateway stops cleanly, a gateway with no devices drains
each journal into both sinks, and for EVERY gateway:

- PostgreSQL holds each journal record once (count(*) = count(DISTINCT seq)), with the
  journal's hash, link ok (no break, nothing pending); nothing rejected. The only journal
  records not in PostgreSQL are the last ones the drain wrote at its own stop (a stopping
  sink publishes nothing new, docs/MQTT.md), and they are a stop or a seal.
- InfluxDB holds one point per reading record, no other: same seq, hash, status, device,
  time (to the microsecond of the dump), and exactly the values the journal holds with a
  number (read_failed and non-finite values are not written, docs/INFLUXDB.md).

For the killed gateway a plot bundle over a period across its crash, exported from the
archive, is byte-identical to the one exported from its journal, and verifies."""
import calendar
import datetime
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

PREFIX = "itest"
GATEWAYS = [f"fleet-gw-{i:02d}" for i in range(1, 11)]
KILLED = "fleet-gw-03"
# rounds of one archive and one gateway killed and started again (bench: more)
KILLS = int(os.environ.get("SELGW_FLEET_KILLS", "1"))
# two devices per gateway; gateway i uses unit ids 2i+1 and 2i+2 of the one simulated bus
DEVICES = [("soil-1", "cwt-soil-thc-s", "plot-tea"), ("air-1", "xy-md02", "plot-gh")]
INTERVAL = "100ms"


def gateway_config(index, sim_port, broker, influx, key, journal, devices=True):
    cfg = h.make_config(
        GATEWAYS[index],
        [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
          "response_timeout": "500ms"}],
        [{"id": d, "bus": "tcp0", "unit_id": 2 * index + k + 1, "profile": p, "plot": plot,
          "interval": INTERVAL} for k, (d, p, plot) in enumerate(DEVICES)] if devices else [])
    cfg["uplink"] = {"host": "127.0.0.1", "port": broker.port, "topic_prefix": PREFIX,
                     "reconnect": {"min": "200ms", "max": "1s"}}
    cfg["influxdb"] = {"url": influx.url, "database": influx.database, "batch_lines": 1000,
                       "retry": {"min": "200ms", "max": "1s"}}
    cfg["signing"] = {"secret_key": key, "seal_interval": "1s"}
    cfg["journal"] = {"dir": journal}
    return cfg


def sim_config(sim_port):
    """The one simulator: every gateway's devices on one TCP bus, by unit id."""
    return h.make_config(
        "fleet-sim",
        [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
        [{"id": f"g{i + 1:02d}-{d}", "bus": "tcp0", "unit_id": 2 * i + k + 1, "profile": p,
          "plot": plot, "interval": INTERVAL}
         for i in range(len(GATEWAYS)) for k, (d, p, plot) in enumerate(DEVICES)])


def micros(text):
    """UTC microseconds of a dump time, 2026-11-29T13:55:21.123456Z."""
    t, _, frac = text.rstrip("Z").partition(".")
    whole = calendar.timegm(datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S").timetuple())
    return whole * 1_000_000 + int((frac + "000000")[:6])


class Fleet(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("fleet")
        self.broker = servers.Mosquitto(self.dir)
        self.influx = servers.Influxd(self.dir)
        self.pg = servers.Postgres(self.dir)
        sim_port = h.free_port()
        self.sim = h.Simulator(h.write_config(os.path.join(self.dir, "sim.yaml"),
                                              sim_config(sim_port)))
        self.cfg_paths, self.drain_paths, self.keys = {}, {}, {}
        for i, gw in enumerate(GATEWAYS):
            key = os.path.join(self.dir, f"{gw}.key")
            res = h.selgw("keygen", key)
            self.assertEqual(res.returncode, 0, res.describe())
            self.keys[gw] = key
            journal = os.path.join(self.dir, f"journal-{gw}")
            self.cfg_paths[gw] = h.write_config(
                os.path.join(self.dir, f"{gw}.yaml"),
                gateway_config(i, sim_port, self.broker, self.influx, key, journal))
            self.drain_paths[gw] = h.write_config(
                os.path.join(self.dir, f"{gw}-drain.yaml"),
                gateway_config(i, sim_port, self.broker, self.influx, key, journal,
                               devices=False))
        self.archive_cfgs = {}
        for name in ("archive-1", "archive-2"):
            self.archive_cfgs[name] = servers.write_archive_config(
                os.path.join(self.dir, f"{name}.yaml"), self.broker, self.pg,
                f"selgw-fleet-{name}", PREFIX, name)
        self.archives = {}
        self.gateways = {}

    def tearDown(self):
        for p in [*self.gateways.values(), self.sim, *self.archives.values()]:
            if p:
                p.stop()
        self.broker.stop()
        self.influx.stop()
        self.pg.stop()

    # ---- processes ------------------------------------------------------------------

    def start_archive(self, name):
        a = servers.Archive(self.archive_cfgs[name], name)
        a.wait_for(r"subscribed to \$share/selgw-archive/itest/\+/evidence at QoS 1",
                   h.scaled(15), stream="err")
        self.archives[name] = a
        return a

    def start_gateway(self, gw, drain=False):
        path = self.drain_paths[gw] if drain else self.cfg_paths[gw]
        g = h.Gateway(path, "--no-print")
        self.gateways[gw] = g
        return g

    def stop_gateways(self):
        for gw in list(self.gateways):
            g = self.gateways.pop(gw)
            self.assertEqual(g.stop(), 0, g.describe())

    # ---- central side ---------------------------------------------------------------

    def archived(self):
        """{gateway: rows in evidence_records}"""
        rows = self.pg.psql("SELECT gateway, count(*) FROM evidence_records GROUP BY gateway")
        return {g: int(n) for g, n in rows}

    def archived_seqs(self):
        out = {gw: set() for gw in GATEWAYS}
        for g, seq in self.pg.psql("SELECT gateway, seq FROM evidence_records"):
            out.setdefault(g, set()).add(int(seq))
        return out

    def influx_seqs(self):
        out = {gw: set() for gw in GATEWAYS}
        res = self.influx.query('SELECT "seq" FROM "reading" GROUP BY "gateway"')
        for result in res.get("results", []):
            self.assertNotIn("error", result, result)
            for series in result.get("series", []):
                g = series["tags"]["gateway"]
                idx = series["columns"].index("seq")
                out.setdefault(g, set()).update(row[idx] for row in series["values"])
        return out

    def wait_each_archived(self, at_least, what):
        ok = h.wait_until(lambda: all(self.archived().get(gw, 0) >= at_least for gw in GATEWAYS),
                          h.scaled(30), interval=0.2)
        self.assertTrue(ok, f"{what}: not every gateway has {at_least} records in PostgreSQL: "
                        f"{self.archived()}\n"
                        + "\n".join(a.describe() for a in self.archives.values()))

    def wait_each_archived_more(self, counts, more, what):
        ok = h.wait_until(lambda: all(self.archived().get(gw, 0) >= counts.get(gw, 0) + more
                                      for gw in GATEWAYS), h.scaled(30), interval=0.2)
        self.assertTrue(ok, f"{what}: not every gateway has {more} more records in PostgreSQL: "
                        f"{self.archived()}\n"
                        + "\n".join(a.describe() for a in self.archives.values()))

    # ---- checks ---------------------------------------------------------------------

    def check_archive(self, gw, journal, wanted):
        """PostgreSQL holds every record of the journal once, byte for byte, links ok; the
        only journal records missing are the drain's last ones, written at its stop."""
        n, distinct = self.pg.psql("SELECT count(*), count(DISTINCT seq) FROM evidence_records"
                                   f" WHERE gateway = '{gw}'")[0]
        self.assertEqual(n, distinct, f"{gw}: a seq stored twice")
        rows = self.pg.psql("SELECT seq, encode(hash, 'hex'), link, coalesce(link_problem, ''),"
                            " chain, chain_seq, type"
                            f" FROM evidence_records WHERE gateway = '{gw}' ORDER BY seq")
        by_seq = {r["seq"]: r for r in journal}
        stored = set()
        for seq, digest, link, problem, chain, chain_seq, _ in rows:
            seq = int(seq)
            self.assertIn(seq, by_seq, f"{gw}: seq {seq} is in PostgreSQL, not in the journal")
            rec = by_seq[seq]
            self.assertEqual(digest, rec["hash"], f"{gw}: seq {seq}: not the journal's bytes")
            self.assertEqual(chain, rec.get("chain", ""), f"{gw} seq {seq}")
            self.assertEqual(int(chain_seq), rec.get("chain_seq", 0), f"{gw} seq {seq}")
            self.assertEqual(link, "ok" if rec.get("chain") else "unchained",
                             f"{gw}: seq {seq}: link {link} {problem}")
            stored.add(seq)
        missing = sorted(wanted - stored)
        self.assertFalse(missing,
                         f"{gw}: {len(missing)} records never archived, e.g. {missing[:10]}")
        # what the journal holds and PostgreSQL does not: only the drain's tail at its stop
        tail = sorted(set(by_seq) - stored)
        if tail:
            self.assertGreater(tail[0], max(stored), f"{gw}: records not archived: {tail[:10]}")
            kinds = {by_seq[s]["type"] for s in tail}
            self.assertLessEqual(kinds, {"stop", "seal"}, f"{gw}: not archived: {tail}")
            self.assertLessEqual(len(tail), 3, f"{gw}: not archived: {tail}")
        return len(stored), len(tail)

    def check_influx(self, gw, journal):
        """One point per reading record of the journal, with its values, and no other."""
        res = self.influx.query(f'SELECT * FROM "reading" WHERE "gateway" = \'{gw}\'')
        points = []
        for result in res.get("results", []):
            self.assertNotIn("error", result, result)
            for series in result.get("series", []):
                cols = series["columns"]
                points += [dict(zip(cols, row)) for row in series["values"]]
        readings = {r["seq"]: r for r in journal if r["type"] == "reading"}
        by_seq = {}
        for p in points:
            self.assertNotIn(p["seq"], by_seq, f"{gw}: two points with seq {p['seq']}")
            by_seq[p["seq"]] = p
        self.assertEqual(set(by_seq), set(readings),
                         f"{gw}: InfluxDB's seqs differ from the journal's readings: missing "
                         f"{sorted(set(readings) - set(by_seq))[:10]}, extra "
                         f"{sorted(set(by_seq) - set(readings))[:10]}")
        field_names = {name for r in readings.values() for name in r["fields"]}
        values = 0
        for seq, r in readings.items():
            p = by_seq[seq]
            where = f"{gw} seq {seq}"
            self.assertEqual(p["hash"], r["hash"], where)
            self.assertEqual(p["status"], r["status"], where)
            self.assertEqual(p["device"], r["device"], where)
            self.assertEqual(p["plot"], r["plot"], where)
            self.assertEqual(p["attempts"], r["attempts"], where)
            self.assertEqual(p["time"] // 1000, micros(r["time"]), where)
            for name in field_names:
                fv = r["fields"].get(name)
                written = (fv is not None and fv["quality"] != "read_failed"
                           and fv["value"] is not None)
                self.assertEqual(p.get(name), fv["value"] if written else None,
                                 f"{where} field {name}")
                values += written
        return len(points), values

    def export_both(self, gw, journal):
        """A plot's bundle over a period across the gateway's crash: from the journal and
        from the archive, the same bytes, and it verifies."""
        starts = [r for r in journal if r["type"] == "start"]
        self.assertGreaterEqual(len(starts), 2, f"{gw}: no restart in the journal")
        restart = starts[1]["seq"]
        tea = [r for r in journal if r["type"] == "reading" and r["plot"] == "plot-tea"]
        before = [r for r in tea if r["seq"] < restart]
        after = [r for r in tea if r["seq"] > restart]
        self.assertTrue(before and after, f"{gw}: readings on both sides of the crash")
        t1, t2 = before[len(before) // 2]["time"], after[len(after) // 2]["time"]
        a = servers.export_journal_and_archive(self, self.dir, self.cfg_paths[gw],
                                               self.keys[gw], self.pg, gw, "plot-tea", t1, t2)
        h.say(f"{gw} plot-tea {t1} .. {t2} (across its SIGKILL): the bundle from the archive "
              f"({a.decode().count(chr(10) + 'record ')} records) is byte-identical to the "
              f"journal's and verifies")

    # ---- the test -------------------------------------------------------------------

    def test_ten_gateways_two_archives_one_database(self):
        for name in self.archive_cfgs:
            self.start_archive(name)
        for gw in GATEWAYS:
            self.start_gateway(gw)
        self.wait_each_archived(60, "first records")
        for i in range(KILLS):
            # round 0: archive-1 and KILLED; further rounds (SELGW_FLEET_KILLS) alternate the
            # archive and move on to other gateways
            archive = f"archive-{i % 2 + 1}"
            victim = GATEWAYS[(GATEWAYS.index(KILLED) + 3 * i) % len(GATEWAYS)]
            h.say(f"{sum(self.archived().values())} records archived; {archive} is killed "
                  f"(SIGKILL)")
            self.archives.pop(archive).stop(sig=signal.SIGKILL)
            time.sleep(h.scaled(1))
            h.say(f"{victim} is killed (SIGKILL)")
            self.assertEqual(self.gateways.pop(victim).stop(sig=signal.SIGKILL), -signal.SIGKILL)
            time.sleep(h.scaled(1))
            self.start_archive(archive)
            self.start_gateway(victim).wait_for(r"polling 2 devices", h.scaled(10), stream="err")
            h.say(f"{archive} (same client id) and {victim} (same journal) are back")
            before = self.archived().get(victim, 0)
            self.assertTrue(h.wait_until(lambda: self.archived().get(victim, 0) >= before + 100,
                                         h.scaled(20), interval=0.2),
                            f"{victim}: nothing archived after its restart")
        # The broker restarts under everything (persistence on). mosquitto 2.0 does not
        # restore the archives' shared subscriptions: until they subscribe again, what the
        # gateways publish reaches no subscriber (0x10) and goes out again (docs/ARCHIVE.md).
        h.say(f"{sum(self.archived().values())} records archived; the broker restarts")
        seen = {name: len(a.stderr()) for name, a in self.archives.items()}
        self.broker.stop()
        time.sleep(h.scaled(1))
        self.broker.start()
        for name, a in self.archives.items():
            a.wait_for(r"subscribed to \$share/", h.scaled(15), stream="err", start=seen[name])
        counts = self.archived()
        self.wait_each_archived_more(counts, 50, "after the broker's restart")
        unheard = [gw for gw, g in self.gateways.items()
                   if any("reached no subscriber" in line for line in g.stderr())]
        h.say(f"the archives subscribed again; {len(unheard)} gateways had records reach no "
              f"subscriber meanwhile and published them again")
        time.sleep(h.scaled(2))
        self.stop_gateways()

        # the records each stopped gateway journaled, then a gateway with no devices on each
        # journal until both sinks have all of them
        wanted = {gw: {r["seq"] for r in servers.journal_records(self.cfg_paths[gw])}
                  for gw in GATEWAYS}
        readings = {gw: {r["seq"] for r in servers.journal_records(self.cfg_paths[gw])
                         if r["type"] == "reading"} for gw in GATEWAYS}
        pg, influx = self.archived_seqs(), self.influx_seqs()
        behind = (sum(len(wanted[gw] - pg[gw]) for gw in GATEWAYS),
                  sum(len(readings[gw] - influx[gw]) for gw in GATEWAYS))
        began = time.monotonic()
        for gw in GATEWAYS:
            self.start_gateway(gw, drain=True)
        for gw in GATEWAYS:
            self.gateways[gw].wait_for(r"polling 0 devices", h.scaled(10), stream="err")

        def delivered():
            pg, influx = self.archived_seqs(), self.influx_seqs()
            return all(wanted[gw] <= pg[gw] and readings[gw] <= influx[gw] for gw in GATEWAYS)
        ok = h.wait_until(delivered, h.scaled(60), interval=0.5)
        h.say(f"at the gateways' stop {behind[0]} records were not in PostgreSQL yet and "
              f"{behind[1]} readings not in InfluxDB; the drains delivered them within "
              f"{time.monotonic() - began:.1f} s (a figure, not a check)")
        self.stop_gateways()
        stats = {}
        for name in list(self.archives):
            a = self.archives.pop(name)
            self.assertEqual(a.stop(), 0, a.describe())
            m = None
            for line in a.stderr():
                m = re.search(r"(\d+) records stored \((\d+) chain breaks flagged\), (\d+) "
                              r"redelivered, (\d+) conflicting, (\d+) rejected", line) or m
            self.assertIsNotNone(m, a.describe())
            stats[name] = tuple(int(x) for x in m.groups())
            self.assertEqual(stats[name][1], 0, f"{name}: chain breaks flagged")
            self.assertEqual(stats[name][3], 0, f"{name}: conflicting records")
            self.assertEqual(stats[name][4], 0, f"{name}: rejected messages")
        self.assertTrue(ok, "not everything delivered: " + ", ".join(
            f"{gw} archive {len(wanted[gw] - self.archived_seqs()[gw])} influx "
            f"{len(readings[gw] - self.influx_seqs()[gw])}" for gw in GATEWAYS))
        self.assertEqual(self.pg.psql("SELECT count(*) FROM evidence_rejected")[0][0], "0")

        totals = [0, 0, 0, 0]
        for gw in GATEWAYS:
            journal = servers.journal_records(self.cfg_paths[gw])
            stored, tail = self.check_archive(gw, journal, wanted[gw])
            points, values = self.check_influx(gw, journal)
            h.say(f"{gw}: journal {len(journal)} records ({len(wanted[gw])} before the drain), "
                  f"PostgreSQL {stored} once each (not sent: {tail} written at the drain's "
                  f"stop), InfluxDB {points} points = readings, {values} values")
            for i, v in enumerate((len(journal), stored, points, values)):
                totals[i] += v
        by = dict(self.pg.psql("SELECT received_by, count(*) FROM evidence_records"
                               " GROUP BY received_by"))
        h.say(f"fleet: {totals[0]} journal records, {totals[1]} rows in PostgreSQL (stored by "
              f"{by}), {totals[2]} points and {totals[3]} values in InfluxDB; the archives' "
              f"last runs: " + ", ".join(f"{n} stored {s[0]}, redelivered {s[2]}"
                                         for n, s in sorted(stats.items())))
        self.assertEqual(set(by), {"selgw-fleet-archive-1", "selgw-fleet-archive-2"})
        self.export_both(KILLED, servers.journal_records(self.cfg_paths[KILLED]))


if __name__ == "__main__":
    unittest.main()
