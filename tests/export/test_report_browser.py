"""The HTML report in headless Chromium at phone and desktop sizes (geo.export.report).

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``, no
extra package): ``--window-size`` cannot go below 500 px, so the phone (412 x 915, touch)
is emulated with ``Emulation.setDeviceMetricsOverride``. Once the report has loaded, a
probe script measures the page as the browser laid it out (overflow, font sizes, the
map's box, the map labels), moves a pointer over the map to read the coordinate readout,
and clicks every target's id in the table to check its sheet comes into view.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geo.export.report import write_report
from tests.export.test_export_report import _assert_offline, _copy_run

SIZES = {"phone": (412, 915), "desktop": (1400, 900)}

PROBE = r"""
(function () {
  "use strict";
  var out = {};
  var de = document.documentElement;
  out.scrollWidth = de.scrollWidth;
  out.innerWidth = window.innerWidth;
  out.innerHeight = window.innerHeight;
  out.errors = document.getElementById("js-errors").textContent;
  out.ready = document.body.dataset.ready || "";
  /* visible text smaller than 12 px (SVG text: its size on screen) */
  var small = [];
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  var node;
  while ((node = walker.nextNode())) {
    if (!node.nodeValue.trim()) { continue; }
    var el = node.parentElement;
    if (!el || el.closest("script, style")) { continue; }
    if (!el.getClientRects().length) { continue; }
    var cs = getComputedStyle(el);
    if (cs.visibility === "hidden") { continue; }
    var size = parseFloat(cs.fontSize);
    if (el instanceof SVGElement) {
      var m = el.getScreenCTM();
      size = size * (m ? Math.hypot(m.a, m.b) : 1);
    }
    if (size < 11.99) { small.push([el.tagName, size, node.nodeValue.slice(0, 40)]); }
  }
  out.small = small;
  var map = document.getElementById("map").getBoundingClientRect();
  var section = document.getElementById("map-section").getBoundingClientRect();
  out.map = { left: map.left, width: map.width, height: map.height, section: section.width };
  /* map labels shown: their boxes on screen */
  out.labels = Array.prototype.slice.call(document.querySelectorAll("#labels text"))
    .filter(function (t) { return getComputedStyle(t).display !== "none"; })
    .map(function (t) {
      var r = t.getBoundingClientRect();
      return [t.textContent, r.left, r.top, r.right, r.bottom];
    });
  out.hidden_labels = document.querySelectorAll("#labels text.cluttered").length;
  /* the readout at the map's centre */
  var svg = document.getElementById("map");
  svg.dispatchEvent(new PointerEvent("pointermove", {
    bubbles: true, clientX: map.left + map.width / 2, clientY: map.top + map.height / 2
  }));
  out.readout = document.getElementById("map-coords").textContent;
  out.view = window.geoReport.view();
  out.px = svg.getBoundingClientRect().width;
  /* tap every target's id: its sheet must come into view */
  out.sheets = Array.prototype.slice.call(document.querySelectorAll("#targets-table tbody tr"))
    .map(function (tr) {
      var id = tr.getAttribute("data-target-id");
      var link = tr.querySelector("a.sheet-link");
      if (!link) { return { id: id, link: false }; }
      var lr = link.getBoundingClientRect();
      link.click();
      var sec = document.getElementById("target-" + id);
      var r = sec ? sec.getBoundingClientRect() : null;
      return {
        id: id, link: true, linkSize: [lr.width, lr.height], hash: decodeURIComponent(location.hash),
        top: r ? r.top : null, height: r ? r.height : null,
        shown: !!sec && getComputedStyle(sec).display !== "none" && sec.getClientRects().length > 0
      };
    });
  return JSON.stringify(out);
})()
"""


@pytest.fixture(scope="module")
def page(prospect_run, tmp_path_factory):
    """The sample run's report (every target has a sheet)."""
    run = _copy_run(prospect_run.out_dir, tmp_path_factory.mktemp("browser") / "run")
    paths = write_report(run, pdf_path=False)
    return {"run": run, "html": paths["html"], "targets": prospect_run.targets}


def _browser() -> str:
    # the browser itself: Debian's `chromium` wrapper fails when /etc/chromium.d is absent
    binary = Path("/usr/lib/chromium/chromium")
    exe = str(binary) if binary.is_file() else shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return exe


