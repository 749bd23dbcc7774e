"""Shared helpers of the selgw integration tests.

The tests start the real programs (selgw, selgw-sim, socat, the pymodbus server) on free
loopback ports and pty pairs, talk to them only through their command lines, stdout/stderr
and the Modbus wire, and stop them by pid. Standard library only (plus pymodbus in the
server script), run with Debian's /usr/bin/python3.

Environment (set by ctest, see tests/CMakeLists.txt):
  SELGW_BIN         the selgw binary
  SELGW_SIM_BIN     the selgw-sim binary
  SELGW_SOURCE_DIR  the repository root
  SELGW_SANITIZE    "ON" for an ASan/UBSan build: everything is slower, waits are scaled

Every process started here is registered and stopped at exit (SIGTERM, wait, SIGKILL), and
asks the kernel to kill it if the test process dies first (PR_SET_PDEATHSIG), so a test never
leaves anything behind, even when ctest kills it on a timeout.
"""
import atexit
import ctypes
import datetime
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SELGW_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
SELGW_BIN = os.environ.get("SELGW_BIN") or os.path.join(SOURCE_DIR, "build", "selgw")
SIM_BIN = os.environ.get("SELGW_SIM_BIN") or os.path.join(SOURCE_DIR, "build", "selgw-sim")
PROFILES_DIR = os.path.join(SOURCE_DIR, "sensors", "profiles")
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PYMODBUS_SERVER = os.path.join(HERE, "pymodbus_server.py")

SANITIZE = os.environ.get("SELGW_SANITIZE", "").upper() in ("ON", "1", "TRUE", "YES")
# Sanitized builds run several times slower; every wait and deadline is multiplied by this.
SLOW = 4.0 if SANITIZE else 1.0


def scaled(seconds):
    return seconds * SLOW


def preload_env(lib, binary=None):
    """The environment that LD_PRELOADs the test shim lib into binary (default selgw). In a
    sanitized build the ASan runtime must be the first library loaded: when binary links
    it dynamically (GCC), it goes first in LD_PRELOAD, before the shim; when it is linked
    in statically (clang) the order cannot be wrong, and ASan is told not to check it."""
    env = {"LD_PRELOAD": lib}
    if SANITIZE:
        runtime = None
        try:
            out = subprocess.run(["ldd", binary or SELGW_BIN], capture_output=True, text=True,
                                 check=False).stdout
            m = re.search(r"^\s*libasan\.so\S*\s+=>\s+(\S+)", out, re.M)
            runtime = m.group(1) if m else None
        except OSError:
            pass
        if runtime:
            env["LD_PRELOAD"] = runtime + ":" + lib
        env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    return env


def say(message):
    """What a test checks, on stdout (ctest --output-on-failure and -V show it)."""
    print(f"  * {message}", flush=True)


# ---------------------------------------------------------------------------------------
# Processes


PR_SET_PDEATHSIG = 1
try:
    LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover
    LIBC = None


def die_with_parent():
    """preexec_fn: the child gets SIGKILL if the test process dies (ctest timeout, ^C)."""
    if LIBC is not None:
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


RUNNING = []  # every Process not yet stopped

# Reports of ASan/LSan/UBSan on a program's stderr: a test fails on any of them.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_report(stderr_text):
    for marker in SANITIZER_MARKERS:
        i = stderr_text.find(marker)
        if i >= 0:
            return stderr_text[max(0, i - 200):i + 3000]
    return None


