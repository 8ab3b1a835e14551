"""QGIS styles: QML structure, layer_styles in the GeoPackage, raster .qml sidecars."""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin

from geo.errors import InputNotFoundError, VectorError
from geo.export.qgis import (
    licence_style_qml,
    occurrence_style_qml,
    raster_style_qml,
    structure_style_qml,
    style_run_geopackage,
    target_style_qml,
    write_layer_styles,
    write_raster_styles,
    zone_style_qml,
)

DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"


def parse(qml: str) -> ET.Element:
    assert qml.startswith(DOCTYPE)
    root = ET.fromstring(qml)
    assert root.tag == "qgis"
    assert root.get("version").startswith("3.")
    assert root.get("styleCategories") == "AllStyleCategories"
    return root


def symbol_options(root: ET.Element, name: str) -> dict[str, str]:
    symbol = root.find(f"renderer-v2/symbols/symbol[@name='{name}']")
    assert symbol is not None
    layer = symbol.find("layer")
    return {o.get("name"): o.get("value") for o in layer.findall("Option/Option")}


def rgba(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


# --------------------------------------------------------------------------- vector QML


@pytest.mark.parametrize(("max_rank", "n_classes"), [(1, 1), (3, 1), (8, 2), (10, 2), (25, 3)])
def test_target_style_classes(max_rank, n_classes):
    root = parse(target_style_qml(max_rank))
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol"
    assert renderer.get("attr") == "rank"
    ranges = renderer.findall("ranges/range")
    assert len(ranges) == n_classes
    assert len(renderer.findall("symbols/symbol")) == n_classes
    assert float(ranges[0].get("lower")) <= 1
    # contiguous and ordered, the last class reaches max_rank
    for a, b in itertools.pairwise(ranges):
        assert float(a.get("upper")) == float(b.get("lower"))
    assert float(ranges[-1].get("upper")) >= max_rank
    assert all(r.get("render") == "true" for r in ranges)


def test_target_style_colours_and_labels():
    root = parse(target_style_qml(15))
    ranges = root.findall("renderer-v2/ranges/range")

    def fill(rank: int) -> tuple[int, ...]:
        for i, r in enumerate(ranges):
            low, high = float(r.get("lower")), float(r.get("upper"))
            if (low < rank or (i == 0 and low <= rank)) and rank <= high:
                return rgba(symbol_options(root, r.get("symbol"))["color"])
        raise AssertionError(f"rank {rank} in no class")

    for rank in (1, 2, 3):
        r, g, b, a = fill(rank)
        assert r > 180 and g < 80 and b < 80, "ranks 1-3 red"
        assert 0 < a < 255, "semi-transparent fill"
    for rank in (4, 7, 10):
        r, g, b, _ = fill(rank)
        assert r > 200 and 100 < g < 190 and b < 100, "ranks 4-10 orange"
    for rank in (11, 15):
        r, g, b, _ = fill(rank)
        assert r > 200 and g > 200 and b < 120, "ranks 11+ yellow"
    options = symbol_options(root, "0")
    assert rgba(options["outline_color"])[3] == 255
    assert float(options["outline_width"]) >= 0.5
    assert options["style"] == "solid"
    assert root.get("labelsEnabled") == "1"
    style = root.find("labeling[@type='simple']/settings/text-style")
    assert style.get("fieldName") == "target_id"
    assert style.find("text-buffer").get("bufferDraw") == "1"


def test_zone_style_kinds():
    kinds = ["iron_oxide", "clay_hydroxyl", "sam_kaolinite", "class_3", "crosta_iron", "pc_x"]
    root = parse(zone_style_qml(kinds))
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol"
    assert renderer.get("attr") == "kind"
    categories = renderer.findall("categories/category")
    assert [c.get("value") for c in categories] == kinds
    colours = {
        c.get("value"): rgba(symbol_options(root, c.get("symbol"))["outline_color"])[:3]
        for c in categories
    }
    assert colours["iron_oxide"] == colours["crosta_iron"] == (255, 127, 14)
    assert colours["clay_hydroxyl"] == colours["sam_kaolinite"] == (23, 190, 207)
    others = [colours["class_3"], colours["pc_x"]]
    assert len(set(others)) == 2 and not {(255, 127, 14), (23, 190, 207)} & set(others)
    fill = rgba(symbol_options(root, "0")["color"])
    assert fill[3] < 100, "light fill"


def test_licence_occurrence_structure_styles():
    root = parse(licence_style_qml())
    assert root.find("renderer-v2").get("type") == "singleSymbol"
    options = symbol_options(root, "0")
    assert options["style"] == "no"
    assert options["outline_style"] == "dash"
    assert root.find("labeling/settings/text-style").get("fieldName") == "licence_id"

    root = parse(occurrence_style_qml())
    symbol = root.find("renderer-v2/symbols/symbol")
    assert symbol.get("type") == "marker"
    assert symbol_options(root, "0")["name"] == "star"
    assert root.find("labeling/settings/text-style").get("fieldName") == "name"

    root = parse(structure_style_qml())
    assert root.find("renderer-v2/symbols/symbol").get("type") == "line"
    r, g, b, _ = rgba(symbol_options(root, "0")["line_color"])
    assert r > 180 and g < 60 and b < 60


# --------------------------------------------------------------------------- GeoPackage


@pytest.fixture
def gpkg_copy(tmp_path, prospect_run):
    dst = tmp_path / "targets.gpkg"
    shutil.copyfile(prospect_run.out_dir / "targets.gpkg", dst)
    return dst


def test_style_run_geopackage(gpkg_copy):
    before_layers = [str(n) for n, kind in pyogrio.list_layers(gpkg_copy) if kind is not None]
    before = {n: pyogrio.read_dataframe(gpkg_copy, layer=n) for n in before_layers}
    styled = style_run_geopackage(gpkg_copy)
    assert set(styled) == set(before_layers) & {
        "targets",
        "zones",
        "licences",
        "occurrences",
        "structures",
    }
    assert "targets" in styled and "zones" in styled

    style_run_geopackage(gpkg_copy)  # twice: rows replaced, not added
    with sqlite3.connect(gpkg_copy) as con:
        geometry = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        rows = con.execute(
            "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
            "styleQML, useAsDefault, update_time FROM layer_styles"
        ).fetchall()
        contents = con.execute(
            "SELECT data_type, identifier FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchall()
        kinds = sorted(r[0] for r in con.execute("SELECT DISTINCT kind FROM zones"))
        count = con.execute(
            "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'layer_styles'"
        ).fetchone()
    assert contents == [("attributes", "layer_styles")]
    assert sorted(r[2] for r in rows) == sorted(styled)
    for catalog, schema, table, column, qml, default, stamp in rows:
        assert (catalog, schema) == ("", "")
        assert column == geometry[table]
        assert default == 1
        assert stamp and "T" in stamp
        parse(qml)
    assert count == (len(rows),)

    zones_qml = next(r[4] for r in rows if r[2] == "zones")
    categories = parse(zones_qml).findall("renderer-v2/categories/category")
    assert sorted(c.get("value") for c in categories) == kinds

    # the GeoPackage stays valid: every spatial layer reads back unchanged
    layers = [str(n) for n in pyogrio.list_layers(gpkg_copy)[:, 0]]
    assert "layer_styles" in layers
    for name, frame in before.items():
        again = pyogrio.read_dataframe(gpkg_copy, layer=name)
        assert len(again) == len(frame)
        assert list(again.columns) == list(frame.columns)
        assert again.geometry.geom_equals_exact(frame.geometry, 0).all()
    styles = pyogrio.read_dataframe(gpkg_copy, layer="layer_styles")
    assert len(styles) == len(styled)
    assert styles["useAsDefault"].all()


def test_write_layer_styles_keeps_other_styles(gpkg_copy):
    with sqlite3.connect(gpkg_copy) as con:
        (column,) = con.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = 'targets'"
        ).fetchone()
    write_layer_styles(gpkg_copy, {"targets": licence_style_qml()})
    with sqlite3.connect(gpkg_copy) as con:
        con.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, useAsDefault) "
            "VALUES ('', '', 'targets', ?, 'mine', '<qgis/>', 1)",
            (column,),
        )
    write_layer_styles(gpkg_copy, {"targets": target_style_qml(5)})
    with sqlite3.connect(gpkg_copy) as con:
        rows = con.execute(
            "SELECT styleName, useAsDefault FROM layer_styles WHERE f_table_name = 'targets'"
        ).fetchall()
    assert sorted(rows) == [("geo targets", 1), ("mine", 0)]