class _Chromium:
    """Headless Chromium driven over the DevTools protocol on fds 3 and 4."""

    def __init__(self, profile: Path) -> None:
        to_chrome_r, self._out = os.pipe()
        self._in, from_chrome_w = os.pipe()
        args = [
            _browser(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        # the protocol's pipe is fds 3 (commands) and 4 (answers) of the browser: a small
        # launcher moves the two pipe ends there (through fds >= 10, so neither clobbers
        # the other) and execs Chromium
        launcher = (
            "import fcntl, os, sys\n"
            "r, w = (fcntl.fcntl(int(a), fcntl.F_DUPFD, 10) for a in sys.argv[1:3])\n"
            "os.dup2(r, 3); os.dup2(w, 4)\n"
            "os.execv(sys.argv[3], sys.argv[3:])\n"
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-c", launcher, str(to_chrome_r), str(from_chrome_w), *args],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.session: str | None = None

    def _next(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = end - time.monotonic()
            if left <= 0 or self._proc.poll() is not None:
                raise TimeoutError("Chromium did not answer over the DevTools pipe")
            if select.select([self._in], [], [], min(left, 1.0))[0]:
                self._buf += os.read(self._in, 1 << 20)
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            msg["sessionId"] = self.session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._next(timeout)
            if m.get("id") == self._id:
                assert "error" not in m, m
                return m["result"]

    def wait_event(self, name: str, timeout: float = 60) -> dict:
        while True:
            m = self._next(timeout)
            if m.get("method") == name:
                return m

    def open(self, url: str, size: tuple[int, int], *, phone: bool) -> None:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=size[0],
            height=size[1],
            deviceScaleFactor=1,
            mobile=phone,
        )
        if phone:
            self.call("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=5)
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        got = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in got, got
        return got["result"]["value"]

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (TimeoutError, OSError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._in)
        os.close(self._out)


def _probe(html: Path, tmp_path: Path, name: str, shot: Path | None = None) -> dict:
    browser = _Chromium(tmp_path / f"profile-{name}")
    try:
        browser.open(html.resolve().as_uri(), SIZES[name], phone=name == "phone")
        if shot is not None:
            browser.screenshot(shot)
        return json.loads(browser.evaluate(PROBE))
    finally:
        browser.close()


def _overlaps(boxes: list) -> list[tuple[str, str]]:
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            # boxes overlap by more than a pixel either way
            if a[1] + 1 < b[3] and b[1] + 1 < a[3] and a[2] + 1 < b[4] and b[2] + 1 < a[4]:
                found.append((a[0], b[0]))
    return found


def test_report_is_offline_and_small(page):
    html = page["html"].read_text(encoding="utf-8")
    _assert_offline(html)
    assert page["html"].stat().st_size < 5_000_000


@pytest.mark.parametrize("name", list(SIZES))
def test_layout_in_chromium(page, tmp_path, name):
    width, height = SIZES[name]
    shot = tmp_path / f"{name}.png"
    got = _probe(page["html"], tmp_path, name, shot)
    assert got["ready"] == "1" and got["errors"] == ""
    assert (got["innerWidth"], got["innerHeight"]) == (width, height)
    # no horizontal scrolling of the page, no text a phone user must zoom to read
    assert got["scrollWidth"] <= got["innerWidth"]
    assert got["small"] == []
    # the map fills its section's width (on a phone: the whole width, not a strip beside
    # the info panel), tall enough to use
    m = got["map"]
    if name == "phone":
        assert m["width"] >= 0.98 * m["section"] and m["width"] >= 360
        assert m["height"] >= 300
    else:
        assert m["width"] >= 0.6 * m["section"] and m["height"] >= 500
    # labels shown on the map never overlap (the others are hidden, not piled)
    assert got["labels"]
    assert _overlaps(got["labels"]) == []
    # every field target's id opens its sheet, scrolled into view
    ids = list(page["targets"].sort_values("rank")["target_id"])
    assert [s["id"] for s in got["sheets"]] == ids
    for s in got["sheets"]:
        assert s["link"], s
        assert s["hash"] == f"#target-{s['id']}"
        assert s["shown"] and s["height"] > 100
        assert -1 <= s["top"] < got["innerHeight"] / 2, s
        if name == "phone":  # a finger can hit it
            assert s["linkSize"][1] >= 16


def test_map_readout_is_standard_utm(page, tmp_path):
    got = _probe(page["html"], tmp_path, "phone")
    x, y, w, h = got["view"]
    east, north = x + w / 2, -(y + h / 2)  # the scene CRS (EPSG:32635, negative northings)
    assert north < 0
    match = re.fullmatch(r"UTM 35S\s+E (\d+)\s+N (\d+)", got["readout"])
    assert match, got["readout"]
    metres_a_pixel = max(w, h) / got["px"]
    assert abs(int(match.group(1)) - east) <= metres_a_pixel + 1
    assert abs(int(match.group(2)) - (north + 10_000_000)) <= metres_a_pixel + 1


def test_labels_declutter_when_crowded(page, tmp_path):
    """Many targets close together: at phone width most labels hide instead of piling up."""
    import geopandas as gpd
    import pandas as pd
    from shapely.affinity import translate

    run = page["run"].parent / "crowded"
    shutil.copytree(page["run"], run)
    gpkg = run / "targets.gpkg"
    targets = gpd.read_file(gpkg, layer="targets").sort_values("rank")
    first = targets.iloc[[0]]
    crowd = []
    for k in range(40):  # 40 targets on a 300 m grid: a few pixels apart on a phone
        dx, dy = 300.0 * (k % 8), 300.0 * (k // 8)
        t = first.copy()
        t["target_id"] = f"C{k:03d}"
        t["rank"] = k + 1
        t["geometry"] = t.geometry.apply(lambda g, dx=dx, dy=dy: translate(g, dx, dy))
        t["easting"] = t["easting"] + dx
        t["northing"] = t["northing"] + dy
        crowd.append(t)
    crowded = gpd.GeoDataFrame(pd.concat(crowd, ignore_index=True), crs=targets.crs)
    crowded.to_file(gpkg, layer="targets", driver="GPKG")
    html = write_report(run, pdf_path=False, top=0)["html"]
    got = _probe(html, tmp_path, "phone")
    assert got["errors"] == ""
    assert got["hidden_labels"] >= 20
    assert _overlaps(got["labels"]) == []
    assert "C000" in [lab[0] for lab in got["labels"]]  # the best target keeps its label


@pytest.mark.parametrize("name", list(SIZES))
def test_screenshots_are_not_blank(page, tmp_path, name):
    import numpy as np
    from PIL import Image

    shot = tmp_path / f"{name}.png"
    _probe(page["html"], tmp_path, name, shot)
    image = Image.open(shot)
    assert image.size == SIZES[name]
    assert np.asarray(image.convert("L"), dtype=float).std() > 20
    if os.environ.get("GEO_SAVE_SCREENSHOT"):
        out = Path(__file__).resolve().parents[2] / "out" / f"report_{name}.png"
        out.parent.mkdir(exist_ok=True)
        shutil.copy2(shot, out)
