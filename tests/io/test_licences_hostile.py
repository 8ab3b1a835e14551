"""Licence layers as cadastre portals deliver them (issue 16), and licence work that scales.

Every bad layer gives either the correct result (checked against values computed by hand)
or a one-line error naming the file; a layer of many licences costs work only for the
licences that meet the scene.
"""

from __future__ import annotations

import json
import math
import struct
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio.features
import shapely
import yaml
from click.testing import CliRunner
from pyogrio.raw import write as write_raw
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon, box

import geo.targets._windows as windows
from geo.cli.main import main
from geo.errors import CRSError, GeoWarning, VectorError
from geo.io.vector import read_licences
from geo.targets.licences import assign_licences, split_at_licences, summarise_licences
from geo.testing import make_raster
from tests.conftest import PIPELINE, SAMPLE

UTM = "EPSG:32635"
FIELDS = {"licence_id": "licence_no", "holder": "holder", "status": "status"}


def _layer(ids, geoms, *, crs=UTM, holders=None, **columns):
    n = len(ids)
    return gpd.GeoDataFrame(
        {
            "licence_no": ids,
            "holder": holders if holders is not None else [f"Holder {i}" for i in ids],
            "status": ["granted"] * n,
            **columns,
        },
        geometry=geoms,
        crs=crs,
    )


