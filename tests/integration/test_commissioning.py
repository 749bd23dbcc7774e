#!/usr/bin/python3
"""Commissioning from the command line: selgw profiles, read, scan and set-address.

Against selgw-sim on Modbus TCP (and on an RTU pty pair where the simulator supports what
the test needs) and against pymodbus on TCP and on an RTU socat pty pair. The messages an
operator meets are checked word for word: they are the instructions on a hillside with no
network.
"""
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

NO_ANSWER_HINT = ("check its unit id, baud rate and parity and the A/B wiring, or find it "
                  "with `selgw scan`")

SIM_DEVICES = [
    # id, unit, profile
    ("soil-a", 4, "cwt-soil-thc-s"),
    ("air-a", 8, "xy-md02"),
]


def sim_config(port):
    return h.make_config(
        "itest-commission",
        buses=[{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": port,
                "response_timeout": "1s", "retries": 0}],
        devices=[{"id": i, "bus": "tcp0", "unit_id": u, "profile": p, "plot": "plot-tea",
                  "interval": "1s"} for i, u, p in SIM_DEVICES])


def field_lines(stdout):
    """{field: (value text, unit, quality)} from the lines selgw read prints."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^  (\w+)\s+(\S+)\s+(?:(\S+)\s+)?(ok|out_of_range|read_failed)$", line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3) or "", m.group(4))
    return out


class Profiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()

    def test_list_names_every_shipped_profile(self):
        res = h.selgw("profiles")
        self.assertEqual(res.returncode, 0, res.describe())
        for name in (p["name"] for p in h.shipped_profiles()):
            self.assertIn(f"{name} (shipped)\n", res.stdout)
        self.assertIn("  link    4800 8N1, unit 1\n", res.stdout)
        self.assertIn("  fields  soil_moisture %, soil_temperature degC, soil_ec uS/cm, "
                      "soil_salinity mg/L, soil_tds mg/L\n", res.stdout)

    def test_detail_has_registers_and_addressing(self):
        res = h.selgw("profiles", "cwt-soil-thc-s")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("  reads       fc3@0+5\n", res.stdout)
        self.assertRegex(res.stdout, r"\n    soil_temperature +3 0x0001  s16  ABCD  0\.1 ")
        self.assertIn("  addressing  unit id: register 0x07D0 (function 6)\n"
                      "              baud: register 0x07D1 (function 6), codes not in the "
                      "source: see the unit's manual\n"
                      "              applies after a power cycle\n", res.stdout)

    def test_profile_without_addressing_says_so(self):
        res = h.selgw("profiles", "senseair-k30")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("  addressing  none: the profile's source does not say how to "
                      "re-address it\n", res.stdout)

    def test_unknown_profile_names_the_close_one(self):
        res = h.selgw("profiles", "cwt-soil")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertEqual(res.stderr, "selgw profiles: unknown profile 'cwt-soil' (did you mean "
                         "'cwt-soil-thc-s'?); `selgw profiles` lists them\n")

    def test_site_profiles_of_a_config(self):
        d = h.tempdir("commission-profiles")
        pdir = os.path.join(d, "profiles")
        os.mkdir(pdir)
        with open(os.path.join(pdir, "site-probe.yaml"), "w", encoding="utf-8") as f:
            f.write("name: site-probe\nmodel: a site probe\nsource: bench\n"
                    "link: {baud: 9600, unit_id: 1}\n"
                    "addressing: {unit_id_register: 0x07D0, baud_register: 0x07D1,\n"
                    "             baud_codes: {4800: 1, 9600: 2}, apply: immediate}\n"
                    "fields:\n  - {name: soil_moisture, function: 3, address: 0, type: u16,"
                    " unit: \"%\"}\n")
        cfg = h.write_config(os.path.join(d, "gw.yaml"), dict(sim_config(502),
                                                              profiles_dir=pdir))
        res = h.selgw("profiles", "-c", cfg)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn(f"site-probe ({pdir}/site-probe.yaml)\n", res.stdout)
        res = h.selgw("profiles", "site-probe", "-c", cfg)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("              baud: register 0x07D1 (function 6), codes 4800=1, 9600=2\n"
                      "              applies at once\n", res.stdout)

    def test_addressing_errors_have_positions(self):
        d = h.tempdir("commission-bad-profile")
        pdir = os.path.join(d, "profiles")
        os.mkdir(pdir)
        path = os.path.join(pdir, "bad.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write("name: bad\nmodel: m\nsource: s\n"
                    "addressing: {unit_id_register: 0x07D0, function: 3, bauds: 1}\n"
                    "fields:\n  - {name: x, function: 3, address: 0, type: u16}\n")
        cfg = h.write_config(os.path.join(d, "gw.yaml"), dict(sim_config(502),
                                                              profiles_dir=pdir))
        res = h.selgw("profiles", "-c", cfg)
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn(f"{path}:4:53: unknown key 'bauds' in addressing", res.stderr)


class ReadSimTcp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.dir = h.tempdir("commission-read")
        sim_cfg = h.write_config(os.path.join(cls.dir, "sim.yaml"), sim_config(h.free_port()))
        cls.sim = h.Simulator(sim_cfg, "--tcp", "tcp0=127.0.0.1:0")
        cls.port = cls.sim.tcp_port("tcp0")
        cls.cfg_path = h.write_config(os.path.join(cls.dir, "gw.yaml"), sim_config(cls.port))

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_read_by_bus_unit_and_profile(self):
        res = h.selgw("read", "--tcp", f"127.0.0.1:{self.port}", "--unit", 4, "--profile",
                      "cwt-soil-thc-s")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertEqual(res.stdout.splitlines()[0],
                         f"unit 4 on tcp 127.0.0.1:{self.port}, profile cwt-soil-thc-s")
        fields = field_lines(res.stdout)
        self.assertEqual(sorted(fields), sorted(["soil_moisture", "soil_temperature", "soil_ec",
                                                 "soil_salinity", "soil_tds"]))
        self.assertEqual(fields["soil_moisture"][1:], ("%", "ok"))
        self.assertEqual(fields["soil_temperature"][1:], ("degC", "ok"))

    def test_read_a_device_of_the_config(self):
        res = h.selgw("read", "-c", self.cfg_path, "air-a")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertEqual(res.stdout.splitlines()[0],
                         f"device air-a: unit 8 on tcp 127.0.0.1:{self.port}, profile xy-md02")
        fields = field_lines(res.stdout)
        self.assertEqual(fields["air_humidity"][1:], ("%", "ok"))

    def test_raw_shows_registers_and_frames(self):
        res = h.selgw("read", "--tcp", f"127.0.0.1:{self.port}", "--unit", 4, "--profile",
                      "cwt-soil-thc-s", "--raw")
        self.assertEqual(res.returncode, 0, res.describe())
        lines = res.stdout.splitlines()
        i = lines.index("read fc3@0+5:")
        # MBAP (transaction 1, protocol 0, length 6, unit 4), function 3, address 0, count 5
        self.assertEqual(lines[i + 1], "  >> 00 01 00 00 00 06 04 03 00 00 00 05")
        self.assertRegex(lines[i + 2], r"^  << 00 01 00 00 00 0D 04 03 0A( [0-9A-F]{2}){10}$")
        self.assertRegex(lines[i + 3], r"^  registers:( [0-9A-F]{4}){5}$")
        # the registers are the frame's data bytes
        data = lines[i + 2].split()[10:]
        regs = lines[i + 3].split()[1:]
        self.assertEqual(regs, [data[k] + data[k + 1] for k in range(0, 10, 2)])

    def test_no_answer_says_what_to_check(self):
        # selgw-sim on TCP plays a TCP-to-RTU gateway: exception 11 for a unit it lacks
        res = h.selgw("read", "--tcp", f"127.0.0.1:{self.port}", "--unit", 9, "--profile",
                      "cwt-soil-thc-s", "--timeout", 300)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertEqual(res.stderr.splitlines()[-1],
                         f"selgw read: unit 9 on tcp 127.0.0.1:{self.port}: the Modbus gateway "
                         "answered exception 11 (gateway target device failed to respond): "
                         f"{NO_ANSWER_HINT}")
        self.assertEqual(field_lines(res.stdout)["soil_ec"], ("-", "uS/cm", "read_failed"))

    def test_unknown_device_and_profile(self):
        res = h.selgw("read", "-c", self.cfg_path, "soil-b")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertEqual(res.stderr,
                         "selgw read: no device 'soil-b' in the config (did you mean "
                         "'soil-a'?)\n")
        res = h.selgw("read", "--tcp", f"127.0.0.1:{self.port}", "--profile", "xy-md2")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertEqual(res.stderr, "selgw read: unknown profile 'xy-md2' (did you mean "
                         "'xy-md02'?); `selgw profiles` lists them\n")


class ReadWhileGatewayRuns(unittest.TestCase):
    """A device of a configuration whose gateway runs is not read a second time: the gateway
    owns the bus, so `selgw read` asks its HTTP API for the last reading."""

    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.dir = h.tempdir("commission-read-running")
        sim_cfg = h.write_config(os.path.join(cls.dir, "sim.yaml"), sim_config(h.free_port()))
        cls.sim = h.Simulator(sim_cfg, "--tcp", "tcp0=127.0.0.1:0")
        cls.port = cls.sim.tcp_port("tcp0")
        cls.http_port = h.free_port()
        cfg = sim_config(cls.port)
        cfg["http"] = {"listen": f"127.0.0.1:{cls.http_port}"}
        cls.cfg_path = h.write_config(os.path.join(cls.dir, "gw.yaml"), cfg)
        cls.gw = h.Gateway(cls.cfg_path, "--no-print")
        try:
            cls.gw.wait_for(r"HTTP API on", h.scaled(15), stream="err")
        except BaseException:
            cls.gw.stop()
            cls.sim.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.sim.stop()

    def read_when_polled(self, device):
        """selgw read -c CFG DEVICE, once the gateway has journaled a reading of it."""
        deadline = h.scaled(15)
        while True:
            res = h.selgw("read", "-c", self.cfg_path, device)
            if "not polled yet" not in res.stdout or deadline <= 0:
                return res
            time.sleep(0.2)
            deadline -= 0.2

    def test_read_asks_the_gateway(self):
        res = self.read_when_polled("soil-a")
        self.assertEqual(res.returncode, 0, res.describe())
        lines = res.stdout.splitlines()
        self.assertEqual(lines[0], f"device soil-a: unit 4 on tcp 127.0.0.1:{self.port}, "
                                   "profile cwt-soil-thc-s")
        m = re.match(r"^read by the running gateway (\d+\.\d) s ago \((\S+Z)\), from its "
                     r"API at http://127\.0\.0\.1:(\d+)$", lines[1])
        self.assertIsNotNone(m, res.stdout)
        self.assertEqual(int(m.group(3)), self.http_port)
        self.assertLess(float(m.group(1)), h.scaled(10))
        self.assertRegex(lines[-1], r"^health: 0 failures in a row, 0 since the start, last "
                                    r"success \d+\.\d s ago \(\S+Z\)$")
        # the fields of the gateway's journaled reading at that time, printed as a direct
        # read prints them
        when = m.group(2)
        rec = None
        for _ in range(50):
            rec = next((r for r in servers.journal_records(self.cfg_path)
                        if r.get("type") == "reading" and r["device"] == "soil-a"
                        and r["time"] == when), None)
            if rec:
                break
            time.sleep(0.1)
        self.assertIsNotNone(rec, f"no reading of soil-a at {when} in the journal")
        self.assertEqual(rec["status"], "ok")
        fields = field_lines(res.stdout)
        self.assertEqual(list(fields), list(rec["fields"]))
        for name, f in rec["fields"].items():
            value = "-" if f["value"] is None else "%.6g" % f["value"]
            self.assertEqual(fields[name], (value, f["unit"], f["quality"]), name)
        # and a direct read prints the same field lines (values aside: the soil moves)
        direct = field_lines(h.selgw("read", "--tcp", f"127.0.0.1:{self.port}", "--unit", 4,
                                     "--profile", "cwt-soil-thc-s").stdout)
        self.assertEqual({k: v[1:] for k, v in direct.items()},
                         {k: v[1:] for k, v in fields.items()})

    def test_raw_is_refused(self):
        res = h.selgw("read", "-c", self.cfg_path, "soil-a", "--raw")
        self.assertEqual(res.returncode, 2, res.describe())
        journal = os.path.join(self.dir, "journal-gw")
        self.assertEqual(res.stderr,
                         f"selgw read: --raw needs a read of its own, but a gateway is running "
                         f"on this configuration (its journal {journal} is in use) and owns bus "
                         f"tcp0; two masters on one bus garble each other's frames. Stop the "
                         f"gateway to see the frames, or read without --raw for its last "
                         f"reading\n")
        self.assertEqual(res.stdout, "")

    def test_api_off_or_silent_keeps_the_refusal_and_says_why(self):
        # a gateway of its own (another journal) whose device never answers: it runs all the
        # same, and holds its journal
        cfg = sim_config(h.free_port())
        cfg["http"] = {"enabled": False}
        path = h.write_config(os.path.join(self.dir, "gw-no-api.yaml"), cfg)
        gw = h.Gateway(path, "--no-print")
        try:
            gw.wait_for(r"polling 2 devices", h.scaled(15), stream="err")
            res = h.selgw("read", "-c", path, "soil-a")
            self.assertEqual(res.returncode, 1, res.describe())
            journal = os.path.join(self.dir, "journal-gw-no-api")
            self.assertEqual(res.stderr,
                             f"selgw read: a gateway is running on this configuration (its "
                             f"journal {journal} is in use) and owns bus tcp0; two masters on "
                             f"one bus garble each other's frames. Its HTTP API, which would "
                             f"give the device's last reading, is off (http: enabled: false in "
                             f"{path}): turn it on and reload the gateway, or stop it to read "
                             f"the device here\n")
            # the same journal, but an http.listen where nothing answers
            cfg["http"] = {"listen": f"127.0.0.1:{h.free_port()}"}
            cfg["journal"] = {"dir": journal}
            other = h.write_config(os.path.join(self.dir, "gw-elsewhere.yaml"), cfg)
            res = h.selgw("read", "-c", other, "soil-a")
            self.assertEqual(res.returncode, 1, res.describe())
            url = "http://" + cfg["http"]["listen"]
            self.assertTrue(res.stderr.startswith(
                f"selgw read: a gateway is running on this configuration (its journal "
                f"{journal} is in use) and owns bus tcp0; two masters on one bus garble each "
                f"other's frames. Nothing answers at {url}, its HTTP API ({url}/api/v1/latest/"
                f"soil-a: "), res.stderr)
            self.assertTrue(res.stderr.endswith(
                "): check http.listen, or stop the gateway to read the device here\n"),
                res.stderr)
        finally:
            gw.stop()


class ReadPymodbus(unittest.TestCase):
    def test_read_against_pymodbus(self):
        d = h.tempdir("commission-pymodbus")
        # cwt-soil-thc-s: 23.4 %, -10.1 degC, 1250 uS/cm, 610, 625
        server = h.PymodbusServer({"units": {"2": {"hr": {"0": 234, "1": 0xFF9B, "2": 1250,
                                                          "3": 610, "4": 625}}}}, d)
        try:
            res = h.selgw("read", "--tcp", f"{server.host}:{server.port}", "--unit", 2,
                          "--profile", "cwt-soil-thc-s")
            self.assertEqual(res.returncode, 0, res.describe())
            fields = field_lines(res.stdout)
            self.assertEqual(fields["soil_moisture"], ("23.4", "%", "ok"))
            self.assertEqual(fields["soil_temperature"], ("-10.1", "degC", "ok"))
            self.assertEqual(fields["soil_ec"], ("1250", "uS/cm", "ok"))
            # a device that has no such registers: exception 2, named
            res = h.selgw("read", "--tcp", f"{server.host}:{server.port}", "--unit", 2,
                          "--profile", "xy-md02")
            self.assertEqual(res.returncode, 1, res.describe())
            self.assertEqual(res.stderr.splitlines()[-1],
                             f"selgw read: unit 2 on tcp {server.host}:{server.port}: answered "
                             "with Modbus exception 2 (illegal data address): the device is "
                             "there, but does not have the profile's registers; check the "
                             "profile (selgw profiles)")
            # pymodbus drops a request to a unit it does not serve: no answer at all
            res = h.selgw("read", "--tcp", f"{server.host}:{server.port}", "--unit", 3,
                          "--profile", "cwt-soil-thc-s", "--timeout", 300)
            self.assertEqual(res.returncode, 1, res.describe())
            self.assertEqual(res.stderr.splitlines()[-1],
                             f"selgw read: unit 3 on tcp {server.host}:{server.port}: no answer "
                             f"within 300 ms: {NO_ANSWER_HINT}")
            # the gateway's log says the same about a device of its config that is silent
            d_cfg = h.make_config(
                "itest-commission",
                buses=[{"id": "tcp0", "type": "tcp", "host": server.host, "port": server.port,
                        "response_timeout": "300ms", "retries": 0}],
                devices=[{"id": "soil-x", "bus": "tcp0", "unit_id": 3,
                          "profile": "cwt-soil-thc-s", "plot": "plot-tea", "interval": "1s"}])
            path = h.write_config(os.path.join(d, "gw.yaml"), d_cfg)
            res = h.selgw("run", "--once", "--no-print", "-c", path)
            self.assertEqual(res.returncode, 1, res.describe())
            self.assertIn("device soil-x (unit 3 on bus tcp0): no answer within the response "
                          f"timeout: {NO_ANSWER_HINT}\n", res.stderr)
        finally:
            server.stop()


class ReadPymodbusRtu(unittest.TestCase):
    """scan, read and set-address on an RTU line (a socat pty pair) to pymodbus's serial
    server. selgw opens, locks and closes its end for each command, so they run one after
    another; the pty pair carries no baud rate, so 9600 8N1 is only what both ends say."""

    # cwt-soil-thc-s at unit 2: 23.4 %, -10.1 degC, 1250 uS/cm, 610, 625, and its
    # addressing register 0x07D0 holding its id; an xy-md02 at unit 5: 21.5 degC, 65.5 %
    IMAGE = {"units": {"2": {"hr": {"0": 234, "1": 0xFF9B, "2": 1250, "3": 610, "4": 625,
                                    str(0x07D0): 2}},
                       "5": {"ir": {"1": 215, "2": 655}}}}

    @classmethod
    def setUpClass(cls):
        h.check_binaries()

    def setUp(self):
        self.dir = h.tempdir("commission-pymodbus-rtu")
        self.tty = os.path.join(self.dir, "ttyGW")
        self.socat = h.SocatPair(self.tty, os.path.join(self.dir, "ttyDEV"))
        try:
            self.server = h.PymodbusServer(self.IMAGE, self.dir, serial=self.socat.link_b,
                                           baud=9600, parity="N", report_writes=True)
        except BaseException:
            self.socat.stop()
            raise
        self.line = f"rtu {self.tty} 9600 8N1"

    def tearDown(self):
        self.server.stop()
        self.socat.stop()

    def test_scan_finds_both_units(self):
        res = h.selgw("scan", "--serial", self.tty, "--baud", 9600, "--parity", "N",
                      "--units", "1-5", "--timeout", 200)
        self.assertEqual(res.returncode, 0, res.describe())
        lines = res.stdout.splitlines()
        self.assertEqual(lines[0], f"unit 2 at {self.line}: answers")
        self.assertIn("cwt-soil-thc-s", lines[1].split(": ")[1].split(", "))
        self.assertEqual(lines[2:], [f"unit 5 at {self.line}: answers",
                                     "  plausible profiles: xy-md02", "2 devices answer"])
        self.assertIn(f"scan: {self.line}, units 1..5\n", res.stderr)

    def test_read_decodes_the_image(self):
        res = h.selgw("read", "--serial", self.tty, "--baud", 9600, "--parity", "N",
                      "--unit", 2, "--profile", "cwt-soil-thc-s")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertEqual(res.stdout.splitlines()[0],
                         f"unit 2 on {self.line}, profile cwt-soil-thc-s")
        self.assertEqual(field_lines(res.stdout), {
            "soil_moisture": ("23.4", "%", "ok"), "soil_temperature": ("-10.1", "degC", "ok"),
            "soil_ec": ("1250", "uS/cm", "ok"), "soil_salinity": ("610", "mg/L", "ok"),
            "soil_tds": ("625", "mg/L", "ok")})
        # a unit pymodbus does not serve stays silent on the line
        res = h.selgw("read", "--serial", self.tty, "--baud", 9600, "--parity", "N",
                      "--unit", 3, "--profile", "cwt-soil-thc-s", "--timeout", 200)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertEqual(res.stderr.splitlines()[-1],
                         f"selgw read: unit 3 on {self.line}: no answer within 200 ms: "
                         f"{NO_ANSWER_HINT}")

    def test_set_address_writes_the_register(self):
        res = h.selgw("set-address", "--serial", self.tty, "--baud", 9600, "--parity", "N",
                      "--unit", 2, "--profile", "cwt-soil-thc-s", "--new-unit", 7,
                      "--timeout", 300)
        self.assertEqual(res.returncode, 0, res.describe())
        # pymodbus stores the id but keeps answering at unit 2, as a probe does until its
        # power cycle
        self.assertEqual(res.stdout,
                         f"unit 2 on {self.line}: writing unit id 7 to register 0x07D0\n"
                         f"unit 7 on {self.line} does not answer yet: cwt-soil-thc-s takes "
                         "its new settings after a power cycle. Power-cycle it, then check "
                         "with `selgw read`\n")
        self.assertTrue(h.wait_until(lambda: self.server.writes(), h.scaled(5)),
                        self.server.describe())
        self.assertEqual(self.server.writes(), [(2, "hr", 0x07D0, 7)])
        # the probe still reads at its old id
        res = h.selgw("read", "--serial", self.tty, "--baud", 9600, "--unit", 2,
                      "--profile", "cwt-soil-thc-s")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertEqual(field_lines(res.stdout)["soil_moisture"], ("23.4", "%", "ok"))


SITE_PROFILE = """name: site-probe
model: a site soil probe whose manual gives the baud codes
source: bench
link: {baud: 9600, unit_id: 1}
addressing: {unit_id_register: 0x07D0, baud_register: 0x07D1,
             baud_codes: {4800: 1, 9600: 2}, apply: immediate}