def _style_rows(path):
    with sqlite3.connect(path) as con:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'layer_styles'").fetchone():
            return None
        return con.execute("SELECT * FROM layer_styles ORDER BY id").fetchall()


def test_unknown_layer_is_an_error(gpkg_copy, tmp_path):
    before = _style_rows(gpkg_copy)
    with pytest.raises(VectorError, match=r"no_such_layer.*targets") as info:
        write_layer_styles(gpkg_copy, {"no_such_layer": structure_style_qml()})
    assert str(gpkg_copy) in str(info.value)
    assert _style_rows(gpkg_copy) == before  # nothing written
    with pytest.raises(InputNotFoundError):
        write_layer_styles(tmp_path / "missing.gpkg", {"targets": structure_style_qml()})


# --------------------------------------------------------------------------- rasters


def test_raster_styles_for_every_tif(tmp_path, prospect_run):
    rasters = tmp_path / "rasters"
    shutil.copytree(prospect_run.out_dir / "rasters", rasters)
    tifs = sorted(rasters.glob("*.tif"))
    written = write_raster_styles(rasters)
    multiband = {t.stem for t in tifs if rasterio.open(t).count > 1} - {"true_colour"}
    assert sorted(p.stem for p in written) == sorted(
        t.stem for t in tifs if t.stem not in multiband
    )
    assert all(p.suffix == ".qml" and p.with_suffix(".tif").is_file() for p in written)
    assert not list(rasters.glob(".*partial*"))
    for path in written:
        root = parse(path.read_text(encoding="utf-8"))
        renderer = root.find("pipe/rasterrenderer")
        kind = renderer.get("type")
        name = path.stem
        if name == "true_colour":
            assert kind == "multibandcolor"
            assert [renderer.get(f"{c}Band") for c in ("red", "green", "blue")] == ["1", "2", "3"]
            assert renderer.find("redContrastEnhancement/algorithm").text == "NoEnhancement"
        elif name.endswith("_anomaly") or name == "mask_reasons":
            assert kind == "paletted"
            entries = {e.get("value"): e for e in renderer.findall("colorPalette/paletteEntry")}
            assert entries["0"].get("alpha") == "0"
            if name.endswith("_anomaly"):
                assert set(entries) == {"0", "1"}
                r, g, b = (int(entries["1"].get("color")[i : i + 2], 16) for i in (1, 3, 5))
                assert r > 180 and g < 80 and b < 80
        else:
            assert kind == "singlebandpseudocolor", name
            shader = renderer.find("rastershader/colorrampshader")
            low, high = float(shader.get("minimumValue")), float(shader.get("maximumValue"))
            assert low < high
            values = [float(i.get("value")) for i in shader.findall("item")]
            assert values == sorted(values) and values[0] == low and values[-1] == high
            if name.endswith("_z"):
                assert low == pytest.approx(-high)
            if name.startswith("membership_"):
                assert (low, high) == (0.0, 1.0)


