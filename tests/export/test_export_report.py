"""The offline HTML report and the PDF of a run (geo.export.report)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geo.export.report import render_html, render_map_sheet, write_report

CHROMIUM_MISSING = "Debian's chromium is not installed: run `make test` (it installs it) or apt-get install chromium"


def _copy_run(src, dst):
    """Copy what a report reads from a run folder (not the analysis rasters)."""
    dst.mkdir(parents=True)
    for name in (
        "manifest.json",
        "targets.gpkg",
        "targets.csv",
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


def _pdf_rows(page) -> list[list[str]]:
    """The text of a PDF page as rows of cells: strings grouped by baseline, left to right."""
    found: list[tuple[float, float, str]] = []

    def visit(text, cm, tm, _font, _size):
        if text.strip():
            x = cm[0] * tm[4] + cm[2] * tm[5] + cm[4]
            y = cm[1] * tm[4] + cm[3] * tm[5] + cm[5]
            found.append((round(y, 1), x, text.strip()))

    page.extract_text(visitor_text=visit)
    rows: dict[float, list[tuple[float, str]]] = {}
    for y, x, text in found:
        rows.setdefault(y, []).append((x, text))
    return [[t for _, t in sorted(cells)] for _, cells in sorted(rows.items(), reverse=True)]


def _cover_table(reader) -> list[list[str]]:
    """The rows of the cover's target table, over every page that continues it."""
    table: list[list[str]] = []
    for page in reader.pages:
        rows = _pdf_rows(page)
        heads = [i for i, r in enumerate(rows) if r[:3] == ["Rank", "Target", "Score"]]
        if not heads:
            if table:
                break
            continue
        for row in rows[heads[0] + 1 :]:
            if not re.fullmatch(r"\d+", row[0]):
                break
            table.append(row)
    return table


def _footers(reader) -> list[tuple[int, int]]:
    out = []
    for page in reader.pages:
        found = re.findall(r"page (\d+) of (\d+)", page.extract_text())
        assert len(found) == 1, found
        out.append((int(found[0][0]), int(found[0][1])))
    return out


def test_pdf_pages_and_metadata(report):
    from pypdf import PdfReader

    reader = PdfReader(report["paths"]["pdf"])
    targets = report["targets"].sort_values("rank")
    n = len(reader.pages)
    assert _footers(reader) == [(i, n) for i in range(1, n + 1)]
    # the cover (with the table and the overview map, a short table) then one sheet a target
    sheets = min(10, len(targets))
    assert n == 1 + sheets
    for page, tid in zip(reader.pages[1:], targets["target_id"], strict=False):
        text = page.extract_text()
        assert f"Field notes — {tid}" in text
        for word in ("Date", "Geologist", "Observations", "Samples", "licence boundary", "fault"):
            assert word in text
    first = targets.iloc[0]
    text = reader.pages[1].extract_text()
    assert first["target_id"] in text
    assert str(first["licence_id"]) in text
    assert "geo field report" in reader.metadata.title
    assert reader.metadata.author == "geo"
    assert reader.metadata.subject


@pytest.fixture(scope="module")
def field_pdf(prospect_run, tmp_path_factory):
    """A report of a field set smaller than the run, whose table runs over several pages."""
    import pandas as pd

    run = _copy_run(prospect_run.out_dir, tmp_path_factory.mktemp("field_pdf") / "run")
    n = len(pd.read_csv(run / "targets.csv"))
    assert n >= 4
    paths = write_report(run, html_path=False, top=2, field_top=n - 1)
    return {"run": run, "pdf": paths["pdf"], "field_top": n - 1}


