"""Small helpers shared by the benchmarks: free ports, processes stopped by pid, and
reading the gateway's JSON lines. Benchmarks print figures; they assert nothing about time."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SELGW_BUILD", os.path.join(ROOT, "build"))
SELGW = os.environ.get("SELGW_BIN", os.path.join(BUILD, "selgw"))
SELGW_SIM = os.environ.get("SELGW_SIM_BIN", os.path.join(BUILD, "selgw-sim"))
PROFILES = os.path.join(ROOT, "sensors", "profiles")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, timeout=10):
    """SIGTERM, then SIGKILL if it does not go; returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def start_sim(args, timeout=20):
    """Starts selgw-sim and waits for its 'ready' line."""
    proc = subprocess.Popen([SELGW_SIM] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.strip() == "ready":
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc
    stop(proc)
    raise RuntimeError("selgw-sim did not become ready: %r" % lines)


class ReadingCollector:
    """Reads the gateway's stdout on a thread and keeps what the benchmark needs."""

    def __init__(self, stream, keep_times=False):
        self.count = 0
        self.ok = 0
        self.times = {}  # device -> [UTC seconds]
        self.keep_times = keep_times
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for line in stream:
            r = json.loads(line)
            if r.get("type", "reading") != "reading":
                continue  # start and stop records
            self.count += 1
            if r["status"] == "ok":
                self.ok += 1
            if self.keep_times:
                self.times.setdefault(r["device"], []).append(parse_utc(r["time"]))


def parse_utc(text):
    # "2026-11-28T13:55:21.123456Z"
    secs = time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return secs + float("0" + text[19:-1])


def run_gateway_measured(config, seconds, keep_times=False):
    """Runs `selgw run -c config` for `seconds`, then SIGTERM; returns (collector, rusage,
    exit status). rusage is the gateway's own, from wait4."""
    proc = subprocess.Popen([SELGW, "run", "-q", "-c", config], stdout=subprocess.PIPE,
                            text=True)
    collector = ReadingCollector(proc.stdout, keep_times)
    time.sleep(seconds)
    proc.send_signal(signal.SIGTERM)
    _, status, rusage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    collector.thread.join(10)
    return collector, rusage, proc.returncode