def _tiny(path, data, *, nodata=None, dtype="float32"):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=dtype,
        crs="EPSG:32635",
        transform=from_origin(500000, 7600000, 30, 30),
        nodata=nodata,
    ) as dst:
        dst.write(data.astype(dtype), 1)


def test_raster_percentiles_on_known_values(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.gamma(2.0, 0.05, size=(60, 80))
    values[:5, :5] = np.nan
    _tiny(tmp_path / "gossan.tif", values, nodata=np.nan)
    z = rng.normal(0.5, 2.0, size=(60, 80))
    _tiny(tmp_path / "gossan_z.tif", z, nodata=np.nan)
    anomaly = (z > 2).astype("uint8")
    anomaly[0, :] = 255
    _tiny(tmp_path / "gossan_anomaly.tif", anomaly, nodata=255, dtype="uint8")
    classes = rng.integers(0, 4, size=(60, 80))
    classes[:3] = 255
    _tiny(tmp_path / "kmeans_clusters.tif", classes, nodata=255, dtype="uint8")

    written = {p.stem: p for p in write_raster_styles(tmp_path)}
    assert set(written) == {"gossan", "gossan_z", "gossan_anomaly", "kmeans_clusters"}

    shader = ET.fromstring(written["gossan"].read_text()).find(".//colorrampshader")
    p2, p98 = np.nanpercentile(values.astype("float32"), [2, 98])
    assert float(shader.get("minimumValue")) == pytest.approx(p2, rel=1e-3)
    assert float(shader.get("maximumValue")) == pytest.approx(p98, rel=1e-3)

    shader = ET.fromstring(written["gossan_z"].read_text()).find(".//colorrampshader")
    half = max(abs(v) for v in np.percentile(z.astype("float32"), [2, 98]))
    assert float(shader.get("maximumValue")) == pytest.approx(half, rel=1e-3)
    assert float(shader.get("minimumValue")) == pytest.approx(-half, rel=1e-3)

    palette = ET.fromstring(written["gossan_anomaly"].read_text()).findall(".//paletteEntry")
    assert [(e.get("value"), e.get("alpha")) for e in palette] == [("0", "0"), ("1", "255")]

    palette = ET.fromstring(written["kmeans_clusters"].read_text()).findall(".//paletteEntry")
    assert [e.get("value") for e in palette] == ["0", "1", "2", "3"]
    assert len({e.get("color") for e in palette}) == 4


def test_raster_style_by_name():
    assert raster_style_qml("class_probability", minimum=0, maximum=1) is None
    root = parse(raster_style_qml("prospectivity", minimum=0.1, maximum=0.9))
    shader = root.find(".//colorrampshader")
    assert (shader.get("minimumValue"), shader.get("maximumValue")) == ("0.1", "0.9")
    assert shader.get("colorRampType") == "INTERPOLATED"
    constant = parse(raster_style_qml("ndvi", minimum=0.3, maximum=0.3))
    shader = constant.find(".//colorrampshader")
    assert float(shader.get("minimumValue")) < float(shader.get("maximumValue"))
    mask = parse(raster_style_qml("mask_reasons", classes=[0, 1, 6]))
    entries = mask.findall(".//paletteEntry")
    assert [e.get("label") for e in entries] == ["valid", "fill", "cloud + dilated_cloud"]
