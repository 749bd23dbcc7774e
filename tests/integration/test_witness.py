#!/usr/bin/env python3
"""The archive as a witness of seals (issue 13; docs/ARCHIVE.md "The archive as a witness",
docs/EVIDENCE.md "Witnessed seals"): a signing gateway with the evidence uplink, mosquitto,
PostgreSQL and one archive with a witness key.

The archive countersigns every seal it stores (evidence_witness) and publishes the statement
back; the gateway journals it as a WITNESS record of its gateway chain, which the uplink
sends to the archive like any record. A bundle exported from the journal (and the same from
the archive) carries them, and verify says, with the witness's key trusted, when each seal
was witnessed. A WITNESS record whose time the gateway backdated, with its chains relinked
and its seals signed again with the gateway's own key, fails verification: only the
witness's key could have signed it. A second gateway whose clock runs 10 minutes ahead is
flagged by verify as ahead of its witness."""
import os
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle as bd  # noqa: E402
import harness as h  # noqa: E402
import servers  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

PREFIX = "itest"
WITNESS = 11


def gateway_config(gateway, sim_port, broker, key, journal, devices=True):
    return servers.uplink_gateway_config(
        gateway, sim_port, broker, PREFIX, key, journal,
        [("soil-1", "cwt-soil-thc-s", "plot-tea")] if devices else [])


