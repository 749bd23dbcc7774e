#!/usr/bin/python3
"""What an operator reads when a bus cannot be opened: the system's words and the fix.

`selgw run` with a bus whose serial adapter is missing, one whose TCP converter does not
listen, and (as root, by running the gateway as user nobody) a serial device of group dialout
that the user may not open. Each log line is checked whole, as the operator sees it. The
gateway keeps running and retrying in every case.
"""
import grp
import os
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

ADAPTER = ("(is the USB-RS485 adapter plugged in? ls /dev/ttyUSB* /dev/serial/by-id/); "
           "will retry")


class BusOpenMessages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()

    def setUp(self):
        self.dir = h.tempdir("operator-messages")

    def tearDown(self):
        h.stop_all()

    def run_gateway(self, bus, argv_prefix=()):
        cfg = h.make_config("itest-msg-gw", buses=[bus], devices=[
            {"id": "probe-1", "bus": bus["id"], "unit_id": 1, "profile": "cwt-soil-thc-s",
             "plot": "plot-tea", "interval": "1s"}])
        cfg["journal"] = {"dir": os.path.join(self.dir, "journal")}
        path = os.path.join(self.dir, "gw.yaml")
        h.write_config(path, cfg)
        os.chmod(self.dir, 0o755)
        os.chmod(path, 0o644)
        gw = h.Process("selgw", [*argv_prefix, h.SELGW_BIN, "run", "-c", path, "--no-print"])
        return gw

    def expect_line(self, gw, ending):
        ok = h.wait_until(lambda: any(line.endswith(ending) for line in gw.stderr()),
                          h.scaled(15))
        self.assertTrue(ok, f"no log line ending {ending!r}\n" + gw.describe())
        self.assertTrue(gw.alive(), "the gateway keeps running and retrying")
        h.say(next(line for line in gw.stderr() if line.endswith(ending)))

    def test_missing_serial_adapter(self):
        device = os.path.join(self.dir, "ttyUSB-not-plugged")
        gw = self.run_gateway({"id": "rs485-1", "type": "rtu", "device": device, "baud": 9600})
        self.expect_line(gw, f"bus rs485-1 (rtu {device} 9600 8N1): cannot connect (peer, server "
                             f"or serial line): {device}: No such file or directory " + ADAPTER)

    def test_tcp_converter_not_listening(self):
        port = h.free_port()
        gw = self.run_gateway({"id": "gh-tcp", "type": "tcp", "host": "127.0.0.1",
                               "port": port})
        self.expect_line(gw, f"cannot connect (peer, server or serial line): 127.0.0.1:{port} "
                             "refused the connection: nothing listens on that port (check the "
                             "converter's address and Modbus TCP port); will retry")

    def test_one_master_per_line(self):
        """A second gateway (or a selgw command) on a serial line another one holds is told so
        and keeps retrying; the first goes on undisturbed."""
        master, slave = os.openpty()
        self.addCleanup(os.close, master)
        self.addCleanup(os.close, slave)
        device = os.ttyname(slave)
        bus = {"id": "rs485-1", "type": "rtu", "device": device, "baud": 9600}
        first = self.run_gateway(bus)
        self.expect_line(first, f"bus rs485-1 (rtu {device} 9600 8N1): open")
        self.dir = h.tempdir("operator-messages-second")
        second = self.run_gateway(bus)
        self.expect_line(second, f"{device}: Device or resource busy (another program holds the "
                                 "line: a running gateway, or another selgw command; one master "
                                 f"per line: fuser -v {device}); will retry")
        self.assertTrue(first.alive())

    @unittest.skipUnless(os.geteuid() == 0, "needs root to make a device node and drop to nobody")
    def test_serial_device_of_another_group(self):
        device = os.path.join(self.dir, "ttyS-dialout")
        os.mknod(device, 0o660 | stat.S_IFCHR, os.makedev(4, 64))
        os.chown(device, 0, grp.getgrnam("dialout").gr_gid)
        os.makedirs(os.path.join(self.dir, "journal"), mode=0o777)
        os.chmod(os.path.join(self.dir, "journal"), 0o777)
        gw = self.run_gateway({"id": "rs485-1", "type": "rtu", "device": device, "baud": 9600},
                              argv_prefix=("setpriv", "--reuid=nobody", "--regid=nogroup",
                                           "--clear-groups"))
        self.expect_line(gw, f"{device}: permission denied: user 'nobody' is not in group "
                             "'dialout', which owns it (sudo usermod -aG dialout nobody, then "
                             "log in again; the selgw service user is in it); will retry")


    @unittest.skipUnless(os.geteuid() == 0, "needs root to drop to nobody")
    def test_journal_this_user_may_not_write(self):
        """A user who runs the gateway where the journal directory may not be made (the
        service's /var/lib/selgw on a laptop) is told to set journal.dir."""
        journal = os.path.join(self.dir, "locked", "journal")
        os.makedirs(os.path.dirname(journal), mode=0o755)
        cfg = h.make_config("itest-msg-gw", buses=[], devices=[])
        cfg["journal"] = {"dir": journal}
        path = os.path.join(self.dir, "gw.yaml")
        h.write_config(path, cfg)
        os.chmod(self.dir, 0o755)
        os.chmod(path, 0o644)
        res = h.run_as_nobody(h.SELGW_BIN, "run", "--once", "-c", path)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn(f"journal {journal}: permission denied: journal directory {journal}: "
                      "Permission denied (this user may not write there: set journal.dir to a "
                      "directory it may write, e.g. journal: {dir: journal}, or run as the user "
                      "the journal belongs to, e.g. selgw)", res.stderr)

if __name__ == "__main__":
    unittest.main(verbosity=2)
