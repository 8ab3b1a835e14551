"""Google Earth (KML/KMZ) and handheld GPS (GPX) exports of a prospectivity run."""

from __future__ import annotations

import io
import math
import warnings
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import gpxpy
import numpy as np
import pyogrio
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer

import geo.export.kml as kml_module
from geo.errors import InvalidParameterError
from geo.export._common import field_coordinates
from geo.export.gpx import path_length, visit_order, waypoint_name, write_gpx
from geo.export.kml import (
    GX_NS,
    KML_NS,
    OVERLAY_HREF,
    overlay_from_true_colour,
    rank_class,
    write_kml,
    write_kmz,
)

pytestmark = pytest.mark.slow
NS = {"k": KML_NS, "gx": GX_NS}
GPX = "{http://www.topografix.com/GPX/1/1}"


def _fastkml():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lxml missing, pretty print disabled"
        from fastkml import KML
    return KML


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def run(prospect_run):
    return prospect_run


@pytest.fixture(scope="module")
def layers(run):
    gpkg = run.out_dir / "targets.gpkg"
    names = [str(n) for n in pyogrio.list_layers(gpkg)[:, 0]]
    occurrences = gpd.read_file(gpkg, layer="occurrences") if "occurrences" in names else None
    targets = run.targets
    assert len(targets) >= 3, "the sample run should give several targets"
    return {
        "targets": targets,
        "licences": run.licences,
        "zones": run.zones,
        "occurrences": occurrences,
    }


@pytest.fixture(scope="module")
def coords(layers):
    return field_coordinates(layers["targets"])


@pytest.fixture(scope="module")
def true_colour(run):
    path = run.out_dir / "rasters" / "true_colour.tif"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def kml_path(layers, tmp_path_factory):
    out = tmp_path_factory.mktemp("kml") / "targets.kml"
    assert write_kml(out, **layers, title="Test run") == out
    return out


@pytest.fixture(scope="module")
def kmz_path(layers, true_colour, tmp_path_factory):
    out = tmp_path_factory.mktemp("kmz") / "targets.kmz"
    assert write_kmz(out, **layers, overlay=true_colour, title="Test run") == out
    return out


