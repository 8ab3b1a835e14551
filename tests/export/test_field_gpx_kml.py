"""Field files agree with the target table: one id everywhere, offline icons, a route from camp.

A small target table in UTM 35S (EPSG:32735) is written as GPX, KML and KMZ and read back
with each format's own readers (gpxpy; fastkml; GDAL through geopandas, and ``/vsizip/``
for the KMZ). Expected longitudes and latitudes come from pyproj directly, not from the
code under test.
"""

from __future__ import annotations

import io
import math
import re
import warnings
import zipfile
from xml.etree import ElementTree as ET

import geopandas as gpd
import gpxpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Point, Polygon, box

from geo.errors import InvalidParameterError
from geo.export.gpx import path_length, visit_order, write_gpx
from geo.export.kml import ICON_HREFS, ICON_PX, KML_NS, OVERLAY_HREF, write_kml, write_kmz

NS = {"k": KML_NS}
EPSG = 32735
HOSTILE = "<b>PL&1</b>\x07"
HOSTILE_READ = "<b>PL&1</b>\ufffd"  # the bell cannot be in XML 1.0: U+FFFD stands in
TO_WGS84 = Transformer.from_crs(f"EPSG:{EPSG}", "EPSG:4326", always_xy=True)
TO_UTM = Transformer.from_crs("EPSG:4326", f"EPSG:{EPSG}", always_xy=True)


def _fastkml():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lxml missing, pretty print disabled"
        from fastkml import KML
    return KML


def _table(points, licences, ranks=None) -> gpd.GeoDataFrame:
    """Targets at ``points`` (easting, northing in EPSG:32735), 200 m squares around them."""
    n = len(points)
    ranks = list(range(1, n + 1)) if ranks is None else ranks
    geoms = []
    for i, (x, y) in enumerate(points):
        square = box(x - 100, y - 100, x + 100, y + 100)
        if i == 1:  # one with a hole
            square = Polygon(
                square.exterior.coords, [box(x - 20, y - 20, x + 20, y + 20).exterior.coords]
            )
        if i == 2:  # one in two parts
            square = MultiPolygon([square, box(x + 150, y - 50, x + 250, y + 50)])
        geoms.append(square)
    return gpd.GeoDataFrame(
        {
            "target_id": [f"T{r:03d}" for r in ranks],
            "rank": ranks,
            "score": [round(1 - 0.1 * r, 3) for r in ranks],
            "licence_id": licences,
            "holder": ["<script>alert(1)</script> & Co"] * n,
            "area_ha": [4.0] * n,
            "evidence": ["iron oxide =HYPERLINK(1)"] * n,
            "easting": [float(x) for x, _ in points],
            "northing": [float(y) for _, y in points],
            "epsg": [EPSG] * n,
        },
        geometry=geoms,
        crs=f"EPSG:{EPSG}",
    )


@pytest.fixture(scope="module")
def targets() -> gpd.GeoDataFrame:
    points = [(554850, 7625560), (556120, 7624010), (553300, 7626900), (557480, 7627250)]
    return _table(points, ["PL 012/2021", HOSTILE, None, "Licença de Prospecção 0042/2019"])


@pytest.fixture(scope="module")
def occurrences(targets) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["Old shaft <i>"], "commodity": ["Cu"], "type": ["mine"]},
        geometry=[Point(555500, 7625000)],
        crs=targets.crs,
    )


