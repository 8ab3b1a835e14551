"""Hostile attribute text in every field format: it comes out as text, never as markup or a formula.

A run folder is given licences, targets, zones, occurrences, structures and a manifest whose
text fields carry markup, CDATA terminators, attribute breakers, spreadsheet formulas,
escaped entities, non-ASCII text, control characters and mathtext; every format of
``export_run`` is then read back with a real parser (ElementTree, fastkml, gpxpy, GDAL,
``html.parser``, Chromium, pypdf, the ``csv`` module) and the text must arrive as the same
characters (control characters, which XML 1.0 cannot hold, as U+FFFD).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import warnings
import zipfile
from html.parser import HTMLParser
from xml.etree import ElementTree as ET

import geopandas as gpd
import gpxpy
import numpy as np
import pandas as pd
import pyogrio
import pytest

from geo._text import csv_cell, xml_chars
from geo.export.kml import KML_NS, write_kml, write_kmz
from geo.io.writers import write_csv
from geo.pipeline.export import EXPORT_FORMATS, export_run

pytestmark = pytest.mark.slow
NS = {"k": KML_NS}

PWN_IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
PWN_SCRIPT = "<script>document.body.setAttribute('data-pwned','script')</script>"
CONTROL = "ctl\x01\x0b\x1fend"  # characters XML 1.0 cannot hold
MATH = r"Au $\frac$ $5$"  # mathtext that would stop matplotlib
HOSTILE = [
    "<script>alert(1)</script>",
    "]]><x>",
    '"onmouseover="x',
    '=HYPERLINK("http://evil","x")',
    "=cmd|' /C calc'!A0",
    "@SUM(1)",
    "+1",
    "\t=1",
    "Tom &amp; Jerry",
    "Société Minière d'Étain",
    "矿业",
    CONTROL,
    MATH,
    PWN_IMG,
    PWN_SCRIPT,
    "-12",
]
HOSTILE_COLUMN = "=1+1"  # a column name of the licence file
#: What a cell may start with only when it is a number (OWASP's list, written out here).
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _rotate(values, n, start=0):
    return [values[(start + i) % len(values)] for i in range(n)]


def _xml(text: str) -> str:
    """What an XML reader gets back for ``text`` (control characters as U+FFFD)."""
    return xml_chars(text)


@pytest.fixture(scope="module")
def hostile(prospect_run, tmp_path_factory):
    """A copy of the sample run whose text fields are hostile, exported in every format."""
    run = tmp_path_factory.mktemp("hostile") / "run"
    shutil.copytree(prospect_run.out_dir, run)
    gpkg = run / "targets.gpkg"
    layers = {n: gpd.read_file(gpkg, layer=n) for n in ("licences", "targets", "zones")}
    layers["occurrences"] = gpd.read_file(gpkg, layer="occurrences")
    layers["structures"] = gpd.read_file(gpkg, layer="structures")

    lic = layers["licences"]
    old_ids = list(lic["licence_id"])
    # every licence id is hostile; the first is the rank-1 target's (PDF page 2)
    targets = layers["targets"].sort_values("rank").reset_index(drop=True)
    first = targets["licence_id"].dropna()
    order = sorted(old_ids, key=lambda i: (i != (first.iloc[0] if len(first) else None), i))
    ids = {
        old: new
        for old, new in zip(
            order, ["<script>alert(1)</script>", MATH, "=cmd|' /C calc'!A0", "]]><x>"], strict=False
        )
    }
    lic["licence_id"] = [ids[i] for i in lic["licence_id"]]
    lic["licence_no"] = lic["licence_id"]
    columns = {
        "holder": [CONTROL, '=HYPERLINK("http://evil","x")', PWN_IMG, "Société Minière d'Étain"],
        "status": ["@SUM(1)", "+1", "\t=1", "-12"],
        "commodity": ["Tom &amp; Jerry", "矿业", '"onmouseover="x', PWN_SCRIPT],
        "holder_name": _rotate(HOSTILE, len(lic)),
        "expiry": _rotate(HOSTILE, len(lic), start=8),
        HOSTILE_COLUMN: _rotate(HOSTILE, len(lic), start=3),
    }
    for column, values in columns.items():
        lic[column] = _rotate(values, len(lic))

    t = layers["targets"]
    t["licence_id"] = [ids.get(i) if isinstance(i, str) else None for i in t["licence_id"]]
    holders = ["<script>alert(1)</script>", CONTROL, PWN_IMG, "=cmd|' /C calc'!A0", "\t=1"]
    t["holder"] = _rotate([*holders, "Tom &amp; Jerry", "矿业", MATH], len(t))
    for k, column in enumerate(("licence_status", "licence_flag", "flags", "evidence")):
        t[column] = _rotate(HOSTILE, len(t), start=3 * (k + 1))
    last = t["rank"].idxmax()
    t.loc[last, "target_id"] = 'T"><img src=x onerror="document.body.dataset.pwned=1">'
    zones = layers["zones"]
    zones["kind"] = _rotate(
        ["iron_oxide", CONTROL, "<script>alert(1)</script>", "]]><x>"], len(zones)
    )
    layers["occurrences"]["name"] = _rotate(HOSTILE, len(layers["occurrences"]), start=5)
    layers["structures"]["name"] = _rotate(HOSTILE, len(layers["structures"]), start=7)
    for name, frame in layers.items():
        frame.to_file(gpkg, layer=name, driver="GPKG", engine="pyogrio")  # replaces the layer
    for name in layers:
        layers[name] = gpd.read_file(gpkg, layer=name)  # what the exports read
    write_csv(layers["targets"], run / "targets.csv")  # as `geo run` writes them
    write_csv(layers["licences"], run / "licences.csv")

    manifest = json.loads((run / "manifest.json").read_text())
    manifest["pipeline"]["name"] = "<script>alert(1)</script> ]]>"
    manifest["warnings"] = [PWN_IMG, PWN_SCRIPT, CONTROL, MATH]
    (run / "manifest.json").write_text(json.dumps(manifest))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # glyphs missing for 矿业 in DejaVu
        written = export_run(run, EXPORT_FORMATS)
    return {"run": run, "written": written, **layers}


def test_hostile_values_reach_the_layers(hostile):
    """The fixture did what it says: hostile text is in the GeoPackage the exports read."""
    assert "<script>alert(1)</script>" in set(hostile["licences"]["licence_id"])
    assert CONTROL in set(hostile["licences"]["holder"]) | set(hostile["targets"]["holder"])
    assert HOSTILE_COLUMN in hostile["licences"].columns
    assert set(hostile["written"]) == set(EXPORT_FORMATS)


# --------------------------------------------------------------------------- CSV


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _assert_no_formula(rows: list[list[str]], where: str) -> None:
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell and not _is_number(cell):
                assert not cell.startswith(TRIGGERS), f"{where} row {r} col {c}: {cell!r}"


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("targets.csv", "utf-8"),
        ("licences.csv", "utf-8"),
        ("exports/targets_field.csv", "utf-8-sig"),
    ],
)
def test_csv_cells_are_text_not_formulas(hostile, name, encoding):
    path = hostile["run"] / name
    raw = path.read_bytes()
    if name.endswith("field.csv"):
        assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = _csv_rows(raw.decode(encoding))
    _assert_no_formula(rows, name)
    header, body = rows[0], rows[1:]
    source = hostile["licences"] if name == "licences.csv" else hostile["targets"]
    columns = ["holder"] if name == "licences.csv" else ["holder", "licence_status", "flags"]
    for column in columns:
        got = [row[header.index(column)] for row in body]
        want = [csv_cell(v) for v in source[column]]
        if name.endswith("field.csv"):  # sorted by rank
            want = [csv_cell(v) for v in source.sort_values("rank")[column]]
        assert sorted(got) == sorted(want), column
        for value in want:  # the quote is added, nothing else changes
            if value.startswith("'"):
                assert value[1:].startswith(TRIGGERS)
    # numbers stay numbers: negative northings are written as they are, unquoted
    if "northing" in header:
        northings = [row[header.index("northing")] for row in body]
        assert all(_is_number(v) and float(v) < 0 for v in northings)
    if name == "licences.csv":
        assert "'" + HOSTILE_COLUMN in header  # a column name is a cell too
        assert all(_is_number(row[header.index("n_targets")]) for row in body)


def test_shapefile_catalogue_csv_is_not_a_formula(hostile):
    with zipfile.ZipFile(hostile["run"] / "exports" / "targets_shp.zip") as archive:
        rows = _csv_rows(archive.read("fields.csv").decode("utf-8"))
    _assert_no_formula(rows, "fields.csv")
    full_names = [row[2] for row in rows[1:] if row[0] == "licences"]
    assert "'" + HOSTILE_COLUMN in full_names
    shp = pyogrio.read_dataframe(
        f"/vsizip/{hostile['run'] / 'exports' / 'targets_shp.zip'}/licences.shp"
    )
    assert sorted(shp["holder"]) == sorted(hostile["licences"]["holder"])  # data, as it is


def test_write_csv_neutralises_text_and_keeps_numbers(tmp_path):
    frame = pd.DataFrame(
        {
            "licence_id": ["-12", "=1+1", "PL 1", None],
            "mixed": pd.array([-3.5, "@x", None, 7], dtype=object),
            "northing": [-2374575.0, -1.0, 0.0, 2.5],
            "n": [-1, 0, 1, 2],
            "ok": [True, False, True, False],
        }
    )
    write_csv(frame, tmp_path / "t.csv")
    rows = _csv_rows((tmp_path / "t.csv").read_text(encoding="utf-8"))
    assert rows[0] == ["licence_id", "mixed", "northing", "n", "ok"]
    assert [r[0] for r in rows[1:]] == ["'-12", "'=1+1", "PL 1", ""]
    assert [r[1] for r in rows[1:]] == ["-3.5", "'@x", "", "7"]  # numbers in text columns too
    assert [r[2] for r in rows[1:]] == ["-2374575.0", "-1.0", "0.0", "2.5"]
    assert [r[3] for r in rows[1:]] == ["-1", "0", "1", "2"]
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["northing"].dtype == float and back["n"].dtype == np.int64


# --------------------------------------------------------------------------- HTML fragments


class _Html(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML document or fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
        else:
            self.text.append(data)


def _parse_html(text: str) -> _Html:
    parser = _Html()
    parser.feed(text)
    parser.close()
    return parser


def _assert_inert(page: _Html, allowed: set[str], where: str) -> None:
    """No element or attribute came from the data: only ``allowed`` tags, no ``on*`` handler."""
    tags = {tag for tag, _ in page.tags}
    assert tags <= allowed, f"{where}: unexpected elements {tags - allowed}"
    for tag, attrs in page.tags:
        handlers = [a for a in attrs if a.lower().startswith("on")]
        assert not handlers, f"{where}: <{tag}> has {handlers}"


# --------------------------------------------------------------------------- KML / KMZ


def _kml_documents(run):
    yield "kml", (run / "exports" / "targets.kml").read_bytes()
    with zipfile.ZipFile(run / "exports" / "targets.kmz") as archive:
        yield "kmz", archive.read("doc.kml")


def _folder(root, name):
    for folder in root.iter(f"{{{KML_NS}}}Folder"):
        if folder.findtext("k:name", namespaces=NS) == name:
            return folder
    raise AssertionError(f"no folder {name!r}")


BALLOON_TAGS = {"h3", "table", "tr", "th", "td"}


def test_kml_and_kmz_show_hostile_text_as_text(hostile):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lxml missing, pretty print disabled"
        from fastkml import KML

    licences = hostile["licences"]
    for kind, data in _kml_documents(hostile["run"]):
        root = ET.fromstring(data)  # well-formed XML, control characters and all
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert KML.from_string(data).features  # fastkml reads it
        placemarks = _folder(root, "Licences").findall("k:Placemark", NS)
        assert sorted(p.findtext("k:name", namespaces=NS) for p in placemarks) == sorted(
            _xml(v) for v in licences["licence_id"]
        )
        for pm in placemarks:
            name = pm.findtext("k:name", namespaces=NS)
            row = licences[[_xml(v) == name for v in licences["licence_id"]]].iloc[0]
            data_values = {
                d.get("name"): d.findtext("k:value", default="", namespaces=NS)
                for d in pm.findall("k:ExtendedData/k:Data", NS)
            }
            assert data_values["holder"] == _xml(row["holder"]).strip()
            # the description is HTML: parsed, it is a plain table whose text is the value
            balloon = _parse_html(pm.findtext("k:description", namespaces=NS))
            _assert_inert(balloon, BALLOON_TAGS, f"{kind} licence {name!r}")
            text = "".join(balloon.text)
            for column in ("licence_id", "holder", "status", "commodity"):
                assert _xml(row[column]).strip() in text, (kind, column)
            assert not balloon.scripts
        by_id = {p.get("id"): p for p in _folder(root, "Targets").findall("k:Placemark", NS)}
        for _, row in hostile["targets"].iterrows():
            pm = by_id[f"target-{row['target_id']}"]
            balloon = _parse_html(pm.findtext("k:description", namespaces=NS))
            _assert_inert(balloon, BALLOON_TAGS, f"{kind} target {row['target_id']!r}")
            text = "".join(balloon.text)
            assert _xml(row["holder"]).strip() in text
            assert row["target_id"] in text
        for pm in root.iter(f"{{{KML_NS}}}Placemark"):  # every other balloon: no markup at all
            desc = pm.findtext("k:description", default="", namespaces=NS)
            _assert_inert(_parse_html(desc), BALLOON_TAGS, f"{kind} placemark")
        # every style shows only the escaped description in its balloon
        for style in root.iter(f"{{{KML_NS}}}Style"):
            assert style.findtext("k:BalloonStyle/k:text", namespaces=NS) == "$[description]"
        doc_name = root.find("k:Document/k:name", NS).text
        assert doc_name.startswith("<script>alert(1)</script> ]]>")  # the title, as text


def test_kml_reads_with_gdal(hostile):
    kml = hostile["run"] / "exports" / "targets.kml"
    back = pyogrio.read_dataframe(kml, layer="Licences")
    assert sorted(back["holder"]) == sorted(_xml(v).strip() for v in hostile["licences"]["holder"])


# --------------------------------------------------------------------------- GPX


def test_gpx_text_is_text(hostile):
    text = (hostile["run"] / "exports" / "targets.gpx").read_text(encoding="utf-8")
    ET.fromstring(text.encode("utf-8"))
    gpx = gpxpy.parse(text)
    targets = hostile["targets"].sort_values("rank")
    assert len(gpx.waypoints) == len(targets)
    for wpt, (_, row) in zip(gpx.waypoints, targets.iterrows(), strict=True):
        if isinstance(row["licence_id"], str):
            assert _xml(row["licence_id"]) in wpt.description
            assert _xml(row["holder"]).strip() in wpt.description
        assert re.fullmatch(r"[ -~]+", wpt.name)  # ASCII a GPS can show
    assert "\x01" not in text and "\ufffd" in text


# --------------------------------------------------------------------------- QGIS styles


def test_qgis_styles_parse_and_keep_category_text(hostile):
    run = hostile["run"]
    with sqlite3.connect(run / "targets.gpkg") as con:
        styles = dict(con.execute("SELECT f_table_name, styleQML FROM layer_styles"))
    for layer, qml in styles.items():
        root = ET.fromstring(qml.split("\n", 1)[1])  # after the DOCTYPE line
        assert root.tag == "qgis", layer
    zones = ET.fromstring(styles["zones"].split("\n", 1)[1])
    values = [c.get("value") for c in zones.find("renderer-v2/categories")]
    assert sorted(values) == sorted({_xml(k) for k in hostile["zones"]["kind"]})
    for qml in (run / "rasters").glob("*.qml"):
        ET.parse(qml)


# --------------------------------------------------------------------------- HTML report

REPORT_TAGS = {
    "html", "head", "meta", "title", "script", "style", "body", "header", "h1", "h2", "h3",
    "p", "nav", "a", "pre", "section", "div", "table", "caption", "tr", "th", "td", "ul",
    "li", "figure", "img", "figcaption", "button", "svg", "rect", "image", "g", "path",
    "text", "aside", "span", "i", "thead", "tbody",
}  # fmt: skip


def test_html_report_shows_hostile_text_as_text(hostile):
    html = (hostile["run"] / "report.html").read_text(encoding="utf-8")
    page = _parse_html(html)
    _assert_inert(page, REPORT_TAGS, "report.html")
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == 3  # the error catcher, the JSON data and the page's code
    assert scripts[1] == {"id": "geo-data", "type": "application/json"}
    for tag, attrs in page.tags:
        if tag in ("img", "image"):
            assert (attrs.get("src") or attrs.get("href")).startswith(
                ("data:image/png;base64,", "data:image/jpeg;base64,")
            )
    text = "".join(page.text)
    for value in hostile["licences"]["licence_id"]:
        assert _xml(value) in text  # in the map's labels and tooltips
    for value in (PWN_IMG, PWN_SCRIPT, CONTROL):  # warnings
        assert _xml(value) in text
    assert "\x01" not in html and f"<li>{_xml(CONTROL)}</li>" in html
    assert "<script>alert(1)</script> ]]>" in text  # the pipeline name
    for tid in hostile["targets"]["target_id"]:
        assert tid in text
    # the inline JSON holds the values as data, with no '<' that could end the script
    data_text = page.scripts[1]
    assert "<" not in data_text and "\\u003c" in data_text
    data = json.loads(data_text)
    holders = {info["holder"] for info in data["info"].values()}
    assert holders == {_xml(v) for v in hostile["targets"]["holder"]}


def _dump_dom(tmp_path, url: str):
    """Run headless Chromium on ``url``; return (DOM after the scripts ran, stderr)."""
    import shutil
    import subprocess
    from pathlib import Path

    # the browser itself: Debian's `chromium` wrapper script fails when /etc/chromium.d is
    # absent, and adds nothing a headless run needs
    binary = Path("/usr/lib/chromium/chromium")
    exe = str(binary) if binary.is_file() else shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
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
        "--dump-dom",
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout, done.stderr


def test_html_report_runs_no_injected_code_in_chromium(hostile, tmp_path):
    from geo.export.report import render_html

    # the self-test selects a target: its info panel is built from the hostile values
    page = tmp_path / "self_test.html"
    page.write_text(render_html(hostile["run"], top=2, self_test=True), encoding="utf-8")
    doms = []
    for url in (page.as_uri(), (hostile["run"] / "report.html").resolve().as_uri()):
        dom, stderr = _dump_dom(tmp_path, url)
        body = re.search(r"<body[^>]*>", dom)
        assert body and 'data-ready="1"' in body.group(0), stderr[-2000:]
        assert "pwned" not in body.group(0)  # neither an img onerror nor a script ran
        assert re.search(r'<pre id="js-errors"></pre>', dom)
        assert not [line for line in stderr.splitlines() if "Uncaught" in line]
        doms.append(dom)
    match = re.search(r'<pre id="self-test">(.*?)</pre>', doms[0], re.S)
    assert match and match.group(1) and not match.group(1).startswith("failed")
    assert re.search(r'<div id="info-body"><h3>', doms[0])  # the info panel was filled


# --------------------------------------------------------------------------- PDF


def test_pdf_shows_hostile_text_as_text(hostile):
    from pypdf import PdfReader

    reader = PdfReader(hostile["run"] / "report.pdf")
    first = hostile["targets"].sort_values("rank").iloc[0]
    assert first["licence_id"] == "<script>alert(1)</script>"
    page = reader.pages[1].extract_text()
    assert "<script>alert(1)</script>" in page  # drawn as the characters it is
    summary = reader.pages[0].extract_text()
    assert "$\\frac$ $5$" in summary  # a warning: mathtext drawn as text


# --------------------------------------------------------------------------- GeoJSON


def test_geojson_properties_are_the_values(hostile):
    data = json.loads((hostile["run"] / "exports" / "targets.geojson").read_text("utf-8"))
    holders = sorted(f["properties"]["holder"] for f in data["features"])
    assert holders == sorted(hostile["targets"]["holder"])


# --------------------------------------------------------------------------- writers, in memory


def test_writers_survive_nul_and_lone_surrogates(prospect_run, tmp_path):
    """Text GDAL cannot store (NUL) or UTF-8 cannot encode (a lone surrogate) still gives XML."""
    from geo.export.gpx import write_gpx
    from geo.export.qgis import raster_style_qml, zone_style_qml

    bad = "Acme\x00Mining\ud800 \x08Ltd"
    targets = prospect_run.targets.copy()
    targets["holder"] = bad
    targets["licence_id"] = targets["licence_id"].where(targets["licence_id"].isna(), bad)
    licences = prospect_run.licences.copy()
    licences["holder"] = bad
    licences["licence_id"] = [f"{bad} {i}" for i in range(len(licences))]
    kml = write_kml(tmp_path / "t.kml", targets, licences=licences, title=bad)
    kmz = write_kmz(tmp_path / "t.kmz", targets, licences=licences, title=bad)
    gpx = write_gpx(tmp_path / "t.gpx", targets, creator=bad)
    clean = xml_chars(bad)
    assert clean == "Acme\ufffdMining\ufffd \ufffdLtd"
    root = ET.parse(kml).getroot()
    assert root.find("k:Document/k:name", NS).text == clean
    holders = {d.text for d in root.iter(f"{{{KML_NS}}}value")}
    assert clean in holders
    with zipfile.ZipFile(kmz) as archive:
        ET.fromstring(archive.read("doc.kml"))
    waypoints = gpxpy.parse(gpx.read_text("utf-8")).waypoints
    assert any(clean in w.description for w in waypoints)
    ET.fromstring(zone_style_qml([bad, "<x>"]).split("\n", 1)[1])
    ET.fromstring(raster_style_qml(f"classes{bad}", classes=[1, 2]).split("\n", 1)[1])


def test_maps_draw_mathtext_as_text():
    """A ``$`` in a licence id is drawn as a dollar, never parsed as mathtext."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from shapely.geometry import box

    from geo.export.quicklook import _overlay

    licences = gpd.GeoDataFrame(
        {"licence_id": [MATH, r"$\undefinedmacro$", None]},
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10)],
        crs="EPSG:32635",
    )
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    _overlay(ax, [], None, licences, None, None, 15, bounds=(0, 0, 30, 10))
    fig.savefig(io.BytesIO(), format="png")  # a mathtext parse error would raise here
    labels = [t.get_text() for t in ax.texts]
    assert r"Au \$\frac\$ \$5\$" in labels


