#!/usr/bin/env python3
"""Benchmark: `selgw verify` on a crafted bundle of many chains (50,000 by default, about
10 MB): one reading in each of that many device chains and seals that name them all, the
shape that made verification quadratic (43 s) before chains were looked up by a keyed
hash. Prints the time and peak memory; the bundle is no honest one, so the verdict is NOT
VERIFIED: only how long it takes to say so matters."""
import argparse
import base64
import os
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import benchlib  # noqa: E402
import bundle as B  # noqa: E402


def s(b):
    return struct.pack("<H", len(b)) + b


def reading(device, t):
    chain = b"device/" + device
    return (bytes([2, 1]) + s(chain) + struct.pack("<Q", 1) + bytes(32) + struct.pack("<q", t) +
            s(b"gw") + s(b"base") + s(b"plot-a") + s(b"tea") + s(device) + s(b"p") + s(b"") +
            s(b"bus") + bytes([1, 0, 0]) + struct.pack("<I", 1) + struct.pack("<H", 0) +
            struct.pack("<H", 1) + s(b"soil_moisture") + s(b"%") + bytes([0]) +
            struct.pack("<d", 20.5))


def seal(position, prev, t, heads, key):
    body = (bytes([2, 5]) + s(b"gateway") + struct.pack("<Q", position) + prev +
            struct.pack("<q", t) + s(b"gw") + struct.pack("<I", len(heads)))
    for name, pos, head in heads:
        body += s(name) + struct.pack("<Q", pos) + head
    return body + key.sign(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chains", type=int, default=50000)
    args = ap.parse_args()
    key = B.new_key()
    raw = key.public_key().public_bytes(B.serialization.Encoding.Raw,
                                        B.serialization.PublicFormat.Raw)
    t0 = 1795960000 * 10**9
    tmp = tempfile.mkdtemp(prefix="selgw-bench-chains-")
    path = os.path.join(tmp, "chains.evidence")
    try:
        opening = seal(1, bytes(32), t0, [], key)
        heads, lines, jseq = [], [], 2
        for i in range(args.chains):
            device = b"d%06d" % i
            p = reading(device, t0 + 10**9 + i)
            lines.append(b"record %d %s" % (jseq, base64.b64encode(p)))
            heads.append((b"device/" + device, 1, B.blake2b(p)))
            jseq += 1
        closing = seal(2, B.blake2b(opening), t0 + 3600 * 10**9, heads, key)
        with open(path, "wb") as f:
            f.write(b"selgw-evidence 1\npublic-key ed25519:%s\ngateway gw\nplot plot-a\n"
                    b"from 2026-11-29T13:50:00Z\nto 2026-11-29T14:00:00Z\n" % raw.hex().encode())
            f.write(b"record 1 %s\n" % base64.b64encode(opening))
            f.write(b"\n".join(lines) + b"\n")
            f.write(b"record %d %s\nend %d\n" % (jseq, base64.b64encode(closing),
                                                 args.chains + 2))
        size = os.path.getsize(path)
        start = time.monotonic()
        proc = subprocess.Popen([benchlib.SELGW, "verify", path, "--pubkey",
                                 "ed25519:" + raw.hex()], stdout=subprocess.PIPE, text=True)
        out = proc.stdout.read()
        _, status, ru = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
        if "NOT VERIFIED" not in out:
            print(out[-2000:])
            raise SystemExit("a crafted bundle must not verify")
        print("bench_verify_chains: %d chains, bundle %.1f MB: verify %.2f s, peak RSS %.0f MiB"
              % (args.chains, size / 1e6, seconds, ru.ru_maxrss / 1024))
    finally:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
