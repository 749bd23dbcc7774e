"""Headless Chromium for the page tests (test_dashboard_pages, test_report, test_lot): where
Debian puts it, whether it can run, one way to start it under Selenium, and where the
screenshots are kept (BUILD/test-artifacts/NAME/)."""
import os
import shutil
import subprocess

import harness as h

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    HAVE_SELENIUM = True
except ImportError:  # pragma: no cover
    HAVE_SELENIUM = False

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = HAVE_SELENIUM and os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER,
                                                                             os.X_OK)
SKIP_REASON = ("needs Debian's chromium, chromium-driver and python3-selenium "
               "(scripts/setup.sh installs them)")

BUILD_DIR = os.environ.get("SELGW_BUILD_DIR") or os.path.join(h.SOURCE_DIR, "build")


def artifacts(name):
    """BUILD/test-artifacts/NAME, created: where a test keeps its screenshots."""
    path = os.path.join(BUILD_DIR, "test-artifacts", name)
    os.makedirs(path, exist_ok=True)
    return path


def chrome(profile_dir, size, *extra_args):
    """Headless Chromium driven by Selenium, its console kept (goog:loggingPrefs), with its
    own profile in profile_dir, a window of size (width, height)."""
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--hide-scrollbars", "--no-first-run", *extra_args,
              f"--user-data-dir={profile_dir}"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(h.scaled(30))
    d.set_window_size(*size)
    return d


def console_errors(driver):
    """The page's console messages of level SEVERE since the log was last read."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(page, png, size):
    """A page (a file) rendered by headless Chromium, without Selenium, into png; False
    without Chromium."""
    if not os.access(CHROMIUM, os.X_OK):
        return False
    subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=%d,%d" % size,
                    "--screenshot=" + png, "file://" + page],
                   capture_output=True, timeout=120)
    return os.path.exists(png)