class Process:
    """A child process whose stdout and stderr are collected line by line by two threads.

    wait_for() blocks until a line matches; stop() ends it by pid (SIGTERM, then SIGKILL
    after a grace period) and returns the exit status."""

    def __init__(self, name, argv, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.out_lines = []
        self.err_lines = []
        self.cond = threading.Condition()
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            preexec_fn=die_with_parent,
        )
        self.pid = self.popen.pid
        RUNNING.append(self)
        self.readers = [
            threading.Thread(target=self.pump, args=(self.popen.stdout, self.out_lines),
                             daemon=True),
            threading.Thread(target=self.pump, args=(self.popen.stderr, self.err_lines),
                             daemon=True),
        ]
        for t in self.readers:
            t.start()

    def pump(self, stream, lines):
        for raw in iter(stream.readline, b""):
            with self.cond:
                lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        stream.close()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pattern, timeout, stream="out", start=0):
        """The first line (from index start) matching the regex pattern; AssertionError with
        the output so far if none comes within timeout seconds or the process exits."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        lines = self.out_lines if stream == "out" else self.err_lines
        i = start
        with self.cond:
            while True:
                while i < len(lines):
                    m = rx.search(lines[i])
                    if m:
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self.readers_alive()):
                    break
                self.cond.wait(min(left, 0.2))
        raise AssertionError(
            f"{self.name}: no {stream} line matching {pattern!r} within {timeout:.1f}s "
            f"(exit status {self.popen.poll()})\n{self.describe()}"
        )

    def readers_alive(self):
        return any(t.is_alive() for t in self.readers)

    def stdout(self):
        with self.cond:
            return list(self.out_lines)

    def stderr(self):
        with self.cond:
            return list(self.err_lines)

    def describe(self, tail=40):
        out, err = self.stdout(), self.stderr()
        return (f"--- {self.name} {' '.join(self.argv)}\n"
                f"--- stdout (last {tail} of {len(out)} lines)\n" + "\n".join(out[-tail:]) +
                f"\n--- stderr (last {tail} of {len(err)} lines)\n" + "\n".join(err[-tail:]))

    def alive(self):
        return self.popen.poll() is None

    def send_signal(self, sig):
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, grace=None, sig=signal.SIGTERM):
        """SIGTERM (or sig), wait up to grace seconds, then SIGKILL. Returns the exit status
        (negative: killed by that signal). Safe to call twice."""
        grace = scaled(10) if grace is None else grace
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(f"{self.name} (pid {self.pid}) did not stop within {grace:.0f}s; SIGKILL",
                      file=sys.stderr, flush=True)
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait()
        for t in self.readers:
            t.join(timeout=5)
        if self in RUNNING:
            RUNNING.remove(self)
        report = sanitizer_report("\n".join(self.stderr()))
        if report and not getattr(self, "sanitizer_reported", False):
            self.sanitizer_reported = True
            raise AssertionError(f"{self.name}: sanitizer report on stderr:\n{report}")
        return self.popen.returncode

    def wait(self, timeout):
        """Waits for the process to exit by itself; kills it and fails if it does not."""
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(grace=1)
            raise AssertionError(f"{self.name} did not exit within {timeout:.0f}s\n"
                                 + self.describe())
        return self.stop()


TEMP_DIRS = []


def stop_all():
    for p in list(reversed(RUNNING)):
        try:
            p.stop(grace=5)
        except AssertionError as e:
            print(e, file=sys.stderr, flush=True)


def cleanup():
    """At exit: every process first (they may hold files in the temp dirs), then the dirs."""
    stop_all()
    import shutil
    for d in TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(cleanup)


def on_termination(signum, frame):
    stop_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, on_termination)


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago (prefer letting the server bind
    port 0 and report its port, which has no race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# ---------------------------------------------------------------------------------------
# The gateway


class RunResult:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def readings(self):
        """stdout as readings (selgw run): every line must be a JSON object."""
        return parse_readings(self.stdout.splitlines())

    def by_device(self):
        out = {}
        for r in self.readings:
            out.setdefault(r["device"], []).append(r)
        return out

    def describe(self):
        return (f"exit status {self.returncode}\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}")


def parse_records(lines):
    """Every stdout line of selgw run must be one JSON object: a journal record."""
    readings = []
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"stdout line is not JSON ({e}): {line!r}")
        if not isinstance(obj, dict):
            raise AssertionError(f"stdout line is not a JSON object: {line!r}")
        readings.append(obj)
    return readings


def parse_readings(lines):
    """The reading records among selgw run's stdout lines (start and stop events left out);
    each carries the journal sequence number it was committed with."""
    readings = [r for r in parse_records(lines) if r.get("type", "reading") == "reading"]
    for r in readings:
        if not isinstance(r.get("seq"), int) or r["seq"] <= 0:
            raise AssertionError(f"reading without a journal sequence number: {r!r}")
    return readings


def selgw(*args, timeout=None):
    """Runs selgw to completion; returns a RunResult."""
    timeout = scaled(60) if timeout is None else timeout
    p = subprocess.run([SELGW_BIN, *map(str, args)], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, preexec_fn=die_with_parent)
    res = RunResult(p.returncode, p.stdout.decode("utf-8", "replace"),
                    p.stderr.decode("utf-8", "replace"))
    report = sanitizer_report(res.stderr)
    if report:
        raise AssertionError(f"selgw {' '.join(map(str, args))}: sanitizer report:\n{report}")
    return res


def run_as_nobody(*argv, timeout=None):
    """Runs a command to completion as user nobody (the caller is root); a RunResult."""
    timeout = scaled(60) if timeout is None else timeout
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        *map(str, argv)], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, preexec_fn=die_with_parent)
    return RunResult(p.returncode, p.stdout.decode("utf-8", "replace"),
                     p.stderr.decode("utf-8", "replace"))


class Gateway(Process):
    """selgw run -c CONFIG in the background, readings parsed from its stdout."""

    def __init__(self, config_path, *extra, env=None):
        super().__init__("selgw", [SELGW_BIN, "run", "-c", config_path, *extra], env=env)

    def readings(self):
        return parse_readings(self.stdout())

    def wait_readings(self, predicate, timeout, what="readings"):
        """Waits until predicate(list of readings so far) is true."""
        if wait_until(lambda: predicate(self.readings()), timeout, interval=0.1):
            return self.readings()
        raise AssertionError(f"gateway: {what}: not seen within {timeout:.0f}s\n"
                             + self.describe())


# ---------------------------------------------------------------------------------------
# The simulator, socat, pymodbus


class Simulator(Process):
    """selgw-sim -c CONFIG ...; waits for 'ready' and records the 'bus ID KIND WHERE' lines
    (self.buses: id -> where; for TCP buses where is 'HOST:PORT')."""

    def __init__(self, config_path, *extra, ready_timeout=None):
        super().__init__("selgw-sim", [SIM_BIN, "-c", config_path, *extra])
        self.wait_for(r"^ready$", scaled(15) if ready_timeout is None else ready_timeout)
        self.buses = {}
        for line in self.stdout():
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "bus":
                self.buses[parts[1]] = parts[3]

    def tcp_port(self, bus_id):
        return int(self.buses[bus_id].rsplit(":", 1)[1])


class SocatPair(Process):
    """A pty pair linked at two paths (socat pty,raw,echo=0 both ends)."""

    def __init__(self, link_a, link_b):
        super().__init__("socat", ["socat", "-d", "-d",
                                   f"pty,raw,echo=0,link={link_a}",
                                   f"pty,raw,echo=0,link={link_b}"])
        self.link_a, self.link_b = link_a, link_b
        if not wait_until(lambda: os.path.exists(link_a) and os.path.exists(link_b),
                          scaled(10)):
            raise AssertionError(f"socat did not create {link_a} and {link_b}\n"
                                 + self.describe())


class PymodbusServer(Process):
    """tests/integration/pymodbus_server.py serving a register image (see its doc).

    On Modbus TCP on a free loopback port (self.host, self.port), or, given serial=PATH,
    on Modbus RTU on that device (one end of a SocatPair; a pty carries no baud rate, so
    baud and parity only need to be plausible). With report_writes=True, writes() lists
    the (unit, table, address, value) a master wrote."""

    def __init__(self, image, workdir, serial=None, baud=9600, parity="N",
                 report_writes=False):
        path = os.path.join(workdir, f"image-{len(os.listdir(workdir))}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(image, f, indent=1)
        argv = [SYSTEM_PYTHON, PYMODBUS_SERVER, "--image", path]
        if serial:
            argv += ["--serial", serial, "--baud", str(baud), "--parity", parity]
        if report_writes:
            argv.append("--report-writes")
        super().__init__("pymodbus", argv)
        if serial:
            self.wait_for(r"^ready " + re.escape(serial) + "$", scaled(20))
            self.serial = serial
        else:
            m = self.wait_for(r"^ready (\S+):(\d+)$", scaled(20))
            self.host, self.port = m.group(1), int(m.group(2))

    def writes(self):
        return [(int(u), t, int(a), int(v)) for u, t, a, v in
                (line.split()[1:] for line in self.stdout() if line.startswith("write "))]


# ---------------------------------------------------------------------------------------
# Configs: a tiny YAML emitter (block style) for the dicts the tests build.

PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./-]*$")
SPECIAL = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "~"}


def yaml_scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if PLAIN.match(s) and s.lower() not in SPECIAL:
        return s
    return json.dumps(s, ensure_ascii=False)  # a YAML double-quoted string


def to_yaml(obj, indent=0):
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, (dict, list)):
                lines.append(f"{pad}{k}: {'{}' if isinstance(v, dict) else '[]'}")
            else:
                lines.append(f"{pad}{k}: {yaml_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 2).splitlines()
                lines.append(f"{pad}- {body[0].lstrip()}")
                lines.extend(body[1:])
            else:
                lines.append(f"{pad}- {yaml_scalar(item)}")
    else:
        lines.append(pad + yaml_scalar(obj))
    return "\n".join(lines)


def write_config(path, cfg):
    """Writes cfg as YAML. A config without a journal section gets a journal of its own
    next to the file (never the default /var/lib/selgw/journal, which tests would share),
    and one without an http section an API on a free port (never the default 9108, where
    another gateway on the machine may answer)."""
    if "journal" not in cfg:
        base = os.path.splitext(os.path.basename(path))[0]
        cfg = dict(cfg, journal={"dir": os.path.join(os.path.dirname(os.path.abspath(path)),
                                                     "journal-" + base)})
    if "http" not in cfg:
        cfg = dict(cfg, http={"listen": f"127.0.0.1:{free_port()}"})
    with open(path, "w", encoding="utf-8") as f:
        f.write("# written by a selgw integration test\n")
        f.write(to_yaml(cfg) + "\n")
    return path


def local_today(utc_offset_minutes=480):
    return (datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(minutes=utc_offset_minutes)).date()


# ---------------------------------------------------------------------------------------
# Profiles: a small reader of the shipped profile files, independent of selgw's loader.
# It understands what those files use: comments, "key: value" lines, flow mappings and
# lists on one line, and the "fields:" list of mappings.


def strip_comment(line):
    out, quote = [], None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(c)
    return "".join(out).rstrip()


def parse_scalar(text):
    t = text.strip()
    if not t or t in ("~", "null"):
        return None
    if t[0] in "\"'":
        return t[1:-1]
    if t.startswith("[") and t.endswith("]"):
        inner = t[1:-1].strip()
        return [parse_scalar(x) for x in split_flow(inner)] if inner else []
    if t.startswith("{") and t.endswith("}"):
        out = {}
        for item in split_flow(t[1:-1]):
            k, _, v = item.partition(":")
            out[k.strip()] = parse_scalar(v)
        return out
    if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", t):
        return int(t, 16)
    if re.fullmatch(r"[-+]?[0-9]+", t):
        return int(t, 10)
    try:
        return float(t)
    except ValueError:
        return t


def split_flow(text):
    parts, depth, cur, quote = [], 0, "", None
    for c in text:
        if quote:
            cur += c
            if c == quote:
                quote = None
            continue
        if c in "\"'":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += c
    if cur.strip():
        parts.append(cur.strip())
    return parts


def read_profile(path):
    """{'name', 'unit_id', 'max_gap', 'fields': [{name, function, address, type, order,
    scale, offset, unit, min, max}], 'path'}"""
    top, fields, in_fields = {}, [], False
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = strip_comment(raw.rstrip("\n"))
            if not line.strip():
                continue
            indent = len(line) - len(line.lstrip())
            text = line.strip()
            if indent == 0:
                key, _, value = text.partition(":")
                in_fields = key == "fields"
                if not in_fields:
                    top[key.strip()] = parse_scalar(value)
                continue
            if not in_fields:
                raise ValueError(f"{path}: unexpected nested line {raw!r}")
            if text.startswith("- "):
                fields.append({})
                text = text[2:]
            key, _, value = text.partition(":")
            fields[-1][key.strip()] = parse_scalar(value)
    out_fields = []
    for fd in fields:
        rng = fd.get("range") or [None, None]
        out_fields.append({
            "name": fd["name"],
            "function": int(fd["function"]),
            "address": int(fd["address"]),
            "type": fd["type"],
            "order": fd.get("order") or "ABCD",
            "scale": float(fd.get("scale", 1)),
            "offset": float(fd.get("offset", 0)),
            "unit": fd.get("unit") or "",
            "min": None if rng[0] is None else float(rng[0]),
            "max": None if rng[1] is None else float(rng[1]),
        })
    link = top.get("link") or {}
    return {"name": top["name"], "unit_id": int(link.get("unit_id", 1)),
            "max_gap": top.get("max_gap"), "fields": out_fields, "path": path}


def shipped_profiles():
    names = sorted(n for n in os.listdir(PROFILES_DIR) if n.endswith(".yaml"))
    return [read_profile(os.path.join(PROFILES_DIR, n)) for n in names]


# ---------------------------------------------------------------------------------------
# Register encoding, written from sensors/profile.h and docs/PROFILES.md (not from selgw's
# code): the value's bytes big-endian, A the most significant; ABCD keeps them, CDAB reverses
# the order of the 16-bit words, BADC swaps the bytes within each word, DCBA does both.

TYPES = {
    # type name -> (struct format, registers, is an integer type)
    "u16": (">H", 1, True), "s16": (">h", 1, True),
    "u32": (">I", 2, True), "s32": (">i", 2, True),
    "u64": (">Q", 4, True), "s64": (">q", 4, True),
    "f32": (">f", 2, False), "f64": (">d", 4, False),
}

INT_LIMITS = {
    "u16": (0, 2**16 - 1), "s16": (-2**15, 2**15 - 1),
    "u32": (0, 2**32 - 1), "s32": (-2**31, 2**31 - 1),
    "u64": (0, 2**64 - 1), "s64": (-2**63, 2**63 - 1),
}


def registers_of(type_name):
    return 0 if type_name == "bit" else TYPES[type_name][1]


def raw_to_registers(type_name, order, raw):
    code, nregs, _ = TYPES[type_name]
    data = struct.pack(code, raw)
    words = [data[i:i + 2] for i in range(0, len(data), 2)]
    if order in ("CDAB", "DCBA"):
        words.reverse()
    if order in ("BADC", "DCBA"):
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def raw_for_value(field, value, cal_scale=1.0, cal_offset=0.0):
    """The raw register value that makes the gateway report `value` (after calibration),
    or None if it does not fit the type."""
    before_cal = (value - cal_offset) / cal_scale
    raw = (before_cal - field["offset"]) / field["scale"]
    if field["type"] in INT_LIMITS:
        raw = int(round(raw))
        lo, hi = INT_LIMITS[field["type"]]
        return raw if lo <= raw <= hi else None
    if field["type"] == "f32":
        raw = struct.unpack(">f", struct.pack(">f", raw))[0]
    return raw


def value_of_raw(field, raw, cal_scale=1.0, cal_offset=0.0):
    return (raw * field["scale"] + field["offset"]) * cal_scale + cal_offset


def tolerance(field, value, cal_scale=1.0):
    """Half a raw step for integers; for floats the precision of the type."""
    if field["type"] in INT_LIMITS or field["type"] == "bit":
        return abs(field["scale"] * cal_scale) / 2 + 1e-9 * max(1.0, abs(value))
    rel = 1e-6 if field["type"] == "f32" else 1e-12
    return rel * max(1.0, abs(value)) + 1e-9


def expected_quality(field, value):
    if not math.isfinite(value):
        return "out_of_range"
    if field["min"] is not None and value < field["min"]:
        return "out_of_range"
    if field["max"] is not None and value > field["max"]:
        return "out_of_range"
    return "ok"


def tempdir(test_name):
    """A fresh directory for one test's files; kept if SELGW_KEEP_TEST_FILES is set."""
    d = tempfile.mkdtemp(prefix=f"selgw-{test_name}-")
    if os.environ.get("SELGW_KEEP_TEST_FILES"):
        print(f"keeping test files in {d}", flush=True)
    else:
        TEMP_DIRS.append(d)
    return d


