#!/usr/bin/env python3
"""Evidence of origin, end to end: a gateway with a signing key polls simulated devices on
two plots, is killed once with SIGKILL and restarted, goes through an MQTT-less outage of
nothing in particular, takes an annotation (a lab result), and stops cleanly. The bundle
exported for one plot verifies offline and names the plot's households, fields and the
annotation; the other plot's device is not in it. Editing one byte of a reading in the
bundle, or removing a record, makes verification fail and name the record."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle as B  # noqa: E402
import harness as h  # noqa: E402


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Evidence(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("evidence")
        self.key = os.path.join(self.dir, "gateway.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        self.pubkey = res.stdout.strip()
        self.assertRegex(self.pubkey, r"^ed25519:[0-9a-f]{64}$")
        self.assertEqual(os.stat(self.key).st_mode & 0o777, 0o600)
        sim_port = h.free_port()
        cfg = h.make_config(
            "itest-evidence",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
            [{"id": "tea-soil", "bus": "tcp0", "unit_id": 1, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "200ms"},
             {"id": "tea-npk", "bus": "tcp0", "unit_id": 2, "profile": "sn-3002-tr-ecthnpkph",
              "plot": "plot-tea", "interval": "300ms"},
             {"id": "konjac-soil", "bus": "tcp0", "unit_id": 3, "profile": "cwt-soil-thc-s",
              "plot": "plot-konjac", "interval": "200ms"}])
        cfg["signing"] = {"secret_key": self.key, "seal_interval": "1s"}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.sim = h.Simulator(self.cfg_path)
        self.gw = None

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()

    def run_gateway(self):
        t0 = time.time()
        gw = h.Gateway(self.cfg_path, "--no-print")
        gw.wait_for(r"polling 3 devices", h.scaled(10), stream="err")
        time.sleep(h.scaled(2.5))
        gw.stop(sig=signal.SIGKILL)  # a crash: no clean stop, no final seal
        h.say("first run killed with SIGKILL")
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 3 devices", h.scaled(10), stream="err")
        time.sleep(h.scaled(1))
        # the devices' outage: the simulator goes away for a while (failed polls, a gap)
        self.sim.stop()
        time.sleep(h.scaled(1.2))
        self.sim = h.Simulator(self.cfg_path)
        h.say("simulator stopped for 1.2 s and started again")
        res = h.selgw("annotate", "-c", self.cfg_path, "--plot", "plot-tea", "--text",
                      "soil selenium 0.62 mg/kg (NY/T 600-2002 range 0.25-4.00)",
                      "--ref", "LAB-2026-0412")
        self.assertEqual(res.returncode, 0, res.describe())
        time.sleep(h.scaled(2.5))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        return t0

    def export(self, t_from, t_to, name="plot-tea.evidence", *args):
        out = os.path.join(self.dir, name)
        res = h.selgw("export", "-c", self.cfg_path, "--plot", "plot-tea", "--from",
                      utc(t_from), "--to", utc(t_to), "-o", out, *args)
        self.assertEqual(res.returncode, 0, res.describe())
        # the hash an operator writes down: of the uncompressed text, on stdout
        m = re.fullmatch(r"bundle hash: (blake2b-256:[0-9a-f]{64})\n", res.stdout)
        self.assertTrue(m, res.describe())
        self.assertEqual(m.group(1), B.text_hash(B.read_text(out)))
        self.last_hash = m.group(1)
        return out

    def verify(self, path):
        return h.selgw("verify", path, "--pubkey", self.pubkey)

    def test_export_verifies_and_tampering_fails(self):
        t0 = self.run_gateway()
        # The period starts after the first seal of the first run and ends before the
        # final seal of the clean stop.
        t_to = time.time() - 1
        bundle = self.export(t0 + 2, t_to)
        res = self.verify(bundle)
        self.assertEqual(res.returncode, 0, res.describe())
        out = res.stdout
        h.say("summary:\n" + "\n".join("    " + x for x in out.splitlines()[:40]))
        self.assertIn("plot-tea", out)
        self.assertIn("HH-101", out)      # a household contracted on the plot
        self.assertIn("LAB-2026-0412", out)
        self.assertIn("soil_moisture", out)
        self.assertIn("VERIFIED", out)
        self.assertRegex(out, r"failed poll")  # the outage is in the record, with its reason
        # gzip by default (zcat reads it); verify prints the same hash as export did
        with open(bundle, "rb") as f:
            self.assertEqual(f.read(2), b"\x1f\x8b")
        self.assertIn("\n  bundle:     %s\n" % self.last_hash, out)
        gz_hash = self.last_hash
        plain = self.export(t0 + 2, t_to, "plot-tea-plain.evidence", "--plain")
        self.assertEqual(self.last_hash, gz_hash)
        res = self.verify(plain)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("\n  bundle:     %s\n" % gz_hash, res.stdout)
        self.assertEqual(res.stdout.splitlines()[-1], out.splitlines()[-1])
        if shutil.which("b2sum") and shutil.which("zcat"):
            # the command docs/EVIDENCE.md gives to check the hash by hand
            b2 = subprocess.run("zcat %s | b2sum -l 256" % bundle, shell=True,
                                capture_output=True, text=True, check=True).stdout
            self.assertEqual("blake2b-256:" + b2.split()[0], gz_hash)
        lines = B.read_text(bundle).decode().splitlines()
        self.assertNotIn("konjac-soil", "\n".join(lines) + out)
        records = [i for i, x in enumerate(lines) if x.startswith("record ")]

        # one byte of one reading changed
        i = records[len(records) // 2]
        tag, seq, payload = lines[i].split(" ", 2)
        raw = bytearray(base64.b64decode(payload))
        raw[-3] ^= 0x01
        edited = lines[:i] + [f"{tag} {seq} {base64.b64encode(bytes(raw)).decode()}"] + lines[i + 1:]
        path = os.path.join(self.dir, "edited.evidence")
        with open(path, "w") as f:
            f.write("\n".join(edited) + "\n")
        res = self.verify(path)
        self.assertNotEqual(res.returncode, 0)
        self.assertRegex(res.stdout + res.stderr, r"record %s\b" % seq)
        h.say("edited byte detected: " + next(x for x in (res.stdout + res.stderr).splitlines()
                                             if "record" in x and seq in x))

        # a record deleted (the end count fixed, as a forger would)
        j = records[len(records) // 3]
        del_seq = lines[j].split()[1]
        deleted = lines[:j] + lines[j + 1:]
        deleted = [x if not x.startswith("end ") else "end %d" % (len(records) - 1)
                   for x in deleted]
        path = os.path.join(self.dir, "deleted.evidence")
        with open(path, "w") as f:
            f.write("\n".join(deleted) + "\n")
        res = self.verify(path)
        self.assertNotEqual(res.returncode, 0, res.describe())
        self.assertRegex(res.stdout, r"missing")
        h.say("deleted record %s detected: %s" % (del_seq, next(
            x for x in res.stdout.splitlines() if "missing" in x).strip()))

        # a different key
        other = os.path.join(self.dir, "other.key")
        other_pub = h.selgw("keygen", other).stdout.strip()
        res = h.selgw("verify", bundle, "--pubkey", other_pub)
        self.assertNotEqual(res.returncode, 0)

    def test_export_of_today_asks_for_a_seal(self):
        """With seals an hour apart, the readings of the last seconds are exported at once:
        export asks the running gateway for a seal (SIGUSR1) and waits for it. With the
        gateway gone (killed: no seal at its stop), it refuses and says so."""
        with open(self.cfg_path) as f:
            text = f.read()
        self.assertIn("seal_interval: 1s", text)
        with open(self.cfg_path, "w") as f:
            f.write(text.replace("seal_interval: 1s", "seal_interval: 1h"))
        t0 = time.time()
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 3 devices", h.scaled(10), stream="err")
        time.sleep(h.scaled(2.5))
        t_to = time.time()
        out = os.path.join(self.dir, "today.evidence")
        res = h.selgw("export", "-c", self.cfg_path, "--plot", "plot-tea", "--from",
                      utc(t0 - 1), "--to", utc(t_to), "-o", out,
                      "--wait", "20")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("asked the running gateway (pid %d) for one" % self.gw.pid,
                      res.stderr)
        self.gw.wait_for(r"seal asked for \(SIGUSR1\): sealing now", h.scaled(5), stream="err")
        res = self.verify(out)
        self.assertEqual(res.returncode, 0, res.describe())
        # export waited by reading the journal's lock file, where the gateway announces each
        # committed seal beside its pid: the announced seal is the journal's last seal
        with open(os.path.join(self.dir, "journal-gw", "lock")) as f:
            pid_line, seal_line = f.read().splitlines()
        self.assertEqual(int(pid_line), self.gw.pid)
        seal_seq, covers_ns = (int(x) for x in seal_line.split())
        res = h.selgw("journal", "-c", self.cfg_path, "--dump")
        seals = [json.loads(line) for line in res.stdout.splitlines()
                 if '"type":"seal"' in line]
        self.assertTrue(seals and seals[-1]["seq"] == seal_seq, (seal_seq, seals[-1:]))
        self.assertGreaterEqual(covers_ns, int(t_to) * 10**9)
        h.say("today's data exported at once: " + res.stdout.splitlines()[-1][:80])

        # killed: no final seal, nobody to ask
        self.gw.stop(sig=signal.SIGKILL)
        self.gw = None
        time.sleep(0.2)
        # (an end after the requested seal for sure: utc() drops the fraction of a second)
        res = h.selgw("export", "-c", self.cfg_path, "--plot", "plot-tea", "--from",
                      utc(t0 - 1), "--to", utc(time.time() + 2), "-o", out + "2")
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("no seal covers every poll begun before", res.stderr)
        self.assertIn("yet, and the gateway is not running (no gateway is running on journal",
                      res.stderr)
        self.assertIn("its next start and clean stop will seal the period", res.stderr)
        self.assertFalse(os.path.exists(out + "2"))
        h.say("without a gateway: " + res.stderr.strip()[:160])

    def test_key_permissions(self):
        os.chmod(self.key, 0o644)
        res = h.selgw("run", "--once", "-c", self.cfg_path)
        self.assertNotEqual(res.returncode, 0)
        self.assertRegex(res.stderr, r"gw.yaml:\d+:\d+: secret_key: .* is accessible by others \(mode 0644\); chmod 600")
        os.chmod(self.key, 0o600)
        os.rename(self.key, self.key + ".moved")
        res = h.selgw("check", self.cfg_path)
        self.assertEqual(res.returncode, 2)
        self.assertIn("secret_key", res.stderr)
        h.say("a readable key is refused; a missing one is a config error at its position")


if __name__ == "__main__":
    unittest.main(verbosity=2)