fields:
  - {name: soil_moisture, function: 3, address: 0, type: u16, scale: 0.1, unit: "%",
     range: [0, 100]}
"""


class ScanTcp(unittest.TestCase):
    def test_scan_lists_devices_and_plausible_profiles(self):
        d = h.tempdir("commission-scan-tcp")
        sim_cfg = h.write_config(os.path.join(d, "sim.yaml"), sim_config(h.free_port()))
        sim = h.Simulator(sim_cfg, "--tcp", "tcp0=127.0.0.1:0")
        try:
            port = sim.tcp_port("tcp0")
            res = h.selgw("scan", "--tcp", f"127.0.0.1:{port}", "--units", "1-20")
            self.assertEqual(res.returncode, 0, res.describe())
            lines = res.stdout.splitlines()
            self.assertEqual(lines[0], f"unit 4 at tcp 127.0.0.1:{port}: answers")
            self.assertIn("cwt-soil-thc-s", lines[1].split(": ")[1].split(", "))
            self.assertEqual(lines[2], f"unit 8 at tcp 127.0.0.1:{port}: answers")
            self.assertEqual(lines[3], "  plausible profiles: xy-md02")
            self.assertEqual(lines[-1], "2 devices answer")
            self.assertIn(f"scan: tcp 127.0.0.1:{port}, units 1..20\n", res.stderr)
        finally:
            sim.stop()

    def test_scan_pymodbus(self):
        d = h.tempdir("commission-scan-pymodbus")
        server = h.PymodbusServer({"units": {"5": {"ir": {"1": 215, "2": 655}}}}, d)
        try:
            res = h.selgw("scan", "--tcp", f"{server.host}:{server.port}", "--units", "1-6",
                          "--timeout", 200)
            self.assertEqual(res.returncode, 0, res.describe())
            self.assertEqual(res.stdout, f"unit 5 at tcp {server.host}:{server.port}: answers\n"
                             "  plausible profiles: xy-md02\n1 device answers\n")
        finally:
            server.stop()

    def test_scan_refused_connection(self):
        port = h.free_port()
        res = h.selgw("scan", "--tcp", f"127.0.0.1:{port}", "--units", "1-3")
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn(f"selgw scan: tcp 127.0.0.1:{port}: cannot open the link: check the "
                      "address, the port and that the device is there\n", res.stderr)


class RtuLine(unittest.TestCase):
    """One RS-485 line (the simulator's own pty) with devices at two baud rates, two new
    probes at the factory address, and a site probe whose manual gives its baud codes."""

    def setUp(self):
        self.dir = h.tempdir("commission-rtu")
        pdir = os.path.join(self.dir, "profiles")
        os.mkdir(pdir)
        with open(os.path.join(pdir, "site-probe.yaml"), "w", encoding="utf-8") as f:
            f.write(SITE_PROFILE)
        self.tty = os.path.join(self.dir, "ttyRS485")
        cfg = h.make_config(
            "itest-commission-rtu",
            buses=[{"id": "rtu0", "type": "rtu", "device": self.tty, "baud": 4800,
                    "parity": "N", "response_timeout": "300ms", "retries": 0}],
            devices=[{"id": i, "bus": "rtu0", "unit_id": u, "profile": p, "plot": "plot-tea",
                      "interval": "1s"} for i, u, p in [
                          ("new-a", 10, "cwt-soil-thc-s"), ("new-b", 11, "cwt-soil-thc-s"),
                          ("air", 8, "xy-md02"), ("site", 12, "site-probe")]],
            profiles_dir=pdir)
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        self.sim = None

    def start_sim(self, *device_at):
        args = []
        for spec in device_at:
            args += ["--device-at", spec]
        self.sim = h.Simulator(self.cfg_path, "--pty", f"rtu0={self.tty}", *args)

    def tearDown(self):
        if self.sim:
            self.sim.stop()

    def test_scan_two_bauds_and_a_collision(self):
        self.start_sim("new-a=1@4800", "new-b=1@4800", "air=8@9600", "site=1@9600")
        res = h.selgw("scan", "-c", self.cfg_path, "--serial", self.tty, "--baud", "4800,9600",
                      "--parity", "N", "--units", "1-9")
        self.assertEqual(res.returncode, 0, res.describe())
        out = res.stdout.splitlines()
        self.assertRegex(out[0], rf"^unit 1 at rtu {re.escape(self.tty)} 4800 8N1: corrupt "
                         r"answers \(3 of 3: .+\): several devices answer at this unit id\. "
                         r"Connect one at a time and give each its own id with "
                         r"`selgw set-address`$")
        self.assertEqual(out[1], f"unit 1 at rtu {self.tty} 9600 8N1: answers")
        self.assertIn("site-probe", out[2])
        self.assertEqual(out[3], f"unit 8 at rtu {self.tty} 9600 8N1: answers")
        self.assertEqual(out[4], "  plausible profiles: xy-md02")
        self.assertEqual(out[5], "2 devices answer, 1 unit id with several devices")
        self.assertIn(f"scan: rtu {self.tty} 4800 8N1, units 1..9\n", res.stderr)
        self.assertIn(f"scan: rtu {self.tty} 9600 8N1, units 1..9\n", res.stderr)

    def test_ctrl_c_stops_a_long_scan_with_what_it_found(self):
        self.start_sim("air=1@1200", "new-a=10@115200", "new-b=11@115200", "site=12@115200")
        # every common baud rate: the device answers on the first one, the others on the last
        scan = h.Process("selgw scan", [h.SELGW_BIN, "scan", "--serial", self.tty,
                                        "--parity", "N", "--units", "1-40"])
        scan.wait_for(r"^unit 1 at .* 1200 8N1: answers$", h.scaled(30))
        scan.wait_for(r"^  plausible profiles:", h.scaled(30))
        scan.wait_for(r"^scan: .* 2400 8N1, units 1\.\.40$", h.scaled(60), stream="err")
        self.assertEqual(scan.stop(sig=signal.SIGINT), 130, scan.describe())
        self.assertEqual(scan.stdout()[-2:], [
            "interrupted: the scan stopped early; what it found so far is above",
            "1 device answers"])

    def test_set_address_refuses_two_at_the_old_id(self):
        self.start_sim("new-a=1@4800", "new-b=1@4800")
        res = h.selgw("set-address", "--serial", self.tty, "--profile", "cwt-soil-thc-s",
                      "--new-unit", 2)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertEqual(res.stderr.splitlines()[-1],
                         f"selgw set-address: refused: more than one device answers at unit 1 "
                         f"on rtu {self.tty} 4800 8N1 (3 of 3 answers corrupt). Connect only "
                         "the probe to re-address and try again")

    def test_set_address_then_power_cycle(self):
        self.start_sim("new-a=1@4800")
        res = h.selgw("set-address", "--serial", self.tty, "--profile", "cwt-soil-thc-s",
                      "--new-unit", 2)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertEqual(res.stdout,
                         f"unit 1 on rtu {self.tty} 4800 8N1: writing unit id 2 to register "
                         "0x07D0\n"
                         f"unit 2 on rtu {self.tty} 4800 8N1 does not answer yet: "
                         "cwt-soil-thc-s takes its new settings after a power cycle. "
                         "Power-cycle it, then check with `selgw read`\n")
        self.sim.send_signal(signal.SIGHUP)  # the simulator's power cycle
        self.assertTrue(h.wait_until(
            lambda: "power cycle: now unit 2" in "\n".join(self.sim.stderr()), h.scaled(5)))
        res = h.selgw("read", "--serial", self.tty, "--unit", 2, "--profile", "cwt-soil-thc-s")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertEqual(field_lines(res.stdout)["soil_moisture"][1:], ("%", "ok"))
        # a new id that is taken is refused
        res = h.selgw("set-address", "--serial", self.tty, "--unit", 2, "--profile",
                      "cwt-soil-thc-s", "--new-unit", 2, "--new-baud", 9600)
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertEqual(res.stderr,
                         "selgw set-address: profile cwt-soil-thc-s does not know the code of "
                         "9600 baud: its source does not give it; a site copy of the profile "
                         "can add baud_codes from the unit's manual (docs/PROFILES.md)\n")

    def test_set_address_and_baud_at_once(self):
        self.start_sim("site=1@9600", "air=8@9600")
        res = h.selgw("set-address", "-c", self.cfg_path, "--serial", self.tty, "--profile",
                      "site-probe", "--new-unit", 8)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertEqual(res.stderr.splitlines()[-1],
                         f"selgw set-address: refused: unit 8 already answers on rtu {self.tty} "
                         "9600 8N1; choose a free id (`selgw scan` lists the ones in use)")
        res = h.selgw("set-address", "-c", self.cfg_path, "--serial", self.tty, "--profile",
                      "site-probe", "--new-unit", 3, "--new-baud", 4800)
        self.assertEqual(res.returncode, 0, res.describe())
        out = res.stdout.splitlines()
        self.assertEqual(out[:3], [
            f"unit 1 on rtu {self.tty} 9600 8N1: writing unit id 3 to register 0x07D0",
            "unit 3: writing baud code 1 (4800 baud) to register 0x07D1",
            f"unit 3 on rtu {self.tty} 4800 8N1 answers:"])
        self.assertEqual(field_lines(res.stdout)["soil_moisture"][1:], ("%", "ok"))
        # nobody is left at the old settings
        res = h.selgw("read", "-c", self.cfg_path, "--serial", self.tty, "--baud", 9600,
                      "--unit", 1, "--profile", "site-probe", "--timeout", 200)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertEqual(res.stderr.splitlines()[-1],
                         f"selgw read: unit 1 on rtu {self.tty} 9600 8N1: no answer within "
                         f"200 ms: {NO_ANSWER_HINT}")

    def test_profile_without_addressing_is_refused(self):
        res = h.selgw("set-address", "--tcp", "127.0.0.1:1", "--profile", "senseair-k30",
                      "--new-unit", 5)
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertEqual(res.stderr,
                         "selgw set-address: profile senseair-k30 has no addressing section: "
                         "its source does not say how the model is re-addressed (see the "
                         "unit's manual; a site copy of the profile can add it, "
                         "docs/PROFILES.md)\n")


class ConfigMessages(unittest.TestCase):
    def test_unknown_profile_points_to_selgw_profiles(self):
        d = h.tempdir("commission-config")
        cfg = sim_config(502)
        cfg["devices"][0]["profile"] = "cwt-soil-thc"
        path = h.write_config(os.path.join(d, "gw.yaml"), cfg)
        res = h.selgw("check", "-c", path)
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertRegex(res.stderr, re.escape(path) + r":\d+:\d+: unknown profile "
                         r"'cwt-soil-thc' \(did you mean 'cwt-soil-thc-s'\?\); `selgw profiles` "
                         r"lists them\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
