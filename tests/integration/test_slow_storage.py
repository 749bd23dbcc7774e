#!/usr/bin/env python3
"""The journal on slow storage (issue 13): when every fdatasync takes 20-50 ms, as on an SD
card or eMMC, the group commit keeps up by committing more records at once.

selgw runs 200 simulated devices (8 TCP buses x 25, each every 400 to 600 ms, so that
readings come all the time rather than in one burst per cycle: about 400 a second) for 15 s with tests/integration/slowsync.c preloaded, which sleeps 20-50 ms in
every fdatasync and fsync. Asserted:
- the gateway stops cleanly and its stop line says no reading was refused;
- the journal holds no GAP record and its sequence numbers are contiguous;
- every reading the gateway printed (it prints each journaled record) is in the journal,
  and the journal holds as many readings as the pollers counted (`stopped: N polls`);
- commits were grouped: records per commit (selgw_journal_records_total /
  selgw_journal_commits_total) above 1, and as many fdatasyncs were delayed as the shim
  says it delayed (so the delay did apply).
Printed: readings per second, commits per second, mean records per commit and the largest
commit, the delay injected per fdatasync. Nothing about time is asserted."""
import os
import re
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

BUSES, PER_BUS, INTERVAL_MS, SECONDS = 8, 25, 500, 15


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


class SlowStorage(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.lib = os.environ.get("SELGW_SLOWSYNC_LIB")
        if not self.lib or not os.path.exists(self.lib):
            raise SystemExit("SELGW_SLOWSYNC_LIB (built as selgw_slowsync) is missing")
        self.dir = h.tempdir("slow-storage")
        buses, devices = [], []
        for b in range(BUSES):
            buses.append({"id": f"tcp{b}", "type": "tcp", "host": "127.0.0.1",
                          "port": 21000 + b})  # the simulator listens where --tcp says
            for u in range(1, PER_BUS + 1):
                devices.append({"id": f"d{b}-{u}", "bus": f"tcp{b}", "unit_id": u,
                                "profile": "cwt-soil-thc-s", "plot": "plot-tea",
                                "interval": f"{INTERVAL_MS - 100 + (b * PER_BUS + u) * 37 % 200}ms"})
        cfg = h.make_config("itest-slow", buses, devices)
        sim_cfg = h.write_config(os.path.join(self.dir, "sim.yaml"), cfg)
        self.sim = h.Simulator(sim_cfg, *[f"--tcp={b['id']}=127.0.0.1:0" for b in buses])
        for b in buses:
            b["port"] = self.sim.tcp_port(b["id"])
        cfg["journal"] = {"dir": os.path.join(self.dir, "journal")}
        self.listen = f"127.0.0.1:{h.free_port()}"
        cfg["http"] = {"listen": self.listen}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.report = os.path.join(self.dir, "slowsync.report")

    def tearDown(self):
        self.sim.stop()

    def scrape(self):
        with urllib.request.urlopen(f"http://{self.listen}/metrics", timeout=h.scaled(10)) as r:
            return r.read().decode()

    def test_group_commit_keeps_up(self):
        env = h.preload_env(self.lib)
        env.update(SELGW_SLOWSYNC_MS="20-50", SELGW_SLOWSYNC_REPORT=self.report)
        gw = h.Gateway(self.cfg_path, "--print", env=env)
        gw.wait_for(r"polling %d devices" % (BUSES * PER_BUS), h.scaled(15), stream="err")
        t0 = time.monotonic()
        time.sleep(SECONDS)
        text = self.scrape()
        wall = time.monotonic() - t0
        self.assertEqual(gw.stop(), 0, gw.describe())

        records = servers.journal_records(self.cfg_path)
        seqs = [r["seq"] for r in records]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "sequence not contiguous")
        self.assertEqual([r for r in records if r["type"] == "gap"], [])
        journaled = {(r["device"], r["time"]) for r in records if r["type"] == "reading"}
        printed = gw.readings()
        self.assertEqual(len(journaled), sum(1 for r in records if r["type"] == "reading"))
        self.assertEqual({(r["device"], r["time"]) for r in printed} - journaled, set())
        self.assertEqual(len(printed), len(journaled))
        stop = re.search(r"stopped: (\d+) polls, \d+ failed, \d+ skipped.*?(\d+) records "
                         r"journaled, (\d+) readings refused", "\n".join(gw.stderr()))
        self.assertIsNotNone(stop, gw.describe())
        self.assertEqual(int(stop.group(1)), len(journaled))
        self.assertEqual(int(stop.group(3)), 0)
        self.assertEqual(int(stop.group(2)), len(records))

        appended = metric(text, "selgw_journal_records_total")
        commits = metric(text, "selgw_journal_commits_total")
        fsyncs = metric(text, "selgw_journal_fsync_seconds_count")
        fsync_sum = metric(text, "selgw_journal_fsync_seconds_sum")
        biggest = metric(text, "selgw_journal_commit_records_max")
        with open(self.report) as f:
            calls, delay_ms = f.read().split()[1::2]
        calls, delay_ms = int(calls), float(delay_ms)
        # every commit was one delayed fdatasync (fsync: batch), and the shim saw them all
        self.assertEqual(fsyncs, commits)
        self.assertGreaterEqual(calls, fsyncs)
        self.assertGreaterEqual(delay_ms / calls, 20)
        self.assertLessEqual(delay_ms / calls, 50)
        self.assertGreater(appended / commits, 1, "every record was committed on its own")
        self.assertGreater(biggest, 1)
        h.say(f"{appended / wall:.0f} records/s, {commits / wall:.1f} commits/s, "
              f"{appended / commits:.1f} records per commit (largest {biggest:.0f}), "
              f"fdatasync {1e3 * fsync_sum / fsyncs:.1f} ms mean as the journal timed it; "
              f"the shim delayed {calls} calls by {delay_ms / calls:.1f} ms mean; "
              f"{len(journaled)} readings, all journaled, sequence contiguous, no gap")


if __name__ == "__main__":
    unittest.main(verbosity=2)