@pytest.fixture(scope="module")
def gpx_path(layers, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpx") / "targets.gpx"
    assert write_gpx(out, layers["targets"], route_top=10) == out
    return out


def _folder(root: ET.Element, name: str) -> ET.Element:
    for folder in root.iter(f"{{{KML_NS}}}Folder"):
        if folder.findtext("k:name", namespaces=NS) == name:
            return folder
    raise AssertionError(f"no folder {name!r}")


def _to_scene(targets, lon, lat):
    to_scene = Transformer.from_crs("EPSG:4326", targets.crs, always_xy=True)
    return to_scene.transform(np.asarray(lon, float), np.asarray(lat, float))


# --------------------------------------------------------------------------- KML


def test_kml_parses_with_fastkml_points_round_trip(kml_path, layers):
    targets = layers["targets"]
    doc = _fastkml().parse(kml_path).features[0]
    folders = {f.name: f for f in doc.features}
    assert {"Targets", "Target outlines", "Licences", "Alteration zones", "Known occurrences"} <= (
        set(folders)
    )
    placemarks = folders["Targets"].features
    assert len(placemarks) == len(targets)
    assert len(folders["Target outlines"].features) == len(targets)
    assert len(folders["Licences"].features) == len(layers["licences"])
    by_id = targets.set_index("target_id")
    for pm in placemarks:
        row = by_id.loc[pm.id.removeprefix("target-")]
        assert pm.name == pm.id.removeprefix("target-")  # the same id as the sheets and GPS
        x, y = _to_scene(targets, [pm.geometry.x], [pm.geometry.y])
        assert abs(x[0] - row["easting"]) < 0.01
        assert abs(y[0] - row["northing"]) < 0.01


def test_kml_reads_with_gdal_fields_and_areas(kml_path, layers):
    targets = layers["targets"]
    names = set(pyogrio.list_layers(kml_path)[:, 0])
    assert {"Targets", "Target outlines", "Licences", "Alteration zones"} <= names
    points = pyogrio.read_dataframe(kml_path, layer="Targets")
    assert len(points) == len(targets)
    assert set(points.geom_type) == {"Point"}
    # ExtendedData comes through as fields
    assert sorted(points["target_id"]) == sorted(targets["target_id"])
    assert set(points["utm_zone"]) == set(field_coordinates(targets)["utm_zone"])

    outlines = pyogrio.read_dataframe(kml_path, layer="Target outlines").to_crs(targets.crs)
    assert len(outlines) == len(targets)
    areas = outlines.set_index("target_id").area
    original = targets.set_index("target_id").area
    rel = (areas.loc[original.index] - original).abs() / original
    assert rel.max() < 0.005, rel
    assert len(pyogrio.read_dataframe(kml_path, layer="Licences")) == len(layers["licences"])


def test_kml_structure_styles_holes_and_descriptions(kml_path, layers, coords):
    targets = layers["targets"]
    text = kml_path.read_text(encoding="utf-8")
    assert "<![CDATA[<table" in text
    root = ET.parse(kml_path).getroot()
    assert root.tag == f"{{{KML_NS}}}kml"
    styles = {s.get("id") for s in root.iter(f"{{{KML_NS}}}Style")}
    assert {"target-top", "target-high", "target-other", "licence", "occurrence"} <= styles
    licence_fill = root.find(".//k:Style[@id='licence']/k:PolyStyle/k:fill", NS)
    assert licence_fill is not None and licence_fill.text == "0"
    assert root.find(".//k:Style[@id='target-top']/k:LabelStyle/k:scale", NS) is not None

    by_id = targets.set_index("target_id")
    for pm in _folder(root, "Targets").findall("k:Placemark", NS):
        tid = pm.get("id").removeprefix("target-")
        row, c = by_id.loc[tid], coords.loc[targets.index[targets["target_id"] == tid][0]]
        assert pm.findtext("k:styleUrl", namespaces=NS) == f"#target-{rank_class(row['rank'])}"
        desc = pm.findtext("k:description", namespaces=NS)
        for expected in (tid, c["lat_dms"], c["lon_dms"], c["utm_zone"], str(row["scene_id"])):
            assert expected in desc
        if isinstance(row["licence_id"], str) and row["licence_id"]:
            assert row["licence_id"] in desc
        else:
            assert "outside licences" in desc
        data = {
            d.get("name"): d.findtext("k:value", default="", namespaces=NS)
            for d in pm.findall("k:ExtendedData/k:Data", NS)
        }
        assert data["target_id"] == tid
        assert data["lat_dms"] == c["lat_dms"]
        assert float(data["easting"]) == pytest.approx(row["easting"], abs=0.005)

    # holes and parts survive: innerBoundaryIs per interior, MultiGeometry for several parts
    wgs = targets.to_crs("EPSG:4326").set_index("target_id")
    for pm in _folder(root, "Target outlines").findall("k:Placemark", NS):
        geom = wgs.loc[pm.findtext("k:name", namespaces=NS), "geometry"]
        parts = list(getattr(geom, "geoms", [geom]))
        holes = sum(len(p.interiors) for p in parts)
        assert len(pm.findall(".//k:Polygon", NS)) == len(parts)
        assert len(pm.findall(".//k:innerBoundaryIs", NS)) == holes
        assert (pm.find("k:MultiGeometry", NS) is not None) == (len(parts) > 1)


def test_kmz_zip_overlay_and_gdal(kmz_path, layers, true_colour):
    targets = layers["targets"]
    with zipfile.ZipFile(kmz_path) as zf:
        infos = zf.infolist()
        assert infos[0].filename == "doc.kml"
        assert infos[0].compress_type == zipfile.ZIP_DEFLATED
        assert OVERLAY_HREF in zf.namelist()
        doc = zf.read("doc.kml")
        png = zf.read(OVERLAY_HREF)
    root = ET.fromstring(doc)
    ground = root.find(".//k:GroundOverlay", NS)
    assert ground.findtext("k:Icon/k:href", namespaces=NS) == OVERLAY_HREF
    quad = ground.findtext("gx:LatLonQuad/k:coordinates", namespaces=NS).split()
    assert len(quad) == 4
    # fastkml reads the document inside the zip
    kml = _fastkml().from_string(doc.decode("utf-8"))
    folders = {f.name: f for f in kml.features[0].features if hasattr(f, "features")}
    assert len(folders["Targets"].features) == len(targets)

    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGBA"
    alpha = np.asarray(image)[..., 3]
    assert [alpha[0, 0], alpha[0, -1], alpha[-1, 0], alpha[-1, -1]] == [0, 0, 0, 0]
    assert alpha.max() == 255

    # GDAL through /vsizip/
    inner = f"/vsizip/{kmz_path}/doc.kml"
    assert "Targets" in set(pyogrio.list_layers(inner)[:, 0])
    points = pyogrio.read_dataframe(inner, layer="Targets")
    assert len(points) == len(targets)
    x, y = _to_scene(targets, points.geometry.x, points.geometry.y)
    expected = targets.set_index("target_id").loc[points["target_id"]]
    assert np.abs(x - expected["easting"].to_numpy()).max() < 0.01
    assert np.abs(y - expected["northing"].to_numpy()).max() < 0.01


def test_overlay_is_decimated_and_quad_matches_raster_corners(true_colour):
    png, corners = overlay_from_true_colour(true_colour, max_px=256)
    image = Image.open(io.BytesIO(png))
    with rasterio.open(true_colour) as src:
        bounds, crs, size = src.bounds, src.crs, max(src.width, src.height)
        res = max(src.res)
    assert image.mode == "RGBA"
    assert max(image.size) == min(256, size)
    pixel = res * size / max(image.size)  # one decimated pixel, in metres
    lon, lat = zip(*corners, strict=True)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    expected = [
        (bounds.left, bounds.bottom),
        (bounds.right, bounds.bottom),
        (bounds.right, bounds.top),
        (bounds.left, bounds.top),
    ]  # counter-clockwise from lower-left, as gx:LatLonQuad wants
    for (ex, ey), gx, gy in zip(expected, x, y, strict=True):
        assert math.hypot(gx - ex, gy - ey) < pixel
    alpha = np.asarray(image)[..., 3]
    assert alpha[0, 0] == 0 and alpha[-1, -1] == 0 and (alpha == 255).any()


def test_kml_bad_inputs(layers, tmp_path, true_colour):
    targets = layers["targets"]
    with pytest.raises(InvalidParameterError, match="CRS"):
        write_kml(tmp_path / "a.kml", targets.set_crs(None, allow_override=True))
    with pytest.raises(InvalidParameterError, match="easting"):
        write_kml(tmp_path / "a.kml", targets.drop(columns="easting"))
    with pytest.raises(InvalidParameterError, match="max_px"):
        overlay_from_true_colour(true_colour, max_px=0)
    with pytest.raises(InvalidParameterError, match="overlay"):
        write_kmz(tmp_path / "a.kmz", targets, overlay=(b"not a png", [(0, 0)] * 4))
    assert not any(tmp_path.iterdir())


def test_kml_empty_targets(layers, tmp_path):
    empty = layers["targets"].iloc[:0]
    out = write_kml(tmp_path / "empty.kml", empty)
    root = ET.parse(out).getroot()
    assert _folder(root, "Targets").findall("k:Placemark", NS) == []


# --------------------------------------------------------------------------- GPX


def test_gpx_waypoints(gpx_path, layers, coords):
    targets = layers["targets"]
    gpx = gpxpy.parse(gpx_path.read_text(encoding="utf-8"))
    assert gpx.version == "1.1"
    assert gpx.creator == "geo"
    assert len(gpx.waypoints) == len(targets)
    names = [w.name for w in gpx.waypoints]
    assert len(set(names)) == len(names)
    assert all(len(n) <= 14 and n.isascii() for n in names)

    order = targets.sort_values("rank")
    for wpt, (idx, row) in zip(gpx.waypoints, order.iterrows(), strict=True):
        assert wpt.name.split(" ")[0] == row["target_id"]
        x, y = _to_scene(targets, [wpt.longitude], [wpt.latitude])
        assert abs(x[0] - row["easting"]) < 0.01
        assert abs(y[0] - row["northing"]) < 0.01
        c = coords.loc[idx]
        assert c["utm_zone"] in wpt.comment
        assert f"N {c['utm_northing']:.0f}" in wpt.comment
        assert wpt.comment.startswith(f"score {row['score']:.2f}")
        cls = rank_class(row["rank"])
        assert wpt.symbol == {"top": "Flag, Red", "high": "Flag, Blue"}.get(cls, "Flag, Green")
        if isinstance(row["licence_id"], str) and row["licence_id"]:
            assert row["licence_id"] in wpt.description
        assert row["evidence"] in wpt.description
    assert gpx.bounds.min_latitude == pytest.approx(coords["lat"].min())
    assert gpx.bounds.max_longitude == pytest.approx(coords["lon"].max())

    root = ET.parse(gpx_path).getroot()
    assert root.tag == f"{GPX}gpx"
    assert "http://www.topografix.com/GPX/1/1/gpx.xsd" in root.get(
        "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
    )
    assert root.find(f"{GPX}metadata/{GPX}time") is not None


@pytest.mark.parametrize("route_top", [10, 3, 1])
def test_gpx_route(layers, tmp_path, route_top):
    targets = layers["targets"]
    out = write_gpx(tmp_path / "r.gpx", targets, route_top=route_top)
    gpx = gpxpy.parse(out.read_text(encoding="utf-8"))
    (route,) = gpx.routes
    k = min(route_top, len(targets))
    assert len(route.points) == k
    assert route.name == f"Top {k} targets"
    assert route.points[0].name == gpx.waypoints[0].name  # rank 1 first
    assert route.points[0].name.split(" ")[0] == "T001"
    assert {p.name for p in route.points} == {w.name for w in gpx.waypoints[:k]}
    assert "km" in route.description


def test_gpx_no_route(layers, tmp_path):
    out = write_gpx(tmp_path / "r.gpx", layers["targets"], route_top=0)
    assert gpxpy.parse(out.read_text(encoding="utf-8")).routes == []
    with pytest.raises(InvalidParameterError, match="route_top"):
        write_gpx(tmp_path / "bad.gpx", layers["targets"], route_top=-1)
    with pytest.raises(InvalidParameterError, match="northing"):
        write_gpx(tmp_path / "bad.gpx", layers["targets"].drop(columns="northing"))
    assert not (tmp_path / "bad.gpx").exists()


def _nearest_neighbour(xy, start=0):
    order, left = [start], set(range(len(xy))) - {start}
    while left:
        last = xy[order[-1]]
        nxt = min(sorted(left), key=lambda i: math.dist(last, xy[i]))
        order.append(nxt)
        left.remove(nxt)
    return order


def test_visit_order_line_and_random():
    line = np.array([[0.0, 0.0], [40.0, 0.0], [10.0, 0.0], [30.0, 0.0], [20.0, 0.0]])
    assert visit_order(line) == [0, 2, 4, 3, 1]
    assert visit_order(line, start=1) == [1, 3, 4, 2, 0]
    assert visit_order(np.empty((0, 2))) == []
    assert visit_order(np.array([[5.0, 5.0]])) == [0]

    rng = np.random.default_rng(42)
    for _ in range(5):
        xy = rng.uniform(0, 10_000, size=(12, 2))
        order = visit_order(xy, start=0)
        assert sorted(order) == list(range(12)) and order[0] == 0
        assert order == visit_order(xy, start=0)  # deterministic
        length = path_length(xy, order)
        assert length <= path_length(xy, _nearest_neighbour(xy.tolist())) + 1e-6
        assert length <= path_length(xy, list(range(12))) + 1e-6


def test_visit_order_bad_input():
    with pytest.raises(InvalidParameterError, match="xy"):
        visit_order(np.zeros((3, 3)))
    with pytest.raises(InvalidParameterError, match="xy"):
        visit_order(np.array([[0.0, np.nan]]))
    with pytest.raises(InvalidParameterError, match="start"):
        visit_order(np.zeros((3, 2)), start=3)


def test_waypoint_name():
    assert waypoint_name("T001", "PL 012/2021") == "T001 PL012/21"
    assert waypoint_name("T003", None) == "T003 no lic"
    assert waypoint_name("T003", float("nan")) == "T003 no lic"
    assert waypoint_name("T003", "  ") == "T003 no lic"
    # a licence that does not fit whole is left out, never cut
    assert waypoint_name("T007", "Licença Exploração Nº 0042/2019-ÁREA SUL") == "T007"
    assert waypoint_name("T007", "Lç 0042/2019") == "T007 Lc0042/19"  # 14: fits
    assert waypoint_name("T1234", "PL 0042/2019") == "T1234"  # "T1234 PL0042/19" is 15
    assert waypoint_name("T123", "PL 012/2021") == "T123 PL012/21"
    assert waypoint_name("T005", "X" * 50, max_len=10) == "T005"
    assert waypoint_name("T005", "PL 012/2021", max_len=3) == "T005"  # the id is never cut
    assert waypoint_name("T005", "日本") == "T005 lic"
    assert waypoint_name(12, "PL 1") == "12 PL1"  # an integer id is written as it is
    long_id = "LC09_L2SP_170076:T001"
    assert waypoint_name(long_id, "PL 012/2021") == long_id
    for bad in ("", "  ", None, True, 1.5):
        with pytest.raises(InvalidParameterError, match="target_id"):
            waypoint_name(bad, "PL 1")
    with pytest.raises(InvalidParameterError, match="max_len"):
        waypoint_name("T001", "PL 1", max_len=0)


# --------------------------------------------------------------------------- atomic writes


def test_failed_writes_leave_no_file(layers, tmp_path, true_colour, monkeypatch):
    targets = layers["targets"]
    kml, kmz, gpx = tmp_path / "t.kml", tmp_path / "t.kmz", tmp_path / "t.gpx"
    keep = tmp_path / "keep.kml"
    keep.write_text("previous")

    real_writestr = zipfile.ZipFile.writestr

    def writestr(self, name, data, *args, **kwargs):
        if name == OVERLAY_HREF:
            raise OSError("disk full")
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)
    with pytest.raises(OSError, match="disk full"):
        write_kmz(kmz, targets, overlay=true_colour)
    monkeypatch.undo()

    # the KML is streamed placemark by placemark: fail after the first few are on disk
    real_element = kml_module._Stream.element
    calls = []

    def element(self, el, level):
        calls.append(el.tag)
        if calls.count("Placemark") > 2:
            raise OSError("disk full")
        return real_element(self, el, level)

    monkeypatch.setattr(kml_module._Stream, "element", element)
    with pytest.raises(OSError, match="disk full"):
        write_kml(kml, targets)
    calls.clear()
    with pytest.raises(OSError, match="disk full"):
        write_kml(keep, targets)
    calls.clear()
    with pytest.raises(OSError, match="disk full"):  # and inside the KMZ's zip entry
        write_kmz(kmz, targets)
    monkeypatch.undo()

    def tree_write(self, file, *args, **kwargs):
        Path(file).write_text("<gpx")
        raise OSError("disk full")

    monkeypatch.setattr(ET.ElementTree, "write", tree_write)
    with pytest.raises(OSError, match="disk full"):
        write_gpx(gpx, targets)
    monkeypatch.undo()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.kml"]
    assert keep.read_text() == "previous"


