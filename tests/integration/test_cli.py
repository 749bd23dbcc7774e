#!/usr/bin/python3
"""The selgw command line: check, run errors, run --once with nothing to talk to.

- `selgw check` on the shipped configs exits 0 and prints the summary; the counts (bases,
  plots, buses, devices, Modbus requests per poll cycle per bus and in total) are compared
  with counts made here from the files (the requests from an independent planning of each
  profile's reads: same function, gaps up to max_gap, at most max_read_registers).
- A broken config: exit 2, every error as FILE:LINE:COLUMN: message, at the right places.
- `selgw run` with a config it cannot read: exit 2 and a message naming the file and why.
- `selgw run --once` with nothing listening (TCP) and no serial device (RTU): exit 1, one
  connect_failed reading per device.
- The command line itself (CommandLine): `selgw --help` names every command; `selgw CMD
  --help` (and `selgw help CMD`, `selgw -h CMD`) lists exactly the flags of CMD, as this
  file states them, and each of them is accepted; every flag of another command is refused
  with exit 2 and a message naming the flag, the command and what it takes; the global -q
  and -v work before and after the command (the last one wins); an unknown command or flag,
  a second operand and a time that cannot be read: exit 2 with a message; flags after the
  operand are read also under POSIXLY_CORRECT, and everything after -- is an operand.
"""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def read_sections(path):
    """Top-level lists of mappings of a config, with their scalar keys (nested mappings and
    lists such as households or calibration are skipped): {section: [{key: value}]}."""
    sections, current, item = {}, None, None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = h.strip_comment(raw.rstrip("\n"))
            if not line.strip():
                continue
            indent = len(line) - len(line.lstrip())
            text = line.strip()
            if indent == 0:
                key = text.split(":")[0]
                current = sections.setdefault(key, [])
                continue
            if indent == 2 and text.startswith("- "):
                item = {}
                current.append(item)
                text = text[2:]
                indent = 4
            if indent == 4 and item is not None and ":" in text:
                k, _, v = text.partition(":")
                item[k.strip()] = h.parse_scalar(v)
    return sections


def planned_reads(profile):
    """Number of Modbus requests one poll of a device with this profile needs."""
    max_gap = profile["max_gap"] if profile["max_gap"] is not None else 4
    max_regs = 125
    reads = 0
    for function in (1, 2, 3, 4):
        fields = sorted((f for f in profile["fields"] if f["function"] == function),
                        key=lambda f: f["address"])
        start = end = None  # current read covers [start, end)
        for f in fields:
            width = max(1, h.registers_of(f["type"]))
            limit = 2000 if function <= 2 else max_regs
            if start is not None and f["address"] - end <= max_gap and \
                    f["address"] + width - start <= limit:
                end = max(end, f["address"] + width)
            else:
                reads += 1
                start, end = f["address"], f["address"] + width
    return reads


