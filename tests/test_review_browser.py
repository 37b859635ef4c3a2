"""The review page and station in headless Chromium (Debian's chromium + chromedriver, Selenium).

Skipped, with the reason, where Chromium or Selenium is missing; ``.ci/run`` installs them.
Covers: ``nii inspect … --out DIR`` writes ``DIR/review.html``, which loads from disk with
no console error and shows the verdict, every reason and every box; a click on a reason
zooms to its box; the layers switch; a decision posted through the station's page is in
the database after a restart; a request without the token is refused. The run writes a
screenshot of a page at 1,600 × 900 to ``docs/img/review.png``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import _review_synthetic as synthetic
import pytest
from _browser import (
    chromium_missing,
    console_errors,
    set_viewport,
    start_chromium,
    stop_chromium,
    wait_for,
)

_MISSING = chromium_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=f"headless Chromium unavailable: {_MISSING}")

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "img" / "review.png"
MANIFEST_EXTRA = {"hs_code": "990000", "description": "unknown goods", "gross_mass_kg": 10}


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium(1600, 900)
    yield driver
    stop_chromium(driver)


@pytest.fixture(scope="module")
def synthetic_page(tmp_path_factory):
    from nii.review.page import write_review

    folder = tmp_path_factory.mktemp("synthetic-review")
    image, material_map, verdict, manifest = synthetic.build()
    (folder / "verdict.json").write_text(json.dumps(verdict, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return write_review(folder, image=image, material_map=material_map, verdict=verdict, manifest=manifest)


def _simulate(folder: Path, *, channels: int, pulses: int | None, container: str, seed: int, scan_id: str,
              unknown_item: bool = False) -> tuple[Path, Path]:
    from nii.simulate.run import simulate_scan
    from nii.simulate.scanner import ScannerConfig
    from nii.simulate.suite import build_scene

    folder.mkdir(parents=True, exist_ok=True)
    scene = build_scene("scenario", {"container": container, "cargo_chapter": "03", "threat": "lead-block"}, seed)
    scan = folder / f"{scan_id}.nxr"
    simulate_scan(scene, ScannerConfig().scaled(channels=channels, pulses=pulses), seed, out=scan, scan_id=scan_id)
    manifest = folder / f"{scan_id}.manifest.json"
    if unknown_item:  # an unknown HS code: a warning for the banner
        data = json.loads(manifest.read_text(encoding="utf-8"))
        data["items"].append(MANIFEST_EXTRA)
        manifest.write_text(json.dumps(data), encoding="utf-8")
    return scan, manifest


@pytest.fixture(scope="module")
def inspected(tmp_path_factory):
    """``nii inspect`` of a small simulated scan (64 channels × 600 pulses, a lead block)."""
    from nii.cli import main

    folder = tmp_path_factory.mktemp("inspected")
    scan, manifest = _simulate(folder / "in", channels=64, pulses=600, container="20ft", seed=3,
                               scan_id="TEST-LEAD", unknown_item=True)
    out = folder / "out"
    assert main(["inspect", str(scan), "--manifest", str(manifest), "--out", str(out)]) in (0, 1)
    return out


def _open(driver, url: str) -> None:
    driver.get(url)
    wait_for(driver, "window.niiReview && window.niiReview.ready")


def _settle(driver) -> dict:
    wait_for(driver, "!window.niiReview.animating")
    return driver.execute_script("return niiReview.view();")


def _pixel(driver, x: float, y: float) -> list[int]:
    return driver.execute_script(
        "var c = document.getElementById('view'); return Array.from(c.getContext('2d')"
        ".getImageData(Math.round(arguments[0]), Math.round(arguments[1]), 1, 1).data);", x, y)


def _reddest_near(driver, x: float, y: float, reach: int = 2) -> list[int]:
    """The reddest pixel within ``reach`` canvas pixels of ``(x, y)`` along x: a box edge
    falls between pixels at some zooms, and is then drawn half-strength on two."""
    pixels = [_pixel(driver, x + dx, y) for dx in range(-reach, reach + 1)]
    return max(pixels, key=lambda p: p[0] - max(p[1], p[2]))


def test_inspect_writes_a_page_that_loads_from_disk(browser, inspected):
    from nii.render import merge_regions

    page = inspected / "review.html"
    assert page.is_file() and (inspected / "review_files" / "high.js").is_file()
    verdict = json.loads((inspected / "verdict.json").read_text(encoding="utf-8"))
    console_errors(browser)  # forget what earlier pages logged
    _open(browser, page.as_uri())
    errors = console_errors(browser)
    assert errors == [], errors
    assert browser.execute_script("return niiReview.errors;") == []
    word = browser.find_element("id", "verdict-word").text
    assert word == verdict["verdict"].upper()
    shown = [li.text for li in browser.find_elements("css selector", "li.reason")]
    assert len(shown) == len(verdict["reasons"])
    for reason, text in zip(verdict["reasons"], shown, strict=True):
        assert reason["code"] in text and reason["message"] in text
    banner = browser.find_element("id", "warnings").text
    for warning in verdict["warnings"]:
        assert warning in banner
    objects = merge_regions(verdict["regions"])
    assert len(browser.find_elements("css selector", "li.object")) == len(objects)
    for box in browser.execute_script("return niiReview.boxesOnScreen();"):
        red = _reddest_near(browser, box[0], (box[1] + box[3]) / 2)  # the left edge of each box is drawn
        assert red[0] > 180 and red[1] < 90 and red[2] < 90, red


def test_page_shows_verdict_reasons_and_every_box(browser, synthetic_page):
    console_errors(browser)
    _open(browser, synthetic_page.as_uri())
    assert console_errors(browser) == []
    header = browser.find_element("id", "verdict")
    assert "INSPECT" in header.text and "0.97" in header.text
    colour = header.value_of_css_property("background-color")
    assert colour.replace(" ", "") in ("rgb(198,40,40)", "rgba(198,40,40,1)")
    assert browser.find_element("id", "verdict-word").value_of_css_property("font-size") == "34px"
    codes = [li.get_attribute("data-code") for li in browser.find_elements("css selector", "li.reason")]
    assert codes == ["UNDECLARED_HIGH_Z", "CONCEALMENT_ANOMALY", "STRUCTURE_ANOMALY", "MASS_MISMATCH"]
    assert len(browser.find_elements("css selector", "li.object")) == 2  # duplicates merged
    boxes = browser.execute_script("return niiReview.boxesOnScreen();")
    assert len(boxes) == 2
    for box in boxes:
        red = _pixel(browser, box[0], (box[1] + box[3]) / 2)
        assert red[0] > 180 and red[1] < 90, red
    side = browser.find_element("id", "side").text
    assert "TEST1234567" in side and "frozen fish" in side and "9,100 kg" in side
    assert "dropped" in browser.find_element("id", "warnings").text
    shortcuts = browser.find_element("id", "shortcuts").text
    assert "zoom" in shortcuts and "layer" in shortcuts


def test_click_on_a_reason_zooms_to_its_box(browser, synthetic_page):
    _open(browser, synthetic_page.as_uri())
    start = _settle(browser)
    browser.find_element("css selector", 'li.reason[data-code="UNDECLARED_HIGH_Z"]').click()
    view = _settle(browser)
    row0, col0, row1, col1 = synthetic.BLOCK
    visible = view["visible"]
    assert visible[0] <= row0 and visible[1] <= col0 and visible[2] >= row1 and visible[3] >= col1
    assert view["scale"] > 3 * start["scale"]
    area = (visible[2] - visible[0]) * (visible[3] - visible[1])
    assert area < 0.1 * synthetic.ROWS * synthetic.COLS
    # the box is in the middle of the view
    centre_x = view["tx"] + view["scale"] * (col0 + col1) / 2
    centre_y = view["ty"] + view["scale"] * view["aspect"] * (row0 + row1) / 2
    assert abs(centre_x - view["width"] / 2) < 0.1 * view["width"]
    assert abs(centre_y - view["height"] / 2) < 0.1 * view["height"]
    # the raised floor's reason goes to its own box; the mass reason shows the whole object
    browser.find_element("css selector", 'li.reason[data-code="STRUCTURE_ANOMALY"]').click()
    visible = _settle(browser)["visible"]
    assert visible[1] <= synthetic.FLOOR[1] and visible[3] >= synthetic.FLOOR[3]
    assert not (visible[1] <= col0 and visible[3] >= col1 and visible[3] - visible[1] < 100)
    browser.find_element("css selector", 'li.reason[data-code="MASS_MISMATCH"]').click()
    extent = browser.execute_script("return niiReview.meta.extent;")
    visible = _settle(browser)["visible"]
    assert visible[1] <= extent[2] + 1 and visible[3] >= extent[3] - 1


def test_keyboard_and_wheel_move_the_view(browser, synthetic_page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    _open(browser, synthetic_page.as_uri())
    body = browser.find_element("tag name", "body")
    fitted = _settle(browser)
    body.send_keys("+")
    zoomed = _settle(browser)
    assert zoomed["scale"] == pytest.approx(fitted["scale"] * 1.25, rel=0.01)
    body.send_keys("\ue012")  # ArrowLeft
    assert _settle(browser)["tx"] > zoomed["tx"]
    body.send_keys("0")
    assert _settle(browser)["scale"] == pytest.approx(fitted["scale"], rel=0.01)
    canvas = browser.find_element("id", "view")
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -300).perform()
    assert wait_for(browser, f"niiReview.view().scale > {fitted['scale'] * 1.2}")
    body.send_keys("n")
    view = _settle(browser)
    assert browser.execute_script("return niiReview.state.selected;") == 1 and view["scale"] > fitted["scale"]


def test_layers_switch(browser, synthetic_page):
    _open(browser, synthetic_page.as_uri())
    browser.find_element("tag name", "body").send_keys("0")
    _settle(browser)
    row0, col0, row1, col1 = synthetic.BLOCK
    x, y = browser.execute_script("return niiReview.screenOf(arguments[0], arguments[1]);",
                                  (row0 + row1) / 2, (col0 + col1) / 2 - 20)
    seen = {}
    names = browser.execute_script("return niiReview.meta.layer_order;")
    assert names == ["material", "high", "low", "zeff", "areal", "departure"]
    for key, name in enumerate(names, start=1):
        browser.find_element("tag name", "body").send_keys(str(key))
        wait_for(browser, f"niiReview.renderedLayer === {json.dumps(name)}")
        active = browser.find_element("css selector", "button.layer.active").get_attribute("data-layer")
        assert active == name
        seen[name] = tuple(_pixel(browser, x, y)[:3])
    assert len(set(seen.values())) >= 5, seen  # each layer draws the cargo its own way
    orange = seen["material"]
    assert orange[0] > orange[1] > orange[2]  # organic cargo: orange
    assert seen["high"][0] == seen["high"][1] == seen["high"][2]  # grey
    # a click on a layer button, then the window: a narrower window changes the grey level
    browser.find_element("css selector", 'button.layer[data-layer="high"]').click()
    wait_for(browser, "niiReview.renderedLayer === 'high'")
    before = _pixel(browser, x, y)
    value = browser.execute_script("return niiReview.valueAt('high', arguments[0], arguments[1]);",
                                   (row0 + row1) // 2, (col0 + col1) // 2 - 20)
    browser.execute_script("niiReview.setWindow(arguments[0] - 0.05, arguments[0] + 0.5);", value)
    assert _pixel(browser, x, y) != before


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Station:
    """``nii review DIR`` in a subprocess."""

    def __init__(self, folder: Path, token: str) -> None:
        self.folder, self.token, self.port = folder, token, _free_port()
        self.process = None

    def start(self) -> None:
        env = dict(os.environ, NII_REVIEW_TOKEN=self.token, PYTHONPATH=str(REPO))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nii", "review", str(self.folder), "--port", str(self.port), "--officer", "T. Test"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the station stopped: {self.process.stdout.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("the station did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def get(self, path: str, token: str | None = None) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8")


def test_station_records_a_decision_that_survives_a_restart(browser, inspected, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    station = _Station(inspected, token="t0ken-for-the-test")
    station.start()
    try:
        # a request without the token is refused, with it the queue is served
        assert station.get("/")[0] == 401
        assert station.get("/api/scans")[0] == 401
        assert station.get("/api/scans", token="wrong")[0] == 401
        assert station.get("/api/scans", token=station.token)[0] == 200
        browser.get(f"http://127.0.0.1:{station.port}/")
        assert "token" in browser.find_element("tag name", "body").text
        console_errors(browser)
        browser.get(f"http://127.0.0.1:{station.port}/?token={station.token}")
        assert "token" not in browser.current_url
        link = browser.find_element("css selector", "#queue a[href^='/scan/']")
        link.click()
        wait_for(browser, "window.niiReview && window.niiReview.ready")
        assert browser.find_element("id", "decision").is_displayed()
        officer = browser.find_element("id", "officer")
        assert officer.get_attribute("value") == "T. Test"
        officer.clear()
        officer.send_keys("A. Officer")
        browser.find_element("css selector", "input[name=decision][value=physical_inspection]").click()
        browser.find_element("id", "note").send_keys("open the second stack")
        # draw a box: D, then drag on the image
        browser.find_element("id", "draw-toggle").click()
        canvas = browser.find_element("id", "view")
        ActionChains(browser).move_to_element_with_offset(canvas, -60, -40).click_and_hold() \
            .move_by_offset(120, 80).release().perform()
        drawn = browser.execute_script("return niiReview.state.drawn;")
        assert len(drawn) == 1
        browser.find_element("id", "decide").click()
        wait_for(browser, "document.getElementById('decision-status').textContent.indexOf('recorded (') === 0")
        assert console_errors(browser) == []
        scan_url = browser.current_url
    finally:
        browser.get("about:blank")  # the page's background loads end before the station does
        station.stop()
    station.start()  # a new process on the same database
    try:
        status, text = station.get("/api/decisions.json", token=station.token)
        assert status == 200
        decisions = json.loads(text)
        assert len(decisions) == 1
        decision = decisions[0]
        assert decision["officer"] == "A. Officer" and decision["decision"] == "physical_inspection"
        assert decision["note"] == "open the second stack" and decision["boxes"] == drawn
        from nii.review.page import verdict_digest

        assert decision["verdict_sha256"] == verdict_digest((inspected / "verdict.json").read_bytes())
        status, csv_text = station.get("/api/decisions.csv", token=station.token)
        assert status == 200 and "A. Officer" in csv_text
        # the page shows it too, with its box on the image
        browser.get(scan_url)
        wait_for(browser, "window.niiReview && window.niiReview.ready")
        wait_for(browser, "document.querySelectorAll('#history li').length === 1")
        assert "physical inspection" in browser.find_element("id", "history").text
        assert browser.execute_script("return niiReview.state.recorded;") == drawn
    finally:
        browser.get("about:blank")
        station.stop()
    database = sqlite3.connect(inspected / "decisions.sqlite")
    try:
        assert database.execute("SELECT officer, decision FROM decisions").fetchall() == [("A. Officer", "physical_inspection")]
    finally:
        database.close()


@pytest.fixture(scope="module")
def screenshot_page(tmp_path_factory):
    """The review page of a 20 ft container at 1,024 channels with a lead block (the README's picture)."""
    from nii.cli import main

    folder = tmp_path_factory.mktemp("screenshot")
    scan, manifest = _simulate(folder / "in", channels=1024, pulses=None, container="20ft", seed=7,
                               scan_id="demo-20ft-03-lead-block", unknown_item=True)
    out = folder / "out"
    assert main(["inspect", str(scan), "--manifest", str(manifest), "--out", str(out)]) in (0, 1)
    return out / "review.html"


def test_screenshot_of_the_page_at_1600_by_900(browser, screenshot_page):
    set_viewport(browser, 1600, 900)
    console_errors(browser)  # forget what earlier pages logged
    _open(browser, screenshot_page.as_uri())
    assert console_errors(browser) == []
    reasons = browser.find_elements("css selector", "li.reason[data-objects]:not([data-objects=''])")
    if reasons:
        reasons[0].click()
        _settle(browser)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.get_screenshot_as_file(str(SCREENSHOT))
    from PIL import Image

    with Image.open(SCREENSHOT) as picture:
        assert picture.size == (1600, 900)
    ready_ms = browser.execute_script("return performance.getEntriesByName('nii-review-ready')[0].startTime;")
    assert ready_ms > 0