# --------------------------------------------------------------------------- many licences


def test_many_licences_are_counted_not_drawn_one_by_one(prospect_run, tmp_path, monkeypatch):
    """A fine cadastre: only the licences that matter become placemarks and SVG paths."""
    import rasterio
    from shapely import box

    from geo.export._common import licence_relevance
    from geo.export.report import MAX_MAP_LICENCES

    run = tmp_path / "run"
    shutil.copytree(prospect_run.out_dir, run)
    gpkg = run / "targets.gpkg"
    own = gpd.read_file(gpkg, layer="licences")
    with rasterio.open(run / "rasters" / "true_colour.tif") as src:
        b = src.bounds
    n, pitch, size = 60, 400.0, 200.0  # 3,600 squares over 24 km: past the scene's 18 km
    x0 = (b.left + b.right) / 2 - n * pitch / 2
    y0 = (b.bottom + b.top) / 2 - n * pitch / 2
    xs, ys = (a.ravel() for a in np.meshgrid(x0 + np.arange(n) * pitch, y0 + np.arange(n) * pitch))
    inside = (xs >= b.left) & (xs + size <= b.right) & (ys >= b.bottom) & (ys + size <= b.top)
    grid = gpd.GeoDataFrame(
        {
            "licence_id": [f"EL {i:04d}" for i in range(len(xs))],
            "holder": '=HYPERLINK("http://evil","x")',
            "status": "granted",
            "n_targets": 0,
            "imaged_pct": np.where(inside, 100.0, 0.0),
        },
        geometry=box(xs, ys, xs + size, ys + size),
        crs=own.crs,
    )
    many = gpd.GeoDataFrame(pd.concat([own, grid], ignore_index=True), crs=own.crs)
    many.to_file(gpkg, layer="licences", driver="GPKG", engine="pyogrio")
    import geo.export.kml as kml

    monkeypatch.setattr(kml, "MAX_KML_LICENCES", len(many))  # first, all that meet the scene
    export_run(run, ["kml", "html", "pdf"])

    targets = gpd.read_file(gpkg, layer="targets")
    relevance = licence_relevance(many, targets)
    counts = relevance.counts()
    assert 0 < counts["left_out"] and counts["meet_scene"] > MAX_MAP_LICENCES
    root = ET.parse(run / "exports" / "targets.kml").getroot()
    folder = _folder(root, "Licences")
    assert len(folder.findall("k:Placemark", NS)) == int(relevance.in_play.sum())
    assert f"{counts['left_out']} licences are left out" in folder.findtext(
        "k:description", namespaces=NS
    )
    html = (run / "report.html").read_text(encoding="utf-8")
    drawn = re.findall(r'<path d="[^"]*" class="licence">', html)
    assert 0 < len(drawn) <= counts["hold_targets"] + len(own)
    assert html.count('class="licence-picture"') == 1  # the others, as one picture
    assert f"{len(many):,} in the licence layer" in html
    assert (run / "report.html").stat().st_size < 6_000_000
    assert (run / "report.pdf").stat().st_size > 0

    # more licences meet the scene than Google Earth shows comfortably: the target holders
    monkeypatch.setattr(kml, "MAX_KML_LICENCES", counts["meet_scene"] - 1)
    export_run(run, ["kml", "shp"])
    folder = _folder(ET.parse(run / "exports" / "targets.kml").getroot(), "Licences")
    assert len(folder.findall("k:Placemark", NS)) == counts["hold_targets"]
    assert "all are in the run's targets.gpkg" in folder.findtext("k:description", namespaces=NS)
    with zipfile.ZipFile(run / "exports" / "targets_shp.zip") as archive:
        archive.extractall(tmp_path / "shp")
    in_shp = gpd.read_file(tmp_path / "shp" / "licences.shp")
    assert len(in_shp) == int(relevance.in_play.sum()) < len(many)
