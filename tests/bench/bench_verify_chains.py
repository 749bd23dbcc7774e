#!/usr/bin/env python3
"""Benchmark: `selgw verify` on crafted bundles of many chains (15,000 by default, about
3 MB), in the two shapes that once made verification quadratic:

- "named": one reading in each of that many device chains and a closing seal that names
  them all (as large as a seal can be: 1 MiB), which took 43 s for 50,000 chains before
  chains were looked up by a keyed hash;
- "unnamed": the same chains with a seal after every 10 readings that names none of them,
  so that every seal leaves out every chain the bundle holds so far.

Prints the time and peak memory of each; the bundles are no honest ones, so the verdict is
NOT VERIFIED: only how long it takes to say so matters."""
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
    return (bytes([3, 1]) + s(chain) + struct.pack("<Q", 1) + bytes(32) + struct.pack("<q", t) +
            s(b"gw") + s(b"base") + s(b"plot-a") + s(b"tea") + s(device) + s(b"p") + s(b"") +
            s(b"bus") + bytes([1, 0, 0]) + struct.pack("<I", 1) + struct.pack("<H", 0) +
            struct.pack("<H", 1) + s(b"soil_moisture") + s(b"%") + bytes([0]) +
            struct.pack("<d", 20.5))


def seal(position, prev, t, heads, key):
    body = (bytes([3, 5]) + s(b"gateway") + struct.pack("<Q", position) + prev +
            struct.pack("<q", t) + s(b"gw") + struct.pack("<q", t) +
            struct.pack("<I", len(heads)))
    for name, pos, head in heads:
        body += s(name) + struct.pack("<Q", pos) + head
    return body + key.sign(body)


def write_bundle(path, chains, shape, key, raw):
    t0 = 1795960000 * 10**9
    gateway = [seal(1, bytes(32), t0, [], key)]
    heads, lines, jseq = [], [b"record 1 %s" % base64.b64encode(gateway[0])], 2
    for i in range(chains):
        device = b"d%06d" % i
        p = reading(device, t0 + 10**9 + i)
        lines.append(b"record %d %s" % (jseq, base64.b64encode(p)))
        heads.append((b"device/" + device, 1, B.blake2b(p)))
        jseq += 1
        if shape == "unnamed" and i % 10 == 9:
            gateway.append(seal(len(gateway) + 1, B.blake2b(gateway[-1]), t0 + 2 * 10**9 + i,
                                [], key))
            lines.append(b"record %d %s" % (jseq, base64.b64encode(gateway[-1])))
            jseq += 1
    closing = seal(len(gateway) + 1, B.blake2b(gateway[-1]), t0 + 3600 * 10**9, heads, key)
    if len(closing) > 1 << 20:
        raise SystemExit("%d chains do not fit in one seal (%d bytes, at most 1 MiB)"
                         % (chains, len(closing)))
    lines.append(b"record %d %s" % (jseq, base64.b64encode(closing)))
    with open(path, "wb") as f:
        f.write(b"selgw-evidence 1\npublic-key ed25519:%s\ngateway gw\nplot plot-a\n"
                b"from 2026-11-29T13:50:00Z\nto 2026-11-29T14:00:00Z\n" % raw.hex().encode())
        f.write(b"\n".join(lines) + b"\nend %d\n" % len(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chains", type=int, default=15000)
    args = ap.parse_args()
    key = B.new_key()
    raw = key.public_key().public_bytes(B.serialization.Encoding.Raw,
                                        B.serialization.PublicFormat.Raw)
    tmp = tempfile.mkdtemp(prefix="selgw-bench-chains-")
    try:
        for shape in ("named", "unnamed"):
            path = os.path.join(tmp, shape + ".evidence")
            write_bundle(path, args.chains, shape, key, raw)
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
            print("bench_verify_chains: %d chains, seals %s them, bundle %.1f MB: verify "
                  "%.2f s, peak RSS %.0f MiB"
                  % (args.chains, "naming" if shape == "named" else "not naming", size / 1e6,
                     seconds, ru.ru_maxrss / 1024))
    finally:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
