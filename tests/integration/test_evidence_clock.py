#!/usr/bin/env python3
"""A clock that steps back is said in the evidence, not mistaken for tampering: the gateway
runs under libfaketime (Debian's faketime), whose offset file the test rewrites to set the
gateway's wall clock 2 s back while it polls and seals. The gateway journals a CLOCK record
saying the clock stepped back before any record whose time would look out of order; the
bundle of the period verifies, its summary shows the step, and no "time goes backwards".

The second test steps the clock back with a shim of our own (tests/integration/clockstep.c)
that, unlike libfaketime, does not wake the gateway's timed waits: a slow device's poll can
then begin at a time before what the last seal covers, before the sealer's once-a-second
look at the clock. The gateway must say so in a CLOCK record first, or the verifier rightly
takes the reading for one journaled after a seal that claimed to cover it."""
import glob
import mmap
import os
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def faketime_library():
    found = glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")
    return found[0] if found else None


class SigningGateway(unittest.TestCase):
    """A signing gateway (1 s seals) on simulated devices, run under a clock shim."""
    name = None

    def start_farm(self, devices):
        h.check_binaries()
        self.dir = h.tempdir(self.name)
        self.key = os.path.join(self.dir, "gateway.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        self.pubkey = res.stdout.strip()
        sim_port = h.free_port()
        cfg = h.make_config(
            "itest-" + self.name,
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port}], devices)
        cfg["signing"] = {"secret_key": self.key, "seal_interval": "1s"}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.sim = h.Simulator(self.cfg_path)
        self.gw = None

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()

    def shim_env(self, **env):
        env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
        return env


class ClockStep(SigningGateway):
    name = "evidence-clock"

    def setUp(self):
        self.lib = faketime_library()
        if not self.lib:
            raise SystemExit("libfaketime is missing: scripts/setup.sh installs faketime")
        self.start_farm(
            [{"id": "tea-soil", "bus": "tcp0", "unit_id": 1, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "200ms"},
             {"id": "tea-air", "bus": "tcp0", "unit_id": 2, "profile": "xy-md02",
              "plot": "plot-tea", "interval": "300ms"}])
        self.offset_file = os.path.join(self.dir, "faketime")
        with open(self.offset_file, "w") as f:
            f.write("+0\n")

    def test_step_back_is_recorded_and_verifies(self):
        env = self.shim_env(LD_PRELOAD=self.lib, FAKETIME_TIMESTAMP_FILE=self.offset_file,
                            FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1")
        t0 = time.time()
        self.gw = h.Gateway(self.cfg_path, "--no-print", env=env)
        self.gw.wait_for(r"polling 2 devices", h.scaled(10), stream="err")
        time.sleep(h.scaled(2.5))
        with open(self.offset_file + ".tmp", "w") as f:
            f.write("-2\n")
        os.rename(self.offset_file + ".tmp", self.offset_file)
        h.say("the gateway's clock set 2 s back")
        self.gw.wait_for(r"clock stepped back", h.scaled(5), stream="err")
        time.sleep(h.scaled(3.5))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        t_stop = time.time() - 2  # on the gateway's clock

        steps = [r for r in servers.journal_records(self.cfg_path)
                 if r["type"] == "clock" and r["text"].startswith("stepped back")]
        self.assertTrue(steps, "no CLOCK record says the clock stepped back")
        h.say("CLOCK: " + steps[0]["text"])

        bundle = os.path.join(self.dir, "tea.evidence")
        res = h.selgw("export", "-c", self.cfg_path, "--plot", "plot-tea", "--from",
                      utc(t0 + 1), "--to", utc(t_stop - 1), "-o", bundle)
        self.assertEqual(res.returncode, 0, res.describe())
        res = h.selgw("verify", bundle, "--pubkey", self.pubkey)
        self.assertEqual(res.returncode, 0, res.stdout[-3000:])
        self.assertIn("CLOCK: stepped back", res.stdout)
        self.assertNotIn("time goes backwards", res.stdout)
        h.say("the bundle across the step: VERIFIED, the step in its events")


class ClockStepBetweenSealAndPoll(SigningGateway):
    name = "evidence-clock-covers"

    def setUp(self):
        self.lib = os.environ.get("SELGW_CLOCKSTEP_LIB")
        if not self.lib or not os.path.exists(self.lib):
            raise SystemExit("SELGW_CLOCKSTEP_LIB (built as selgw_clockstep) is missing")
        # slow devices on intervals that drift against the 1 s seal interval
        self.start_farm(
            [{"id": "soil-%d" % i, "bus": "tcp0", "unit_id": i, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "%dms" % (2300 + 370 * i)} for i in range(1, 9)])
        self.offset_file = os.path.join(self.dir, "clock-offset")
        with open(self.offset_file, "wb") as f:
            f.write(struct.pack("<q", 0))

    def test_poll_before_what_the_last_seal_covers(self):
        env = self.shim_env(LD_PRELOAD=self.lib, SELGW_CLOCKSTEP_FILE=self.offset_file)
        t0 = time.time()
        self.gw = h.Gateway(self.cfg_path, "--no-print", env=env)
        self.gw.wait_for(r"polling 8 devices", h.scaled(10), stream="err")
        time.sleep(h.scaled(3))
        with open(self.offset_file, "r+b") as f:
            offset = mmap.mmap(f.fileno(), 8)
            steps = 8
            for k in range(1, steps + 1):  # 2 s back every 4.37 s: 16 s in all
                offset[:8] = struct.pack("<q", 2 * k * 10**9)
                time.sleep(h.scaled(4.37))
            offset.close()
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        t_stop = time.time() - 2 * steps  # on the gateway's clock

        records = servers.journal_records(self.cfg_path)
        covers, checked, said = None, 0, 0
        for r in records:
            if r["type"] == "seal":
                covers, stepped = r.get("covers_until"), False
            elif r["type"] == "clock" and r["text"].startswith("stepped back"):
                stepped = True
                said += "the last seal covers the polls begun before" in r["text"]
            elif r["type"] == "reading" and covers and r["time"] < covers:
                self.assertTrue(stepped, "reading %d of %s is before what the seal before it "
                                "covers (%s), with no CLOCK record between" %
                                (r["seq"], r["time"], covers))
                checked += 1
        h.say("%d readings began before what the seal before them covers, each after a CLOCK "
              "record; %d such records name the seal" % (checked, said))

        bundle = os.path.join(self.dir, "tea.evidence")
        res = h.selgw("export", "-c", self.cfg_path, "--plot", "plot-tea", "--from",
                      utc(t0 + 1), "--to", utc(t_stop - 1), "-o", bundle)
        self.assertEqual(res.returncode, 0, res.describe())
        res = h.selgw("verify", bundle, "--pubkey", self.pubkey)
        self.assertEqual(res.returncode, 0, res.stdout[-3000:])
        h.say("the bundle across %d steps: VERIFIED" % steps)


if __name__ == "__main__":
    unittest.main(verbosity=2)