def check_binaries():
    for path in (SELGW_BIN, SIM_BIN):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"not executable: {path} (set SELGW_BIN / SELGW_SIM_BIN)")
    say(f"selgw {SELGW_BIN}, selgw-sim {SIM_BIN}, sanitize={'ON' if SANITIZE else 'OFF'}")


# ---------------------------------------------------------------------------------------
# A standard farm for the simulator tests: one base, plots with households whose contracts
# are valid, expired and not yet started, relative to today.


def standard_plots(utc_offset_minutes=480):
    today = local_today(utc_offset_minutes)
    day = datetime.timedelta(days=1)
    return [
        {"id": "plot-tea", "base": "itest-base", "crop": "tea", "area_mu": 12.5,
         "households": [
             {"household": "HH-101", "contract": "T-2024-101", "from": "2024-01-01"},
             {"household": "HH-102", "contract": "T-2020-102", "from": "2020-01-01",
              "to": str(today - 30 * day)},
             {"household": "HH-103", "contract": "T-NEXT-103", "from": str(today + 30 * day)},
             {"household": "HH-104", "contract": "T-2024-104", "from": "2024-06-01",
              "to": str(today + 365 * day)},
         ]},
        {"id": "plot-gh", "base": "itest-base", "crop": "tea-seedlings"},
        {"id": "plot-konjac", "base": "itest-base", "crop": "konjac",
         "households": [{"household": "HH-201", "contract": "K-201",
                         "from": str(today - 400 * day)}]},
    ]


