#!/usr/bin/env python3
"""A full disk is a condition, not a failure: the journal lives on a small tmpfs of its own,
filled by a ballast file while the gateway polls 40 devices. The gateway keeps running;
readings beyond the bounded memory are refused and counted; when the ballast goes, what
waited is written and a GAP record says exactly how many readings were refused and from
when to when; numbers are never given twice. Then the disk is filled again and the gateway
stopped: it waits, releases its space reserve and writes everything it had accepted.

SELGW_DISK_FULL_SECONDS sets how long the disk stays full in the first test (8 s by
default; scripts/bench.sh runs an hour), with the gateway's memory sampled meanwhile.

Needs root (to mount the tmpfs); skipped otherwise."""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

FS_BYTES = 12 << 20
FULL_SECONDS = float(os.environ.get("SELGW_DISK_FULL_SECONDS", "8"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@unittest.skipUnless(os.geteuid() == 0, "needs root to mount a tmpfs")
class DiskFull(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("disk-full")
        self.fs = os.path.join(self.dir, "fs")
        os.mkdir(self.fs)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % FS_BYTES, "tmpfs", self.fs],
                       check=True)
        self.ballast = os.path.join(self.fs, "ballast")
        sim_port = h.free_port()
        cfg = h.make_config(
            "itest-disk-full",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
            [{"id": "soil-%02d" % i, "bus": "tcp0", "unit_id": i, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "100ms"} for i in range(1, 41)])
        cfg["journal"] = {"dir": os.path.join(self.fs, "journal"), "segment_size": "1MiB"}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.sim = h.Simulator(self.cfg_path)
        self.gw = None

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()
        subprocess.run(["umount", self.fs])

    def fill(self):
        """Leaves the tmpfs with no room: a ballast file takes what is free."""
        free = os.statvfs(self.fs).f_bavail * os.statvfs(self.fs).f_frsize
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.posix_fallocate(fd, os.fstat(fd).st_size, free)
        except OSError:
            pass
        chunk = b"\0" * 4096
        try:
            while True:
                os.write(fd, chunk)
        except OSError:
            pass
        os.close(fd)

    def test_full_disk_is_a_condition(self):
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 40 devices", h.scaled(10), stream="err")
        time.sleep(h.scaled(1))
        rss_before = rss_kib(self.gw.pid)
        self.fill()
        h.say("tmpfs of %d MiB filled by a ballast file" % (FS_BYTES >> 20))
        self.gw.wait_for(r"the disk is full and \d+ bytes of records wait in memory",
                         h.scaled(60), stream="err")
        full_at = time.time()
        rss_max = 0
        while time.time() < full_at + h.scaled(FULL_SECONDS):
            self.assertTrue(self.gw.alive(), "the gateway stopped on a full disk\n" +
                            self.gw.describe())
            rss_max = max(rss_max, rss_kib(self.gw.pid))
            time.sleep(min(5, h.scaled(FULL_SECONDS)))
        rss_full = rss_kib(self.gw.pid)
        h.say("refusing for %.0f s: still polling; RSS %d KiB before the disk filled, at most "
              "%d KiB while full, %d KiB at the end" % (h.scaled(FULL_SECONDS), rss_before,
                                                       rss_max, rss_full))

        os.unlink(self.ballast)
        h.say("ballast removed: space again")
        accepted = self.gw.wait_for(r"space on the disk again after (\d+) refused records",
                                    h.scaled(30), stream="err")
        journal_refused = int(accepted.group(1))
        back = self.gw.wait_for(r"journaling readings: back to normal after (\d+) failures",
                                h.scaled(30),
                                stream="err")
        gateway_refused = int(back.group(1))
        time.sleep(h.scaled(2))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())

        records = servers.journal_records(self.cfg_path)
        seqs = [r["seq"] for r in records]
        self.assertEqual(seqs, sorted(set(seqs)), "a number was given twice")
        self.assertEqual(seqs, list(range(seqs[0], seqs[-1] + 1)),
                         "accepted records are missing")
        gaps = [r for r in records if r["type"] == "gap"]
        self.assertEqual(len(gaps), 1, gaps)
        m = re.match(r"^(\d+) readings polled from (\S+) to (\S+) were not journaled: no space "
                     r"left on the disk$", gaps[0]["text"])
        self.assertTrue(m, gaps[0]["text"])
        refused = int(m.group(1))
        self.assertEqual(refused, gateway_refused)
        self.assertEqual(refused, journal_refused)
        self.assertGreater(refused, 100)
        first = time.mktime(time.strptime(m.group(2)[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        self.assertLess(abs(first - full_at), 30)
        after = [r for r in records if r["seq"] > gaps[0]["seq"] and r["type"] == "reading"]
        self.assertTrue(after)
        h.say("GAP: " + gaps[0]["text"])

    def test_crash_while_refusing_still_counts(self):
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 40 devices", h.scaled(10), stream="err")
        self.fill()
        self.gw.wait_for(r"the disk is full and \d+ bytes of records wait in memory",
                         h.scaled(60), stream="err")
        time.sleep(h.scaled(3))
        self.gw.stop(sig=signal.SIGKILL)  # before it could write its GAP record
        os.unlink(self.ballast)
        h.say("killed while refusing readings; ballast removed; restarted")
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 40 devices", h.scaled(10), stream="err")
        time.sleep(h.scaled(1))
        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        gaps = [r for r in servers.journal_records(self.cfg_path) if r["type"] == "gap"]
        self.assertEqual(len(gaps), 1, gaps)
        self.assertRegex(gaps[0]["text"], r"^\d+ readings polled from \S+ to \S+ were not "
                                          r"journaled: no space left on the disk \(counted "
                                          r"before the gateway ended unexpectedly\)$")
        self.assertGreater(int(gaps[0]["text"].split()[0]), 50)
        h.say("GAP after the crash: " + gaps[0]["text"])

    def test_stop_on_a_full_disk_writes_everything_accepted(self):
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 40 devices", h.scaled(10), stream="err")
        time.sleep(h.scaled(1))
        self.fill()
        self.gw.wait_for(r"no space left on the disk", h.scaled(60), stream="err")
        time.sleep(h.scaled(2))
        h.say("disk full; SIGTERM")
        status = self.gw.stop(grace=h.scaled(40))  # it may wait 10 s for space
        self.assertEqual(status, 0, self.gw.describe())
        err = "\n".join(self.gw.stderr())
        self.assertIn("stopping with the disk full", err)
        self.assertIn("released the 4 MiB space reserve to write what waits", err)
        self.assertNotIn("could not be written", err)
        os.unlink(self.ballast)
        records = servers.journal_records(self.cfg_path)
        seqs = [r["seq"] for r in records]
        self.assertEqual(seqs, list(range(seqs[0], seqs[-1] + 1)))
        self.assertEqual(records[-1]["type"], "stop")
        h.say("stopped with the disk full: the reserve released, %d records, the last a STOP"
              % len(records))
        # the next start finds nothing left unwritten
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 40 devices", h.scaled(10), stream="err")
        self.assertEqual(self.gw.stop(), 0)
        self.assertNotIn("could not be written before the last stop",
                         "\n".join(self.gw.stderr()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
