#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/) from a real
gateway: a short signing run against selgw-sim, exported as bundles, plus a few of them
altered the way tests/integration/test_evidence_attacks.py alters them. Run it after a
change of the bundle or record format, from a build: SELGW_BIN=build/selgw
SELGW_SIM_BIN=build/selgw-sim python3 tests/fuzz/make_seeds.py"""
import gzip
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import bundle as B  # noqa: E402
import harness as h  # noqa: E402


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def main():
    out = os.path.join(HERE, "corpus", "bundle")
    os.makedirs(out, exist_ok=True)
    d = h.tempdir("fuzz-seeds")
    key = os.path.join(d, "gateway.key")
    h.selgw("keygen", key)
    port = h.free_port()
    cfg = h.make_config(
        "fuzz-seed", [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": port}],
        [{"id": "tea-soil", "bus": "tcp0", "unit_id": 1, "profile": "cwt-soil-thc-s",
          "plot": "plot-tea", "interval": "500ms"},
         {"id": "tea-air", "bus": "tcp0", "unit_id": 2, "profile": "xy-md02",
          "plot": "plot-tea", "interval": "700ms"}])
    cfg["signing"] = {"secret_key": key, "seal_interval": "1s"}
    path = h.write_config(os.path.join(d, "gw.yaml"), cfg)
    sim = h.Simulator(path)
    gw = h.Gateway(path, "--no-print")
    gw.wait_for(r"polling 2 devices", 10, stream="err")
    h.selgw("annotate", "-c", path, "--plot", "plot-tea", "--text", "soil Se 0.62 mg/kg",
            "--ref", "LAB-1")
    time.sleep(2)
    t1 = time.time()
    time.sleep(2)
    t2 = time.time()
    time.sleep(0.5)
    gw.stop()
    sim.stop()
    honest = os.path.join(out, "honest.evidence")
    res = h.selgw("export", "-c", path, "--plot", "plot-tea", "--from", utc(t1), "--to",
                  utc(t2), "-o", honest, "--plain")
    assert res.returncode == 0, res.describe()
    b = B.Bundle(honest)
    b.chain("device/tea-soil")[1].payload[-3] ^= 1
    b.rechain(B.new_key())
    b.save(os.path.join(out, "resigned.evidence"))
    b = B.Bundle(honest)
    b.remove(lambda r: r.chain == "device/tea-air")
    b.save(os.path.join(out, "device-left-out.evidence"))
    with open(honest, "rb") as f:
        data = f.read()
    with open(os.path.join(out, "cut.evidence"), "wb") as f:
        f.write(data[:len(data) * 2 // 3])
    # the gzip form (export's default), whole and cut off
    packed = gzip.compress(data, mtime=0)
    with open(os.path.join(out, "honest.evidence.gz"), "wb") as f:
        f.write(packed)
    with open(os.path.join(out, "cut.evidence.gz"), "wb") as f:
        f.write(packed[:len(packed) * 2 // 3])
    shutil.rmtree(d, ignore_errors=True)
    print("seeds written to", out)


if __name__ == "__main__":
    main()
