"""Headless Chromium for the review tests and benchmark: Debian's chromium and chromedriver via Selenium.

Selenium is pointed at ``/usr/bin/chromedriver`` so that it never downloads a driver;
the flags are those that keep Chromium off the network (this machine has none).
:func:`chromium_missing` says why a test must skip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Any

CHROMIUM = os.environ.get("NII_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NII_CHROMEDRIVER", "/usr/bin/chromedriver")
_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def chromium_missing() -> str | None:
    """Why headless Chromium cannot run here (None when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


def start_chromium(width: int = 1600, height: int = 900) -> Any:
    """A headless Chromium whose page area is ``width × height`` CSS px, with the console logged."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="nii-chromium-")
    for flag in _FLAGS + (f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.nii_profile = profile  # type: ignore[attr-defined]
    set_viewport(driver, width, height)
    return driver


def set_viewport(driver: Any, width: int, height: int) -> None:
    """Make the page area exactly ``width × height`` (the window's frame is not counted)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def stop_chromium(driver: Any) -> None:
    """Quit the browser and remove its profile."""
    try:
        driver.quit()
    finally:
        shutil.rmtree(getattr(driver, "nii_profile", ""), ignore_errors=True)


def wait_for(driver: Any, script: str, timeout_s: float = 30.0) -> Any:
    """Run ``script`` (a JS expression) until it is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {script}")
        time.sleep(0.05)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """The browser's console entries of level SEVERE or WARNING since the last call."""
    return [entry for entry in driver.get_log("browser") if entry.get("level") in ("SEVERE", "WARNING")]
