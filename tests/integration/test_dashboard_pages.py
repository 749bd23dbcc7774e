#!/usr/bin/env python3
"""The gateway's own dashboard in a real browser (Debian's chromium, headless, driven by
chromedriver through python3-selenium), against a running gateway and selgw-sim.

A gateway polls four simulated devices on three plots; one device is silent from the start
(selgw-sim --fault) and another goes silent for a few seconds and comes back (a runtime
fault), so its chart must show a gap. The gateway delivers to a real mosquitto, which the
test stops later. The base's name holds markup and a lab note is recorded with markup in
its text: both must show as text.

- Every page (base, each plot, devices, delivery) is loaded in Chinese and in English, at a
  phone's width (390x844) and a desktop's (1280x900); a screenshot of each, the whole page,
  is saved under BUILD/test-artifacts/dashboard/ (docs/TESTING.md). No page logs a console
  error; the words of the language asked for appear (and the other language's do not);
  nothing overflows the phone's width, and the cards stack in one column there and not on
  the desktop.
- Every tile of every plot card holds the value, quality and time of the reading the
  journal holds for that device (`selgw journal --dump`), and every field of it; the silent
  device shows as failed on the base page and on the devices page.
- Each chart of a plot has exactly the points the history API gives for the page's period
  (read from the dygraph object), for 24 h, 7 d and 30 d, and a failed poll is a null
  point that is drawn as a gap (connectSeparatedPoints false), not interpolated.
- The delivery page shows the MQTT sink delivering, then, without a reload, not delivering
  once the broker is stopped, its backlog growing.

Skipped (with the reason) only when chromium, chromedriver or python3-selenium is missing;
scripts/setup.sh installs them and CI runs this test."""
import datetime
import json
import os
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

from browser import HAVE_BROWSER, SKIP_REASON  # noqa: E402
import browser  # noqa: E402

try:
    from selenium.webdriver.common.by import By
except ImportError:  # pragma: no cover
    pass  # the tests are skipped (HAVE_BROWSER)

ARTIFACTS = browser.artifacts("dashboard")

PHONE = (390, 844)
DESKTOP = (1280, 900)
SILENT = "soil-03"    # silent from the start
FLAKY = "air-01"      # silent for a few seconds, then answers again
DEVICES = [
    # id, profile, plot
    ("soil-01", "cwt-soil-thc-s", "plot-tea"),
    (FLAKY, "xy-md02", "plot-tea"),
    ("npk-01", "sn-3002-tr-ecthnpkph", "plot-konjac"),
    (SILENT, "cwt-soil-thc-s", "plot-konjac"),
]
BASE_NAME = '集成测试基地 <img src=x id="pwned">'
NOTE = '<b id="bold">Se</b> 0.41 mg/kg'

# words each page must show in each language (from dashboards/gateway/i18n.js), and a word
# of the other language it must not show
WORDS = {
    "zh-CN": {"nav": "基地总览", "/": "无告警", "/devices": "采集间隔",
              "/delivery": "本地日志", "plot": "农户与合同", "field": "土壤含水率",
              "failed": "故障", "timeout": "超时无应答", "absent": "Base overview"},
    "en": {"nav": "Base overview", "/": "No alerts", "/devices": "Interval",
           "/delivery": "Journal", "plot": "Households and contracts",
           "field": "Soil moisture", "failed": "failed", "timeout": "timeout",
           "absent": "基地总览"},
}


def get_json(url):
    with urllib.request.urlopen(url, timeout=h.scaled(10)) as r:
        return json.loads(r.read().decode("utf-8"))


