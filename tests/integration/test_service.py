#!/usr/bin/python3
"""selgw run as systemd runs it (Type=notify), with a test standing in for systemd.

- NOTIFY_SOCKET names a datagram socket this test reads, WATCHDOG_USEC asks for a 0.6 s
  watchdog: the gateway sends READY=1 once it runs (with a STATUS= line), then WATCHDOG=1
  at least every 0.3 s (it pings every 0.2 s); SIGHUP: RELOADING=1 with MONOTONIC_USEC, then
  READY=1 again; SIGTERM: STOPPING=1, exit 0.
- JOURNAL_STREAM names stderr's own dev:ino (as systemd does when stderr is the journal):
  every log line is "<N>LEVEL: text" with the syslog priority N and no time. A
  JOURNAL_STREAM naming another stream (inherited, stderr redirected): the usual
  timestamped lines.
- The unit file passes `systemd-analyze verify` (skipped when systemd-analyze is absent).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

UNIT = os.path.join(h.SOURCE_DIR, "packaging", "selgw.service")
PLAIN_LINE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z selgw (error|warning|info|debug): "
JOURNAL_LINE = r"^<(3|4|6|7)>(error|warning|info|debug): "


class Notifications:
    """The AF_UNIX datagram socket systemd would listen on; messages as received."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []  # (monotonic time, {key: value})

    def wait_for(self, key, timeout, after=0):
        """The first message from index `after` with key; its index."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(after, len(self.messages)):
                if key in self.messages[i][1]:
                    return i
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key} within {timeout:.0f}s; got "
                                     f"{[m for _, m in self.messages]}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            self.messages.append((time.monotonic(), fields))

    def close(self):
        self.sock.close()


class Service(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.dir = h.tempdir("service")
        cfg = h.make_config(
            "itest-service",
            buses=[{"id": "tcp-nobody", "type": "tcp", "host": "127.0.0.1",
                    "port": h.free_port(), "response_timeout": "200ms"}],
            devices=[{"id": "t1", "bus": "tcp-nobody", "unit_id": 1,
                      "profile": "generic-climate", "plot": "plot-gh", "interval": "1s"}])
        cfg["journal"] = {"dir": os.path.join(cls.dir, "journal")}
        cls.config = h.write_config(os.path.join(cls.dir, "gw.yaml"), cfg)

    def start(self, env, stream_is_stderr):
        """selgw run in a shell that points JOURNAL_STREAM at its stderr (the pipe the test
        reads), as systemd does for a service whose stderr is the journal."""
        script = ('JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"'
                  if stream_is_stderr else 'exec "$@"')
        return h.Process("selgw", ["/bin/sh", "-c", script, "sh", h.SELGW_BIN, "run", "-c",
                                   self.config, "--no-print"], env=env)

    def test_notify_watchdog_reload_stop_and_journal_lines(self):
        notes = Notifications(self.dir)
        gw = self.start({"NOTIFY_SOCKET": notes.path, "WATCHDOG_USEC": "600000"}, True)
        try:
            ready = notes.wait_for("READY", h.scaled(15))
            self.assertRegex(notes.messages[ready][1].get("STATUS", ""), r"^polling 1 devices")
            first = notes.wait_for("WATCHDOG", h.scaled(5), ready)
            last = first
            for _ in range(5):
                last = notes.wait_for("WATCHDOG", h.scaled(5), last + 1)
            pings = [t for t, m in notes.messages[first:last + 1] if "WATCHDOG" in m]
            gaps = [b - a for a, b in zip(pings, pings[1:])]
            self.assertLess(max(gaps), h.scaled(0.6), gaps)
            h.say(f"READY=1, then WATCHDOG=1 every {sum(gaps) / len(gaps):.2f} s "
                  f"(WatchdogSec 0.6 s)")

            gw.send_signal(signal.SIGHUP)
            reloading = notes.wait_for("RELOADING", h.scaled(10), last + 1)
            usec = int(notes.messages[reloading][1]["MONOTONIC_USEC"])
            self.assertLess(abs(usec / 1e6 - time.monotonic()), 5)
            notes.wait_for("READY", h.scaled(15), reloading + 1)
            h.say("SIGHUP: RELOADING=1 (MONOTONIC_USEC of CLOCK_MONOTONIC), READY=1")

            gw.send_signal(signal.SIGTERM)
            notes.wait_for("STOPPING", h.scaled(10), reloading + 1)
            self.assertEqual(gw.wait(h.scaled(20)), 0, gw.describe())
        finally:
            gw.stop()
            notes.close()
        lines = gw.stderr()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, JOURNAL_LINE)
        self.assertTrue(any(re.match(r"^<6>info: systemd watchdog: 0\.6 s", l) for l in lines),
                        lines)
        self.assertTrue(any(l.startswith("<4>warning: bus tcp-nobody") for l in lines), lines)
        h.say("stderr is the journal's stream: " + lines[0])

    def test_rejected_reload_diagnostics_are_errors_in_the_journal(self):
        """Seen under a real systemd: a reload with a broken config logged its
        FILE:LINE:COLUMN lines at journald's default priority (info), so `journalctl -p err`
        showed only "rejected" without saying where. Each line now carries <3>."""
        path = os.path.join(self.dir, "reload.yaml")
        with open(self.config) as f:
            good = f.read()
        with open(path, "w") as f:
            f.write(good)
        script = 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"'
        gw = h.Process("selgw", ["/bin/sh", "-c", script, "sh", h.SELGW_BIN, "run", "-c", path,
                                 "--no-print"], env={})
        try:
            gw.wait_for(r"polling 1 devices", h.scaled(15), stream="err")
            with open(path, "w") as f:
                f.write(good.replace("interval: 1s", "interval: 5 parsecs"))
            gw.send_signal(signal.SIGHUP)
            gw.wait_for(r"keeping the running configuration", h.scaled(10), stream="err")
            self.assertEqual(gw.stop(), 0, gw.describe())
        finally:
            gw.stop()
        lines = gw.stderr()
        for line in lines:
            self.assertRegex(line, r"^<(3|4|6|7)>", lines)
        where = [l for l in lines if "parsecs" in l]
        self.assertTrue(where, lines)
        for line in where:
            self.assertRegex(line, r"^<3>" + re.escape(path) + r":\d+:\d+: interval: ")
        self.assertTrue(any(re.match(r"^<3>selgw: .*configuration rejected \(1 error\)", l)
                            for l in lines), lines)
        h.say("rejected reload under journald: " + where[0])

    def test_plain_lines_when_stderr_is_not_the_journal(self):
        gw = self.start({"JOURNAL_STREAM": "1:1"}, False)
        gw.wait_for(r"polling 1 devices", h.scaled(15), stream="err")
        self.assertEqual(gw.stop(), 0, gw.describe())
        for line in gw.stderr():
            self.assertRegex(line, PLAIN_LINE)
        h.say("JOURNAL_STREAM of another stream: " + gw.stderr()[0])

    def test_unit_passes_systemd_analyze_verify(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed (Debian package systemd)")
        res = verify_unit(analyze, UNIT, self.dir)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertEqual(res.stdout + res.stderr, "", "systemd-analyze verify has remarks")
        h.say(f"systemd-analyze verify {os.path.relpath(UNIT, h.SOURCE_DIR)}: no remarks")


def verify_unit(analyze, unit, directory, binary=None):
    """systemd-analyze verify on a copy of unit whose ExecStart names an executable that
    exists here (the unit names the installed /usr/bin/selgw). --man=no: the manual pages
    named in Documentation= need not be installed."""
    with open(unit, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(?m)^(Exec\w*=)/usr/bin/selgw", lambda m: m.group(1) + (binary or h.SELGW_BIN),
                  text)
    copy = os.path.join(directory, "selgw.service")
    with open(copy, "w", encoding="utf-8") as f:
        f.write(text)
    return subprocess.run([analyze, "verify", "--man=no", copy], capture_output=True,
                          text=True, timeout=h.scaled(60))


if __name__ == "__main__":
    unittest.main(verbosity=2)