def plural(n, word):
    return rf"{n} {word}{'' if n == 1 else 's'}"


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.dir = h.tempdir("cli")
        cls.profiles = h.profiles_by_name()

    def check_summary(self, rel_path):
        path = os.path.join(h.SOURCE_DIR, rel_path)
        res = h.selgw("check", "-c", path)
        h.say(f"selgw check -c {rel_path}: exit status {res.returncode}")
        self.assertEqual(res.returncode, 0, res.describe())
        out = res.stdout
        self.assertIn(f"{path}: OK", out)
        s = read_sections(path)
        n = {k: len(s.get(k, [])) for k in ("bases", "plots", "buses", "devices")}
        self.assertRegex(out, rf"{plural(n['bases'], 'base')}, {plural(n['plots'], 'plot')}, "
                              rf"{plural(n['buses'], 'buse')}, "
                              rf"{plural(n['devices'], 'device')}; "
                              rf"{len(self.profiles)} profiles available", out)
        total = 0
        for bus in s["buses"]:
            devs = [d for d in s["devices"] if d["bus"] == bus["id"]]
            reqs = sum(planned_reads(self.profiles[d["profile"]]) for d in devs)
            total += reqs
            where = (f"{bus['host']}:{bus.get('port', 502)}" if bus["type"] == "tcp"
                     else str(bus["device"]))
            self.assertRegex(
                out, rf"(?m)^\s+bus {re.escape(bus['id'])}: {bus['type']} {re.escape(where)}"
                     rf".*, {plural(len(devs), 'device')}, {plural(reqs, 'Modbus request')} "
                     rf"per poll cycle$", out)
            h.say(f"  bus {bus['id']}: {len(devs)} devices, {reqs} requests per cycle")
        self.assertRegex(out, rf"(?m)^total: {plural(total, 'Modbus request')} per poll cycle$")
        h.say(f"summary: {n}, {total} Modbus requests per poll cycle in total")
        self.assertEqual(res.stderr.strip(), "", "nothing on stderr for a good config")

    def test_check_example(self):
        self.check_summary("config/example-tea-base.yaml")

    def test_check_demo(self):
        self.check_summary("config/demo.yaml")

    def test_check_broken_config(self):
        """Several errors at once, each with FILE:LINE:COLUMN."""
        text = (
            "gateway:\n"                      # 1
            "  id: broken-gw\n"               # 2
            "  utc_offest: \"+08:00\"\n"      # 3  unknown key (3:3)
            "bases:\n"                        # 4
            "  - id: b1\n"                    # 5
            "    name: Base\n"                # 6
            "plots:\n"                        # 7
            "  - id: p1\n"                    # 8
            "    base: b1\n"                  # 9
            "    crop: tea\n"                 # 10
            "buses:\n"                        # 11
            "  - id: bus1\n"                  # 12
            "    type: tcp\n"                 # 13
            "    host: 127.0.0.1\n"           # 14
            "    bauds: 9600\n"               # 15 unknown key (15:5)
            "devices:\n"                      # 16
            "  - id: d1\n"                    # 17
            "    bus: bus1\n"                 # 18
            "    unit_id: 300\n"              # 19 out of range (19:14)
            "    profile: cwt-soil-thc\n"     # 20 unknown profile (20:14)
            "    plot: p1\n"                  # 21
            "  - id: d1\n"                    # 22 duplicate id (22:9), no unit_id
            "    bus: bus1\n"                 # 23
            "    unit_id: 2\n"                # 24
            "    profile: xy-md02\n"          # 25
            "    plot: nowhere\n"             # 26 unknown plot (26:11)
            "    interval: fast\n"            # 27 bad duration (27:15)
        )
        path = os.path.join(self.dir, "broken.yaml")
        with open(path, "w") as f:
            f.write(text)
        res = h.selgw("check", "-c", path)
        h.say(f"selgw check on a config with 7 errors: exit status {res.returncode}")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertEqual(res.stdout, "", "no summary for a broken config")
        diags = re.findall(rf"(?m)^{re.escape(path)}:(\d+):(\d+): (.+)$", res.stderr)
        positions = {(int(line), int(col)) for line, col, _ in diags}
        expected = {
            (3, 3): r"utc_offest",
            (15, 5): r"bauds",
            (19, 14): r"300",
            (20, 14): r"cwt-soil-thc",
            (22, 9): r"duplicate.*d1",
            (26, 11): r"nowhere",
            (27, 15): r"fast",
        }
        for pos, pattern in expected.items():
            self.assertIn(pos, positions, f"an error at {pos[0]}:{pos[1]}\n" + res.describe())
            msg = next(m for line, col, m in diags if (int(line), int(col)) == pos)
            self.assertRegex(msg, pattern)
            h.say(f"  {os.path.basename(path)}:{pos[0]}:{pos[1]}: {msg}")
        self.assertEqual(len(diags), len(expected), res.describe())
        self.assertRegex(res.stderr, rf"{len(expected)} errors")

    def test_run_unreadable_config(self):
        """run with a config that is missing or is a directory: exit 2, a clear message."""
        missing = os.path.join(self.dir, "no-such-dir", "site.yaml")
        cases = [(missing, r"No such file"), (self.dir, r"directory")]
        if os.geteuid() != 0:  # root reads a file of mode 000 anyway
            locked = os.path.join(self.dir, "locked.yaml")
            with open(locked, "w") as f:
                f.write("gateway: {id: x}\n")
            os.chmod(locked, 0)
            cases.append((locked, r"[Pp]ermission denied"))
        for path, reason in cases:
            res = h.selgw("run", "-c", path, timeout=h.scaled(20))
            h.say(f"selgw run -c {path}: exit status {res.returncode}, "
                  f"'{res.stderr.strip().splitlines()[0] if res.stderr.strip() else ''}'")
            self.assertEqual(res.returncode, 2, res.describe())
            self.assertEqual(res.readings, [])
            self.assertIn(path, res.stderr)
            self.assertRegex(res.stderr, reason)
        res = h.selgw("check")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertRegex(res.stderr, r"-c FILE")
        res = h.selgw("frobnicate")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertRegex(res.stderr, r"unknown command")
        h.say("check without -c and an unknown command: exit status 2 with a message")

    def test_once_nothing_listening(self):
        """Nothing on the TCP port, no serial device: connect_failed for every device."""
        port = h.free_port()  # bound and released: nobody listens there
        cfg = h.make_config(
            "itest-cli-gw",
            buses=[{"id": "tcp-nobody", "type": "tcp", "host": "127.0.0.1", "port": port,
                    "response_timeout": "300ms"},
                   {"id": "rtu-nobody", "type": "rtu",
                    "device": os.path.join(self.dir, "no-such-tty"),
                    "response_timeout": "300ms"}],
            devices=[{"id": "t1", "bus": "tcp-nobody", "unit_id": 1,
                      "profile": "generic-climate", "plot": "plot-gh"},
                     {"id": "t2", "bus": "tcp-nobody", "unit_id": 2,
                      "profile": "senseair-k30", "plot": "plot-gh"},
                     {"id": "r1", "bus": "rtu-nobody", "unit_id": 1,
                      "profile": "cwt-soil-thc-s", "plot": "plot-tea"},
                     {"id": "r2", "bus": "rtu-nobody", "unit_id": 2,
                      "profile": "xy-md02", "plot": "plot-tea"}])
        path = h.write_config(os.path.join(self.dir, "nobody.yaml"), cfg)
        res = h.selgw("run", "--once", "-c", path)
        h.say(f"selgw run --once with nobody listening: exit status {res.returncode}")
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertEqual(h.count_by_device(res.readings), {"t1": 1, "t2": 1, "r1": 1, "r2": 1},
                         res.describe())
        for r in res.readings:
            self.assertEqual(r["status"], "connect_failed", r)
            h.check_reading_tags(self, cfg, r)
            for name, fv in r["fields"].items():
                self.assertEqual(fv["quality"], "read_failed", name)
                self.assertIsNone(fv["value"], name)
        h.say("every device: status connect_failed, fields read_failed")
        for bus in ("tcp-nobody", "rtu-nobody"):
            self.assertRegex(res.stderr, rf"{bus}.*cannot connect", res.describe())
        self.assertRegex(res.stderr, r"4 of 4 devices did not answer")

    def one_device_config(self, gateway_id, journal):
        """A config of one TCP device nobody serves, its journal in this test's directory."""
        cfg = h.make_config(
            gateway_id,
            buses=[{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": h.free_port()}],
            devices=[{"id": "t1", "bus": "tcp0", "unit_id": 1, "profile": "cwt-soil-thc-s",
                      "plot": "plot-tea"}])
        cfg["journal"] = {"dir": os.path.join(self.dir, journal)}
        return cfg

    def test_read_only_commands_need_no_secrets(self):
        """selgw journal, annotate and export do not talk to the servers: they run without the
        sinks' secret environment variables, which run and check still require."""
        cfg = self.one_device_config("itest-cli-secrets", "journal-secrets")
        cfg["mqtt"] = {"host": "127.0.0.1", "username": "gw", "password_env": "SELGW_NO_SUCH_VAR"}
        cfg["influxdb"] = {"url": "http://127.0.0.1:1", "database": "d", "username": "gw",
                           "password_env": "SELGW_NO_SUCH_VAR"}
        path = h.write_config(os.path.join(self.dir, "secrets.yaml"), cfg)
        os.environ.pop("SELGW_NO_SUCH_VAR", None)
        res = h.selgw("check", path)
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("environment variable SELGW_NO_SUCH_VAR is not set", res.stderr)
        res = h.selgw("annotate", "-c", path, "--plot", "plot-tea", "--text", "土壤硒 0.6 mg/kg")
        self.assertEqual(res.returncode, 0, res.describe())
        res = h.selgw("journal", "-c", path)
        self.assertEqual(res.returncode, 0, res.describe())
        h.say("check refuses the missing secret; journal and annotate run without it")

    def test_time_without_zone_is_the_gateways_local_time(self):
        """--from 2026-04-01 is local midnight at gateway.utc_offset (+08:00), and the command
        says so; a time with its zone is read as written and not remarked on; verify, which
        reads no config, reads it as UTC and says that."""
        cfg = self.one_device_config("itest-cli-times", "journal-times")
        path = h.write_config(os.path.join(self.dir, "times.yaml"), cfg)
        res = h.selgw("journal", "-c", path, "--dump", "--from", "2026-04-01", "--to",
                      "2026-04-02T00:00Z")  # no journal there yet: said after the times
        self.assertIn("selgw journal: --from 2026-04-01 read as 2026-04-01T00:00:00+08:00 (the "
                      "gateway's local time, gateway.utc_offset), 2026-03-31T16:00:00Z\n",
                      res.stderr)
        self.assertNotIn("--to 2026-04-02", res.stderr)
        res = h.selgw("verify", os.path.join(self.dir, "no-such-bundle"), "--from",
                      "2026-04-01T08:00")
        self.assertIn("selgw verify: --from 2026-04-01T08:00 read as 2026-04-01T08:00:00Z (UTC: "
                      "verify reads no config; give the zone, e.g. +08:00), "
                      "2026-04-01T08:00:00Z\n", res.stderr)
        # 1970-01-01 exists in UTC but its local midnight at +08:00 is in 1969: refused
        res = h.selgw("journal", "-c", path, "--dump", "--from", "1970-01-01")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("selgw journal: --from: '1970-01-01' is not a time: ", res.stderr)
        self.assertIn("(the gateway's local time, gateway.utc_offset)\n", res.stderr)
        h.say("a bare date is the gateway's local midnight, and the command says how it read it")

    def test_file_given_twice(self):
        """The config given as FILE and as -c (in either order), or -c twice: refused, since
        which one was meant is a guess."""
        demo = os.path.join(h.SOURCE_DIR, "config/demo.yaml")
        for args in (("check", "bad.yaml", "-c", demo), ("check", "-c", demo, "bad.yaml"),
                     ("journal", "-c", demo, "-c", demo)):
            res = h.selgw(*args)
            self.assertEqual(res.returncode, 2, res.describe())
        res = h.selgw("check", "bad.yaml", "-c", demo)
        self.assertIn(f"selgw check: --config {demo}: given already as 'bad.yaml'", res.stderr)
        h.say("a file given twice is refused, whatever the order")


# Each command's own flags, as docs/README state them: long name -> short letter (or None)
# and the value it takes (None: a switch). The global flags come on top of every command.
FLAGS = {
    "check": {"config": ("c", "FILE"), "plan": (None, None)},
    "run": {"config": ("c", "FILE"), "once": (None, None), "print": (None, None),
            "no-print": (None, None)},
    "journal": {"config": ("c", "FILE"), "dump": (None, None), "format": (None, "json|lp"),
                "from": (None, "TIME"), "to": (None, "TIME")},
    "keygen": {},
    "pubkey": {},
    "annotate": {"config": ("c", "FILE"), "plot": (None, "P"), "text": (None, "TEXT"),
                 "ref": (None, "REPORT")},
    "export": {"config": ("c", "FILE"), "plot": (None, "P"), "from": (None, "T1"),
               "to": (None, "T2"), "output": ("o", "BUNDLE"), "plain": (None, None),
               "no-compress": (None, None), "wait": (None, "SECONDS"),
               "lot": (None, "ID"), "qr": (None, "LABEL.svg"), "archive": (None, "DSN"),
               "gateway": (None, "G"), "pubkey": (None, "ed25519:HEX")},
    "lot": {"config": ("c", "FILE"), "id": (None, "ID"), "product": (None, "NAME"),
            "plot": (None, "P:FROM..TO"), "quantity": (None, "Q"), "unit": (None, "U"),
            "household": (None, "CODE"), "processing": (None, "TEXT"), "ref": (None, "REF")},
    "verify": {"pubkey": (None, "ed25519:HEX"), "keys": (None, "FILE"), "plot": (None, "P"),
               "from": (None, "T1"), "to": (None, "T2"), "report": (None, "FILE.html"),
               "lang": (None, "zh|en"), "pdf": (None, "FILE.pdf"),
               "witness-key": (None, "KEY|FILE"), "witness-tolerance": (None, "SECONDS")},
    "status": {"config": ("c", "FILE"), "url": (None, "URL")},
    "profiles": {"config": ("c", "FILE")},
    "read": {"config": ("c", "FILE"), "tcp": (None, "HOST:PORT"), "serial": (None, "DEVICE"),
             "timeout": (None, "MS"), "baud": (None, "N"), "parity": (None, "N|E|O"),
             "unit": (None, "N"), "profile": (None, "NAME"), "raw": (None, None)},
    "scan": {"config": ("c", "FILE"), "tcp": (None, "HOST:PORT"), "serial": (None, "DEVICE"),
             "timeout": (None, "MS"), "baud": (None, "N[,N...]"), "parity": (None, "P[,P...]"),
             "units": (None, "FIRST-LAST")},
    "set-address": {"config": ("c", "FILE"), "tcp": (None, "HOST:PORT"),
                    "serial": (None, "DEVICE"), "timeout": (None, "MS"), "baud": (None, "N"),
                    "parity": (None, "N|E|O"), "unit": (None, "N"), "profile": (None, "NAME"),
                    "new-unit": (None, "N"), "new-baud": (None, "N")},
    "passwd": {},
    "archive": {"config": ("c", "FILE"), "check": (None, None)},
    "version": {},
    "help": {},
}
GLOBAL_FLAGS = {"verbose": ("v", None), "quiet": ("q", None), "log-level": (None, "LEVEL"),
                "help": ("h", None)}
TIME_VALUES = {"TIME", "T1", "T2"}


def help_sections(text):
    """The flags a help text lists, by section ("flags", "global flags"): {long name: (letter,
    value name)}, read from lines such as '  -c, --config FILE  the configuration file'."""
    sections, current = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = sections.setdefault("global flags" if line.startswith("global")
                                          else line[:-1], {})
            continue
        m = re.match(r"^  (?:-(\w), )?\s*--([\w-]+)(?: (\S+))?  ", line)
        if current is not None and m:
            current[m.group(2)] = (m.group(1), m.group(3))
        elif not line.strip():
            current = None
    return sections


class CommandLine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.dir = h.tempdir("cli-flags")

    def test_overview_names_every_command(self):
        for args in (("--help",), ("-h",), ("help",)):
            res = h.selgw(*args)
            self.assertEqual(res.returncode, 0, res.describe())
            listed = re.findall(r"(?m)^  ([a-z-]+)(?: |$)", res.stdout)
            self.assertEqual(listed, list(FLAGS), res.stdout)
            self.assertEqual(help_sections(res.stdout)["global flags"], GLOBAL_FLAGS)
        res = h.selgw()
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("usage: selgw", res.stderr)
        h.say(f"selgw --help, -h and help list the {len(FLAGS)} commands; no command: exit 2")

    def test_help_lists_exactly_the_flags_of_each_command(self):
        for cmd, flags in FLAGS.items():
            res = h.selgw(cmd, "--help")
            self.assertEqual(res.returncode, 0, res.describe())
            self.assertTrue(res.stdout.startswith(f"usage: selgw {cmd}"), res.stdout)
            sections = help_sections(res.stdout)
            self.assertEqual(sections.get("flags", {}), flags, res.stdout)
            self.assertEqual(sections["global flags"], GLOBAL_FLAGS, res.stdout)
            usage = res.stdout.splitlines()[0]
            for named in re.findall(r"--([\w-]+)", usage):
                self.assertIn(named, flags, usage)
            has_time = any(v in TIME_VALUES for _, v in flags.values())
            self.assertEqual("times: YYYY-MM-DD" in res.stdout, has_time, res.stdout)
            others = [("help", cmd)]
            if cmd in ("export", "keygen"):
                others += [("-h", cmd), (cmd, "-h"), ("-q", cmd, "--help")]
            for other in others:
                again = h.selgw(*other)
                self.assertEqual((again.returncode, again.stdout), (0, res.stdout), other)
        h.say("selgw CMD --help (and help CMD, -h CMD, CMD -h) lists exactly CMD's flags")

    def test_each_listed_flag_is_accepted(self):
        """Every flag of a command in one command line, with a value if it takes one: once
        as --name VALUE, once as -x VALUE where it has a letter and --name=VALUE otherwise.
        Parsed, then --help prints the help instead of running the command."""
        for cmd, flags in FLAGS.items():
            long_form, other_form = [], []
            for name, (letter, value) in flags.items():
                arg = [] if value is None else ["2026-05-01" if value in TIME_VALUES else "x"]
                long_form += [f"--{name}", *arg]
                if letter:
                    other_form += [f"-{letter}", *arg]
                elif arg:
                    other_form.append(f"--{name}={arg[0]}")
                else:
                    other_form.append(f"--{name}")
            for args in (long_form, other_form):
                res = h.selgw(cmd, *args, "--help", timeout=h.scaled(10))
                self.assertEqual(res.returncode, 0, f"{cmd} {args}\n" + res.describe())
                self.assertTrue(res.stdout.startswith(f"usage: selgw {cmd}"))
        h.say("every listed flag of every command is accepted, as -x, --name and --name=VALUE")

    def test_flag_of_another_command_is_refused(self):
        """Every command refuses some flag of another, and every flag is refused by some
        command that does not take it (the whole matrix would be 140 runs)."""
        all_flags = {}
        for flags in FLAGS.values():
            all_flags.update(flags)
        cases = set()
        for cmd, flags in FLAGS.items():
            # (a flag that begins another of cmd's, as --unit does --units, is that one
            # abbreviated: not foreign)
            foreign = [n for n in all_flags if not any(f.startswith(n) for f in flags)]
            cases.add((cmd, f"--{foreign[len(cmd) % len(foreign)]}"))
        for i, (name, (letter, _)) in enumerate(all_flags.items()):
            others = [c for c, f in FLAGS.items() if not any(x.startswith(name) for x in f)]
            cases.add((others[i % len(others)], f"--{name}"))
            if letter:
                cases.add((others[(i + 1) % len(others)], f"-{letter}"))
        for cmd, spelled in sorted(cases):
            flags = FLAGS[cmd]
            name = next(n for n, (l, _) in all_flags.items() if spelled in (f"--{n}", f"-{l}"))
            owners = [c for c, f in FLAGS.items() if name in f]
            # --help after it: had the flag been taken, help would exit 0
            res = h.selgw(cmd, spelled, "x", "--help", timeout=h.scaled(10))
            self.assertEqual(res.returncode, 2, f"{cmd} {spelled}\n" + res.describe())
            self.assertEqual(res.stdout, "")
            first, takes = res.stderr.splitlines()[:2]
            self.assertTrue(first.startswith(
                f"selgw {cmd}: {spelled} does not apply to {cmd}: it is a flag of "), res.stderr)
            for owner in owners:
                self.assertIn(owner, first)
            self.assertTrue(takes.startswith(f"selgw {cmd} takes "), res.stderr)
            for own in flags:
                self.assertIn(f"--{own}", takes)
            self.assertIn("-v, -q, -h", takes)
        self.assertEqual({cmd for cmd, _ in cases}, set(FLAGS))
        res = h.selgw("verify", "bundle", "-c", "gw.yaml")
        h.say(f"{len(cases)} flags of other commands refused with exit 2, e.g.\n"
              + res.stderr.rstrip())
        self.assertEqual(res.returncode, 2, res.describe())

    def test_global_flags_before_and_after_the_command(self):
        """-q keeps only errors on stderr, -v shows everything; before or after the command,
        the last one given wins."""
        cfg = h.make_config(
            "itest-cli-flags",
            buses=[{"id": "tcp-nobody", "type": "tcp", "host": "127.0.0.1",
                    "port": h.free_port(), "response_timeout": "300ms"}],
            devices=[{"id": "t1", "bus": "tcp-nobody", "unit_id": 1,
                      "profile": "generic-climate", "plot": "plot-gh"}])
        cfg["journal"] = {"dir": os.path.join(self.dir, "journal")}
        path = h.write_config(os.path.join(self.dir, "nobody.yaml"), cfg)
        warning = r"1 of 1 devices did not answer"
        cases = [((), ("-c", path), True),
                 (("-q",), ("-c", path), False),
                 ((), ("-c", path, "-q"), False),
                 ((), ("--quiet", "-c", path), False),
                 (("-q",), ("-c", path, "-v"), True),
                 (("-v",), ("-c", path, "-q"), False),
                 (("--verbose",), ("-c", path), True),
                 (("--log-level", "error"), ("-c", path), False),
                 ((), ("-c", path, "--log-level=warn"), True),
                 (("--log-level", "error"), ("-c", path, "-v"), True)]
        for before, after, warned in cases:
            res = h.selgw(*before, "run", "--once", *after)
            args = " ".join(before + ("run", "--once") + after).replace(path, "FILE")
            self.assertEqual(res.returncode, 1, f"selgw {args}\n" + res.describe())
            self.assertEqual(len(res.readings), 1, res.describe())
            if warned:
                self.assertRegex(res.stderr, warning, f"selgw {args}")
            else:
                self.assertNotRegex(res.stderr, warning, f"selgw {args}")
            h.say(f"selgw {args}: warning {'shown' if warned else 'not shown'}")
        res = h.selgw("-c", path, "check")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("selgw: -c is not a global flag", res.stderr)
        res = h.selgw("--log-level", "debug", "run", "--once", "-c", path)
        self.assertIn(" selgw debug: ", res.stderr)
        res = h.selgw("run", "--once", "-c", path, "--log-level", "loud")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertEqual(res.stderr, "selgw run: --log-level: 'loud' is not a log level: it is "
                                     "error, warn, info or debug\n")
        h.say("--log-level error|warn|debug before or after the command; 'loud' refused")

    def test_unknown_command_flag_and_argument(self):
        res = h.selgw("frobnicate", "-c", "x")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertRegex(res.stderr, r"unknown command 'frobnicate'; the commands are check, ")
        res = h.selgw("help", "frobnicate")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertRegex(res.stderr, r"unknown command 'frobnicate'")
        res = h.selgw("check", "--frobnicate")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("selgw check: unknown flag --frobnicate", res.stderr)
        res = h.selgw("journal", "--f", "json")  # --format or --from
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("--f is ambiguous", res.stderr)
        res = h.selgw("check", "-c", "a.yaml", "b.yaml")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("selgw check: unexpected argument 'b.yaml'", res.stderr)
        res = h.selgw("run", "--once=yes")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("--once takes no value", res.stderr)
        res = h.selgw("export", "--plot")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("--plot needs a value", res.stderr)
        res = h.selgw("journal", "--from", "2026-05-01")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("apply to --dump only", res.stderr)
        h.say("unknown command, unknown and ambiguous flag, second operand, missing or "
              "unwanted value, --from without --dump: exit 2 with a message")

    def test_flags_and_operands_in_any_order(self):
        """A flag after the operand is read also with POSIXLY_CORRECT set (getopt_long would
        stop at the first operand then); after -- everything is an operand; a short flag
        missing its value is named as typed, also inside a group."""
        demo = os.path.join(h.SOURCE_DIR, "config/demo.yaml")
        os.environ["POSIXLY_CORRECT"] = "1"
        try:
            res = h.selgw("check", demo, "--plan", "-q")
        finally:
            del os.environ["POSIXLY_CORRECT"]
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertRegex(res.stdout, r"(?m)^plan ", res.describe())
        res = h.selgw("check", "--", "-c")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertRegex(res.stderr, r"(?m)^selgw: -c: ", res.describe())
        res = h.selgw("export", "-vo")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("selgw export: -o needs a value", res.stderr)
        h.say("flags after the operand (POSIXLY_CORRECT too), operands after --, -vo: exit 2")

    def test_times_that_cannot_be_read(self):
        forms = ("TIME is YYYY-MM-DD[THH:MM[:SS[.fraction]]], with its zone (Z, +08:00) or else "
                 "in the gateway's utc_offset")
        for args, flag, text in (
                (("export", "--plot", "p", "--from", "yesterday", "--to", "2026-05-02", "-o",
                  "x"), "--from", "yesterday"),
                (("verify", "b", "--to", "2026-02-30"), "--to", "2026-02-30"),
                (("journal", "--dump", "--from=1969-12-31"), "--from", "1969-12-31")):
            res = h.selgw(*args)
            self.assertEqual(res.returncode, 2, res.describe())
            self.assertIn(f"selgw {args[0]}: {flag}: '{text}' is not a time: {forms}",
                          res.stderr)
        res = h.selgw("export", "--plot", "p", "--from", "2026-05-02T00:00+08:00", "--to",
                      "2026-05-01T08:00Z", "-o", "x")
        self.assertEqual(res.returncode, 2, res.describe())
        self.assertIn("--from T1 must be before --to T2", res.stderr)
        h.say("export, verify and journal refuse a time they cannot read, naming the flag")


if __name__ == "__main__":
    unittest.main(verbosity=2)