def test_pdf_cover_table_is_the_field_set_of_targets_csv(field_pdf):
    import pandas as pd
    from pypdf import PdfReader
    from pyproj import Transformer

    reader = PdfReader(field_pdf["pdf"])
    csv = pd.read_csv(field_pdf["run"] / "targets.csv").sort_values("rank", kind="stable")
    field = csv.iloc[: field_pdf["field_top"]]
    table = _cover_table(reader)
    assert [r[1] for r in table] == list(field["target_id"])
    assert [int(r[0]) for r in table] == list(field["rank"])
    # standard UTM: the sample is EPSG:32635 south of the equator, so zone 35S, the same
    # eastings and the northings plus the 10 000 km false northing
    assert set(field["epsg"]) == {32635}
    assert {r[5] for r in table} == {"35S"}
    assert [float(r[6]) for r in table] == list(field["easting"].round())
    assert [float(r[7]) for r in table] == list((field["northing"] + 10_000_000).round())
    # and pyproj agrees from the CSV's WGS 84 point (EPSG:32735: UTM 35S)
    e, n = Transformer.from_crs(4326, 32735, always_xy=True).transform(field["lon"], field["lat"])
    np.testing.assert_allclose([float(r[6]) for r in table], e, atol=1.0)
    np.testing.assert_allclose([float(r[7]) for r in table], n, atol=1.0)
    np.testing.assert_allclose([float(r[8]) for r in table], field["lat"], atol=1e-6)
    np.testing.assert_allclose([float(r[9]) for r in table], field["lon"], atol=1e-6)
    # the cover says how many targets the run has and where the full table is
    cover = reader.pages[0].extract_text()
    assert f"{len(csv):,} in the run" in cover and "targets.csv" in cover
    assert f"field.top {field_pdf['field_top']}" in cover


def test_pdf_table_continues_with_page_footers(prospect_run, tmp_path, monkeypatch):
    """A field set longer than a page: the table runs on, every footer counts the pages."""
    import pandas as pd
    from pypdf import PdfReader

    import geo.export.report as report_mod

    run = _copy_run(prospect_run.out_dir, tmp_path / "run")
    n = len(pd.read_csv(run / "targets.csv"))
    # rows as tall as a fifth of the page's body: a handful a page, so the table continues
    monkeypatch.setattr(report_mod, "_TABLE_ROW", (report_mod._PAGE_H - 76) / 5)
    pdf = write_report(run, html_path=False, top=1)["pdf"]
    reader = PdfReader(pdf)
    pages = len(reader.pages)
    assert pages > 3
    assert _footers(reader) == [(i, pages) for i in range(1, pages + 1)]
    continued = [p for p in reader.pages if "Targets (continued)" in p.extract_text()]
    assert continued
    assert "Field notes" in reader.pages[-1].extract_text()
    assert [r[1] for r in _cover_table(reader)] == list(
        pd.read_csv(run / "targets.csv").sort_values("rank")["target_id"]
    )
    assert n > 5


def test_pdf_pages_render(field_pdf, tmp_path):
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 renders the PDF pages")
    from pypdf import PdfReader

    doc = pdfium.PdfDocument(str(field_pdf["pdf"]))
    try:
        assert len(doc) == len(PdfReader(field_pdf["pdf"]).pages)
        for i in range(len(doc)):
            page = doc[i]
            w, h = page.get_size()
            assert abs(w - 595.4) < 1 and abs(h - 841.7) < 1  # A4 portrait, in points
            image = page.render(scale=100 / 72).to_pil().convert("L")
            image.save(tmp_path / f"page{i + 1}.png")
            pixels = np.asarray(image, dtype=float)
            assert pixels.std() > 20, f"page {i + 1} is blank"
            # the footer band holds ink (the "page i of N" line)
            assert pixels[-40:].min() < 128
    finally:
        doc.close()


