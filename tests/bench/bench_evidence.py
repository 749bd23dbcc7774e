#!/usr/bin/env python3
"""Benchmark: a season-long evidence bundle.

One plot, four devices, one reading a minute for 180 days (1,036,800 readings), chained and
sealed every 10 minutes of their time with a fresh key (tests/bench/journal_fill), then
`selgw export` for the season, gzip-compressed (the default) and plain, and `selgw verify`
of each. Prints both sizes and their ratio, the bundle hash (the same for both forms), and
the time and peak memory of export and verification of each form, and of verification with
`--report` (the HTML report people read); exits non-zero if a
bundle does not verify or the two hashes differ. Asserts nothing about time."""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

JOURNAL_FILL = os.environ.get("SELGW_JOURNAL_FILL",
                              os.path.join(benchlib.BUILD, "tests", "journal_fill"))
DEVICES = [("soil-a", "cwt-soil-thc-s"), ("soil-b", "cwt-soil-thc-s"),
           ("npk-a", "sn-3002-tr-ecthnpkph"), ("air-a", "xy-md02")]


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def timed(argv):
    """Runs argv; returns (seconds, peak RSS in MiB of that child, stdout)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(out)
        raise SystemExit("%s exited %d" % (argv[1], proc.returncode))
    return time.monotonic() - t0, ru.ru_maxrss / 1024, out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=float, default=180)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="selgw-bench-evidence-")
    try:
        key = os.path.join(tmp, "gateway.key")
        pubkey = subprocess.run([benchlib.SELGW, "keygen", key], check=True, capture_output=True,
                                text=True).stdout.strip()
        lines = ["gateway: {id: season-gw}",
                 "journal: {dir: %s, fsync: none}" % os.path.join(tmp, "journal"),
                 "signing: {secret_key: %s, seal_interval: 10m}" % key,
                 "bases: [{id: hanwang, name: 汉王镇富硒茶基地}]",
                 "plots:",
                 "  - id: hw-p01",
                 "    base: hanwang",
                 "    crop: tea",
                 "    households:",
                 "      - {household: HH-001, contract: ZY-2024-001, from: 2024-01-01}",
                 "buses: [{id: rs485, type: rtu, device: /dev/null-selgw, baud: 9600}]",
                 "devices:"]
        for i, (dev, profile) in enumerate(DEVICES):
            lines.append("  - {id: %s, bus: rs485, unit_id: %d, profile: %s, plot: hw-p01, "
                         "interval: 60s}" % (dev, i + 1, profile))
        cfg = os.path.join(tmp, "season.yaml")
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        readings = int(args.days * 24 * 60) * len(DEVICES)
        start = time.time()
        fill_s, _, out = timed([JOURNAL_FILL, cfg, str(readings)])
        print(out.strip())
        t1 = start - args.days * 86400 + 3600
        t2 = start - 3600
        pub = subprocess.run([benchlib.SELGW, "journal", "-c", cfg], capture_output=True,
                             text=True).stdout  # (exercises read-only open on a big journal)
        del pub
        print("bench_evidence: %d readings of %d devices over %.0f days, sealed every 10 min"
              % (readings, len(DEVICES), args.days))
        print("  journal_fill       %.1f s" % fill_s)
        # The same season written both ways: gzip (export's default) and plain text.
        figures = {}
        for form, flags in (("gzip", []), ("plain", ["--plain"])):
            bundle = os.path.join(tmp, "season.evidence" + (".gz" if form == "gzip" else ""))
            export_s, export_mib, out = timed(
                [benchlib.SELGW, "export", "-c", cfg, "--plot", "hw-p01", "--from", utc(t1),
                 "--to", utc(t2), "-o", bundle, "--wait", "0"] + flags)
            verify_s, verify_mib, summary = timed([benchlib.SELGW, "verify", bundle,
                                                   "--pubkey", pubkey])
            exported_hash = out.split()[-1]
            if "\n  bundle:     %s\n" % exported_hash not in summary:
                raise SystemExit("verify of the %s bundle does not name the hash %s"
                                 % (form, exported_hash))
            figures[form] = (os.path.getsize(bundle), export_s, export_mib, verify_s,
                             verify_mib, exported_hash, summary)
            # the same with the report people read (daily statistics per device, field and day)
            html = os.path.join(tmp, "season-%s.html" % form)
            report_s, report_mib, _ = timed([benchlib.SELGW, "verify", bundle, "--pubkey",
                                             pubkey, "--report", html])
            figures[form] += (report_s, report_mib, os.path.getsize(html))
        if figures["gzip"][5] != figures["plain"][5]:
            raise SystemExit("the gzip and the plain bundle have different hashes")
        plain_size, gz_size = figures["plain"][0], figures["gzip"][0]
        with open(os.path.join(tmp, "season.evidence")) as f:
            records = sum(1 for line in f if line.startswith("record "))
        print("  bundle             %d records; plain %.1f MB (%.0f bytes per record), gzip "
              "%.1f MB: %.1f times smaller" % (records, plain_size / 1e6,
                                               plain_size / max(records, 1), gz_size / 1e6,
                                               plain_size / max(gz_size, 1)))
        print("  bundle hash        %s (both forms)" % figures["gzip"][5])
        for form in ("gzip", "plain"):
            (size, export_s, export_mib, verify_s, verify_mib, _, summary, report_s,
             report_mib, html_size) = figures[form]
            print("  export (%-5s)     %.1f s, peak RSS %.0f MiB" % (form, export_s, export_mib))
            print("  verify (%-5s)     %.1f s (%.0f records/s), peak RSS %.0f MiB"
                  % (form, verify_s, records / verify_s, verify_mib))
            print("  report (%-5s)     %.1f s with --report, peak RSS %.0f MiB, %.0f kB of HTML"
                  % (form, report_s, report_mib, html_size / 1e3))
        print("  " + [x for x in figures["gzip"][6].splitlines()
                      if x.startswith("VERIFIED")][0][:150])
    finally:
        subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