def utc(ns):
    """A time as selgw prints it (selgw_format_utc): UTC, microseconds, Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + \
        ".%06dZ" % (ns % 10**9 // 1000)


def seed_of(key_path):
    """The Ed25519 seed of a selgw secret key file (docs/KEYS.md): what the gateway's owner
    has in hand when forging."""
    with open(key_path) as f:
        header, hexkey = f.read().split("\n")[:2]
    assert header == "selgw-ed25519-secret-key 1"
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(hexkey)[:32])


def raw_public(key):
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)


def statement_message(gateway, seal_seq, seal_hash, pk, when):
    """What a witness signs (gateway/evidence/witness.h)."""
    gw = gateway.encode()
    return (b"selgw-witness 1\0" + struct.pack("<H", len(gw)) + gw +
            struct.pack("<Q", seal_seq) + seal_hash + pk + struct.pack("<q", when))


def statement_fields(rec):
    """seal_seq, seal_hash, witnessed time of a WITNESS record."""
    at = rec.body_at
    return (struct.unpack("<Q", bytes(rec.payload[at:at + 8]))[0],
            bytes(rec.payload[at + 8:at + 40]),
            struct.unpack("<q", bytes(rec.payload[-72:-64]))[0])


def set_statement(rec, gateway, key, seal_seq, seal_hash, when):
    """Makes a WITNESS record a statement signed by key (an Ed25519PrivateKey)."""
    pk = raw_public(key)
    sig = key.sign(statement_message(gateway, seal_seq, seal_hash, pk, when))
    rec.payload = rec.payload[:rec.body_at] + struct.pack("<Q", seal_seq) + seal_hash + pk + \
        struct.pack("<q", when) + sig


def relink(bundle, gateway, gw_key, witness_key, change=None):
    """Links the chains anew and signs the seals with gw_key, as Bundle.rechain; every
    statement is signed anew by witness_key about its seal as resealed, but the first,
    which change(rec, seals) rewrites (seals: position -> new hash) when given."""
    heads, seals, first = {}, {}, True
    for rec in bundle.records:
        if rec.chain in heads:
            rec.set_prev(heads[rec.chain][1])
        if rec.type == WITNESS:
            seq, _, when = statement_fields(rec)
            if first and change:
                change(rec, seals)
            elif seq in seals:
                set_statement(rec, gateway, witness_key, seq, seals[seq], when)
            first = False
        if rec.type == bd.SEAL:
            rec.reseal([(name, pos, heads[name][1] if name in heads and heads[name][0] == pos
                         else head) for name, pos, head in rec.heads], gw_key)
            seals[rec.chain_seq] = rec.hash
        heads[rec.chain] = (rec.chain_seq, rec.hash)


class WitnessTest(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir(self.id().rsplit(".", 1)[-1])
        self.broker = servers.Mosquitto(self.dir)
        self.pg = servers.Postgres(self.dir)
        self.procs = []
        self.keys = {}
        for name in ("gw", "gw2", "archive", "other"):
            path = os.path.join(self.dir, f"{name}.key")
            res = h.selgw("keygen", path)
            self.assertEqual(res.returncode, 0, res.describe())
            self.keys[name] = (path, res.stdout.strip())
        self.sim_port = h.free_port()
        sim_cfg = gateway_config("sim", self.sim_port, self.broker, None, None)
        self.sim = h.Simulator(h.write_config(os.path.join(self.dir, "sim.yaml"), sim_cfg))
        self.procs.append(self.sim)
        self.archive_cfg = servers.write_archive_config(
            os.path.join(self.dir, "archive.yaml"), self.broker, self.pg, "selgw-archive-w",
            PREFIX, "selgw-archive-w", witness_key=self.keys["archive"][0])

    def tearDown(self):
        for p in self.procs:
            p.stop()
        self.broker.stop()
        self.pg.stop()

    def start_archive(self):
        a = servers.Archive(self.archive_cfg, "archive")
        a.wait_for(r"subscribed to \$share/selgw-archive/itest/\+/evidence at QoS 1",
                   h.scaled(15), stream="err")
        self.procs.append(a)
        return a

    def gateway(self, gateway, key, env=None, witness_keys=None):
        journal = os.path.join(self.dir, f"journal-{gateway}")
        cfg = gateway_config(gateway, self.sim_port, self.broker, self.keys[key][0], journal)
        if witness_keys:
            path = os.path.join(self.dir, f"{gateway}-witnesses")
            with open(path, "w") as f:
                f.write("".join(f"{k} archive\n" for k in witness_keys))
            cfg["uplink"]["witness_keys"] = path
        cfg_path = h.write_config(os.path.join(self.dir, f"{gateway}.yaml"), cfg)
        gw = h.Gateway(cfg_path, "--no-print", env=env)
        # up (its journal made) before a test reads the journal: slow to start under ASan
        gw.wait_for(r"evidence uplink 127\.0\.0\.1:\d+: connected", h.scaled(10), stream="err")
        return cfg_path, gw

    def witnessed_rows(self, gateway):
        return self.pg.psql("SELECT seal_seq, encode(seal_hash, 'hex'), "
                            "encode(witness_key, 'hex'), witnessed_ns FROM evidence_witness "
                            f"WHERE gateway = '{gateway}' ORDER BY seal_seq")

    def archived_witness_records(self, gateway):
        return int(self.pg.psql("SELECT count(*) FROM evidence_records WHERE "
                                f"gateway = '{gateway}' AND type = {WITNESS}")[0][0])

    def run_until_witnessed(self, gateway, key, seals, env=None, witness_keys=None, records=2):
        """Runs the gateway until the archive holds `seals` witness statements of it and
        the first WITNESS records came back to it; stops it; returns its config and
        journal."""
        cfg_path, gw = self.gateway(gateway, key, env, witness_keys)
        self.procs.append(gw)
        ok = h.wait_until(lambda: len(self.witnessed_rows(gateway)) >= seals and
                          self.archived_witness_records(gateway) >= records, h.scaled(60),
                          interval=0.3)
        self.assertTrue(ok, f"{gateway}: seals not witnessed\n" + gw.describe() + "\n" +
                        "\n".join(p.describe() for p in self.procs if p is not gw))
        self.assertEqual(gw.stop(), 0, gw.describe())
        self.procs.remove(gw)
        return cfg_path, servers.journal_records(cfg_path)

    def assert_final_seals_last(self, records):
        """Nothing after a stop's final seal (statements arriving then are dropped; the
        retained one comes back at the next start)."""
        chain = [r for r in records if r.get("chain") == "gateway"]
        for i, r in enumerate(chain):
            if r["type"] == "stop":
                self.assertEqual(chain[i + 1]["type"], "seal", chain[i + 1])
                self.assertIn([x["type"] for x in chain[i + 2:i + 3]], ([], ["start"]))
        self.assertEqual(chain[-1]["type"], "seal")

    def export(self, cfg_path, records, name):
        readings = [r for r in records if r["type"] == "reading"]
        t1, t2 = readings[len(readings) // 5]["time"], readings[-len(readings) // 5]["time"]
        out = os.path.join(self.dir, name)
        res = h.selgw("export", "-c", cfg_path, "--plot", "plot-tea", "--from", t1, "--to", t2,
                      "-o", out, "--plain", "--wait", "0")
        self.assertEqual(res.returncode, 0, res.describe())
        return out, t1, t2

    def verify(self, path, key, *extra):
        return h.selgw("verify", path, "--pubkey", self.keys[key][1], *extra)

    def test_seals_witnessed_and_verified(self):
        self.start_archive()
        archive_pub = self.keys["archive"][1]
        archive_hex = archive_pub.split(":", 1)[1]
        # the gateway journals statements by the archive's key only (uplink.witness_keys)
        cfg_path, records = self.run_until_witnessed("itest-w-gw", "gw", 6,
                                                     witness_keys=[archive_pub], records=5)

        # the journal: WITNESS records in the gateway chain, one per seal, each naming a
        # seal the journal holds by its hash, the archive's key and the archive's time
        seals = {r["hash"]: r for r in records if r["type"] == "seal"}
        witnesses = [r for r in records if r["type"] == "witness"]
        self.assertGreaterEqual(len(witnesses), 2)
        pg = {(row[1], row[2]): int(row[3]) for row in self.witnessed_rows("itest-w-gw")}
        seen = set()
        for w in witnesses:
            self.assertEqual(w["chain"], "gateway")
            self.assertIn(w["seal_hash"], seals, f"names no seal of the journal: {w}")
            self.assertEqual(seals[w["seal_hash"]]["chain_seq"], w["seal_seq"])
            self.assertEqual(w["witness_key"], archive_hex)
            self.assertNotIn(w["seal_hash"], seen, "one seal's statement journaled twice")
            seen.add(w["seal_hash"])
            self.assertIn((w["seal_hash"], archive_hex), pg)
            self.assertGreater(w["seq"], seals[w["seal_hash"]]["seq"])
        self.assert_final_seals_last(records)
        h.say(f"{len(seals)} seals journaled, {len(witnesses)} WITNESS records journaled, "
              f"{len(pg)} statements in evidence_witness")

        # the bundle: verified, and witnessed by the trusted archive key
        path, t1, t2 = self.export(cfg_path, records, "w.evidence")
        text = bd.read_text(path)
        self.assertIn(b"record ", text)
        carried = [r for r in bd.Bundle(path).records if r.type == WITNESS]
        self.assertGreaterEqual(len(carried), 2, "the bundle carries too few WITNESS records")
        res = self.verify(path, "gw", "--witness-key", archive_pub)
        self.assertEqual(res.returncode, 0, res.describe())
        # the count is out of the seals before the closing seal (whose statement comes after
        # it, outside the bundle): those a statement in the bundle names
        in_bundle = bd.Bundle(path).records
        self.assertEqual(in_bundle[-1].type, bd.SEAL)
        before_closing = [r for r in in_bundle[:-1] if r.type == bd.SEAL]
        named = {statement_fields(r)[1] for r in carried}
        k = sum(r.hash in named for r in before_closing)
        self.assertGreaterEqual(k, 1)
        self.assertIn(f"  witnessed:  {k} of {len(before_closing)} seals before the closing seal "
                      f"by a trusted witness; the seal of ", res.stdout)
        self.assertRegex(res.stdout, r"sealed no later than \S+, witnessed by [0-9a-f-]+: the "
                                     r"records it covers existed by then")
        self.assertRegex(res.stdout, r"WITNESS: the seal of \S+ \(record \d+\) was sealed no later "
                                     r"than \S+, witnessed by " + archive_pub +
                                     r" \([0-9a-f-]+\), a trusted witness")
        self.assertNotIn("WARNING", res.stdout)
        # the witnessed time verify prints is the archive's, as PostgreSQL holds it
        first = carried[0]
        when = struct.unpack("<q", bytes(first.payload[-72:-64]))[0]
        self.assertEqual(when, pg[(first.payload[first.body_at + 8:first.body_at + 40].hex(),
                                   archive_hex)])
        self.assertIn("sealed no later than " + utc(when), res.stdout)
        # the report (zh-CN by default, en on request) lists the statements among the events
        for lang, want in (("zh", "见证者密钥指纹"), ("en", "was sealed no later than")):
            html = os.path.join(self.dir, f"w-{lang}.html")
            res = self.verify(path, "gw", "--witness-key", archive_pub, "--report", html,
                              "--lang", lang)
            self.assertEqual(res.returncode, 0, res.describe())
            with open(html, encoding="utf-8") as f:
                page = f.read()
            self.assertIn('<tr class="witness">', page)
            self.assertIn(want, page)
            self.assertIn("受信任的见证者" if lang == "zh" else "(a trusted witness)", page)
        # the witness named in a file of keys, with its label
        res = self.verify(path, "gw", "--witness-key",
                          os.path.join(self.dir, "itest-w-gw-witnesses"))
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn('a trusted witness "archive"', res.stdout)
        # another key: reported as not trusted, not counted
        res = self.verify(path, "gw", "--witness-key", self.keys["other"][1])
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn(f"witnessed:  0 of {len(before_closing)} seals before the closing seal by "
                      f"a trusted witness; {len(carried)} statements by an untrusted key",
                      res.stdout)
        self.assertIn("not judged: key not trusted", res.stdout)
        self.assertNotIn("sealed no later than", res.stdout)
        # no witness key: any key could have signed (the gateway's owner's own, to backdate):
        # the statements are claims, listed and not counted
        res = self.verify(path, "gw")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn(f"witnessed:  0 of {len(before_closing)} seals before the closing seal by "
                      f"a trusted witness (no --witness-key given); {len(carried)} statements "
                      f"not judged", res.stdout)
        self.assertRegex(res.stdout, r"WITNESS: statement by key " + archive_pub +
                         r" \([0-9a-f-]+\) claims it had the seal of \S+ \(record \d+\) at "
                         r"\S+; not judged: no --witness-key given")
        self.assertNotIn("sealed no later than", res.stdout)
        for lang, want in (("zh", "未判断：未给出 --witness-key"),
                           ("en", "not judged: no --witness-key given")):
            html = os.path.join(self.dir, f"unjudged-{lang}.html")
            res = self.verify(path, "gw", "--report", html, "--lang", lang)
            self.assertEqual(res.returncode, 0, res.describe())
            with open(html, encoding="utf-8") as f:
                page = f.read()
            self.assertIn(want, page)
            self.assertNotIn("不晚于" if lang == "zh" else "sealed no later than", page)
        # witness keys that are no keys: a usage error, as a bad --pubkey
        for bad in ("ed25519:zz", os.path.join(self.dir, "no-such-keys-file")):
            res = self.verify(path, "gw", "--witness-key", bad)
            self.assertEqual(res.returncode, 2, res.describe())
            self.assertIn(f"NOT VERIFIED: --witness-key {bad}: ", res.stdout)
        h.say(f"plot-tea {t1} .. {t2}: {len(carried)} WITNESS records in the bundle, VERIFIED, "
              f"witnessed by the archive's key")

        # the same bundle from the archive (which stored the WITNESS records that came back)
        from_archive = os.path.join(self.dir, "archive.evidence")
        res = h.selgw("export", "--archive", self.pg.conninfo, "--gateway", "itest-w-gw",
                      "--pubkey", self.keys["gw"][1], "--plot", "plot-tea", "--from", t1,
                      "--to", t2, "-o", from_archive, "--plain")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertEqual(bd.read_text(from_archive), text,
                         "the archive's bundle differs from the journal's")

        # the gateway's owner backdates a witness statement by an hour, relinks the chains
        # and signs the seals again with the gateway's own key: only the witness's
        # signature is left to catch it
        forged = bd.Bundle(path)
        w = next(r for r in forged.records if r.type == WITNESS)
        at = len(w.payload) - 72
        t = struct.unpack("<q", bytes(w.payload[at:at + 8]))[0] - 3600 * 10**9
        w.payload[at:at + 8] = struct.pack("<q", t)
        forged.rechain(seed_of(self.keys["gw"][0]))
        forged_path = os.path.join(self.dir, "forged.evidence")
        forged.save(forged_path)
        res = self.verify(forged_path, "gw", "--witness-key", archive_pub)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertRegex(res.stdout, r"the witness statement of seal \d+ \(witness [0-9a-f-]+\) "
                                     r"does not verify: forged or altered")
        self.assertRegex(res.stdout, r"\nNOT VERIFIED: \d+ problems?\n")
        # and the seals signed again are other seals than the ones the archive witnessed
        later = [r for r in forged.records if r.type == WITNESS and r.jseq > w.jseq]
        self.assertTrue(later, "the backdated statement is the bundle's last")
        self.assertIn("names another seal than the bundle's at that place: forked, forged or "
                      "altered", res.stdout)
        h.say(f"a backdated WITNESS record, resealed with the gateway's key: NOT VERIFIED "
              f"({len(later)} later statements no longer match the resealed seals)")

        # statements verify does not count, or that are problems, signed anew by whoever
        # could: chains relinked and seals signed again with the gateway's key, every other
        # statement signed anew by the archive about its seal as resealed
        gateway = "itest-w-gw"
        gw_key, archive_key = seed_of(self.keys["gw"][0]), seed_of(self.keys["archive"][0])
        other_key = seed_of(self.keys["other"][0])

        def variant(name, change):
            b = bd.Bundle(path)
            relink(b, gateway, gw_key, archive_key, change)
            out = os.path.join(self.dir, name)
            b.save(out)
            return out

        def restated(key, seq=None, seal_hash=None, when=None):
            def change(rec, seals):
                s, _, w = statement_fields(rec)
                s = s if seq is None else seq
                h = seals.get(s, bytes(32)) if seal_hash is None else seal_hash
                set_statement(rec, gateway, key, s, h, w if when is None else when)
            return change

        def other_chain(rec, seals):  # moved to a chain "witness" (a name as long)
            at = 2 + 2  # format, type, the name's u16 length
            self.assertEqual(bytes(rec.payload[at:at + 7]), b"gateway")
            rec.payload[at:at + 7] = b"witness"
            rec.chain = "witness"

        cases = [
            # (name, change, trusted keys, exit status, text)
            ("other-chain", other_chain, [archive_pub], 1,
             "a record of this type does not belong in this chain"),
            ("relinked", restated(archive_key), [archive_pub], 0,
             f"witnessed:  {k} of {len(before_closing)} seals before the closing seal"),
            ("own-key", restated(gw_key), [archive_pub], 1,
             "is signed by the gateway's own key: not a witness"),
            ("year-1970", restated(archive_key, when=0), [archive_pub], 1,
             "gives a time before 2000 or after 2200 (0 ns)"),
            ("far-future", restated(archive_key, when=2**63 - 1), [archive_pub], 1,
             "gives a time before 2000 or after 2200"),
            ("fork-trusted", restated(archive_key, seal_hash=b"\x01" * 32), [archive_pub], 1,
             "names another seal than the bundle's at that place: forked, forged or altered"),
            ("fork-untrusted", restated(other_key, seal_hash=b"\x01" * 32), [archive_pub], 0,
             "(another seal at that place) at "),
            ("no-seal-trusted", restated(archive_key, seq=10**6), [archive_pub], 1,
             "names no seal of this bundle"),
            ("no-seal-untrusted", restated(other_key, seq=10**6), [archive_pub], 0,
             "(no seal of this bundle) at "),
        ]
        for name, change, trusted, status, want in cases:
            forged_path = variant(name + ".evidence", change)
            args = [a for key in trusted for a in ("--witness-key", key)]
            res = self.verify(forged_path, "gw", *args)
            self.assertEqual(res.returncode, status, name + "\n" + res.describe())
            self.assertIn(want, res.stdout, name)
            if name.endswith("untrusted"):
                self.assertIn("not judged: key not trusted", res.stdout, name)
                # the report: its own text, at the witnessed time (not a seal's, of 1970)
                html = os.path.join(self.dir, name + ".html")
                res = self.verify(forged_path, "gw", *args, "--report", html, "--lang", "en")
                with open(html, encoding="utf-8") as f:
                    page = f.read()
                self.assertIn("had a seal that is not in this bundle at" if "no-seal" in name
                              else "claims it had another seal at that place at", page, name)
                self.assertNotIn("1970", page, name)
        h.say(f"{len(cases)} statements signed anew (own key, 1970, 2262, another seal, no "
              f"seal; trusted and not): judged as they should be")

        # the archive's statements did not change meanwhile (a redelivery reuses them)
        now = {(r[1], r[2]): int(r[3]) for r in self.witnessed_rows("itest-w-gw")}
        self.assertLessEqual(pg.items(), now.items())

    def test_statement_waits_for_an_absent_gateway(self):
        """Seals that reach the archive while their gateway is away are witnessed all the
        same; the latest statement, retained at the broker, is journaled when the gateway
        comes back (its uplink keeps a clean session: nothing else waits for it)."""
        archive = self.start_archive()  # its persistent session exists from now on
        self.assertEqual(archive.stop(), 0, archive.describe())
        self.procs.remove(archive)
        # the gateway seals every second; the archive is away: nothing comes back
        cfg_path, gw = self.gateway("itest-w-away", "gw")
        self.procs.append(gw)
        self.assertTrue(h.wait_until(
            lambda: sum(r["type"] == "seal" for r in servers.journal_records(cfg_path)) >= 3,
            h.scaled(20), interval=0.5), gw.describe())
        time.sleep(h.scaled(0.5))
        self.assertEqual(gw.stop(), 0, gw.describe())
        self.procs.remove(gw)
        records = servers.journal_records(cfg_path)
        first_run = {r["hash"]: r for r in records if r["type"] == "seal"}
        self.assertFalse([r for r in records if r["type"] == "witness"])
        # the archive comes back, stores the queued seals and witnesses them: the gateway
        # is away
        self.start_archive()
        self.assertTrue(h.wait_until(
            lambda: len([row for row in self.witnessed_rows("itest-w-away")
                         if row[1] in first_run]) >= 2, h.scaled(20), interval=0.3),
            "the queued seals were not witnessed")
        last = max(first_run.values(), key=lambda r: r["seq"])
        # back: the gateway journals the statement of the last seal of its first run (the
        # one it remembers from its chains), whether the retained statement names it or it
        # reaches the archive only now; a statement of an older seal of the first run (the
        # retained one, when the final seal had not left before the stop) is not journaled
        _, gw = self.gateway("itest-w-away", "gw")
        self.procs.append(gw)

        def journaled():
            return [r for r in servers.journal_records(cfg_path)
                    if r["type"] == "witness" and r["seal_hash"] in first_run]
        self.assertTrue(h.wait_until(lambda: journaled(), h.scaled(20), interval=0.5),
                        "no statement of the first run's last seal came\n" + gw.describe())
        # a restart: the retained statement comes again, and is not journaled again
        self.assertEqual(gw.stop(), 0, gw.describe())
        self.procs.remove(gw)
        _, gw = self.gateway("itest-w-away", "gw")
        self.procs.append(gw)
        self.assertTrue(h.wait_until(
            lambda: sum(r["type"] == "seal" for r in servers.journal_records(cfg_path))
            >= len(first_run) + 4, h.scaled(20), interval=0.5), gw.describe())
        self.assertEqual(gw.stop(), 0, gw.describe())
        self.procs.remove(gw)
        got = journaled()
        self.assert_final_seals_last(servers.journal_records(cfg_path))
        self.assertEqual([r["seal_hash"] for r in got], [last["hash"]], got)
        self.assertEqual(got[0]["seal_seq"], last["chain_seq"])
        rows = self.witnessed_rows("itest-w-away")
        witnessed = [row[1] for row in rows if row[1] in first_run]
        h.say(f"{len(witnessed)} seals of the first run witnessed; the statement of its last "
              f"seal journaled once at its return (record {got[0]['seq']}), none of an older one, "
              f"none again after another restart")

    def publish(self, gateway, payload, content_type="application/vnd.selgw.witness",
                topic="witness", extra=()):
        path = os.path.join(self.dir, "statement.bin")
        with open(path, "wb") as f:
            f.write(payload)
        res = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port),
                              "-q", "1", "-V", "5", "-D", "publish", "content-type", content_type,
                              *extra, "-t", f"{PREFIX}/{gateway}/{topic}", "-f", path],
                             capture_output=True, text=True, timeout=h.scaled(20))
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_bad_statements_are_not_journaled(self):
        """Anyone who can publish to the witness topic: statements about another gateway,
        with a bad signature, by a key not in uplink.witness_keys, by the trusted key but
        naming a seal this gateway never made (or a real one at another position), or with
        another content type: none is journaled; a good one sent after them is, once."""
        gateway = "itest-w-bad"
        # the archive reads bytea back whatever the session's output format (checked at the
        # end, when the gateway sends its records again)
        self.pg.psql("ALTER DATABASE selgw SET bytea_output = 'escape'")
        archive = self.start_archive()
        archive_pub = self.keys["archive"][1]
        cfg_path, gw = self.gateway(gateway, "gw", witness_keys=[archive_pub])
        self.procs.append(gw)
        self.assertTrue(h.wait_until(
            lambda: any(r["type"] == "witness" for r in servers.journal_records(cfg_path)),
            h.scaled(30), interval=0.3), gw.describe())
        # the archive goes: the seals from now on have no statement
        self.assertEqual(archive.stop(), 0, archive.describe())
        self.procs.remove(archive)
        after = max(r["seq"] for r in servers.journal_records(cfg_path))

        def new_seals():
            return [r for r in servers.journal_records(cfg_path)
                    if r["type"] == "seal" and r["seq"] > after]
        self.assertTrue(h.wait_until(lambda: len(new_seals()) >= 2, h.scaled(20), interval=0.3),
                        gw.describe())
        seal = new_seals()[-1]
        seq, hsh = seal["chain_seq"], bytes.fromhex(seal["hash"])
        archive_key, fresh = seed_of(self.keys["archive"][0]), Ed25519PrivateKey.generate()
        now = time.time_ns() // 10**9 * 10**9
        sec = 10**9

        def signed(key, gw=gateway, seal_seq=seq, seal_hash=hsh, when=now):
            pk = raw_public(key)
            sig = key.sign(statement_message(gw, seal_seq, seal_hash, pk, when))
            g = gw.encode()
            return (b"\x01" + struct.pack("<H", len(g)) + g + struct.pack("<Q", seal_seq) +
                    seal_hash + pk + struct.pack("<q", when) + sig)

        good = signed(archive_key, when=now + 7 * sec)
        bad_sig = bytearray(signed(archive_key, when=now + 1 * sec))
        bad_sig[-1] ^= 1
        bad = [
            ("another gateway's id", signed(archive_key, gw="itest-w-other", when=now + 2 * sec)),
            ("a bad signature", bytes(bad_sig)),
            ("a key not in uplink.witness_keys", signed(fresh, when=now + 3 * sec)),
            ("the trusted key, a seal never made", signed(archive_key, seal_hash=bytes(32),
                                                          when=now + 4 * sec)),
            ("the trusted key, another position", signed(archive_key, seal_seq=seq + 1,
                                                         when=now + 5 * sec)),
            ("a fresh key, a real position, a wrong hash", signed(fresh, seal_hash=bytes(32),
                                                                  when=now + 6 * sec)),
        ]
        for _, payload in bad:
            self.publish(gateway, payload)
        self.publish(gateway, good, content_type="text/plain")  # another content type
        self.publish(gateway, good)

        def statements():  # about that seal (one of the archive's may still have come late)
            return [r for r in servers.journal_records(cfg_path)
                    if r["type"] == "witness" and r["seal_hash"] == seal["hash"]]
        self.assertTrue(h.wait_until(lambda: statements(), h.scaled(20), interval=0.3),
                        "the good statement was not journaled\n" + gw.describe())
        self.publish(gateway, good)  # again: journaled once
        self.assertEqual(gw.stop(), 0, gw.describe())
        self.procs.remove(gw)
        got = statements()
        self.assertEqual([(r["seal_hash"], r["seal_seq"], r["witness_key"]) for r in got],
                         [(seal["hash"], seq, archive_pub.split(":", 1)[1])], got)
        self.assertEqual(got[0]["witnessed"], utc(now + 7 * sec))
        self.assertIn("names no recent seal of this gateway", gw.describe())
        h.say(f"{len(bad) + 1} bad statements published to the witness topic: none journaled; "
              f"the good one after them journaled once")

        # the gateway sends everything again (its uplink cursor rewound): the archive takes
        # the seals it has witnessed already with the statements it stored (bytea_output is
        # 'escape'), and goes on to the new seals
        stored = {row[1]: row for row in self.witnessed_rows(gateway)}
        self.assertTrue(stored)
        archive = self.start_archive()
        with open(os.path.join(self.dir, f"journal-{gateway}", "cursor.uplink"), "w") as f:
            f.write("0\n")
        last = max(r["seq"] for r in servers.journal_records(cfg_path))
        _, gw = self.gateway(gateway, "gw", witness_keys=[archive_pub])
        self.procs.append(gw)
        newer = lambda: int(self.pg.psql(  # noqa: E731
            f"SELECT count(*) FROM evidence_witness WHERE gateway = '{gateway}' AND seq > {last}"
        )[0][0])
        self.assertTrue(h.wait_until(lambda: newer() >= 2, h.scaled(30), interval=0.3),
                        archive.describe() + "\n" + gw.describe())
        self.assertIsNone(archive.popen.poll(), archive.describe())
        again = {row[1]: row for row in self.witnessed_rows(gateway)}
        self.assertLessEqual(stored.items(), again.items())
        links = self.pg.psql(f"SELECT link, count(*) FROM evidence_records WHERE gateway = "
                             f"'{gateway}' AND seq <= {last} GROUP BY link")
        self.assertEqual([row[0] for row in links], ["ok"], links)
        self.assertEqual(gw.stop(), 0, gw.describe())
        self.procs.remove(gw)
        h.say(f"the uplink rewound: {len(stored)} witnessed seals sent again, their statements "
              f"read back (bytea_output escape), {newer()} newer seals witnessed")

        # a SEAL record in another chain than the gateway chain: stored, not witnessed
        g, chain, seq = gateway.encode(), b"plot/plot-tea", 10**9
        payload = (struct.pack("<BB", 3, bd.SEAL) + struct.pack("<H", len(chain)) + chain +
                   struct.pack("<Q", 10**6) + bytes(32) + struct.pack("<q", now) +
                   struct.pack("<H", len(g)) + g + struct.pack("<q", now) +
                   struct.pack("<I", 0) + bytes(64))
        self.publish(gateway, payload, "application/vnd.selgw.record", "evidence",
                     ("-D", "publish", "user-property", "selgw-seq", str(seq)))
        stored_seal = lambda: self.pg.psql(  # noqa: E731
            f"SELECT type FROM evidence_records WHERE gateway = '{gateway}' AND seq = {seq}")
        self.assertTrue(h.wait_until(stored_seal, h.scaled(20), interval=0.3),
                        archive.describe())
        self.assertEqual(stored_seal(), [[str(bd.SEAL)]])
        self.assertEqual(self.pg.psql(f"SELECT count(*) FROM evidence_witness WHERE "
                                      f"gateway = '{gateway}' AND seq = {seq}"), [["0"]])

    def test_gateway_clock_ahead_is_flagged(self):
        self.start_archive()
        offset_file = os.path.join(self.dir, "clock.offset")
        with open(offset_file, "wb") as f:
            f.write(struct.pack("<q", -600 * 10**9))  # the gateway's clock 10 min ahead
        lib = os.environ.get("SELGW_CLOCKSTEP_LIB")
        if not lib:
            raise SystemExit("SELGW_CLOCKSTEP_LIB (built as selgw_clockstep) is missing")
        env = {"LD_PRELOAD": lib, "SELGW_CLOCKSTEP_FILE": offset_file,
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        cfg_path, records = self.run_until_witnessed("itest-w-ahead", "gw2", 3, env=env)
        path, _, _ = self.export(cfg_path, records, "ahead.evidence")
        res = self.verify(path, "gw2", "--witness-key", self.keys["archive"][1])
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertRegex(res.stdout, r"WARNING: seal \d+ \(record \d+\) says \S+, but witness "
                                     r"[0-9a-f-]+ had it at \S+: the gateway's clock was ahead of "
                                     r"its witness by (59\d|60\d)\.\d{3} s \(tolerance 300\.000 s\)")
        self.assertIn("the gateway's clock is AHEAD of its witness", res.stdout)
        # a tolerance wider than the offset: no warning
        res = self.verify(path, "gw2", "--witness-key", self.keys["archive"][1],
                          "--witness-tolerance", "900")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertNotIn("WARNING", res.stdout)
        h.say("a gateway 10 minutes ahead of its witness: flagged in verify's warnings")


if __name__ == "__main__":
    unittest.main()