def test_run_time_adds_the_stages():
    from geo.export.report import _run_time

    stages = {"ingest": 0.31, "masks_indices": 1.45, "export": 1.2, "field_exports": 8.7}
    assert _run_time({"timings_s": stages}).startswith("11.7 s in all (ingest 0.3, ")
    during = {k: v for k, v in stages.items() if k != "field_exports"}
    text = _run_time({"timings_s": during})
    assert text.startswith("3.0 s in all") and "field exports" in text
    assert _run_time({"timings_s": stages, "wall_time_s": 12.25}) == "12.2 s (wall time)"
    assert _run_time({}) == "—"


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from("aeiMWmw0123 .,;:()-_/ABCDEFGHIJKLMNOPQRSTUVWXYZ"), max_size=600
    ),
    size=st.sampled_from([6.5, 7.0, 9.0]),
)
@example(text="i" * 300 + " " + "WW " * 200, size=7.0)  # narrow letters first, then wide
def test_wrapped_caption_lines_fit_their_width(text, size):
    """Captions are wrapped once by their mean character width; every line must still fit."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    from geo.export.report import _wrap_lines

    width = 500.0
    wrapped = _wrap_lines(text, width, size)
    prop = FontProperties(family="DejaVu Sans", size=size)
    for line in wrapped.split("\n"):
        if line.strip():  # (a word longer than a line is broken)
            assert TextPath((0, 0), line, prop=prop).get_extents().width <= width
    assert "".join(wrapped.split()) == "".join(text.split())  # every letter kept, in order


def test_wrapped_caption_fits_even_when_character_widths_underestimate(monkeypatch):
    """The whole measure of the widest line catches what the summed widths miss."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    import geo.export.report as report

    text = "Target point: UTM 35S 412345 E 7654321 N, inside licence PL 123/2019. " * 6
    real = report._char_width
    monkeypatch.setattr(report, "_char_width", lambda c, size: 0.5 * real(c, size))
    wrapped = report._wrap_lines(text, 300.0, 7.0)
    prop = FontProperties(family="DejaVu Sans", size=7.0)
    assert len(wrapped.split("\n")) > 2
    for line in wrapped.split("\n"):
        assert TextPath((0, 0), line, prop=prop).get_extents().width <= 300.0
    assert "".join(wrapped.split()) == "".join(text.split())


def test_pdf_bars_start_at_zero_first_item_on_top():
    from matplotlib.patches import Rectangle

    from geo.export.report import _figure, _pdf_bars

    fig = _figure(8.27, 11.69)
    _pdf_bars(fig, [("faults", 2.0), ("clay", -1.0)], "Evidence", (0.5, 0.2, 0.4, 0.1))
    # span: [-1, 2] widened by a quarter of 3 on each side -> [-1.75, 2.75]; zero at 1.75/4.5
    zero = 0.5 + 1.75 / 4.5 * 0.4
    bars = [a for a in fig.artists if isinstance(a, Rectangle) and a.get_facecolor()[3] > 0]
    assert len(bars) == 2
    top, bottom = sorted(bars, key=lambda r: -r.get_y())
    assert top.get_x() == pytest.approx(zero) and top.get_width() == pytest.approx(2 / 4.5 * 0.4)
    assert bottom.get_x() + bottom.get_width() == pytest.approx(zero)
    assert bottom.get_width() == pytest.approx(1 / 4.5 * 0.4)
    texts = {t.get_text(): t for t in fig.texts}
    assert {"Evidence", "faults", "clay", "+2.00", "-1.00"} <= set(texts)
    assert texts["faults"].get_position()[1] > texts["clay"].get_position()[1]
    assert texts["-1.00"].get_horizontalalignment() == "right"  # left of its bar's end


def test_utm_grid_is_what_a_gps_shows():
    from geo.export.report import _utm_grid

    assert _utm_grid(32635, -2_287_500.0) == ("35S", 10_000_000.0)  # shown 7 712 500
    assert _utm_grid(32735, 7_712_500.0) == ("35S", 0.0)
    assert _utm_grid(32735, 10_100_000.0) == ("35N", -10_000_000.0)
    assert _utm_grid(32633, 4_500_000.0) == ("33N", 0.0)
    assert _utm_grid(3857, 1.0) is None and _utm_grid(None, 1.0) is None


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
    # grid labels are whole metres of the standard zone (positive northings: the scene's
    # north zone plus the 10 000 km false northing) at a round interval, around the target
    fig.canvas.draw()
    xs = [float(t.get_text().replace("−", "-")) for t in ax.get_xticklabels() if t.get_text()]
    ys = [float(t.get_text().replace("−", "-")) for t in ax.get_yticklabels() if t.get_text()]
    assert len(xs) >= 3 and len(ys) >= 3
    step = np.diff(xs)[0]
    assert step in (100, 200, 250, 500, 1000, 2000, 2500)
    assert all(x % step == 0 for x in xs + ys)
    assert min(xs) < first["easting"] < max(xs)
    assert min(ys) > 0 and min(ys) < first["northing"] + 10_000_000 < max(ys)
    assert "UTM 35S" in ax.get_ylabel() and "UTM 35S" in ax.get_xlabel()
    caption = " ".join(t.get_text() for t in fig.texts)
    assert "EPSG:" in caption and "zone 35S" in caption
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"other targets", "licence boundary", "known occurrence", "fault"} <= set(legend)