def _read(path, **kwargs):
    """read_licences with the warnings it gives, as (licences, info, [message, ...])."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lic, info = read_licences(path, fields=kwargs.pop("fields", FIELDS), **kwargs)
    return lic, info, [str(w.message) for w in caught if issubclass(w.category, GeoWarning)]


def _one_line_naming(exc_info, path, *fragments):
    message = str(exc_info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message


def _write_wkb(path, ids, wkbs, crs=UTM):
    """Write ISO WKB as given (M values, curves: what geopandas cannot write) to a GeoPackage."""
    write_raw(
        path,
        np.array(wkbs, dtype=object),
        field_data=[np.array(ids, dtype=object)] * 3,
        fields=["licence_no", "holder", "status"],
        geometry_type="Unknown",
        crs=crs,
        driver="GPKG",
        layer="licences",
    )


# ---------------------------------------------------------------- geometry in every state


def test_empty_null_and_zero_area_geometries_are_dropped_with_a_warning(tmp_path):
    path = tmp_path / "holes.gpkg"
    geoms = [
        box(0, 0, 100, 100),
        Polygon(),  # empty
        None,  # null
        Polygon([(0, 0), (10, 10), (20, 20), (0, 0)]),  # zero area (a line)
        box(200, 0, 300, 50),
    ]
    _layer(["A", "EMPTY", "NULL", "FLAT", "B"], geoms).to_file(path, layer="licences")
    lic, info, messages = _read(path)
    assert lic["licence_id"].tolist() == ["A", "B"]
    assert lic.area.tolist() == [10_000.0, 5_000.0]
    assert info["dropped_empty"] == ["EMPTY", "NULL", "FLAT"]
    (dropped,) = [m for m in messages if "dropped" in m]
    assert str(path) in dropped and "3 licence(s)" in dropped and "EMPTY, NULL, FLAT" in dropped
    # the summary of what is left never divides by zero
    zones = gpd.GeoDataFrame({"kind": ["clay"]}, geometry=[box(0, 0, 50, 100)], crs=UTM)
    summary = summarise_licences(lic, lic.iloc[:0].assign(score=[], rank=[], target_id=[]), zones)
    assert summary["clay_pct"].tolist() == [50.0, 0.0]


def test_a_layer_of_only_empty_geometries_is_one_clear_error(tmp_path):
    path = tmp_path / "void.gpkg"
    _layer(["E1", "E2"], [Polygon(), None]).to_file(path, layer="licences")
    with pytest.raises(VectorError) as exc:
        read_licences(path, fields=FIELDS)
    _one_line_naming(exc, path, "polygons with an area", "only empty or null geometries")


def test_zero_area_licence_given_directly_to_the_summary_is_not_a_zero_division():
    reasons = make_raster(np.zeros((2, 2), "float32")).astype("uint16")
    left, top = reasons.rio.transform().c, reasons.rio.transform().f
    lic = gpd.GeoDataFrame(
        {"licence_id": ["FLAT", "OK"], "holder": ["x", "y"], "status": ["granted"] * 2},
        geometry=[
            Polygon([(left, top), (left + 60, top), (left + 30, top)]),
            box(left, top - 60, left + 60, top),
        ],
        crs=reasons.rio.crs,
    )
    zones = gpd.GeoDataFrame(
        {"kind": ["iron"]}, geometry=[box(left, top - 30, left + 60, top)], crs=UTM
    )
    targets = gpd.GeoDataFrame(
        {"licence_id": [], "score": [], "rank": [], "target_id": []}, geometry=[], crs=UTM
    )
    out = summarise_licences(
        lic, targets, zones, reasons=reasons, score=reasons.astype("float64"), cutoff=0.5
    )
    assert out["iron_pct"].tolist() == [0.0, 50.0]
    assert out["valid_pct"].tolist() == [0.0, 100.0] and out["imaged_pct"].tolist() == [0.0, 100.0]
    assert (
        math.isnan(out["mean_prospectivity"].iloc[0]) and out["mean_prospectivity"].iloc[1] == 0.0
    )


def test_bow_tie_multipolygon_and_collections_keep_their_polygon_area(tmp_path):
    path = tmp_path / "shapes.gpkg"
    geoms = [
        Polygon([(0, 0), (10, 10), (10, 0), (0, 10), (0, 0)]),  # bow-tie: two triangles of 25
        MultiPolygon([box(20, 0, 30, 10), box(40, 0, 45, 10)]),
        GeometryCollection([box(50, 0, 60, 10), Point(0, 0), LineString([(0, 0), (5, 5)])]),
        GeometryCollection([Point(1, 1), LineString([(0, 0), (1, 0)])]),  # no polygon at all
    ]
    _layer(["BOWTIE", "MULTI", "GC", "GC-LINES"], geoms).to_file(path, layer="licences")
    lic, info, messages = _read(path)
    assert lic["licence_id"].tolist() == ["BOWTIE", "MULTI", "GC"]
    assert lic.area.tolist() == [50.0, 150.0, 100.0]
    assert lic.is_valid.all() and set(lic.geom_type) <= {"Polygon", "MultiPolygon"}
    assert info["repaired_geometries"] == 1 and info["dropped_non_polygons"] == 1
    assert any("repaired 1 invalid" in m for m in messages)
    assert any("1 non-polygon feature(s) (GeometryCollection): GC-LINES" in m for m in messages)


def test_z_and_m_geometries_become_2d(tmp_path):
    path = tmp_path / "zm.gpkg"
    zm = shapely.from_wkt("POLYGON ZM ((0 0 5 1, 10 0 5 1, 10 10 5 1, 0 10 5 1, 0 0 5 1))")
    m = shapely.from_wkt("POLYGON M ((20 0 1, 40 0 1, 40 10 1, 20 0 1))")
    wkbs = [shapely.to_wkb(g, flavor="iso", output_dimension=4) for g in (zm, m)]
    _write_wkb(path, ["ZM", "M"], wkbs)
    lic, _, _ = _read(path)
    assert lic["licence_id"].tolist() == ["ZM", "M"]
    assert not lic.has_z.any() and lic.area.tolist() == [100.0, 100.0]


def _circle_wkb(cx, cy, r):
    ring = [(cx - r, cy), (cx, cy + r), (cx + r, cy), (cx, cy - r), (cx - r, cy)]
    string = struct.pack("<BII", 1, 8, len(ring)) + b"".join(struct.pack("<dd", *p) for p in ring)
    return struct.pack("<BII", 1, 10, 1) + string  # CurvePolygon of one CircularString


def test_curved_geometries_are_linearised(tmp_path):
    path = tmp_path / "curves.gpkg"
    multisurface = (
        struct.pack("<BII", 1, 12, 2) + _circle_wkb(1000, 0, 50) + _circle_wkb(2000, 0, 50)
    )
    _write_wkb(path, ["CURVE", "SURFACES"], [_circle_wkb(0, 0, 100), multisurface])
    lic, _, _ = _read(path)
    assert lic["licence_id"].tolist() == ["CURVE", "SURFACES"]
    assert set(lic.geom_type) <= {"Polygon", "MultiPolygon"}
    assert lic.area.iloc[0] == pytest.approx(math.pi * 100**2, rel=0.01)
    assert lic.area.iloc[1] == pytest.approx(2 * math.pi * 50**2, rel=0.01)


# ---------------------------------------------------------------- layers that are not licences


def test_zero_features_only_points_and_no_crs_are_one_line_errors(tmp_path):
    empty = tmp_path / "nothing.gpkg"
    _layer(["A"], [box(0, 0, 1, 1)]).iloc[:0].to_file(empty, layer="licences")
    with pytest.raises(VectorError) as exc:
        read_licences(empty, fields=FIELDS)
    _one_line_naming(exc, empty, "licence layer is empty")

    points = tmp_path / "points.gpkg"
    _layer(["P1", "P2"], [Point(0, 0), Point(1, 1)]).to_file(points, layer="licences")
    with pytest.raises(VectorError) as exc:
        read_licences(points, fields=FIELDS)
    _one_line_naming(exc, points, "licences must be polygons", "Point")

    no_crs = tmp_path / "nocrs.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _layer(["A"], [box(0, 0, 1, 1)], crs=None).to_file(no_crs, layer="licences")
    with pytest.raises(CRSError) as exc:
        read_licences(no_crs, fields=FIELDS)
    _one_line_naming(exc, no_crs, "no CRS", "ogr2ogr -a_srs")


# ---------------------------------------------------------------- text encodings


HOLDERS = ["Société Minière", "Øre & Fils", "Minas Peña"]  # all in cp1252 and latin-1


def _cp1252_shapefile(tmp_path, cpg: str | None):
    path = tmp_path / "cadastre.shp"
    geoms = [box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10)]
    _layer(["L1", "L2", "L3"], geoms, holders=HOLDERS).to_file(path, encoding="cp1252")
    cpg_file = path.with_suffix(".cpg")
    if cpg is None:
        cpg_file.unlink()
    else:
        cpg_file.write_text(cpg)
    return path


def test_cp1252_shapefile_whose_cpg_says_utf8_is_read_as_cp1252_with_a_warning(tmp_path):
    path = _cp1252_shapefile(tmp_path, "UTF-8")
    lic, info, messages = _read(path)
    assert lic["holder"].tolist() == HOLDERS
    assert info["encoding"] == "cp1252"
    (message,) = [m for m in messages if "encoding" in m]
    assert str(path) in message and "not valid utf-8" in message and "byte 0xe9" in message
    assert "read it as cp1252" in message and "inputs.licences.encoding" in message
    # naming the encoding reads it silently
    lic, info, messages = _read(path, encoding="cp1252")
    assert lic["holder"].tolist() == HOLDERS and info["encoding"] == "cp1252" and not messages


def test_wrong_or_unknown_encoding_given_by_the_user_is_one_line_error(tmp_path):
    path = _cp1252_shapefile(tmp_path, "UTF-8")
    with pytest.raises(VectorError) as exc:
        read_licences(path, fields=FIELDS, encoding="utf-8")
    _one_line_naming(exc, path, "not valid utf-8", "inputs.licences.encoding")
    with pytest.raises(VectorError) as exc:
        read_licences(path, fields=FIELDS, encoding="klingon-8")
    _one_line_naming(exc, path, "'klingon-8' is not a text encoding", "inputs.licences.encoding")


def test_cp1252_shapefile_without_cpg_reads_as_latin1_unchanged(tmp_path):
    path = _cp1252_shapefile(tmp_path, None)
    lic, info, messages = _read(path)
    assert lic["holder"].tolist() == HOLDERS
    assert info["encoding"] is None and not [m for m in messages if "encoding" in m]


def test_geojson_with_invalid_utf8_is_read_as_cp1252(tmp_path):
    path = tmp_path / "portal.geojson"
    ring = "[[0,0],[10,0],[10,10],[0,10],[0,0]]"
    path.write_bytes(
        b'{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":'
        b'"urn:ogc:def:crs:EPSG::32635"}},"features":[{"type":"Feature","properties":'
        b'{"licence_no":"PL 1","holder":"Soci\xe9t\xe9 Mini\xe8re","status":"granted"},'
        b'"geometry":{"type":"Polygon","coordinates":[' + ring.encode() + b"]}}]}"
    )
    lic, info, messages = _read(path)
    assert lic["holder"].tolist() == ["Société Minière"] and info["encoding"] == "cp1252"
    assert any(str(path) in m and "read it as cp1252" in m for m in messages)


# ---------------------------------------------------------------- attributes


def test_numeric_licence_ids_read_as_text_without_a_decimal_point(tmp_path):
    path = tmp_path / "numbers.gpkg"
    geoms = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)]
    layer = _layer(["x", "y", "z"], geoms)
    layer["licence_no"] = [123, 124, 9_000_000_001]
    layer["as_float"] = [123.0, 124.0, 125.0]
    layer["fraction"] = [12.5, 13.0, 14.0]
    layer.to_file(path, layer="licences")
    lic, _, _ = _read(path)
    assert lic["licence_id"].tolist() == ["123", "124", "9000000001"]
    lic, _, _ = _read(path, fields={**FIELDS, "licence_id": "as_float"})
    assert lic["licence_id"].tolist() == ["123", "124", "125"]
    lic, _, _ = _read(path, fields={**FIELDS, "licence_id": "fraction"})
    assert lic["licence_id"].tolist() == ["12.5", "13.0", "14.0"]  # not all whole: as written


def test_duplicate_ids_of_one_licence_merge_and_conflicting_ones_are_an_error(tmp_path):
    path = tmp_path / "parts.gpkg"
    geoms = [box(0, 0, 10, 10), box(20, 0, 30, 10), box(40, 0, 50, 10), box(10, 0, 20, 10)]
    _layer(["A", "B", "A", "A"], geoms, holders=["X", "Y", "X", "X"]).to_file(
        path, layer="licences"
    )
    lic, info, messages = _read(path)
    assert lic["licence_id"].tolist() == ["A", "B"]
    assert lic.area.tolist() == [300.0, 100.0]  # A's three parts, merged once
    assert info["merged_duplicate_ids"] == ["A"]
    assert any("merged each into one licence: A" in m for m in messages)

    clash = tmp_path / "clash.gpkg"
    _layer(["A", "A"], geoms[:2], holders=["X", "Z"]).to_file(clash, layer="licences")
    with pytest.raises(VectorError) as exc:
        read_licences(clash, fields=FIELDS)
    _one_line_naming(exc, clash, "licence id(s) A", "inputs.licences.fields.licence_id")


# ---------------------------------------------------------------- CRS far from the scene


def test_geographic_layer_far_from_the_scene_is_listed_but_unexplored(tmp_path):
    reasons = make_raster(np.zeros((4, 4), "float32")).astype("uint16")
    t = reasons.rio.transform()
    near = gpd.GeoSeries([box(t.c, t.f - 120, t.c + 120, t.f)], crs=UTM).to_crs("EPSG:4326")
    geoms = [near.iloc[0], box(120.0, -30.0, 120.1, -29.9), box(-100.0, 40.0, -99.9, 40.1)]
    path = tmp_path / "world.gpkg"
    _layer(["HERE", "AUSTRALIA", "AMERICA"], geoms, crs="EPSG:4326").to_file(path, layer="licences")
    lic, info, _ = _read(path, to_crs=reasons.rio.crs)
    assert lic["licence_id"].tolist() == ["HERE", "AUSTRALIA", "AMERICA"]
    assert info["reprojected_to"] == str(reasons.rio.crs)
    targets = gpd.GeoDataFrame(
        {"target_id": ["T001"], "rank": [1], "score": [0.5]},
        geometry=[box(t.c, t.f - 30, t.c + 30, t.f)],
        crs=UTM,
    )
    targets = assign_licences(targets, lic)
    assert targets["licence_id"].tolist() == ["HERE"]
    zones = gpd.GeoDataFrame(
        {"kind": ["iron"]}, geometry=[box(t.c, t.f - 30, t.c + 30, t.f)], crs=UTM
    )
    out = summarise_licences(lic, targets, zones, reasons=reasons)
    assert out["valid_pct"].iloc[0] == pytest.approx(100.0, abs=0.5)
    assert out["valid_pct"].tolist()[1:] == [0.0, 0.0] and out["imaged_pct"].tolist()[1:] == [
        0.0,
        0.0,
    ]
    assert out["n_targets"].tolist() == [1, 0, 0]


# ---------------------------------------------------------------- the vectorised summary


def _old_summary_coverage(licences, reasons, score, cutoff, fill_bit=1):
    """The per-licence computation the summary used to do (one window per licence)."""
    from geo.targets._windows import polygon_window, read_windows

    transform, shape = reasons.rio.transform(), reasons.shape
    pixel = abs(transform.a * transform.e)
    rows = []
    for geom in licences.geometry:
        window, inside = polygon_window(geom, transform, shape)
        total_px = geom.area / pixel
        r = (
            read_windows([reasons], window, "int64")[0][inside]
            if inside.size
            else np.zeros(0, "int64")
        )
        s = read_windows([score], window)[0][inside] if inside.size else np.zeros(0)
        s = s[np.isfinite(s)]
        rows.append(
            {
                "imaged_pct": round(100 * float(((r & fill_bit) == 0).sum()) / total_px, 2),
                "valid_pct": round(100 * float((r == 0).sum()) / total_px, 2),
                "mean_prospectivity": round(float(s.mean()), 6) if s.size else np.nan,
                "prospective_pct": round(100 * float((s >= cutoff).sum()) / s.size, 2)
                if s.size
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _small_case():
    """6 x 6 grid of 30 m; overlapping, touching, half-off and far-off licences."""
    reasons = np.array(
        [
            [0, 0, 0, 2, 2, 1],
            [0, 0, 0, 2, 2, 1],
            [0, 0, 0, 0, 0, 1],
            [4, 4, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 1],
        ],
        "float32",
    )
    r = make_raster(reasons).astype("uint16")
    values = np.arange(36.0).reshape(6, 6)
    values[0, 0] = np.nan
    score = make_raster(values).astype("float64")
    t = r.rio.transform()
    x, y = t.c, t.f

    def cells(c0, r0, c1, r1):  # columns c0..c1-1, rows r0..r1-1
        return box(x + 30 * c0, y - 30 * r1, x + 30 * c1, y - 30 * r0)

    lic = gpd.GeoDataFrame(
        {"licence_id": list("ABCDEF"), "holder": ["h"] * 6, "status": ["granted"] * 6},
        geometry=[
            cells(0, 0, 3, 3),  # A: 9 px, all valid
            cells(2, 0, 5, 2),  # B: overlaps A on column 2; 4 of its 6 px cloud (bit 2)
            cells(4, 4, 8, 6),  # C: 8 px of area, 4 on the grid, 2 of them fill
            box(0, 0, 10, 10),  # D: far off the grid
            cells(3, 3, 5, 6),  # E: touches A at a corner, overlaps C on column 4
            box(x + 15, y - 165, x + 45, y - 105),  # F: edges through pixel centres
        ],
        crs=r.rio.crs,
    )
    zones = gpd.GeoDataFrame(
        {"kind": ["iron", "clay"]},
        geometry=[cells(0, 0, 2, 1), box(x + 30, y - 60, x + 90, y)],
        crs=r.rio.crs,
    )
    targets = gpd.GeoDataFrame(
        {
            "target_id": ["T001", "T002", "T003", "T004"],
            "rank": [1, 2, 3, 4],
            "score": [0.9, 0.7, 0.5, 0.4],
            "licence_id": ["A", "B", "A", None],
        },
        geometry=[cells(0, 0, 1, 1), cells(3, 0, 4, 1), cells(1, 1, 2, 2), box(0, 0, 1, 1)],
        crs=r.rio.crs,
    )
    return lic, targets, zones, r, score


@pytest.mark.parametrize("chunks", [None, 4, 1])
def test_vectorised_summary_equals_hand_values_and_the_per_licence_computation(chunks):
    lic, targets, zones, reasons, score = _small_case()
    if chunks:  # dask-backed, blocks that cut through the licences
        reasons, score = reasons.chunk(chunks), score.chunk(chunks)
    out = summarise_licences(
        lic, targets, zones, reasons=reasons, fill_bit=1, score=score, cutoff=20.0
    )
    by = out.set_index("licence_id")
    # targets
    assert by["n_targets"].tolist() == [2, 1, 0, 0, 0, 0]
    assert by.loc["A", "best_target"] == "T001" and by.loc["B", "best_target"] == "T002"
    assert by.loc["A", "mean_score"] == pytest.approx(0.7) and by.loc["A", "best_score"] == 0.9
    assert by["best_target"].iloc[2:].isna().all() and by["best_score"].iloc[2:].isna().all()
    # zones: iron 60 x 30, clay 60 x 60 overlapping iron on 30 x 30
    assert by.loc["A", "anomalous_area_ha"] == 0.45 and by.loc["B", "anomalous_area_ha"] == 0.18
    assert by.loc["A", "iron_pct"] == 22.22 and by.loc["A", "clay_pct"] == 44.44
    assert by.loc["B", "iron_pct"] == 0.0 and by.loc["B", "clay_pct"] == 33.33
    # coverage, by hand (a pixel belongs to every licence holding its centre)
    hand = {
        "A": (100.0, 100.0, 7.875, 0.0),  # score 1,2,6,7,8,12,13,14 (0 is NaN)
        "B": (100.0, 33.33, 6.0, 0.0),  # 2,3,4,8,9,10
        "C": (25.0, 25.0, 31.5, 100.0),  # 28,29,34,35 on the grid; 8 px of area
        "D": (0.0, 0.0, np.nan, np.nan),
        "E": (100.0, 100.0, 27.5, 100.0),  # 21,22,27,28,33,34
    }
    cols = ["imaged_pct", "valid_pct", "mean_prospectivity", "prospective_pct"]
    for lic_id, want in hand.items():
        np.testing.assert_array_equal(
            by.loc[lic_id, cols].to_numpy(float), np.array(want), err_msg=lic_id
        )
    # and exactly what one window per licence gave, F (edges on pixel centres) included
    # (which counted F's 3 pixel centres against its 2-pixel area as 150 %: a share stops at 100)
    old = _old_summary_coverage(lic, reasons, score, 20.0)
    assert old.loc[5, "imaged_pct"] == 150.0 and by.loc["F", "imaged_pct"] == 100.0
    old[["imaged_pct", "valid_pct"]] = old[["imaged_pct", "valid_pct"]].clip(upper=100.0)
    pd.testing.assert_frame_equal(out[cols].reset_index(drop=True), old, check_exact=True)


def test_assign_licences_takes_expiry_from_the_matched_licence_and_ties_go_first():
    lic = gpd.GeoDataFrame(
        {
            "licence_id": ["A", "B", "C"],
            "holder": ["a", "b", "c"],
            "status": ["granted"] * 3,
            "expiry": ["2030-01-01", "2031-01-01", None],
        },
        geometry=[box(0, 0, 100, 100), box(0, 0, 100, 100), box(100, 0, 300, 100)],
        crs=UTM,
    )
    targets = gpd.GeoDataFrame(
        {"target_id": ["T1", "T2", "T3"]},
        geometry=[box(10, 10, 20, 20), box(90, 0, 200, 10), box(500, 500, 510, 510)],
        crs=UTM,
    )
    out = assign_licences(targets, lic)
    assert out["licence_id"].fillna("-").tolist() == ["A", "C", "-"]  # A, B tie on T1: first
    assert out["licence_expiry"].fillna("-").tolist() == ["2030-01-01", "-", "-"]
    assert out["licence_overlap_pct"].tolist() == [100.0, pytest.approx(90.91, abs=0.01), 0.0]
    assert out["straddles_boundary"].tolist() == [False, True, False]


# ---------------------------------------------------------------- scaling (counted, not timed)


class _Counter:
    def __init__(self, monkeypatch):
        self.reads = self.read_px = self.rasterize = self.shapes = self.intersections = 0
        read, burn, cut = windows.read_windows, rasterio.features.rasterize, shapely.intersection

        def counting_read(layers, window, dtype="float64"):
            self.reads += 1
            self.read_px += (window[0].stop - window[0].start) * (window[1].stop - window[1].start)
            return read(layers, window, dtype)

        def counting_burn(shapes, **kwargs):
            shapes = list(shapes)
            self.rasterize += 1
            self.shapes += len(shapes)
            return burn(shapes, **kwargs)

        def counting_cut(a, b, *args, **kwargs):
            self.intersections += int(np.size(a)) if np.ndim(a) else 1
            return cut(a, b, *args, **kwargs)

        method = shapely.geometry.base.BaseGeometry.intersection

        def counting_method(geom, other, *args, **kwargs):
            self.intersections += 1
            return method(geom, other, *args, **kwargs)

        monkeypatch.setattr(shapely.geometry.base.BaseGeometry, "intersection", counting_method)
        monkeypatch.setattr(windows, "read_windows", counting_read)
        monkeypatch.setattr(rasterio.features, "rasterize", counting_burn)
        monkeypatch.setattr(shapely, "intersection", counting_cut)

    def totals(self):
        return (self.reads, self.read_px, self.rasterize, self.shapes, self.intersections)


def _run_licence_work(lic, targets, zones, reasons, score):
    assigned = assign_licences(targets.drop(columns="licence_id"), lic)
    split_at_licences(targets.drop(columns="licence_id"), lic)
    summary = summarise_licences(lic, assigned, zones, reasons=reasons, score=score, cutoff=20.0)
    return assigned, summary


def test_licences_off_the_scene_cost_no_reads_rasterisation_or_intersections(monkeypatch):
    lic, targets, zones, reasons, score = _small_case()
    reasons, score = reasons.chunk(3), score.chunk(3)
    x, y = reasons.rio.transform().c, reasons.rio.transform().f
    # 5,000 more licences off the grid: beside it, and far away
    far = [
        box(
            x + 1000 + 40 * (i % 100),
            y - 40 * (i // 100) - 30,
            x + 1030 + 40 * (i % 100),
            y - 40 * (i // 100),
        )
        for i in range(5000)
    ]
    many = pd.concat(
        [
            lic,
            gpd.GeoDataFrame(
                {"licence_id": [f"X{i}" for i in range(5000)], "holder": "h", "status": "s"},
                geometry=far,
                crs=lic.crs,
            ),
        ],
        ignore_index=True,
    )

    few_counter = _Counter(monkeypatch)
    assigned_few, summary_few = _run_licence_work(lic, targets, zones, reasons, score)
    few = few_counter.totals()
    monkeypatch.undo()

    many_counter = _Counter(monkeypatch)
    assigned_many, summary_many = _run_licence_work(many, targets, zones, reasons, score)
    assert many_counter.totals() == few
    assert few[0] > 0 and few[2] > 0 and few[4] > 0  # the counters do see the work
    # and the results for the licences on the scene are unchanged; the others are listed
    pd.testing.assert_frame_equal(
        assigned_few.drop(columns="geometry"), assigned_many.drop(columns="geometry")
    )
    pd.testing.assert_frame_equal(
        summary_few.drop(columns="geometry"), summary_many.iloc[: len(lic)].drop(columns="geometry")
    )
    rest = summary_many.iloc[len(lic) :]
    assert len(rest) == 5000 and (rest["valid_pct"] == 0).all() and (rest["n_targets"] == 0).all()


# ---------------------------------------------------------------- through the command line


def _pipeline(tmp_path, licences, **licence_options):
    doc = yaml.safe_load(PIPELINE.read_text())
    doc["inputs"]["scene"]["path"] = str(PIPELINE.parent / doc["inputs"]["scene"]["path"])
    doc["inputs"]["licences"] = {"path": str(licences), **licence_options}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_run_with_a_cp1252_shapefile_and_an_empty_polygon(tmp_path):
    lic = gpd.read_file(SAMPLE / "licences.gpkg", layer="licences").rename(
        columns={"holder_name": "holder"}
    )
    lic["holder"] = ["Société Minière", "Øre & Fils", "Minas Peña", "Cuivre Élevé"]
    extra = gpd.GeoDataFrame(
        {
            "licence_no": ["PL 999/2020"],
            "holder": ["Vide"],
            "status": ["granted"],
            "expiry": ["2030-01-01"],
            "commodity": ["Au"],
        },
        geometry=[Polygon()],
        crs=lic.crs,
    )
    path = tmp_path / "cadastre.shp"
    pd.concat([lic, extra], ignore_index=True).to_file(path, encoding="cp1252")
    path.with_suffix(".cpg").write_text("UTF-8")
    pipeline = _pipeline(
        tmp_path,
        path,
        fields={
            "licence_id": "licence_no",
            "holder": "holder",
            "status": "status",
            "expiry": "expiry",
        },
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--no-export", str(pipeline), "--out", str(out)])
    assert result.exit_code == 0, result.output + result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("geo: warning:")]
    assert any("read it as cp1252" in w and str(path) in w for w in warned), result.stderr
    assert any("PL 999/2020" in w and "empty" in w for w in warned), result.stderr
    table = pd.read_csv(out / "licences.csv")
    assert sorted(table["holder"]) == sorted(lic["holder"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["licences"]["encoding"] == "cp1252"
    assert manifest["inputs"]["licences"]["dropped_empty"] == ["PL 999/2020"]


def test_run_with_conflicting_duplicate_ids_exits_2_with_one_line(tmp_path):
    lic = gpd.read_file(SAMPLE / "licences.gpkg", layer="licences")
    lic.loc[1, "licence_no"] = lic.loc[0, "licence_no"]  # same number, another holder
    path = tmp_path / "clash.gpkg"
    lic.to_file(path, layer="licences")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["run", "--no-export", str(PIPELINE), "--licences", str(path), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("geo: error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "PL 012/2021" in errors[0]
    assert "Traceback" not in result.output + result.stderr and not out.exists()
