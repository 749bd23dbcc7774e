#!/usr/bin/env python3
"""Lots, end to end: a gateway with a signing key polls simulated devices on two tea plots
of a base in 紫阳县; `selgw lot` records a lot of 紫阳富硒茶 spanning both plots, harvested
today (and a lot of a second product whose polygon holds only one of them), the gateway
journals one LOT record per plot; `selgw export --lot` at once (a lot's period ends at its
record, and export asks the running gateway for the seal, which is an hour away) writes the
gzip lot bundle and its QR label, which decodes (zbarimg) to the lot id and the bundle hash
that `selgw verify` prints: VERIFIED with both plots, the LOT and the GI check inside, and a
report in Chinese with the lot, its QR code and both plots; the lot of the narrower product
is NOT VERIFIED (a plot OUTSIDE its area); a bundle with a section removed or a byte changed
is NOT VERIFIED and says why."""
import datetime
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402
import bundle as bundle_file  # noqa: E402
import harness as h  # noqa: E402

ZBARIMG = shutil.which("zbarimg")
ARTIFACTS = browser.artifacts("lot")
screenshot = browser.screenshot


PRODUCTS = """
products:
  - name: 紫阳富硒茶
    crops: [tea]
    area:
      counties: [紫阳县]
    season_days: 30
    lot_url: "https://trace.example.com/lot/{lot}"
  - name: 汉王片区茶
    crops: [tea]
    area:
      polygon: %s
"""
# 汉王片区 as the running gateway has it (NARROW: plot-b outside), and as the config file
# says while the lots are recorded (WIDE: both plots), changed without a reload: so that
# selgw lot, which checks the file, lets through a lot the gateway's signed tags place
# outside, and verify must catch it
WIDE = "[[32.50, 108.40], [32.50, 108.56], [32.65, 108.56], [32.65, 108.40]]"
NARROW = "[[32.50, 108.50], [32.50, 108.56], [32.54, 108.56], [32.54, 108.50]]"


