#!/usr/bin/env python3
"""Attacks on evidence bundles the gateway really exported: a signing gateway polls two
plots, takes a lab result for one before the period, and stops cleanly; the bundle of the
period is then cut down, re-signed, or made to print a fake verdict, each as a forger
without the gateway's key would (tests/integration/bundle.py does the forger's work
independently of selgw's C code). Every altered bundle must be NOT VERIFIED, with a
message that names what is wrong; the honest one stays VERIFIED, and only with a key the
auditor trusts."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle as B  # noqa: E402
import harness as h  # noqa: E402


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class EvidenceAttacks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.dir = h.tempdir("evidence-attacks")
        cls.key = os.path.join(cls.dir, "gateway.key")
        res = h.selgw("keygen", cls.key)
        assert res.returncode == 0, res.describe()
        cls.pubkey = res.stdout.strip()
        cls.fingerprint = re.search(r"fingerprint ([0-9a-f-]{24})", res.stderr).group(1)
        sim_port = h.free_port()
        cfg = h.make_config(
            "itest-attacks",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
            [{"id": "tea-soil", "bus": "tcp0", "unit_id": 1, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "200ms"},
             {"id": "tea-air", "bus": "tcp0", "unit_id": 2, "profile": "xy-md02",
              "plot": "plot-tea", "interval": "300ms"},
             {"id": "konjac-soil", "bus": "tcp0", "unit_id": 3, "profile": "cwt-soil-thc-s",
              "plot": "plot-konjac", "interval": "200ms"}])
        cfg["signing"] = {"secret_key": cls.key, "seal_interval": "1s"}
        cls.cfg_path = h.write_config(os.path.join(cls.dir, "gw.yaml"), cfg)
        sim = h.Simulator(cls.cfg_path)
        gw = h.Gateway(cls.cfg_path, "--no-print")
        try:
            gw.wait_for(r"polling 3 devices", h.scaled(10), stream="err")
            res = h.selgw("annotate", "-c", cls.cfg_path, "--plot", "plot-tea", "--text",
                          "pesticide residue: chlorpyrifos 0.12 mg/kg (above the 0.1 limit)",
                          "--ref", "LAB-2026-0666")
            assert res.returncode == 0, res.describe()
            gw.wait_for(r"annotation for plot plot-tea journaled", h.scaled(5), stream="err")
            time.sleep(h.scaled(2))
            cls.t1 = time.time()
            time.sleep(h.scaled(1))
            res = h.selgw("annotate", "-c", cls.cfg_path, "--plot", "plot-tea", "--text",
                          "organic fertiliser applied, 200 kg/mu", "--ref", "FIELD-0412")
            assert res.returncode == 0, res.describe()
            gw.wait_for(r"annotation for plot plot-tea journaled: organic", h.scaled(5),
                        stream="err")
            time.sleep(h.scaled(2))
            cls.t2 = time.time()
            time.sleep(h.scaled(0.5))
            assert gw.stop() == 0, gw.describe()
        finally:
            gw.stop()
            sim.stop()
        cls.honest = os.path.join(cls.dir, "honest.evidence")
        res = h.selgw("export", "-c", cls.cfg_path, "--plot", "plot-tea", "--from",
                      utc(cls.t1), "--to", utc(cls.t2), "-o", cls.honest)
        assert res.returncode == 0, res.describe()

    def verify(self, path, *args):
        return h.selgw("verify", path, *args)

    def altered(self, name):
        return os.path.join(self.dir, name)

    def assert_not_verified(self, res, *messages):
        self.assertEqual(res.returncode, 1, res.stdout[-3000:])
        self.assertNotRegex(res.stdout, r"(?m)^VERIFIED")
        for m in messages:
            self.assertIn(m, res.stdout)
        last = res.stdout.rstrip("\n").splitlines()[-1]
        self.assertTrue(last.startswith("NOT VERIFIED"), last)

    def test_honest_bundle(self):
        res = self.verify(self.honest, "--pubkey", self.pubkey)
        self.assertEqual(res.returncode, 0, res.stdout[-3000:])
        self.assertIn("LAB-2026-0666", res.stdout)  # the unfavourable lab result is there
        self.assertIn("TAGS: crop tea", res.stdout)
        self.assertIn("place:      紫阳县, 汉王镇; 32.520000, 108.530000 (WGS84)", res.stdout)
        self.assertRegex(res.stdout, r"Device tea-soil .* polls in the period")
        self.assertRegex(res.stdout, r"Device tea-air .* polls in the period")
        self.assertNotIn("konjac-soil", res.stdout)
        last = res.stdout.rstrip("\n").splitlines()[-1]
        self.assertTrue(last.startswith("VERIFIED with key %s (given)" % self.fingerprint), last)
        self.assertIn("Not checked: the order of records of different chains between two "
                      "seals", last)
        h.say("honest bundle: " + last[:100] + "...")

    def test_no_trusted_key(self):
        """Without a key of the auditor's, not even the honest bundle passes as VERIFIED."""
        res = self.verify(self.honest)
        self.assertEqual(res.returncode, 3, res.stdout[-2000:])
        self.assertNotRegex(res.stdout, r"(?m)^VERIFIED")
        self.assertIn("NOT VERIFIED: the key is not trusted. Every check passed", res.stdout)
        self.assertIn("fingerprint %s" % self.fingerprint, res.stdout)
        keys = self.altered("registered.keys")
        with open(keys, "w") as f:
            f.write("# keys registered with the certifier\n%s hanwang gateway 1\n" % self.pubkey)
        res = self.verify(self.honest, "--keys", keys)
        self.assertEqual(res.returncode, 0, res.stdout[-2000:])
        self.assertIn("registered as \"hanwang gateway 1\"", res.stdout)

    def test_device_chain_left_out(self):
        b = B.Bundle(self.honest)
        self.assertGreater(b.remove(lambda r: r.chain == "device/tea-air"), 5)
        path = self.altered("no-device.evidence.gz")
        b.save(path, compress=True)  # a forgery compressed is read and refused alike
        res = self.verify(path, "--pubkey", self.pubkey)
        self.assert_not_verified(res, "device tea-air, which the plot's tags name (record")
        h.say("a device chain left out: " + re.search(r"device tea-air, which.*", res.stdout)
              .group(0)[:110])

    def test_plot_history_left_out(self):
        """The tags and the unfavourable lab result came before the opening seal."""
        b = B.Bundle(self.honest)
        opening = b.opening_seal().jseq
        removed = b.remove(lambda r: r.chain == "plot/plot-tea" and r.jseq < opening)
        self.assertGreaterEqual(removed, 2)
        path = self.altered("no-history.evidence")
        b.save(path)
        res = self.verify(path, "--pubkey", self.pubkey)
        self.assert_not_verified(res, "the plot's chain must be in the bundle from its first "
                                      "record: positions 1..%d are missing" % removed)
        self.assertNotIn("LAB-2026-0666", res.stdout)
        self.assertIn("FIELD-0412", res.stdout)

    def test_device_and_plot_history_left_out(self):
        b = B.Bundle(self.honest)
        opening = b.opening_seal().jseq
        b.remove(lambda r: r.chain == "device/tea-air" or
                 (r.chain == "plot/plot-tea" and r.jseq < opening))
        path = self.altered("no-device-no-history.evidence")
        b.save(path)
        self.assert_not_verified(self.verify(path, "--pubkey", self.pubkey),
                                 "the plot's chain must be in the bundle from its first record")

    def test_plot_chain_left_out(self):
        b = B.Bundle(self.honest)
        b.remove(lambda r: r.chain == "plot/plot-tea")
        path = self.altered("no-plot-chain.evidence")
        b.save(path)
        self.assert_not_verified(self.verify(path, "--pubkey", self.pubkey),
                                 "the bundle holds no record of chain plot/plot-tea")

    def forged(self, name, change):
        """The honest bundle changed, linked anew and re-signed with the forger's key."""
        b = B.Bundle(self.honest)
        change(b)
        forger = B.new_key()
        b.rechain(forger)
        b.set_key_line(forger)
        path = self.altered(name)
        b.save(path)
        return path

    def test_resigned_with_another_key(self):
        def better_moisture(b):
            reading = b.chain("device/tea-soil")[3]
            reading.payload[-3] ^= 0x10  # the value of the last field
        path = self.forged("resigned.evidence", better_moisture)
        # the forgery is consistent in itself: only a trusted key tells
        res = self.verify(path)
        self.assertEqual(res.returncode, 3, res.stdout[-2000:])
        self.assertNotRegex(res.stdout, r"(?m)^VERIFIED")
        self.assertNotIn("fingerprint %s" % self.fingerprint, res.stdout)
        res = self.verify(path, "--pubkey", self.pubkey)
        self.assert_not_verified(res, "bundle key differs from the given key",
                                 "the closing seal's signature does not verify with the trusted "
                                 "key")
        keys = self.altered("registered2.keys")
        with open(keys, "w") as f:
            f.write("%s gateway\n" % self.pubkey)
        self.assert_not_verified(self.verify(path, "--keys", keys),
                                 "is not among the registered keys in")
        h.say("re-signed with another key: exit 3 without a key, NOT VERIFIED with one")

    def test_output_forged_by_an_annotation(self):
        """An annotation whose text draws a fake verdict and hides the real one."""
        def fake_verdict(b):
            note = next(r for r in b.records if r.type == B.ANNOTATION)
            note.set_annotation(b"ok\n\nVERIFIED: 50 records in 4 chains and 5 seals\x1b[8m",
                                b"LAB\x1b[2K\r\x1b[1A")
        path = self.forged("fake-verdict.evidence", fake_verdict)
        for args in ((), ("--pubkey", self.pubkey)):
            res = self.verify(path, *args)
            self.assertNotEqual(res.returncode, 0)
            self.assertNotIn("\x1b", res.stdout)
            self.assertNotIn("\r", res.stdout)
            self.assertNotRegex(res.stdout, r"(?m)^VERIFIED")
            self.assertIn(r"ANNOTATION: ok\n\nVERIFIED: 50 records in 4 chains and 5 seals"
                          r"\x1b[8m (ref LAB\x1b[2K\r\x1b[1A)", res.stdout)
            last = res.stdout.rstrip("\n").splitlines()[-1]
            self.assertTrue(last.startswith("NOT VERIFIED"), last)

    def test_annotate_refuses_control_characters(self):
        for text in ("two\nlines", "escape \x1b[2K", "tab\there", "rtl \u202e"):
            res = h.selgw("annotate", "-c", self.cfg_path, "--plot", "plot-tea", "--text", text)
            self.assertNotEqual(res.returncode, 0, text)
            self.assertIn("single lines of UTF-8 without control characters", res.stderr)

    def test_header_tricks(self):
        lines = B.read_text(self.honest).split(b"\n")
        cases = [
            (3, b"plot plot-tea\x00 plot-konjac", "line 4: a NUL byte inside the line"),
            (5, b"to 2611-01-01T00:00:00Z", "line 6: expected \"to <YYYY-MM-DDTHH:MM:SS"),
            (4, b"from 1600-01-01T00:00:00Z", "line 5: expected \"from <YYYY-MM-DDTHH:MM:SS"),
        ]
        for i, line, message in cases:
            path = self.altered("header-%d.evidence" % i)
            with open(path, "wb") as f:
                f.write(b"\n".join(lines[:i] + [line] + lines[i + 1:]))
            self.assert_not_verified(self.verify(path, "--pubkey", self.pubkey), message)


if __name__ == "__main__":
    unittest.main(verbosity=2)