def utc(text):
    """Seconds since the epoch of an RFC 3339 UTC time."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def shown(value):
    """A number as the pages show it (app.js fmtNum): two decimals at most, whole from
    1000 up; the tolerance of that rounding."""
    if value is None:
        return None, 0
    return value, (0.5 if abs(value) >= 1000 else 0.005) + 1e-9


@unittest.skipUnless(HAVE_BROWSER, SKIP_REASON)
class DashboardPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import servers
        h.check_binaries()
        cls.dir = h.tempdir("dashboard")
        cls.broker = servers.Mosquitto(cls.dir)
        sim_port = h.free_port()
        cls.http_port = h.free_port()
        cfg = h.make_config(
            "itest-dash",
            [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
              "response_timeout": "150ms", "retries": 0}],
            [{"id": d, "bus": "tcp0", "unit_id": i + 1, "profile": p, "plot": plot,
              "interval": "1s"} for i, (d, p, plot) in enumerate(DEVICES)])
        cfg["bases"][0]["name"] = BASE_NAME
        cfg["journal"] = {"dir": os.path.join(cls.dir, "journal")}
        cfg["mqtt"] = {"host": "127.0.0.1", "port": cls.broker.port, "qos": 1,
                       "topic_prefix": "dash", "reconnect": {"min": "200ms", "max": "1s"}}
        cfg["http"] = {"listen": f"127.0.0.1:{cls.http_port}"}
        # the silent device raises a stale alert on its plot's card
        cfg["alerts"] = [{"id": "silent-sensor", "plots": ["plot-konjac"], "stale_after": 3}]
        cls.cfg = cfg
        cls.cfg_path = h.write_config(os.path.join(cls.dir, "gw.yaml"), cfg)
        cls.url = f"http://127.0.0.1:{cls.http_port}"
        cls.control = os.path.join(cls.dir, "faults")
        with open(cls.control, "w") as f:
            f.write("# runtime faults\n")
        cls.sim = h.Simulator(cls.cfg_path, "--fault", f"{SILENT}=silent", "--control",
                              cls.control)
        cls.gw = h.Gateway(cls.cfg_path, "--no-print")
        cls.gw.wait_for(r"HTTP API on", h.scaled(15), stream="err")
        res = h.selgw("annotate", "-c", cls.cfg_path, "--plot", "plot-tea", "--text", NOTE,
                      "--ref", "LAB-2026-17")
        if res.returncode != 0:
            raise AssertionError("selgw annotate failed\n" + res.describe())
        # a few good polls, then the flaky device fails for a while, then answers again
        time.sleep(h.scaled(3))
        with open(cls.control, "w") as f:
            f.write(f"{FLAKY} silent\n")
        cls.sim.send_signal(1)  # SIGHUP: re-read the runtime faults
        time.sleep(h.scaled(3))
        with open(cls.control, "w") as f:
            f.write("# none\n")
        cls.sim.send_signal(1)
        h.say(f"{FLAKY} was silent for about 3 s")
        time.sleep(h.scaled(3))
        cls.driver = cls.browser()

    @classmethod
    def browser(cls):
        return browser.chrome(os.path.join(cls.dir, "chromium"), (1300, 1000), "--lang=zh-CN")

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "driver", None):
            cls.driver.quit()
        for p in (getattr(cls, "gw", None), getattr(cls, "sim", None)):
            if p:
                p.stop()
        cls.broker.stop()

    # ---- the browser -------------------------------------------------------------------

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def console_errors(self):
        return browser.console_errors(self.driver)

    def load(self, path, lang, size, charts=False):
        """Loads path with ?lang=..., waits until the page drew its data (and its charts),
        and returns the console errors it logged."""
        self.driver.get_log("browser")  # drop what came before
        self.set_size(size)
        sep = "&" if "?" in path else "?"
        self.driver.get(f"{self.url}{path}{sep}lang={lang}")

        def ready():
            if self.js("return document.body.getAttribute('data-ready')") != "1":
                return False
            return not charts or self.js("return window.selgwPlotView !== null")
        if not h.wait_until(ready, h.scaled(20), interval=0.1):
            banner = self.js("return document.getElementById('banner').textContent")
            raise AssertionError(f"{path} ({lang}) did not draw its data: {banner!r}\n"
                                 + self.gw.describe())
        return self.console_errors()

    def set_size(self, size, height=None):
        """The viewport of a phone (a mobile one: the page's viewport meta applies, as on a
        phone) or of a desktop browser."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": height or size[1], "deviceScaleFactor": 1,
            "mobile": size == PHONE})

    def screenshot(self, name, size):
        """The whole page at this width: the viewport is made as tall as the page."""
        height = self.js("return Math.ceil(document.documentElement.scrollHeight)")
        self.set_size(size, max(size[1], min(height, 8000)))
        time.sleep(0.3)  # the charts redraw at the new size
        path = os.path.join(ARTIFACTS, name + ".png")
        self.assertTrue(self.driver.save_screenshot(path), path)
        self.set_size(size)
        return path

    def text(self):
        return self.js("return document.body.innerText")

    # ---- the journal -------------------------------------------------------------------

    def journal_readings(self):
        res = h.selgw("journal", "-c", self.cfg_path, "--dump")
        self.assertEqual(res.returncode, 0, res.describe())
        out = {}
        for line in res.stdout.splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("type", "reading") == "reading":
                    out[(r["device"], r["time"])] = r
        return out

    # ---- the tests ------------------------------------------------------------------------

    def pages(self):
        return ["/", "/devices", "/delivery"] + [f"/plot/{p['id']}" for p in self.cfg["plots"]]

    def test_every_page_in_both_languages_at_both_widths(self):
        shots = 0
        for path in self.pages():
            plot = path.startswith("/plot/")
            for lang in ("zh-CN", "en"):
                words = WORDS[lang]
                for size, size_name in ((PHONE, "phone"), (DESKTOP, "desktop")):
                    where = f"{path} {lang} {size_name}"
                    errors = self.load(path, lang, size, charts=plot)
                    self.assertEqual(errors, [], f"{where}: console errors")
                    self.assertEqual(self.js("return document.documentElement.lang"),
                                     "zh-CN" if lang == "zh-CN" else "en", where)
                    body = self.text()
                    self.assertIn(words["nav"], body, where)
                    self.assertIn(words["plot" if plot else path], body, where)
                    self.assertNotIn(words["absent"], body, where)
                    if path in ("/", "/plot/plot-tea"):
                        self.assertIn(words["field"], body, where)
                    # nothing wider than the screen
                    overflow = self.js(
                        "return document.documentElement.scrollWidth - window.innerWidth")
                    self.assertLessEqual(overflow, 0, f"{where}: wider than the window")
                    lefts = self.js("""return Array.from(document.querySelectorAll(
                        '.plot-card, .device-card, .chart-box')).map(
                        e => Math.round(e.getBoundingClientRect().left))""")
                    if size == PHONE:
                        self.assertLessEqual(len(set(lefts)), 1, f"{where}: cards side by side")
                    elif len(lefts) >= 3:
                        self.assertGreater(len(set(lefts)), 1, f"{where}: one column only")
                    name = (path.strip("/").replace("/", "-") or "base") + f"-{lang}-{size_name}"
                    self.screenshot(name, size)
                    # screenshots at full height must not raise errors either
                    self.assertEqual(self.console_errors(), [], f"{where}: console errors")
                    shots += 1
        h.say(f"{shots} screenshots in {ARTIFACTS}, no console errors")

    def test_headers_and_the_404_page(self):
        for path, ctype in (("/", "text/html"), ("/plot/plot-tea", "text/html"),
                            ("/assets/app.js", "text/javascript"),
                            ("/assets/dygraph.min.js", "text/javascript"),
                            ("/assets/app.css", "text/css"),
                            ("/assets/i18n.json", "application/json")):
            with urllib.request.urlopen(self.url + path, timeout=h.scaled(10)) as r:
                self.assertEqual(r.status, 200, path)
                self.assertTrue(r.headers["Content-Type"].startswith(ctype), path)
                self.assertIn("script-src 'self'", r.headers["Content-Security-Policy"], path)
                self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff", path)
                self.assertEqual(r.headers["Cache-Control"], "no-cache", path)
                etag = r.headers["ETag"]
            # asked again with its tag: not modified
            req = urllib.request.Request(self.url + path, headers={"If-None-Match": etag})
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=h.scaled(10))
            self.assertEqual(e.exception.code, 304, path)
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(self.url + "/nope", timeout=h.scaled(10))
        self.assertEqual(e.exception.code, 404)
        self.assertIn("script-src 'self'", e.exception.headers["Content-Security-Policy"])
        # the API's own 404 stays JSON
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(self.url + "/api/v1/nope", timeout=h.scaled(10))
        self.assertEqual(e.exception.code, 404)
        self.assertTrue(e.exception.headers["Content-Type"].startswith("application/json"))
        for lang, words in (("zh-CN", "页面不存在"), ("en", "No such page")):
            errors = self.load("/nope", lang, PHONE)
            self.assertIn(words, self.text())
            # the one error: the page's own 404
            self.assertTrue(all("/nope" in e["message"] and "404" in e["message"]
                                for e in errors), errors)
            self.screenshot(f"404-{lang}-phone", PHONE)

    def test_language_is_remembered_and_switched_by_the_button(self):
        self.load("/devices", "en", DESKTOP)
        self.assertIn("Base overview", self.text())
        # no lang in the URL: the choice of the last page is remembered
        self.driver.get(self.url + "/delivery")
        h.wait_until(lambda: self.js("return document.body.getAttribute('data-ready')") == "1",
                     h.scaled(20))
        self.assertIn("Journal", self.text())
        self.js("window.notReloaded = 1")
        self.driver.find_element(By.ID, "lang").click()
        self.assertTrue(h.wait_until(lambda: "本地日志" in self.text(), h.scaled(10)))
        self.assertEqual(self.js("return window.notReloaded"), 1)  # switched in place
        self.assertEqual(self.js("return localStorage.getItem('selgw.lang')"), "zh")
        self.assertEqual(self.console_errors(), [])

    def tiles(self):
        return self.js("""return Array.from(document.querySelectorAll('.plot-card .tile')).map(
            t => ({plot: t.closest('.plot-card').dataset.plot, device: t.dataset.device,
                   field: t.dataset.field, quality: t.dataset.quality, time: t.dataset.time,
                   value: t.querySelector('.value').textContent,
                   unit: t.querySelector('.unit').textContent}))""")

    def test_plot_cards_hold_what_the_journal_holds(self):
        self.load("/", "zh-CN", DESKTOP)
        # the page draws once more with the newest readings; take one drawing
        tiles = self.tiles()
        journal = self.journal_readings()
        for attempt in range(10):
            if all((t["device"], t["time"]) in journal for t in tiles):
                break
            time.sleep(0.3)  # a reading shown may be committed a moment later
            journal = self.journal_readings()
        devices = {d: plot for d, _, plot in DEVICES}
        seen = {}
        for t in tiles:
            where = f"card {t['plot']} tile {t['device']}.{t['field']}"
            self.assertEqual(devices[t["device"]], t["plot"], where)
            r = journal.get((t["device"], t["time"]))
            self.assertIsNotNone(r, f"{where}: no reading at {t['time']} in the journal")
            self.assertEqual(r["plot"], t["plot"], where)
            fv = r["fields"][t["field"]]
            self.assertEqual(fv["quality"], t["quality"], where)
            if fv["value"] is None or fv["quality"] == "read_failed":
                self.assertEqual(t["value"], "—", where)
            else:
                want, tol = shown(fv["value"])
                self.assertLessEqual(abs(float(t["value"]) - want), tol,
                                     f"{where}: shows {t['value']}, journal {fv['value']}")
            seen.setdefault(t["device"], set()).add(t["field"])
            seen[t["device"]].add(("time", t["time"]))
        for d, _, plot in DEVICES:
            times = [x[1] for x in seen.get(d, ()) if isinstance(x, tuple)]
            self.assertEqual(len(times), 1, f"{d}: one reading per device on its card")
            r = journal[(d, times[0])]
            self.assertEqual({f for f in seen[d] if isinstance(f, str)}, set(r["fields"]),
                             f"{d}: every field of its reading")
        h.say(f"{len(tiles)} tiles match the journal's readings")
        # the silent device: every field failed, and its health says so, in Chinese
        silent = [t for t in tiles if t["device"] == SILENT]
        self.assertTrue(silent and all(t["quality"] == "read_failed" for t in silent))
        li = self.driver.find_element(By.CSS_SELECTOR,
                                      f'.plot-card[data-plot="plot-konjac"] .health '
                                      f'li[data-device="{SILENT}"]')
        self.assertEqual(li.get_attribute("data-health"), "failed")
        self.assertIn("故障", li.text)
        self.assertIn("超时无应答", li.text)
        for d in ("soil-01", "npk-01"):
            li = self.driver.find_element(By.CSS_SELECTOR, f'.health li[data-device="{d}"]')
            self.assertEqual(li.get_attribute("data-health"), "ok", d)
        # the plot without devices says it has no data
        card = self.driver.find_element(By.CSS_SELECTOR, '.plot-card[data-plot="plot-gh"]')
        self.assertIn("暂无数据", card.text)
        # the base's name is text, not markup
        self.assertIn(BASE_NAME, self.driver.find_element(By.CSS_SELECTOR, ".base h1").text)
        self.assertIsNone(self.js("return document.getElementById('pwned')"))

    def test_an_active_alert_shows_on_its_plot_card(self):
        plots = {p["id"]: p for p in get_json(self.url + "/api/v1/plots")["plots"]}
        alerts = plots["plot-konjac"]["alerts"]
        self.assertEqual([(a["rule"], a["device"], a["condition"]) for a in alerts],
                         [("silent-sensor", SILENT, "stale")], alerts)
        self.assertEqual(plots["plot-tea"]["alerts"], [])
        stale = {"zh-CN": "长时间无有效读数", "en": "no valid reading for a while"}
        for lang in ("zh-CN", "en"):
            self.load("/", lang, PHONE)
            card = self.driver.find_element(By.CSS_SELECTOR, '.plot-card[data-plot="plot-konjac"]')
            shown = card.find_elements(By.CSS_SELECTOR, 'li.alert[data-rule="silent-sensor"]')
            self.assertEqual(len(shown), 1, card.text)
            self.assertIn(stale[lang], shown[0].text)
            self.assertIn(SILENT, shown[0].text)
            tea = self.driver.find_element(By.CSS_SELECTOR, '.plot-card[data-plot="plot-tea"]')
            self.assertEqual(tea.find_elements(By.CSS_SELECTOR, "li.alert"), [])
            self.assertIn(WORDS[lang]["/"], tea.text)
            self.assertEqual(self.console_errors(), [])
            self.screenshot(f"alert-{lang}", PHONE)
        h.say(f"stale alert of {SILENT} on the plot-konjac card in both languages")

    def test_devices_page_shows_the_failed_device(self):
        for lang in ("zh-CN", "en"):
            self.load("/devices", lang, PHONE)
            status = get_json(self.url + "/api/v1/status")
            for d in status["devices"]:
                card = self.driver.find_element(By.CSS_SELECTOR,
                                                f'.device-card[data-device="{d["id"]}"]')
                want = "failed" if d["id"] == SILENT else "ok"
                self.assertEqual(card.get_attribute("data-health"), want, (lang, d["id"]))
                self.assertIn(d["profile"], card.text)
                self.assertIn(d["bus"], card.text)
            card = self.driver.find_element(By.CSS_SELECTOR,
                                            f'.device-card[data-device="{SILENT}"]')
            self.assertIn(WORDS[lang]["failed"], card.text)
            self.assertIn(WORDS[lang]["timeout"], card.text)
            self.assertEqual(self.console_errors(), [])

    def chart_points(self):
        return self.js("""const out = {};
            for (const [k, g] of Object.entries(window.selgwCharts)) {
              const rows = [];
              for (let i = 0; i < g.numRows(); i++) rows.push([g.getValue(i, 0), g.getValue(i, 1)]);
              out[k] = {rows: rows, connect: g.getOption('connectSeparatedPoints')};
            }
            return {view: window.selgwPlotView, charts: out};""")

    def check_period(self, plot, period):
        got = self.chart_points()
        view = got["view"]
        self.assertEqual(view["period"], period)
        q = urllib.parse.urlencode({"from": view["from"], "to": view["to"]})
        hist = get_json(f"{self.url}/api/v1/plots/{plot}/history?{q}")
        api = {f"{s['device']}/{s['field']}": s["points"] for s in hist["series"]}
        charts = got["charts"]
        # a series without a value (only failed polls) has no line: a line of text instead
        drawn = {k for k, pts in api.items() if any(p[1] is not None for p in pts)}
        self.assertEqual(set(charts), drawn, f"{plot} {period}: one chart per series")
        boxes = self.js("""return Array.from(document.querySelectorAll('.chart-box')).map(
            b => [b.dataset.series, !b.querySelector('.empty').hidden])""")
        self.assertEqual({k: empty for k, empty in boxes},
                         {k: k not in drawn for k in api}, f"{plot} {period}: one box per series")
        step = view.get("step_s") or 0
        for key, c in charts.items():
            rows, want = c["rows"], api[key]
            where = f"{plot} {period} {key} from {view['from']} to {view['to']}"
            self.assertFalse(c["connect"], f"{where}: gaps must stay gaps")
            self.assertTrue(rows, where)
            if step == 0:
                # raw readings: the API's answer now may hold readings journaled after the
                # page asked, at its end; the chart's points are exactly the rest
                self.assertEqual(rows, want[:len(rows)], where)
            else:
                # buckets: the last two may still take readings journaled after the page asked
                last = rows[-1][0] - 2 * step * 1000
                self.assertEqual([r for r in rows if r[0] < last],
                                 [p for p in want if p[0] < last], where)
                self.assertGreater(len([r for r in rows if r[0] < last]), 0, where)
            lo, hi = utc(view["from"]) * 1000, utc(view["to"]) * 1000
            self.assertTrue(all(lo - step * 1000 <= r[0] <= hi for r in rows), where)
        return charts

    def test_charts_have_the_points_of_their_period(self):
        self.load("/plot/plot-tea?period=24h", "zh-CN", DESKTOP, charts=True)
        charts = self.check_period("plot-tea", "24h")
        # the flaky device's silence is a null point between values: a gap, not a line
        rows = charts[f"{FLAKY}/air_temperature"]["rows"]
        inner = [i for i, r in enumerate(rows) if r[1] is None
                 and any(x[1] is not None for x in rows[:i])
                 and any(x[1] is not None for x in rows[i + 1:])]
        self.assertTrue(inner, f"no gap in {FLAKY}'s chart: {rows}")
        h.say(f"{FLAKY}/air_temperature: {len(rows)} points, {len(inner)} null between values")
        # the silent device's failed polls: no value at all, nothing drawn
        self.assertEqual(self.console_errors(), [])
        for period in ("7d", "30d"):
            self.js("window.notReloaded = 1")
            self.driver.find_element(By.CSS_SELECTOR, f'button[data-period="{period}"]').click()
            self.assertTrue(h.wait_until(
                lambda: (self.js("return window.selgwPlotView") or {}).get("period") == period,
                h.scaled(20)), period)
            self.assertEqual(self.js("return window.notReloaded"), 1)
            self.check_period("plot-tea", period)
            view = self.js("return window.selgwPlotView")
            span = utc(view["to"]) - utc(view["from"])
            self.assertAlmostEqual(span / 86400, {"7d": 7, "30d": 30}[period], delta=0.01)
            self.assertEqual(self.console_errors(), [], period)
        self.load("/plot/plot-konjac", "en", PHONE, charts=True)
        # the silent device never gave a value: its series have no chart, only the text
        konjac = self.check_period("plot-konjac", "24h")
        self.assertFalse([k for k in konjac if k.startswith(SILENT + "/")])
        self.assertIn("No valid reading in this period", self.text())
        # the lab note is text, with its report number
        self.assertEqual(self.load("/plot/plot-tea", "zh-CN", DESKTOP, charts=True), [])
        notes = self.driver.find_element(By.CSS_SELECTOR, ".notes").text
        self.assertIn(NOTE, notes)
        self.assertIn("LAB-2026-17", notes)
        self.assertIsNone(self.js("return document.getElementById('bold')"))

    def test_delivery_page_follows_the_sink_without_reload(self):
        self.load("/delivery", "zh-CN", PHONE)
        card = '.sink-card[data-sink="mqtt"]'
        self.assertTrue(h.wait_until(lambda: self.js(
            f"return document.querySelector('{card}').dataset.state") == "up", h.scaled(20)))
        self.assertIn("正常上传", self.driver.find_element(By.CSS_SELECTOR, card).text)
        self.js("window.notReloaded = 1")
        self.broker.stop()
        try:
            def down():
                return self.js(f"return document.querySelector('{card}').dataset.state") == "down"
            self.assertTrue(h.wait_until(down, h.scaled(30)), "the page never showed the outage")
            self.assertEqual(self.js("return window.notReloaded"), 1)
            text = self.driver.find_element(By.CSS_SELECTOR, card).text
            self.assertIn("上传中断", text)

            def backlog():
                return int(self.js(f"return document.querySelector('{card} [data-backlog]')"
                                   ".textContent"))
            first = backlog()
            self.assertTrue(h.wait_until(lambda: backlog() > first, h.scaled(20)),
                            "the backlog shown does not grow during the outage")
            self.screenshot("delivery-outage-zh-CN-phone", PHONE)
        finally:
            self.broker.start()
        self.assertEqual(self.console_errors(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