class Lot(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("lot")
        self.key = os.path.join(self.dir, "gateway.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        self.pubkey = res.stdout.strip()
        # today at the gateway's +08:00: the harvest's day
        self.day = (datetime.datetime.now(datetime.timezone.utc)
                    + datetime.timedelta(hours=8)).date()
        sim_port = h.free_port()
        plots = [
            {"id": "plot-a", "base": "itest-base", "crop": "tea",
             "location": {"latitude": 32.52, "longitude": 108.53},
             "households": [{"household": "HH-101", "contract": "T-101", "from": "2024-01-01"}]},
            {"id": "plot-b", "base": "itest-base", "crop": "tea",
             "location": {"latitude": 32.61, "longitude": 108.47},  # outside 汉王片区
             "households": [{"household": "HH-201", "contract": "T-201", "from": "2024-01-01"}]},
        ]
        cfg = h.make_config(
            "itest-lot",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
            [{"id": "a-soil", "bus": "tcp0", "unit_id": 1, "profile": "cwt-soil-thc-s",
              "plot": "plot-a", "interval": "500ms"},
             {"id": "b-soil", "bus": "tcp0", "unit_id": 2, "profile": "cwt-soil-thc-s",
              "plot": "plot-b", "interval": "500ms"}],
            plots=plots)
        cfg["gateway"]["utc_offset"] = "+08:00"
        # no seal comes by itself during the test: export must ask for one
        cfg["signing"] = {"secret_key": self.key, "seal_interval": "1h"}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        with open(self.cfg_path, encoding="utf-8") as f:
            self.cfg_text = f.read()
        with open(self.cfg_path, "a", encoding="utf-8") as f:
            f.write(PRODUCTS % NARROW)
        res = h.selgw("check", self.cfg_path)
        self.assertEqual(res.returncode, 0, res.describe())
        self.sim = h.Simulator(self.cfg_path)
        self.gw = h.Gateway(self.cfg_path, "--no-print")
        self.gw.wait_for(r"polling 2 devices", h.scaled(10), stream="err")

    def tearDown(self):
        for p in (self.gw, self.sim):
            if p:
                p.stop()

    def lot(self, *args):
        return h.selgw("lot", "-c", self.cfg_path, *args)

    def verify(self, path):
        return h.selgw("verify", path, "--pubkey", self.pubkey)

    def write_products(self, area):
        with open(self.cfg_path, "w", encoding="utf-8") as f:
            f.write(self.cfg_text + PRODUCTS % area)

    def test_same_id_at_once_recorded_once(self):
        """Eight `selgw lot` with one id at the same moment: one is queued, seven refused,
        and the gateway journals the lot once (each holds the queue's lock from its checks
        to its file)."""
        import concurrent.futures
        import json
        d = str(self.day)
        args = ("--id", "RACE-1", "--product", "紫阳富硒茶", "--plot", f"plot-a:{d}..{d}",
                "--quantity", "1", "--unit", "kg")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: self.lot(*args), range(8)))
        accepted = [r for r in results if r.returncode == 0]
        self.assertEqual(len(accepted), 1, "\n".join(r.describe() for r in results))
        for r in results:
            if r.returncode:
                self.assertRegex(r.stderr, r"lot RACE-1 is already (queued|recorded)",
                                 r.describe())
        self.gw.wait_for(r"lot RACE-1 .* journaled in the chains of 1 plot", h.scaled(10),
                         stream="err")
        self.gw.stop()
        self.gw = None
        res = h.selgw("journal", "-c", self.cfg_path, "--dump")
        lots = [r for r in map(json.loads, res.stdout.splitlines())
                if r["type"] == "lot" and '"RACE-1"' in r.get("text", "")]
        self.assertEqual(len(lots), 1, lots)
        h.say("8 at once: 1 queued, 7 refused, 1 LOT record")

    def test_lot_of_two_plots(self):
        d = str(self.day)
        # as the file says: plot-b refused for 汉王片区茶
        res = self.lot("--id", "HW-0", "--product", "汉王片区茶", "--plot", f"plot-b:{d}..{d}",
                       "--quantity", "1", "--unit", "kg")
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("plot plot-b lies outside the area of product 汉王片区茶", res.stderr)
        self.write_products(WIDE)  # not reloaded: the gateway keeps NARROW
        res = self.lot("--id", "ZY-1", "--product", "紫阳富硒茶", "--plot", f"plot-a:{d}..{d}",
                       "--plot", f"plot-b:{d}..{d}", "--quantity", "12.5", "--unit", "kg",
                       "--household", "HH-101", "--household", "HH-201",
                       "--processing", "杀青、揉捻、烘干", "--ref", "LAB-2026-7")
        self.assertEqual(res.returncode, 0, res.describe())
        season = str(self.day - datetime.timedelta(days=30))
        self.assertIn('"season_from":"%s","harvest_from":"%s","harvest_to":"%s"' % (season, d, d),
                      res.stdout)
        self.assertIn('"url":"https://trace.example.com/lot/ZY-1"', res.stdout)
        h.say("queued: " + res.stdout.strip())
        res = self.lot("--id", "HW-1", "--product", "汉王片区茶", "--plot", f"plot-a:{d}..{d}",
                       "--plot", f"plot-b:{d}..{d}", "--quantity", "3", "--unit", "kg")
        self.assertEqual(res.returncode, 0, res.describe())

        # refused: the same id again, a household not contracted, a harvest in the future,
        # an unknown plot or product
        res = self.lot("--id", "ZY-1", "--product", "紫阳富硒茶", "--plot", f"plot-a:{d}..{d}",
                       "--quantity", "1", "--unit", "kg")
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertRegex(res.stderr, r"lot ZY-1 is already (queued|recorded)")
        res = self.lot("--id", "ZY-2", "--product", "紫阳富硒茶", "--plot", f"plot-a:{d}..{d}",
                       "--quantity", "1", "--unit", "kg", "--household", "HH-201")
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("household HH-201 has no contract", res.stderr)
        later = str(self.day + datetime.timedelta(days=2))
        res = self.lot("--id", "ZY-3", "--product", "紫阳富硒茶", "--plot", f"plot-a:{d}..{later}",
                       "--quantity", "1", "--unit", "kg")
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("after today", res.stderr)
        res = self.lot("--id", "ZY-4", "--product", "富硒茶", "--plot", f"plot-x:{d}..{d}",
                       "--quantity", "1", "--unit", "kg")
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("no such product", res.stderr)

        # journaled by the running gateway; no seal covers the end of the day yet
        self.gw.wait_for(r"lot HW-1 .* journaled in the chains of 2 plots", h.scaled(10),
                         stream="err")
        self.assertIn("lot ZY-1 (紫阳富硒茶) journaled in the chains of 2 plots",
                      "\n".join(self.gw.stderr()))
        res = self.lot("--id", "ZY-1", "--product", "紫阳富硒茶", "--plot", f"plot-a:{d}..{d}",
                       "--quantity", "1", "--unit", "kg")
        self.assertIn("lot ZY-1 is already recorded", res.stderr)


        # exported at once: the gateway is asked for a seal
        bundle = os.path.join(self.dir, "ZY-1.lot.gz")
        label = os.path.join(ARTIFACTS, "ZY-1-label.svg")
        res = h.selgw("export", "-c", self.cfg_path, "--lot", "ZY-1", "-o", bundle, "--qr", label,
                      "--wait", "30")
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("asked the running gateway", res.stderr)
        exported_hash = re.search(r"^bundle hash: (blake2b-256:[0-9a-f]{64})$", res.stdout,
                                  re.M).group(1)
        qr_text = re.search(r"QR label written to .* \((.*)\)$", res.stderr, re.M).group(1)
        self.assertEqual(qr_text, "https://trace.example.com/lot/ZY-1?lot=ZY-1&hash="
                         + exported_hash.replace(":", "%3A"))
        with open(label, encoding="utf-8") as f:
            svg = f.read()
        hex_digits = exported_hash.split(":")[1]  # the hash, for people, in two lines
        self.assertIn(">%s</tspan>" % hex_digits[:32], svg)
        self.assertIn(">%s</tspan>" % hex_digits[32:], svg)
        self.assertIn("紫阳富硒茶 · ZY-1", svg)
        with open(bundle, "rb") as f:
            self.assertEqual(f.read(2), b"\x1f\x8b")  # gzip, the default
        narrow = os.path.join(self.dir, "HW-1.lot")
        res = h.selgw("export", "-c", self.cfg_path, "--lot", "HW-1", "-o", narrow, "--plain")
        self.assertEqual(res.returncode, 0, res.describe())

        # the label's code, rendered and scanned, says the lot and the hash
        page = os.path.join(self.dir, "label.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write("<!DOCTYPE html><html><body style='margin:0;background:#fff'>"
                    "<img src='file://%s' style='width:380px'></body></html>" % label)
        png = os.path.join(ARTIFACTS, "ZY-1-label.png")
        if ZBARIMG and screenshot(page, png, (400, 520)):
            out = subprocess.run([ZBARIMG, "--quiet", "--raw", "-Sbinary", png],
                                 capture_output=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.rstrip(b"\n").decode(), qr_text)
            h.say("label scanned: " + qr_text)

        res = self.verify(bundle)
        out = res.stdout
        h.say("lot bundle verified:\n" + "\n".join("    " + x for x in out.splitlines()
                                                     if "GI:" in x or "LOT:" in x or "plot" in x[:8]
                                                     or "VERIFIED" in x[:20]))
        self.assertEqual(res.returncode, 0, res.describe())
        last = out.strip().splitlines()[-1]
        self.assertTrue(last.startswith("VERIFIED lot ZY-1 (紫阳富硒茶): 2 sections"), last)
        self.assertIn("==== Section 1: plot plot-a", out)
        self.assertIn("==== Section 2: plot plot-b", out)
        self.assertEqual(out.count("LOT: ZY-1 紫阳富硒茶, 12.5 kg; plots plot-a"), 2)
        self.assertIn("GI:         紫阳富硒茶: inside (county 紫阳县 is in the area)", out)
        self.assertIn("location:   point 32.520000, 108.530000 (WGS84)", out)
        self.assertIn("GI:         汉王片区茶: OUTSIDE", out)  # plot-b: information only here
        self.assertIn("\n  bundle: %s\n" % exported_hash, out)  # the label's hash

        # the report a certifier reads: the lot with its QR code, both plots, the GI check
        html = os.path.join(ARTIFACTS, "ZY-1-report.html")
        res = h.selgw("verify", bundle, "--pubkey", self.pubkey, "--report", html)
        self.assertEqual(res.returncode, 0, res.describe())
        with open(html, encoding="utf-8") as f:
            page = f.read()
        self.assertEqual(page.count('id="section-'), 2)
        self.assertIn('<div class="verdict verified" id="verdict-lot">', page)
        for text in ("紫阳富硒茶", "ZY-1", "plot-a", "plot-b", "12.5", "HH-101", "LAB-2026-7",
                     exported_hash, "data-modules="):
            self.assertIn(text, page)
        if screenshot(html, os.path.join(ARTIFACTS, "ZY-1-report.png"), (1100, 2400)):
            h.say("lot report: " + os.path.join(ARTIFACTS, "ZY-1-report.png"))

        res = self.verify(narrow)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("plot plot-b lies OUTSIDE the area of product 汉王片区茶", res.stdout)
        self.assertTrue(res.stdout.strip().splitlines()[-1].startswith("NOT VERIFIED"))
        h.say("lot HW-1: " + next(x for x in res.stdout.splitlines() if "OUTSIDE the area" in x))

        data = bundle_file.read_text(bundle)
        lines = data.split(b"\n")
        # a section removed (the end count fixed, as a forger would)
        first = next(i for i, x in enumerate(lines) if x.startswith(b"section plot-a "))
        second = next(i for i, x in enumerate(lines) if x.startswith(b"section plot-b "))
        removed = b"\n".join(lines[:second]) + b"\nend 1\n"
        path = os.path.join(self.dir, "removed.lot")
        with open(path, "wb") as f:
            f.write(removed)
        html = os.path.join(ARTIFACTS, "removed-report.html")
        res = h.selgw("verify", path, "--pubkey", self.pubkey, "--report", html)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("plot plot-b of the lot has no section", res.stdout)
        # its report says so on top, though the section left in verifies on its own
        with open(html, encoding="utf-8") as f:
            page = f.read()
        top = page.index('id="verdict-lot"')
        self.assertLess(top, page.index('id="section-1"'))
        self.assertIn('<div class="verdict not-verified" id="verdict-lot">', page)
        self.assertIn("plot plot-b of the lot has no section", page[top:page.index('id="section-1"')])
        self.assertIn('<div class="verdict verified" id="verdict-1">', page)
        # a byte changed inside a record of the first section (its length unchanged)
        rec = next(i for i in range(first + 1, second) if lines[i].startswith(b"record ")
                   and i > first + 12)
        tag, seq, payload = lines[rec].split(b" ", 2)
        flipped = payload[:20] + (b"A" if payload[20:21] != b"A" else b"B") + payload[21:]
        edited = b"\n".join(lines[:rec] + [tag + b" " + seq + b" " + flipped] + lines[rec + 1:])
        path = os.path.join(self.dir, "edited.lot")
        with open(path, "wb") as f:
            f.write(edited)
        res = self.verify(path)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertRegex(res.stdout, r"record %s\b" % seq.decode())
        self.assertIn("section 1 (plot plot-a): NOT VERIFIED", res.stdout)
        # the lot's text in the container edited (more tea than was recorded)
        edited = data.replace(b'"quantity":12.5', b'"quantity":125', 1)
        path = os.path.join(self.dir, "quantity.lot")
        with open(path, "wb") as f:
            f.write(edited)
        res = self.verify(path)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("section 1 (plot plot-a): its LOT record's text is not the lot's text",
                      res.stdout)
        # one plot's bundle passed off as the other's: the section headers swapped
        swapped = data.replace(b"\nsection plot-a ", b"\nsection plot-X ", 1)
        swapped = swapped.replace(b"\nsection plot-b ", b"\nsection plot-a ", 1)
        swapped = swapped.replace(b"\nsection plot-X ", b"\nsection plot-b ", 1)
        path = os.path.join(self.dir, "swapped.lot")
        with open(path, "wb") as f:
            f.write(swapped)
        res = self.verify(path)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("the bundle is evidence for plot plot-a, not for plot plot-b as asked",
                      res.stdout)
        h.say("a section removed, a byte changed, the lot's text edited, sections swapped: "
              "NOT VERIFIED")


if __name__ == "__main__":
    unittest.main(verbosity=2)
