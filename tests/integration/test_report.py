#!/usr/bin/env python3
"""The report people read (`selgw verify BUNDLE --report FILE.html`, docs/REPORT.md), from a
bundle a real gateway exported, opened in a real browser (Debian's chromium, headless,
through chromedriver and python3-selenium).

A gateway with a signing key polls two simulated devices of a tea plot (and one of another
plot), is killed once with SIGKILL and restarted, loses its devices for a while (failed
polls, a stale alert raised and cleared), takes a lab result whose text holds markup, and
stops cleanly. Its bundle of the tea plot is verified with --report in Chinese and in
English:

- verify prints the same, byte for byte, and exits the same, with or without --report (also
  for a tampered bundle);
- each report loads with no console error, a screenshot of the whole page is saved under
  BUILD/test-artifacts/report/; every section is there; the verdict is VERIFIED (green);
  polls, ok and failed per device, n/min/mean/max per field and every failed-poll run are
  the figures verify printed on the console; the lab note's markup shows as text; the
  Chinese report shows Chinese labels and names (fonts-noto-cjk renders them) and the
  English one none;
- a tampered bundle's report says NOT VERIFIED at the top, in red, and lists the problems
  verify printed;
- --pdf writes a PDF;
- a lot's QR code as the report draws it decodes (zbarimg) to the text it encodes.

Skipped (with the reason) only when chromium, chromedriver or python3-selenium is missing;
scripts/setup.sh installs them and CI runs this test."""
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle  # noqa: E402
import harness as h  # noqa: E402

from browser import HAVE_BROWSER, SKIP_REASON  # noqa: E402
import browser  # noqa: E402

try:
    from selenium.webdriver.common.by import By
except ImportError:  # pragma: no cover
    pass  # the tests are skipped (HAVE_BROWSER)
ZBARIMG = shutil.which("zbarimg")

ARTIFACTS = browser.artifacts("report")
QR_SVG = os.environ.get("SELGW_QR_SVG") or os.path.join(browser.BUILD_DIR, "tests", "qr_svg")

NOTE = '<b id="bold">Se</b> 0.62 mg/kg & "NY/T 600"'
LAB_REF = "LAB-2026-0412"
RED = "rgb(192, 22, 29)"
GREEN = "rgb(27, 127, 59)"


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_console(out):
    """What verify printed: per device polls/ok/failed and per field n/min/mean/max, the
    failed-poll lines, the problems."""
    devices, current = {}, None
    for line in out.splitlines():
        m = re.match(r"^Device (\S+) \(chain [^)]*\): (\d+) polls in the period, (\d+) ok, "
                     r"(\d+) failed$", line)
        if m:
            current = m.group(1)
            devices[current] = {"polls": m.group(2), "ok": m.group(3), "failed": m.group(4),
                                "fields": {}}
            continue
        m = re.match(r"^  (\S+)\s+(\S+)\s+n=(\d+)\s+min (\S+)  mean (\S+)  max (\S+)", line)
        if m and current:
            devices[current]["fields"][m.group(1)] = {
                "n": m.group(3), "min": m.group(4), "mean": m.group(5), "max": m.group(6)}
        if line.startswith("Gaps and events"):
            current = None
    failed = [x for x in out.splitlines() if re.search(r"  device \S+: (failed poll:|\d+ failed "
                                                        r"polls until)", x)]
    problems = []
    if "\nProblems:\n" in out:
        block = out.split("\nProblems:\n", 1)[1]
        for line in block.splitlines():
            if line.startswith("NOT VERIFIED"):
                break
            if line.startswith("  ") and not line.startswith("  ... and"):
                problems.append(line[2:])
    return devices, failed, problems