@pytest.fixture(scope="module")
def overlay(targets):
    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (200, 120, 60, 255)).save(buf, format="PNG")
    x0, y0, x1, y1 = targets.total_bounds
    corners = [TO_WGS84.transform(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    return buf.getvalue(), corners


@pytest.fixture(scope="module")
def files(targets, occurrences, overlay, tmp_path_factory):
    out = tmp_path_factory.mktemp("field")
    return {
        "gpx": write_gpx(out / "t.gpx", targets, route_top=3),
        "kml": write_kml(out / "t.kml", targets, occurrences=occurrences),
        "kmz": write_kmz(out / "t.kmz", targets, occurrences=occurrences, overlay=overlay),
    }


def _expected(targets) -> dict[str, tuple[float, float]]:
    lon, lat = TO_WGS84.transform(targets["easting"].to_numpy(), targets["northing"].to_numpy())
    return {t: (x, y) for t, x, y in zip(targets["target_id"], lon, lat, strict=True)}


def _agree(got: dict[str, tuple[float, float]], expected: dict[str, tuple[float, float]]) -> None:
    assert set(got) == set(expected)
    for tid, (lon, lat) in got.items():
        assert lon == pytest.approx(expected[tid][0], abs=1e-6), tid
        assert lat == pytest.approx(expected[tid][1], abs=1e-6), tid


def _kmz_doc(path) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.read("doc.kml").decode("utf-8")


# --------------------------------------------------------------------------- one id


def test_every_file_names_targets_by_their_id_at_their_coordinates(files, targets):
    expected = _expected(targets)

    gpx = gpxpy.parse(files["gpx"].read_text(encoding="utf-8"))
    _agree({w.name.split(" ")[0]: (w.longitude, w.latitude) for w in gpx.waypoints}, expected)
    # the id first, the licence in short only when the whole name fits 14 characters
    assert [w.name for w in gpx.waypoints] == [
        "T001 PL012/21",
        "T002 bPL1/b",
        "T003 no lic",
        "T004",
    ]
    by_name = {w.name: w for w in gpx.waypoints}
    assert "Licença de Prospecção 0042/2019" in by_name["T004"].description  # full licence
    assert by_name["T001 PL012/21"].comment.startswith("score 0.90, PL 012/2021, E 554850 ")
    (route,) = gpx.routes
    assert route.points[0].name == "T001 PL012/21"  # no start: rank 1 first
    assert {p.name.split(" ")[0] for p in route.points} == {"T001", "T002", "T003"}
    _agree(
        {p.name.split(" ")[0]: (p.longitude, p.latitude) for p in route.points},
        {t: expected[t] for t in ("T001", "T002", "T003")},
    )

    for kind in ("kml", "kmz"):
        text = files["kml"].read_text("utf-8") if kind == "kml" else _kmz_doc(files["kmz"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = _fastkml().from_string(text).features[0]
        folders = {f.name: f for f in doc.features if hasattr(f, "features")}
        points = folders["Targets"].features
        _agree({p.name: (p.geometry.x, p.geometry.y) for p in points}, expected)
        assert {p.id for p in points} == {f"target-{t}" for t in expected}
        assert {p.name for p in folders["Target outlines"].features} == set(expected)

    # GDAL: the KML file, and the KMZ through /vsizip/
    for source in (files["kml"], f"/vsizip/{files['kmz']}/doc.kml"):
        back = gpd.read_file(source, layer="Targets")
        _agree({n: (g.x, g.y) for n, g in zip(back["Name"], back.geometry, strict=True)}, expected)
        assert sorted(back["target_id"]) == sorted(expected)  # ExtendedData agrees
        outlines = gpd.read_file(source, layer="Target outlines")
        assert sorted(outlines["Name"]) == sorted(expected)
        licences = dict(zip(outlines["Name"], outlines["licence_id"], strict=True))
        assert licences["T002"] == HOSTILE_READ


def test_hostile_licence_comes_out_as_text(files, targets):
    gpx_text = files["gpx"].read_text(encoding="utf-8")
    ET.fromstring(gpx_text.encode("utf-8"))  # well-formed
    assert "\x07" not in gpx_text and "<b>" not in gpx_text and "<script>" not in gpx_text
    assert "&lt;b&gt;PL&amp;1&lt;/b&gt;" in gpx_text
    gpx = gpxpy.parse(gpx_text)
    hostile = next(w for w in gpx.waypoints if w.name.startswith("T002"))
    assert HOSTILE_READ in hostile.description  # the exact text, read back
    assert re.fullmatch(r"[ -~]+", hostile.name) and re.fullmatch(r"[ -~]+", hostile.comment)
    assert "<b>PL&1</b>," in hostile.comment  # printable ASCII; the bell dropped

    for text in (files["kml"].read_text("utf-8"), _kmz_doc(files["kmz"])):
        assert "\x07" not in text
        root = ET.fromstring(text.encode("utf-8"))
        for pm in root.iter(f"{{{KML_NS}}}Placemark"):
            if pm.findtext("k:name", namespaces=NS) != "T002":
                continue
            data = {
                d.get("name"): d.findtext("k:value", default="", namespaces=NS)
                for d in pm.findall("k:ExtendedData/k:Data", NS)
            }
            assert data["licence_id"] == HOSTILE_READ  # plain text, escaped once
            desc = pm.findtext("k:description", namespaces=NS)  # HTML: escaped
            assert "&lt;b&gt;PL&amp;1&lt;/b&gt;" in desc and "<b>" not in desc
            assert "<script>" not in desc
        # no markup of the licence or holder anywhere outside escaped text
        assert "<b>" not in text.replace("<![CDATA[", "") and "<script>" not in text


# --------------------------------------------------------------------------- icons


def _without_namespaces(text: str) -> str:
    return re.sub(r'\sxmlns(?::\w+)?="[^"]*"', "", text)


def test_kmz_carries_its_icons_and_nothing_refers_to_the_web(files):
    kml_text = files["kml"].read_text("utf-8")
    with zipfile.ZipFile(files["kmz"]) as zf:
        members = set(zf.namelist())
        doc = zf.read("doc.kml").decode("utf-8")
        pictures = {name: zf.read(name) for name in ICON_HREFS.values()}
    for text in (kml_text, doc):
        assert "http" not in _without_namespaces(text)
        assert "maps.google.com" not in text

    hrefs = [h.text for h in ET.fromstring(doc.encode()).iter(f"{{{KML_NS}}}href")]
    assert set(hrefs) == {*ICON_HREFS.values(), OVERLAY_HREF}
    assert all(h in members for h in hrefs)  # every href resolves inside the zip
    for name, png in pictures.items():
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.mode == "RGBA", name
        assert image.size == (ICON_PX, ICON_PX)
        alpha = np.asarray(image)[..., 3]
        assert alpha[0, 0] == 0 and alpha[ICON_PX // 2, ICON_PX // 2] == 255  # symbol on clear

    root = ET.fromstring(doc.encode())
    for cls in ("top", "high", "other"):
        style = root.find(f".//k:Style[@id='target-{cls}']/k:IconStyle", NS)
        assert style.findtext("k:Icon/k:href", namespaces=NS) == f"files/target_{cls}.png"
    star = root.find(".//k:Style[@id='occurrence']/k:IconStyle", NS)
    assert star.findtext("k:Icon/k:href", namespaces=NS) == "files/occurrence.png"

    # a plain KML: no Icon at all, the default pin tinted by the style colour
    plain = ET.fromstring(kml_text.encode())
    assert list(plain.iter(f"{{{KML_NS}}}Icon")) == []
    top = plain.find(".//k:Style[@id='target-top']/k:IconStyle", NS)
    assert top.findtext("k:color", namespaces=NS) == "ff0000ff"


# --------------------------------------------------------------------------- route


LINE = [(550000, 7620000), (551000, 7620000), (552000, 7620000), (553000, 7620000)]
LINE_RANKS = [3, 1, 4, 2]  # the best target is second from the west


def _lonlat(x, y):
    return TO_WGS84.transform(x, y)


def _route(tmp_path, start, **kwargs):
    table = _table(LINE, ["PL 1"] * 4, ranks=LINE_RANKS)
    out = write_gpx(tmp_path / "r.gpx", table, route_top=4, start=start, **kwargs)
    return gpxpy.parse(out.read_text(encoding="utf-8"))


def test_route_walks_from_the_start(tmp_path):
    west = _lonlat(549000, 7620000)
    gpx = _route(tmp_path, west, start_name="CAMP")
    (route,) = gpx.routes
    assert [p.name for p in route.points] == [
        "CAMP",
        "T003 PL1",
        "T001 PL1",
        "T004 PL1",
        "T002 PL1",
    ]  # west to east
    assert (route.points[0].longitude, route.points[0].latitude) == pytest.approx(west, abs=1e-8)
    camp = gpx.waypoints[-1]
    assert camp.name == "CAMP" and camp.symbol == "Trail Head"
    assert (camp.longitude, camp.latitude) == pytest.approx(west, abs=1e-8)
    assert "E 549000 N 7620000 35S" in camp.comment
    assert len(gpx.waypoints) == 5
    assert "from CAMP" in route.description
    assert "4.00 km" in route.description  # 1 km from camp, then 3 km along the line
    assert gpx.bounds.min_longitude == pytest.approx(west[0])

    east = _lonlat(560000, 7620000)
    (route,) = _route(tmp_path, east).routes
    assert [p.name for p in route.points] == [
        "START",
        "T002 PL1",
        "T004 PL1",
        "T001 PL1",
        "T003 PL1",
    ]
    assert "10.00 km" in route.description  # 7 km to the line, then 3 km

    # without a start the route begins at rank 1, as before: then the shorter side first
    (route,) = _route(tmp_path, None).routes
    assert [p.name for p in route.points] == ["T001 PL1", "T003 PL1", "T004 PL1", "T002 PL1"]
    assert all(w.name != "START" for w in _route(tmp_path, None).waypoints)


@pytest.mark.parametrize(
    "start",
    [
        (200.0, -21.0),
        (27.5, -95.0),
        (float("nan"), -21.0),
        (27.5, float("inf")),
        "27.5,-21",
        (27.5,),
        (27.5, -21.0, 0.0),
        (True, -21.0),
        ("27.5", "-21"),
        27.5,
    ],
)
def test_bad_start_is_one_clear_line(tmp_path, start):
    with pytest.raises(InvalidParameterError, match="'start'") as err:
        _route(tmp_path, start)
    assert "\n" not in str(err.value) and "lon" in str(err.value)
    assert not (tmp_path / "r.gpx").exists()


@pytest.mark.parametrize("name", ["", " CAMP", "C" * 15, "ÇAMP", "CAMP\n", 7, "T001 PL1"])
def test_bad_start_name(tmp_path, name):
    with pytest.raises(InvalidParameterError, match="start_name") as err:
        _route(tmp_path, _lonlat(549000, 7620000), start_name=name)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "r.gpx").exists()


def test_start_with_targets_in_a_geographic_crs(tmp_path):
    """Targets given in degrees: the route is computed in their UTM zone, in metres."""
    lon, lat = TO_WGS84.transform([x for x, _ in LINE], [y for _, y in LINE])
    table = _table(LINE, ["PL 1"] * 4, ranks=LINE_RANKS).to_crs("EPSG:4326")
    table["easting"], table["northing"], table["epsg"] = lon, lat, 4326
    out = write_gpx(tmp_path / "g.gpx", table, route_top=4, start=_lonlat(560000, 7620000))
    (route,) = gpxpy.parse(out.read_text()).routes
    assert [p.name for p in route.points] == [
        "START",
        "T002 PL1",
        "T004 PL1",
        "T001 PL1",
        "T003 PL1",
    ]
    assert "EPSG:32735" in route.description


# --------------------------------------------------------------------------- 2-opt


def _nearest_neighbour(xy: np.ndarray) -> list[int]:
    """Nearest neighbour from point 0, lower index on ties (the same distances as the code)."""
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    order, seen = [0], np.zeros(len(xy), dtype=bool)
    seen[0] = True
    for _ in range(len(xy) - 1):
        nxt = int(np.argmin(np.where(seen, np.inf, dist[order[-1]])))
        order.append(nxt)
        seen[nxt] = True
    return order


coordinates = st.floats(min_value=0, max_value=10_000, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(coordinates, coordinates), min_size=1, max_size=12))
def test_two_opt_is_never_longer_than_nearest_neighbour(points):
    xy = np.array(points, dtype=float)
    order = visit_order(xy, start=0)
    assert order[0] == 0 and sorted(order) == list(range(len(xy)))
    length = path_length(xy, order)
    scale = max(1.0, float(np.abs(xy).max()))
    assert length <= path_length(xy, _nearest_neighbour(xy)) + 1e-9 * scale * len(xy)
    # and no single reversal (the first point fixed) shortens it any more
    for i in range(1, len(order) - 1):
        for j in range(i + 1, len(order)):
            other = order[:i] + order[i : j + 1][::-1] + order[j + 1 :]
            assert path_length(xy, other) >= length - 1e-6 * scale


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-5_000, 5_000), st.integers(-5_000, 5_000)),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    st.tuples(st.integers(-8_000, 8_000), st.integers(-8_000, 8_000)),
)
def test_gpx_route_from_a_start_is_short(tmp_path_factory, offsets, start):
    """The written route: start first, every target once, no longer than nearest neighbour."""
    points = [(555_000 + dx, 7_625_000 + dy) for dx, dy in offsets]
    table = _table(points, [None] * len(points))
    sx, sy = 555_000 + start[0], 7_625_000 + start[1]
    out = write_gpx(
        tmp_path_factory.mktemp("p") / "p.gpx",
        table,
        route_top=len(points),
        start=_lonlat(sx, sy),
    )
    (route,) = gpxpy.parse(out.read_text()).routes
    names = [p.name for p in route.points]
    assert names[0] == "START" and sorted(names[1:]) == sorted(
        f"{t} no lic" for t in table["target_id"]
    )
    # the start as the code places it (lon, lat rounded to 8 decimals, back to metres)
    lon, lat = (round(v, 8) for v in _lonlat(sx, sy))
    here = np.array([TO_UTM.transform(lon, lat)])
    xy = np.vstack([here, table[["easting", "northing"]].to_numpy(float)])
    row = {f"{t} no lic": i + 1 for i, t in enumerate(table["target_id"])}
    order = [0] + [row[n] for n in names[1:]]
    length = path_length(xy, order)
    assert length <= path_length(xy, _nearest_neighbour(xy)) + 1e-6
    # the stated length to its 2 decimals (a length on a .xx5 boundary may round either way
    # after the start's rounding to 8 decimal degrees)
    stated = float(re.search(r"length ([0-9.,]+) km", route.description)[1].replace(",", ""))
    assert abs(stated - length / 1000) <= 0.005 + 1e-6
    assert math.isfinite(length)