def test_report_without_targets_or_pictures(empty_report, tmp_path):
    from pypdf import PdfReader

    html = empty_report["paths"]["html"].read_text(encoding="utf-8")
    _assert_offline(html)
    assert "No targets" in html
    assert "prospectivity.png" not in html and "evaluation.png" not in html
    reader = PdfReader(empty_report["paths"]["pdf"])
    assert len(reader.pages) == 1 and "page 1 of 1" in reader.pages[0].extract_text()
    done = _chromium(tmp_path, "--dump-dom", empty_report["paths"]["html"].resolve().as_uri())
    assert re.search(r'<body[^>]*data-ready="1"', done.stdout)
    assert re.search(r'<pre id="js-errors"></pre>', done.stdout)
    assert _page_errors(done.stderr) == []


def test_missing_run_folder_is_named(tmp_path):
    from geo.errors import InputNotFoundError

    with pytest.raises(InputNotFoundError, match=r"manifest\.json"):
        write_report(tmp_path)


class _Page:
    """A template whose page is its pictures and a fixed text (as the report's is)."""

    def __init__(self, text: int) -> None:
        self.text = text

    def render(self, pictures):
        return "x" * self.text + "".join(str(p) for p in pictures)


def _fit(pictures, max_bytes, text=1000):
    from geo.export.report import _fit_pictures

    page = _Page(text)
    total = _fit_pictures(page, {"pictures": pictures}, pictures, [], max_bytes)
    return total, len(page.render(pictures).encode())


def test_sheet_pictures_fit_the_page_by_their_real_size():
    """A draft's size is an estimate; the page is measured again with the PNGs written."""
    import base64
    import io

    from PIL import Image

    from geo.export.report import _Picture

    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (120, 160, 4), dtype=np.uint8)
    noise[..., 3] = 255  # opaque: kept as RGB
    # random pixels: PNG's filters and headers make the PNG larger than the estimate
    drafts = [_Picture(pixels=noise) for _ in range(3)]
    estimate = sum(p.size for p in drafts)
    png = _Picture(pixels=noise)
    png.settle()
    assert png.size > drafts[0].size
    # room for the estimates but not for the PNGs: as many become JPEGs as the page needs
    total, measured = _fit(drafts, 1000 + estimate)
    assert total == measured <= 1000 + estimate
    kinds = [str(p).split(";", 1)[0] for p in drafts]
    assert "data:image/jpeg" in kinds and "data:image/png" in kinds
    # room for the PNGs: kept lossless, the very pixels
    drafts = [_Picture(pixels=noise) for _ in range(3)]
    total, measured = _fit(drafts, 1000 + 3 * png.size)
    assert total == measured == 1000 + 3 * png.size
    for p in drafts:
        data = base64.b64decode(str(p).split(",", 1)[1])
        with Image.open(io.BytesIO(data)) as image:
            assert image.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(image), noise[..., :3])
    # transparent pixels show the picture's background in its JPEG
    clear = rng.integers(0, 256, (40, 40, 4), dtype=np.uint8)
    clear[..., 3] = 0
    dark = _Picture(pixels=clear, background=(30, 30, 30))
    _fit([dark], 1000 + 10)  # cannot fit: every step taken
    assert str(dark).startswith("data:image/jpeg")
    data = base64.b64decode(str(dark).split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        assert np.abs(np.asarray(image).astype(int) - 30).max() <= 2
