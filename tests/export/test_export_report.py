"""The offline HTML report and the PDF of a run (geo.export.report)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from geo.export.report import render_html, render_map_sheet, write_report

CHROMIUM_MISSING = "Debian's chromium is not installed: run `make test` (it installs it) or apt-get install chromium"


def _copy_run(src, dst):
    """Copy what a report reads from a run folder (not the analysis rasters)."""
    dst.mkdir(parents=True)
    for name in (
        "manifest.json",
        "targets.gpkg",
        "quicklook.png",
        "prospectivity.png",
        "evaluation.png",
    ):
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)
    (dst / "rasters").mkdir()
    shutil.copy2(src / "rasters" / "true_colour.tif", dst / "rasters" / "true_colour.tif")
    return dst


@pytest.fixture(scope="module")
def report(prospect_run, tmp_path_factory):
    run = _copy_run(prospect_run.out_dir, tmp_path_factory.mktemp("report") / "run")
    paths = write_report(run, top=10)
    return {"run": run, "paths": paths, "targets": prospect_run.targets}


@pytest.fixture(scope="module")
def empty_report(prospect_run, tmp_path_factory):
    """A zone-less, picture-less run: no targets, no prospectivity or evaluation PNGs."""
    import geopandas as gpd

    run = _copy_run(prospect_run.out_dir, tmp_path_factory.mktemp("empty") / "run")
    (run / "prospectivity.png").unlink(missing_ok=True)
    (run / "evaluation.png").unlink(missing_ok=True)
    gpkg = run / "targets.gpkg"
    targets = gpd.read_file(gpkg, layer="targets")
    empty = gpd.GeoDataFrame(targets.iloc[:0].copy(), geometry="geometry", crs=targets.crs)
    # writing an existing layer replaces it; the other layers stay
    empty.to_file(gpkg, layer="targets", driver="GPKG", geometry_type="MultiPolygon")
    assert len(gpd.read_file(gpkg, layer="targets")) == 0
    return {"run": run, "paths": write_report(run)}


def _chromium(tmp_path, *args):
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip(CHROMIUM_MISSING)
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    cmd = [
        exe,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _page_errors(stderr: str) -> list[str]:
    """Uncaught exceptions and console messages of the page in Chromium's log."""
    return [
        line
        for line in stderr.splitlines()
        if "Uncaught" in line or (re.search(r"CONSOLE\(\d+\)", line) and "report.html" in line)
    ]


