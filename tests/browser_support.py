"""A real headless Chromium for the web app's tests: Debian's chromium and chromium-driver (installed by
scripts/install_browser.sh when missing), driven by Selenium through /usr/bin/chromedriver. Started with the flags
that keep it off the network (the machine has none: background networking, QUIC, component updates and sync
would hang it) and an empty profile, once per test module."""

from __future__ import annotations

import base64
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from stack_support import wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALLER = Path(__file__).resolve().parents[1] / "scripts" / "install_browser.sh"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def ensure_chromium() -> None:
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    result = subprocess.run(["sh", str(INSTALLER)], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"Chromium could not be installed:\n{result.stdout}\n{result.stderr}")


def start_chromium(width: int = 1280, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        *FLAGS,
        f"--user-data-dir={tempfile.mkdtemp(prefix='twin-chromium-')}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(120)
    return driver


def poll(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.25):
    """Poll until `condition()` is truthy (returned); an element not there yet or a stale one (any exception) counts
    as "not yet"."""
    return wait_for(condition, timeout, what, interval, tolerate=(Exception,))


def screenshot(driver, path: Path, max_height: int = 2600) -> Path:
    """A screenshot of the whole page from its top (up to max_height CSS pixels), for the docs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    content = metrics["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": content["width"], "height": min(content["height"], max_height), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "fromSurface": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