def make_config(gateway_id, buses, devices, plots=None, profiles_dir=None):
    cfg = {
        "gateway": {"id": gateway_id, "location": "integration test", "utc_offset": "+08:00"},
        "bases": [{"id": "itest-base", "name": "集成测试基地", "county": "紫阳县",
                   "township": "汉王镇", "coordinates": {"latitude": 32.52,
                                                          "longitude": 108.53}}],
        "plots": plots if plots is not None else standard_plots(),
    }
    if profiles_dir:
        cfg["profiles_dir"] = profiles_dir
    cfg["buses"] = buses
    cfg["devices"] = devices
    return cfg


def reading_local_day(reading, utc_offset_minutes=480):
    t = reading["time"].rstrip("Z")
    if "." in t:
        t = t.split(".")[0]
    utc = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S")
    return (utc + datetime.timedelta(minutes=utc_offset_minutes)).date()


def expected_households(cfg, plot_id, reading):
    """The contracts of the plot valid on the reading's local day, as selgw tags them."""
    day = reading_local_day(reading)
    plot = next(p for p in cfg["plots"] if p["id"] == plot_id)
    out = []
    for c in plot.get("households", []):
        start = datetime.date.fromisoformat(c["from"])
        end = datetime.date.fromisoformat(c["to"]) if c.get("to") else datetime.date.max
        if start <= day <= end:
            out.append({"household": c["household"], "contract": c["contract"]})
    return out