@unittest.skipUnless(HAVE_BROWSER, SKIP_REASON)
class Report(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.dir = h.tempdir("report")
        key = os.path.join(cls.dir, "gateway.key")
        res = h.selgw("keygen", key)
        assert res.returncode == 0, res.describe()
        cls.pubkey = res.stdout.strip()
        sim_port = h.free_port()
        cfg = h.make_config(
            "itest-report",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
              "response_timeout": "150ms", "retries": 0}],
            [{"id": "tea-soil", "bus": "tcp0", "unit_id": 1, "profile": "cwt-soil-thc-s",
              "plot": "plot-tea", "interval": "200ms"},
             {"id": "tea-npk", "bus": "tcp0", "unit_id": 2, "profile": "sn-3002-tr-ecthnpkph",
              "plot": "plot-tea", "interval": "300ms"},
             {"id": "konjac-soil", "bus": "tcp0", "unit_id": 3, "profile": "cwt-soil-thc-s",
              "plot": "plot-konjac", "interval": "200ms"}])
        cfg["signing"] = {"secret_key": key, "seal_interval": "1s"}
        cfg["journal"] = {"dir": os.path.join(cls.dir, "journal")}
        cfg["alerts"] = [{"id": "silent-sensor", "plots": ["plot-tea"], "stale_after": 3}]
        cls.cfg_path = h.write_config(os.path.join(cls.dir, "gw.yaml"), cfg)
        sim = h.Simulator(cls.cfg_path)
        gw = None
        try:
            t0 = time.time()
            gw = h.Gateway(cls.cfg_path, "--no-print")
            gw.wait_for(r"polling 3 devices", h.scaled(10), stream="err")
            time.sleep(h.scaled(2.5))
            gw.stop(sig=signal.SIGKILL)  # a crash: the report shows it
            gw = h.Gateway(cls.cfg_path, "--no-print")
            gw.wait_for(r"polling 3 devices", h.scaled(10), stream="err")
            time.sleep(h.scaled(1))
            sim.stop()  # the devices' outage: failed polls, a stale alert
            time.sleep(h.scaled(1.5))
            sim = h.Simulator(cls.cfg_path)
            res = h.selgw("annotate", "-c", cls.cfg_path, "--plot", "plot-tea", "--text", NOTE,
                          "--ref", LAB_REF)
            assert res.returncode == 0, res.describe()
            time.sleep(h.scaled(2.5))
            assert gw.stop() == 0, gw.describe()
            gw = None
        finally:
            for p in (gw, sim):
                if p:
                    p.stop()
        cls.bundle = os.path.join(cls.dir, "plot-tea.evidence.gz")  # gzip, as export writes
        res = h.selgw("export", "-c", cls.cfg_path, "--plot", "plot-tea", "--from",
                      utc(t0 + 2), "--to", utc(time.time() - 1), "-o", cls.bundle)
        assert res.returncode == 0, res.describe()
        # one byte of a record in the middle changed
        lines = bundle.read_text(cls.bundle).decode().splitlines()
        records = [i for i, x in enumerate(lines) if x.startswith("record ")]
        i = records[len(records) // 2]
        tag, seq, payload = lines[i].split(" ", 2)
        raw = bytearray(base64.b64decode(payload))
        raw[-3] ^= 0x01
        lines[i] = f"{tag} {seq} {base64.b64encode(bytes(raw)).decode()}"
        cls.tampered = os.path.join(cls.dir, "tampered.evidence")
        with open(cls.tampered, "w") as f:
            f.write("\n".join(lines) + "\n")
        cls.driver = cls.browser()

    @classmethod
    def browser(cls):
        return browser.chrome(os.path.join(cls.dir, "chromium"), (1100, 900))

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "driver", None):
            cls.driver.quit()

    # ---- helpers ---------------------------------------------------------------------------

    def verify(self, bundle, *extra):
        return h.selgw("verify", bundle, "--pubkey", self.pubkey, *extra)

    def report(self, bundle, name, *extra):
        """verify --report: the console's result and the report's path."""
        path = os.path.join(self.dir, name + ".html")
        res = self.verify(bundle, "--report", path, *extra)
        self.assertTrue(os.path.exists(path), res.describe())
        return res, path

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def open(self, path, shot):
        """Loads the report, saves a screenshot of the whole page, returns the console
        errors."""
        self.driver.get_log("browser")
        self.driver.get("file://" + path)
        errors = browser.console_errors(self.driver)
        height = self.js("return Math.ceil(document.documentElement.scrollHeight)")
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1100, "height": max(900, min(height, 16000)), "deviceScaleFactor": 1,
            "mobile": False})
        out = os.path.join(ARTIFACTS, shot + ".png")
        self.assertTrue(self.driver.save_screenshot(out), out)
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        h.say(f"screenshot {out}")
        return errors

    def cell(self, css):
        els = self.driver.find_elements(By.CSS_SELECTOR, css)
        self.assertEqual(len(els), 1, css)
        return els[0].get_attribute("textContent").strip()

    # ---- the tests -----------------------------------------------------------------------------

    def test_console_and_exit_status_unchanged(self):
        for path, status in ((self.bundle, 0), (self.tampered, 1)):
            plain = self.verify(path)
            self.assertEqual(plain.returncode, status, plain.describe())
            for lang in ("zh", "en"):
                res, _ = self.report(path, f"same-{lang}", "--lang", lang)
                self.assertEqual(res.returncode, status, res.describe())
                self.assertEqual(res.stdout, plain.stdout)
        res = self.verify(self.bundle, "--report", os.path.join(self.dir, "x.html"),
                          "--lang", "fr")
        self.assertEqual(res.returncode, 2)
        self.assertIn("--lang", res.stderr)

    def check_figures(self, console):
        devices, failed, _ = parse_console(console)
        self.assertEqual(set(devices), {"tea-soil", "tea-npk"})
        for dev, d in devices.items():
            row = f'table.coverage tr[data-device="{dev}"]'
            for k in ("polls", "ok", "failed"):
                self.assertEqual(self.cell(f"{row} td.{k}"), d[k], (dev, k))
            self.assertTrue(d["fields"], dev)
            for field, f in d["fields"].items():
                row = f'div.device-fields[data-device="{dev}"] tr[data-field="{field}"]'
                for k in ("n", "min", "mean", "max"):
                    self.assertEqual(self.cell(f"{row} td.{k}"), f[k], (dev, field, k))
                # a chart with its daily band
                chart = f'div.device-fields[data-device="{dev}"] figure[data-field="{field}"] svg'
                self.assertEqual(len(self.driver.find_elements(By.CSS_SELECTOR, chart)), 1, chart)
        self.assertTrue(failed, "the outage made failed polls")
        rows = self.driver.find_elements(By.CSS_SELECTOR, "table.gaps tr.failed-polls")
        self.assertEqual(len(rows), len(failed))
        # every start (after the crash) and stop, as on the console
        for kind, word in (("start", "START"), ("stop", "STOP")):
            self.assertEqual(len(self.driver.find_elements(By.CSS_SELECTOR, f"table.gaps tr.{kind}")),
                             len(re.findall(rf"Z  {word}: ", console)), kind)
        self.assertEqual(len(self.driver.find_elements(By.CSS_SELECTOR, "table.gaps tr.crash")),
                         console.count("the run before it has no STOP"))
        # the lab result: its markup is text
        self.assertEqual(self.cell("td.note-text"), NOTE)
        self.assertEqual(self.cell("td.note-ref"), LAB_REF)
        self.assertEqual(self.driver.find_elements(By.ID, "bold"), [])
        # the alert raised and cleared during the outage
        if "ALERT raised" in console:
            self.assertGreaterEqual(len(self.driver.find_elements(
                By.CSS_SELECTOR, "table.events tr.alert")), 1)
        # the clock: the banner exactly when no CLOCK record says synchronised
        synced = re.search(r"CLOCK: synchronised", console) is not None
        banner = self.driver.find_elements(By.CSS_SELECTOR, ".banner.clock-never")
        self.assertEqual(len(banner), 0 if synced else 1)

    def test_report_in_both_languages(self):
        words = {"zh": ["已验证", "地点与地理标志", "地块、作物与农户", "检测结果与备注",
                        "设备覆盖率与数据缺口", "事件", "土壤含水率", "茶", "紫阳县", "汉王镇",
                        "集成测试基地", "HH-101", "未声明"],
                 "en": ["VERIFIED", "Place and geographical indication", "Soil moisture",
                        "Coverage per device", "Lab results and notes", "none declared",
                        "紫阳县"]}
        for lang in ("zh", "en"):
            res, path = self.report(self.bundle, f"report-{lang}", "--lang", lang)
            self.assertEqual(res.returncode, 0, res.describe())
            errors = self.open(path, f"report-{lang}")
            self.assertEqual(errors, [], f"{lang}: console errors")
            self.assertEqual(self.js("return document.documentElement.lang"),
                             "zh-CN" if lang == "zh" else "en")
            body = self.js("return document.body.innerText")
            for w in words[lang]:
                self.assertIn(w, body, (lang, w))
            if lang == "en":
                for w in ("已验证", "土壤含水率", "检测结果"):
                    self.assertNotIn(w, body)
                self.assertIn("started with", body)
            else:
                # the gateway's own texts (start, clock, tags) in Chinese too: the record
                # keeps its English, the report shows the translation (report_zh.h)
                for w in ("启动，配置文件", "作物 ", "；农户 ", "；设备 "):
                    self.assertIn(w, body, w)
                self.assertRegex(body, r"时钟(已同步|未同步)")
                for w in ("started with", "STA_UNSYNC)", "; households ", "stopped by"):
                    self.assertNotIn(w, body, w)
            for part in ("sec-place", "sec-plot", "sec-notes", "sec-fields", "sec-coverage",
                         "sec-events"):
                self.assertEqual(len(self.driver.find_elements(By.CSS_SELECTOR, f"section .{part}")),
                                 1, (lang, part))
            # the verdict first, in green
            first = self.js("return document.querySelector('section.bundle h2').nextElementSibling.className")
            self.assertEqual(first, "verdict verified")
            color = self.js("return getComputedStyle(document.querySelector('.verdict .word')).color")
            self.assertEqual(color, GREEN)
            self.assertIn(self.cell(".fingerprint"), res.stdout)
            self.check_figures(res.stdout)
            # nothing is loaded from anywhere: no script, no external reference
            with open(path, encoding="utf-8") as f:
                html = f.read()
            self.assertNotIn("<script", html)
            self.assertIsNone(re.search(r'(src|href)="(?!#)', html))

    def test_cjk_fonts_installed(self):
        out = subprocess.run(["fc-match", "sans-serif:lang=zh-cn"], capture_output=True,
                             text=True).stdout
        self.assertIn("CJK", out, "fonts-noto-cjk (scripts/setup.sh): Chinese would be boxes")

    def test_tampered_bundle_says_not_verified_in_red(self):
        res, path = self.report(self.tampered, "report-tampered-zh")
        self.assertEqual(res.returncode, 1, res.describe())
        _, _, problems = parse_console(res.stdout)
        self.assertTrue(problems)
        self.assertEqual(self.open(path, "report-tampered-zh"), [])
        first = self.js("return document.querySelector('section.bundle h2').nextElementSibling")
        self.assertEqual(first.get_attribute("class"), "verdict not-verified")
        word = self.driver.find_element(By.CSS_SELECTOR, ".verdict .word")
        self.assertEqual(word.text, "未通过验证")
        self.assertEqual(self.js("return getComputedStyle(arguments[0]).color", word), RED)
        listed = [e.get_attribute("textContent") for e in
                  self.driver.find_elements(By.CSS_SELECTOR, ".verdict ol.problems li")]
        self.assertEqual(listed, problems)
        h.say("tampered report lists: " + "; ".join(listed[:2]))

    def test_pdf(self):
        pdf = os.path.join(ARTIFACTS, "report-zh.pdf")
        res, _ = self.report(self.bundle, "report-pdf", "--pdf", pdf)
        self.assertEqual(res.returncode, 0, res.describe())
        with open(pdf, "rb") as f:
            self.assertEqual(f.read(5), b"%PDF-")
        h.say(f"PDF {pdf}: {os.path.getsize(pdf)} bytes")
        # without a chromium: the HTML is still written, the PDF is said to be missing
        env_path = os.environ.get("PATH", "")
        if not os.path.exists("/usr/bin/chromium"):
            os.environ["PATH"] = "/nonexistent"
            try:
                html = os.path.join(self.dir, "no-chromium.html")
                res = self.verify(self.bundle, "--report", html, "--pdf",
                                  os.path.join(self.dir, "no.pdf"))
                self.assertEqual(res.returncode, 4)
                self.assertTrue(os.path.exists(html))
                self.assertIn("chromium", res.stderr)
            finally:
                os.environ["PATH"] = env_path

    @unittest.skipUnless(ZBARIMG, "needs zbarimg (Debian zbar-tools; scripts/setup.sh)")
    def test_lot_qr_code_decodes(self):
        url = "https://trace.example.com/lot?id=1"
        res = subprocess.run([QR_SVG, "紫阳-2026/001", "blake2b-256:" + "ab" * 32, url],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 0, res.stderr)
        text, svg = res.stdout.split("\n", 1)
        self.assertEqual(text, url + "&lot=%E7%B4%AB%E9%98%B3-2026%2F001&hash=blake2b-256%3A"
                         + "ab" * 32)
        page = os.path.join(self.dir, "qr.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write("<!DOCTYPE html><html><body style='margin:0;background:#fff'>"
                    "<div style='width:400px'>" + svg.replace('width="', 'data-w="')
                    .replace('height="', 'data-h="', 1) + "</div></body></html>")
        self.driver.get("file://" + page)
        png = os.path.join(ARTIFACTS, "lot-qr.png")
        self.assertTrue(self.driver.save_screenshot(png))
        out = subprocess.run([ZBARIMG, "--quiet", "--raw", "-Sbinary", png],
                             capture_output=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.rstrip(b"\n").decode("utf-8"), text)
        h.say(f"QR code decoded from {png}: {text}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