def _table_ids(dom: str) -> list[str]:
    body = dom[dom.index('id="targets-table"') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    return re.findall(r'<tr[^>]*data-target-id="([^"]+)"', body)


def _assert_offline(html: str) -> None:
    for pattern in (
        r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""",
        r"""url\(\s*["']?\s*(?:https?:)?//""",
        r"@import",
        r"<script[^>]*\ssrc\s*=",
        r"<link[^>]*>",
        r"<iframe",
    ):
        found = re.search(pattern, html, flags=re.IGNORECASE)
        assert found is None, f"{pattern!r} matches {html[found.start() : found.start() + 80]!r}"
    # the only http strings allowed are XML namespaces of inline SVG
    rest = re.sub(r'xmlns(?::\w+)?="http://www\.w3\.org/[^"]*"', "", html)
    assert "http://" not in rest and "https://" not in rest


def test_html_is_self_contained_and_offline(report):
    html = report["paths"]["html"].read_text(encoding="utf-8")
    _assert_offline(html)
    size = report["paths"]["html"].stat().st_size
    assert 100_000 < size < 8_000_000
    assert html.count("data:image/png;base64,") >= 3
    for tid in report["targets"]["target_id"]:
        assert f'id="target-{tid}"' in html
    assert 'id="js-errors"' in html and 'id="self-test"' not in html
    assert report["targets"]["licence_id"].dropna().iloc[0] in html
    assert "break-before: page" in html


def test_html_in_chromium(report, tmp_path):
    url = report["paths"]["html"].resolve().as_uri()
    done = _chromium(tmp_path, "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert re.search(r'<body[^>]*data-ready="1"', dom), "the report's script did not finish"
    assert re.search(r'<pre id="js-errors"></pre>', dom), re.search(
        r'<pre id="js-errors">(.*?)</pre>', dom, re.S
    ).group(1)
    assert _table_ids(dom) == list(report["targets"].sort_values("rank")["target_id"])
    assert _page_errors(done.stderr) == []


def test_html_screenshot_is_not_blank(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    url = report["paths"]["html"].resolve().as_uri()
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert shot.exists(), done.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 20
    assert _page_errors(done.stderr) == []
    if os.environ.get("GEO_SAVE_SCREENSHOT"):
        from pathlib import Path

        out = Path(__file__).resolve().parents[2] / "out" / "report_screenshot.png"
        out.parent.mkdir(exist_ok=True)
        shutil.copy2(shot, out)


def test_table_sorts_in_chromium(report, tmp_path):
    page = tmp_path / "self_test.html"
    page.write_text(render_html(report["run"], top=1, self_test=True), encoding="utf-8")
    done = _chromium(tmp_path, "--dump-dom", page.as_uri())
    match = re.search(r'<pre id="self-test">(.*?)</pre>', done.stdout, re.S)
    assert match, done.stderr[-2000:]
    import html as html_lib

    result = json.loads(html_lib.unescape(match.group(1)))
    targets = report["targets"]
    expected = list(targets.sort_values("score", kind="stable")["target_id"])
    assert result["ascending"] == expected
    assert result["scores"] == sorted(result["scores"])
    assert result["toggled"] == expected[::-1]  # a second sort on the same column reverses
    # selecting the lowest-scoring target zoomed the map in on it
    t = targets.set_index("target_id").loc[expected[0]]
    x, y, w, h = result["view"]
    assert x < t["easting"] < x + w and y < -t["northing"] < y + h
    assert w < 18_000
    assert re.search(r'<pre id="js-errors"></pre>', done.stdout)


def test_pdf_pages_and_metadata(report):
    from pypdf import PdfReader

    reader = PdfReader(report["paths"]["pdf"])
    targets = report["targets"].sort_values("rank")
    assert len(reader.pages) == 1 + min(10, len(targets))
    first = targets.iloc[0]
    text = reader.pages[1].extract_text()
    assert first["target_id"] in text
    assert str(first["licence_id"]) in text
    assert "geo field report" in reader.metadata.title
    assert reader.metadata.author == "geo"
    assert reader.metadata.subject


def test_map_sheet_of_first_target(report, monkeypatch):
    import geopandas as gpd
    import rasterio

    run = report["run"]
    gpkg = run / "targets.gpkg"
    targets = gpd.read_file(gpkg, layer="targets").sort_values("rank")
    first = targets.iloc[0]
    windows = []
    original = rasterio.io.DatasetReader.read

    def spy(self, *args, **kwargs):
        windows.append(kwargs.get("window"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    fig = render_map_sheet(
        first,
        true_colour=run / "rasters" / "true_colour.tif",
        targets=targets,
        licences=gpd.read_file(gpkg, layer="licences"),
        margin_m=600,
    )
    ax = fig.axes[0]
    assert first["target_id"] in ax.get_title()
    assert str(first["licence_id"]) in ax.get_title()
    # one windowed read, smaller than the scene
    assert len(windows) == 1 and windows[0] is not None
    with rasterio.open(run / "rasters" / "true_colour.tif") as src:
        assert windows[0].width < src.width and windows[0].height < src.height
    # grid labels are whole metres of the scene CRS at a round interval, around the target
    fig.canvas.draw()
    xs = [float(t.get_text().replace("−", "-")) for t in ax.get_xticklabels() if t.get_text()]
    ys = [float(t.get_text().replace("−", "-")) for t in ax.get_yticklabels() if t.get_text()]
    assert len(xs) >= 3 and len(ys) >= 3
    step = np.diff(xs)[0]
    assert step in (100, 200, 250, 500, 1000, 2000, 2500)
    assert all(x % step == 0 for x in xs + ys)
    assert min(xs) < first["easting"] < max(xs) and min(ys) < first["northing"] < max(ys)
    caption = " ".join(t.get_text() for t in fig.texts)
    assert "EPSG:" in caption and "35S" in caption


def test_report_without_targets_or_pictures(empty_report, tmp_path):
    from pypdf import PdfReader

    html = empty_report["paths"]["html"].read_text(encoding="utf-8")
    _assert_offline(html)
    assert "No targets" in html
    assert "prospectivity.png" not in html and "evaluation.png" not in html
    assert len(PdfReader(empty_report["paths"]["pdf"]).pages) == 1
    done = _chromium(tmp_path, "--dump-dom", empty_report["paths"]["html"].resolve().as_uri())
    assert re.search(r'<body[^>]*data-ready="1"', done.stdout)
    assert re.search(r'<pre id="js-errors"></pre>', done.stdout)
    assert _page_errors(done.stderr) == []


def test_missing_run_folder_is_named(tmp_path):
    from geo.errors import InputNotFoundError

    with pytest.raises(InputNotFoundError, match=r"manifest\.json"):
        write_report(tmp_path)