def test_gpx_names_and_comments_are_plain_ascii(prospect_run):
    """Handheld units show names and comments; many cannot draw anything but ASCII."""
    gpx = gpxpy.parse((prospect_run.out_dir / "exports" / "targets.gpx").read_text())
    for w in gpx.waypoints:
        assert w.name.isascii() and w.comment.isascii(), (w.name, w.comment)


def test_overlay_png_is_chosen_as_by_its_full_encode(tmp_path):
    """The level-1 shortcut picks what encoding at level 6 first would have picked."""
    rng = np.random.default_rng(7)
    from geo.testing import make_raster

    noise = tmp_path / "noise.tif"
    pixels = rng.integers(1, 256, (3, 200, 240)).astype(np.uint8)
    make_raster(pixels.astype("float32")).astype("uint8").rio.to_raster(noise)
    rgba = np.dstack([*rasterio.open(noise).read(), np.full((200, 240), 255, np.uint8)])
    full = io.BytesIO()
    Image.fromarray(rgba).save(full, format="PNG", compress_level=6)
    level6 = len(full.getvalue())
    for limit in (level6 // 3, level6 - 1, level6, 2 * level6):
        png, _ = overlay_from_true_colour(noise, max_px=240, max_bytes=limit)
        if level6 > limit:  # too big in full colour: the 256-colour picture, as before
            assert png == kml_module._palette_png(rgba, limit)
            assert Image.open(io.BytesIO(png)).mode == "P" and len(png) <= limit
        else:
            assert png == full.getvalue()
