#!/usr/bin/env python3
"""Lots, end to end: a gateway with a signing key polls simulated devices on two tea plots
of a base in 紫阳县; `selgw lot` records a lot of 紫阳富硒茶 spanning both plots (and a lot
of a second product whose polygon holds only one of them), the gateway journals one LOT
record per plot; once a seal covers the end of the harvest day, `selgw export --lot` writes
the lot bundle and `selgw verify` says VERIFIED with both plots, the LOT and the GI check
inside; the lot of the narrower product is NOT VERIFIED (a plot OUTSIDE its area); a bundle
with a section removed or a byte changed is NOT VERIFIED and says why.

A lot's evidence runs to the end of its harvest's last local day, which no seal covers
before that day is over. So the gateway's utc_offset is chosen to put its local time a
little before midnight: the test waits for the local day to end instead of for a real one."""
import datetime
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def offset_near_midnight():
    """An offset (minutes, within -12:00..+14:00) at which the local time is 30 to 90 s
    before midnight; returns (minutes, "+HH:MM", the local date now)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    minute_of_day = now.hour * 60 + now.minute
    target = 23 * 60 + 59 - (0 if now.second < 30 else 1)
    m = (target - minute_of_day) % 1440
    if m > 840:
        m -= 1440
    sign = "+" if m >= 0 else "-"
    text = "%s%02d:%02d" % (sign, abs(m) // 60, abs(m) % 60)
    local = now + datetime.timedelta(minutes=m)
    return m, text, local.date(), (local.replace(hour=0, minute=0, second=0, microsecond=0)
                                   + datetime.timedelta(days=1) - datetime.timedelta(minutes=m))


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
      polygon: [[32.50, 108.50], [32.50, 108.56], [32.54, 108.56], [32.54, 108.50]]
"""


class Lot(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        self.dir = h.tempdir("lot")
        self.key = os.path.join(self.dir, "gateway.key")
        res = h.selgw("keygen", self.key)
        self.assertEqual(res.returncode, 0, res.describe())
        self.pubkey = res.stdout.strip()
        self.offset, offset_text, self.day, self.midnight = offset_near_midnight()
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
        cfg["gateway"]["utc_offset"] = offset_text
        cfg["signing"] = {"secret_key": self.key, "seal_interval": "1s"}
        self.cfg_path = h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)
        with open(self.cfg_path, "a", encoding="utf-8") as f:
            f.write(PRODUCTS)
        res = h.selgw("check", self.cfg_path)
        self.assertEqual(res.returncode, 0, res.describe())
        h.say("utc_offset %s: local day %s ends at %s UTC" % (offset_text, self.day,
                                                              self.midnight.isoformat()))
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

    def test_lot_of_two_plots(self):
        d = str(self.day)
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

        # the local day ends, and a seal covers it
        wait = (self.midnight - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        h.say("waiting %.0f s for the local day to end" % max(wait, 0))
        bundle = os.path.join(self.dir, "ZY-1.lot")
        deadline = time.time() + max(wait, 0) + h.scaled(20)
        while True:
            res = h.selgw("export", "-c", self.cfg_path, "--lot", "ZY-1", "-o", bundle)
            if res.returncode == 0 or time.time() > deadline:
                break
            self.assertIn("no seal covers every poll", res.stderr)
            time.sleep(0.5)
        self.assertEqual(res.returncode, 0, res.describe())
        narrow = os.path.join(self.dir, "HW-1.lot")
        res = h.selgw("export", "-c", self.cfg_path, "--lot", "HW-1", "-o", narrow)
        self.assertEqual(res.returncode, 0, res.describe())

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

        res = self.verify(narrow)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("plot plot-b lies OUTSIDE the area of product 汉王片区茶", res.stdout)
        self.assertTrue(res.stdout.strip().splitlines()[-1].startswith("NOT VERIFIED"))
        h.say("lot HW-1: " + next(x for x in res.stdout.splitlines() if "OUTSIDE the area" in x))

        with open(bundle, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        # a section removed (the end count fixed, as a forger would)
        first = next(i for i, x in enumerate(lines) if x.startswith(b"section plot-a "))
        second = next(i for i, x in enumerate(lines) if x.startswith(b"section plot-b "))
        removed = b"\n".join(lines[:second]) + b"\nend 1\n"
        path = os.path.join(self.dir, "removed.lot")
        with open(path, "wb") as f:
            f.write(removed)
        res = self.verify(path)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertIn("plot plot-b of the lot has no section", res.stdout)
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
