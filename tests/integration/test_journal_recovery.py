#!/usr/bin/env python3
"""The gateway's start-up on a damaged journal, end to end:
- a torn tail (a record cut short, as a crash or power cut mid-write leaves it) is cut off,
  the start reports how many bytes, and every committed record is still there;
- a corrupt record in the middle stops the start-up with the segment and the offset, and
  nothing in the journal is changed;
- `selgw journal` describes the journal and `--dump` prints its records."""
import glob
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


class JournalRecovery(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("journal-recovery")
        # Nothing listens on this port: every poll fails with connect_failed, which is a
        # reading all the same; the journal fills without a simulator.
        cfg = h.make_config("itest-journal", [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1",
                                               "port": h.free_port()}],
                            [{"id": "d%d" % i, "bus": "tcp0", "unit_id": i, "plot": "plot-tea",
                              "profile": "cwt-soil-thc-s"} for i in range(1, 4)])
        cfg["journal"] = {"dir": os.path.join(self.dir, "journal")}
        self.cfg = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        for _ in range(3):
            res = h.selgw("run", "--once", "-c", self.cfg)
            self.assertEqual(res.returncode, 1, res.describe())  # nobody answered
        self.records = self.dump()
        self.assertEqual([r["seq"] for r in self.records], list(range(1, 10)))
        self.segment = sorted(glob.glob(os.path.join(self.dir, "journal", "*.seg")))[-1]

    def dump(self):
        res = h.selgw("journal", "-c", self.cfg, "--dump")
        self.assertEqual(res.returncode, 0, res.describe())
        return [json.loads(line) for line in res.stdout.splitlines()]

    def test_describe(self):
        res = h.selgw("journal", "-c", self.cfg)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn(os.path.basename(self.segment), res.stdout)
        self.assertRegex(res.stdout, r"committed sequence 9\b")
        readings = [r for r in self.records if r["type"] == "reading"]
        self.assertEqual(len(readings), 9)
        self.assertTrue(all(r["status"] == "connect_failed" for r in readings))
        h.say(res.stdout.strip())

    def test_dump_time_range(self):
        time.sleep(1.1)  # the next records fall in a later second than these
        h.selgw("run", "--once", "-c", self.cfg)
        records = self.dump()
        self.assertEqual(len(records), 12)
        start = records[9]["time"][:19] + "Z"  # whole seconds, UTC
        res = h.selgw("journal", "-c", self.cfg, "--dump", "--from", start)
        self.assertEqual(res.returncode, 0, res.describe())
        later = [json.loads(line) for line in res.stdout.splitlines()]
        self.assertEqual([r["seq"] for r in later], [10, 11, 12])
        res = h.selgw("journal", "-c", self.cfg, "--dump", "--to", start)
        earlier = [json.loads(line) for line in res.stdout.splitlines()]
        self.assertEqual(earlier, self.records)
        res = h.selgw("journal", "-c", self.cfg, "--dump", "--format", "lp")
        self.assertEqual(res.returncode, 0, res.describe())
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), 12)  # one line per reading, none for events
        self.assertTrue(all(x.startswith("reading,") and "status=connect_failed" in x
                            for x in lines), lines[0])
        bad = h.selgw("journal", "-c", self.cfg, "--dump", "--from", "yesterday")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("TIME is YYYY-MM-DD", bad.stderr)
        h.say(f"--from {start}: {len(later)} records, --to: {len(earlier)}; lp: {len(lines)} lines")

    def test_torn_tail_is_cut_and_reported(self):
        size = os.path.getsize(self.segment)
        with open(self.segment, "ab") as f:
            f.write(bytes([40, 0, 0, 0, 1, 2, 3, 4, 10, 0, 0, 0, 0, 0, 0, 0, 1, 9]))  # cut short
        res = h.selgw("run", "--once", "-c", self.cfg)
        self.assertRegex(res.stderr, r"cut 18 bytes of a torn record", res.describe())
        records = self.dump()
        self.assertEqual(records[:9], self.records)
        self.assertEqual([r["seq"] for r in records], list(range(1, 13)))
        self.assertGreater(os.path.getsize(self.segment), size)
        h.say("torn tail of 18 bytes cut and reported; 9 committed records kept, 3 appended")

    def test_corrupt_middle_stops_start(self):
        with open(self.segment, "r+b") as f:
            data = bytearray(f.read())
            where = len(data) // 2
            data[where] ^= 0xFF
            f.seek(0)
            f.write(data)
        before = open(self.segment, "rb").read()
        res = h.selgw("run", "--once", "-c", self.cfg)
        self.assertNotEqual(res.returncode, 0, res.describe())
        self.assertRegex(res.stderr, r"segment %s offset \d+: " % os.path.basename(self.segment),
                         res.describe())
        self.assertEqual(open(self.segment, "rb").read(), before, "the journal was modified")
        line = [x for x in res.stderr.splitlines() if "offset" in x][0]
        h.say("start refused: " + line.split("selgw error: ", 1)[-1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