def check_reading_tags(test, cfg, reading):
    """Tags of a reading against the config it came from."""
    dev = next(d for d in cfg["devices"] if d["id"] == reading["device"])
    plot = next(p for p in cfg["plots"] if p["id"] == dev["plot"])
    test.assertEqual(reading["gateway"], cfg["gateway"]["id"])
    test.assertEqual(reading["base"], plot["base"])
    test.assertEqual(reading["plot"], plot["id"])
    test.assertEqual(reading["crop"], plot["crop"])
    test.assertEqual(reading["bus"], dev["bus"])
    test.assertEqual(reading["unit_id"], dev["unit_id"])
    test.assertEqual(reading["profile"], dev["profile"])
    test.assertEqual(reading["serial"], dev.get("serial", ""))
    test.assertEqual(sorted(reading["households"], key=lambda x: x["contract"]),
                     sorted(expected_households(cfg, plot["id"], reading),
                            key=lambda x: x["contract"]), reading)


def check_values_in_range(test, profile, reading):
    """A healthy simulated device: every field read, within its range, quality ok."""
    test.assertEqual(set(reading["fields"]), {f["name"] for f in profile["fields"]})
    for f in profile["fields"]:
        fv = reading["fields"][f["name"]]
        where = f"{reading['device']}.{f['name']} = {fv}"
        test.assertEqual(fv["quality"], "ok", where)
        test.assertIsNotNone(fv["value"], where)
        test.assertEqual(fv["unit"], f["unit"], where)
        if f["min"] is not None:
            test.assertGreaterEqual(fv["value"], f["min"], where)
        if f["max"] is not None:
            test.assertLessEqual(fv["value"], f["max"], where)


def profiles_by_name():
    return {p["name"]: p for p in shipped_profiles()}


def duration_ms(text):
    m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)?", str(text))
    n, unit = float(m.group(1)), m.group(2) or "s"
    return n * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}[unit]


def reading_seconds(reading):
    """UTC seconds of a reading's time (microsecond precision)."""
    t = reading["time"].rstrip("Z")
    frac = 0.0
    if "." in t:
        t, f = t.split(".")
        frac = float("0." + f)
    utc = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return utc.timestamp() + frac


def count_by_device(readings, status=None):
    out = {}
    for r in readings:
        if status is None or r["status"] == status:
            out[r["device"]] = out.get(r["device"], 0) + 1
    return out
