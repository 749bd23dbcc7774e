#!/usr/bin/env python3
"""Evidence survives crashes: a signing gateway with a 1 s seal interval and fast devices is
killed with SIGKILL again and again, at random moments and right after it rewrote its chain
state (the moment a state naming uncommitted records used to break the chains), with the
default 50 ms commit interval and with a 1 s one. Afterwards every plot's whole period, and
random periods within it, export and VERIFY: crashes show as starts after a run with no
stop, never as broken links.

SELGW_CRASH_KILLS sets the number of kills (32 by default; scripts/bench.sh runs more)."""
import os
import random
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

KILLS = int(os.environ.get("SELGW_CRASH_KILLS", "32"))


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


class EvidenceCrash(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("evidence-crash")
        self.key = os.path.join(self.dir, "gateway.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        self.pubkey = res.stdout.strip()
        sim_port = h.free_port()
        self.journal = os.path.join(self.dir, "journal")
        self.configs = []
        for commit in ("50ms", "1s"):
            cfg = h.make_config(
                "itest-crash",
                [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
                [{"id": "tea-soil", "bus": "tcp0", "unit_id": 1, "profile": "cwt-soil-thc-s",
                  "plot": "plot-tea", "interval": "100ms"},
                 {"id": "tea-air", "bus": "tcp0", "unit_id": 2, "profile": "xy-md02",
                  "plot": "plot-tea", "interval": "150ms"},
                 {"id": "konjac-soil", "bus": "tcp0", "unit_id": 3, "profile": "cwt-soil-thc-s",
                  "plot": "plot-konjac", "interval": "100ms"}])
            cfg["journal"] = {"dir": self.journal, "commit_interval": commit}
            cfg["signing"] = {"secret_key": self.key, "seal_interval": "1s"}
            self.configs.append(h.write_config(
                os.path.join(self.dir, "gw-%s.yaml" % commit), cfg))
        self.sim = h.Simulator(self.configs[0])
        self.gw = None

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()

    def state_id(self):
        try:
            st = os.stat(os.path.join(self.journal, "chains.state"))
            return (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            return None

    def start(self, cfg):
        self.gw = h.Gateway(cfg, "--no-print")
        self.gw.wait_for(r"polling 3 devices", h.scaled(10), stream="err")

    def kill_after_state_write(self):
        """SIGKILL within about a millisecond of the chain state being renamed into place."""
        before = self.state_id()
        deadline = time.monotonic() + h.scaled(5)
        while time.monotonic() < deadline:
            if self.state_id() != before:
                self.gw.stop(sig=signal.SIGKILL)
                return True
            time.sleep(0.0005)
        self.gw.stop(sig=signal.SIGKILL)
        return False

    def export_and_verify(self, plot, t1, t2, name):
        out = os.path.join(self.dir, name)
        res = h.selgw("export", "-c", self.configs[0], "--plot", plot, "--from", utc(t1),
                      "--to", utc(t2), "-o", out)
        self.assertEqual(res.returncode, 0, "%s %s..%s: %s" % (plot, utc(t1), utc(t2),
                                                             res.describe()))
        res = h.selgw("verify", out, "--pubkey", self.pubkey)
        self.assertEqual(res.returncode, 0, "%s %s..%s:\n%s" % (plot, utc(t1), utc(t2),
                                                               res.stdout[-4000:]))
        self.assertIn("\nVERIFIED with key", res.stdout)
        return res.stdout

    def test_sigkill_never_breaks_a_chain(self):
        rnd = random.Random(int(os.environ.get("SELGW_TEST_SEED", "7")))
        t0 = time.time()
        after_write = 0
        for i in range(KILLS):
            self.start(self.configs[i % 2])
            if i % 2:
                after_write += self.kill_after_state_write()
            else:
                time.sleep(rnd.uniform(0.2, 2.5))
                self.gw.stop(sig=signal.SIGKILL)
        h.say("%d SIGKILLs (%d within a millisecond of the chain state being written), "
              "commit intervals 50 ms and 1 s" % (KILLS, after_write))
        self.assertGreaterEqual(after_write, KILLS // 2 - 2)
        self.start(self.configs[0])
        time.sleep(h.scaled(2.5))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        t_end = time.time() - 0.5

        # the whole period, for each plot
        summary = self.export_and_verify("plot-tea", t0 - 1, t_end, "tea-all.evidence")
        crashes = len(re.findall(r"the run before it has no STOP: a crash or power cut",
                                 summary))
        starts = len(re.findall(r"  START: ", summary))
        h.say("plot-tea, whole period: VERIFIED; %d starts, %d after a crash" % (starts, crashes))
        self.assertGreaterEqual(starts, KILLS // 2)
        self.assertGreaterEqual(crashes, KILLS // 2)
        self.assertLessEqual(crashes, KILLS)
        self.assertNotIn("time goes backwards", summary)
        self.export_and_verify("plot-konjac", t0 - 1, t_end, "konjac-all.evidence")
        # and random periods within it
        for k in range(6):
            a = rnd.uniform(t0 + 1, t_end - 2)
            b = rnd.uniform(a + 0.5, t_end)
            self.export_and_verify(rnd.choice(["plot-tea", "plot-konjac"]), a, b,
                                   "part-%d.evidence" % k)
        h.say("6 random periods within it: VERIFIED")


if __name__ == "__main__":
    unittest.main(verbosity=2)
