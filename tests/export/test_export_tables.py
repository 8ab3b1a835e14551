"""Field tables: RFC 7946 GeoJSON, zipped Shapefiles, the field CSV, atomic writes."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from pyproj import Transformer

import geo.export.tables as tables
from geo.errors import VectorError
from geo.export._common import dms
from geo.export.tables import (
    shapefile_field_names,
    write_field_csv,
    write_geojson,
    write_shapefile_zip,
)


@pytest.fixture
def targets(prospect_run) -> gpd.GeoDataFrame:
    frame = prospect_run.targets.copy()
    assert len(frame) >= 2
    return frame


def _points(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geometry = gpd.points_from_xy(frame["easting"], frame["northing"], crs=frame.crs)
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=geometry, crs=frame.crs)


# --------------------------------------------------------------------------- GeoJSON


def test_geojson_polygons(tmp_path, targets):
    path = write_geojson(targets, tmp_path / "targets.geojson")
    info = pyogrio.read_info(path)
    assert info["crs"] in ("EPSG:4326", "OGC:CRS84")
    back = pyogrio.read_dataframe(path)
    assert len(back) == len(targets)
    assert list(back["target_id"]) == list(targets["target_id"])
    assert list(back["rank"]) == list(targets["rank"])
    for column in ("lat_dms", "lon_dms", "utm_zone", "utm_easting", "utm_northing"):
        assert column in back.columns
    # same outlines: compare in the scene CRS
    again = back.to_crs(targets.crs)
    ratio = again.area.to_numpy() / targets.area.to_numpy()
    assert np.allclose(ratio, 1, atol=1e-4)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert "crs" not in doc  # RFC 7946: WGS 84 implied
    ring = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert -180 <= ring[0][0] <= 180 and -90 <= ring[0][1] <= 90


def test_geojson_points_round_trip(tmp_path, targets):
    path = write_geojson(targets, tmp_path / "points.geojson", points=True)
    back = pyogrio.read_dataframe(path)
    assert back.crs.to_epsg() == 4326
    assert (back.geom_type == "Point").all()
    assert list(back["target_id"]) == list(targets["target_id"])
    epsg = int(targets["epsg"].iloc[0])
    to_scene = Transformer.from_crs("EPSG:4326", epsg, always_xy=True)
    x, y = to_scene.transform(back.geometry.x.to_numpy(), back.geometry.y.to_numpy())
    assert np.abs(x - targets["easting"].to_numpy()).max() < 0.01
    assert np.abs(y - targets["northing"].to_numpy()).max() < 0.01
    doc = json.loads(path.read_text(encoding="utf-8"))
    lon, lat = doc["features"][0]["geometry"]["coordinates"]
    assert lon == doc["features"][0]["properties"]["lon"]
    assert lat == doc["features"][0]["properties"]["lat"]


def test_geojson_empty_and_missing_columns(tmp_path, targets):
    empty = targets.iloc[:0]
    path = write_geojson(empty, tmp_path / "empty.geojson")
    assert json.loads(path.read_text())["features"] == []
    with pytest.raises(VectorError, match="easting"):
        write_geojson(targets.drop(columns="easting"), tmp_path / "bad.geojson")
    assert not (tmp_path / "bad.geojson").exists()


# --------------------------------------------------------------------------- Shapefile


def test_shapefile_field_names_rules():
    columns = [
        "target_id",
        "licence_overlap_pct",
        "licence_overlap_pc",
        "mean_intersections",
        "contrib_intersections",
        "a" * 30,
        "a" * 31,
        "Target_ID",
    ]
    names = shapefile_field_names(columns)
    assert list(names) == columns
    assert all(len(v) <= 10 for v in names.values())
    assert len({v.lower() for v in names.values()}) == len(columns)
    assert names["target_id"] == "target_id"
    assert names == shapefile_field_names(columns)  # deterministic
    assert names["licence_overlap_pct"].startswith("lic")


def test_shapefile_zip(tmp_path, targets, prospect_run):
    long_text = "clay +0.32, " * 40  # ~480 characters
    targets.loc[targets.index[0], "evidence"] = long_text[:400] + "é"
    layers = {"targets": targets, "target_points": _points(targets)}
    if prospect_run.licences is not None:
        layers["licences"] = prospect_run.licences
    path = write_shapefile_zip(layers, tmp_path / "targets_shp.zip")
    with zipfile.ZipFile(path) as archive:
        members = set(archive.namelist())
        catalogue = list(csv.DictReader(io.StringIO(archive.read("fields.csv").decode("utf-8"))))
        for name in layers:
            for ext in ("shp", "shx", "dbf", "prj", "cpg"):
                assert f"{name}.{ext}" in members
            assert archive.read(f"{name}.cpg").decode().strip().upper() in ("UTF-8", "UTF8")
    assert "fields.csv" in members

    for name, layer in layers.items():
        rows = [r for r in catalogue if r["layer"] == name]
        full = {r["shapefile_field"]: r["full_name"] for r in rows}
        assert sorted(full.values()) == sorted(c for c in layer.columns if c != "geometry")
        assert all(len(f) <= 10 for f in full)
        back = pyogrio.read_dataframe(f"/vsizip/{path}/{name}.shp")
        assert len(back) == len(layer)
        assert sorted(c for c in back.columns if c != "geometry") == sorted(full)
        assert back.crs.equals(layer.crs)
        back = back.rename(columns=full)
        if name == "licences":
            assert list(back["licence_id"]) == list(layer["licence_id"])
        else:
            assert list(back["target_id"]) == list(layer["target_id"])
            assert list(back["rank"]) == list(layer["rank"])
            assert np.allclose(back["score"], layer["score"], rtol=1e-9)
            assert list(back["licence_id"].fillna("")) == list(layer["licence_id"].fillna(""))
        if name != "target_points":
            ratio = back.area.to_numpy() / layer.area.to_numpy()
            assert np.abs(ratio - 1).max() < 1e-4  # within 0.01 %
        if name == "targets":
            cut = back["evidence"].iloc[0]
            assert cut.endswith("…")
            assert len(cut.encode("utf-8")) <= 254
            assert long_text.startswith(cut[:-1])
            assert back["evidence"].iloc[1] == layer["evidence"].iloc[1]


# --------------------------------------------------------------------------- field CSV


def test_field_csv(tmp_path, targets):
    path = write_field_csv(targets, tmp_path / "targets_field.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    table = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    assert list(table.columns[:8]) == [
        "target_id",
        "rank",
        "score",
        "licence_id",
        "holder",
        "licence_status",
        "licence_flag",
        "area_ha",
    ]
    for column in ("easting", "northing", "epsg", "utm_zone", "utm_easting", "utm_northing"):
        assert column in table.columns
    assert list(table["target_id"]) == list(targets["target_id"])
    assert (table["datum"] == "WGS 84").all()
    assert "evidence" in table.columns
    for _, row in table.iterrows():
        assert row["lat_dms"] == dms(row["lat"], axis="lat")
        assert row["lon_dms"] == dms(row["lon"], axis="lon")
        assert len(f"{row['lat']}".split(".")[1]) <= 8
        if row["lat"] < 0:
            assert row["utm_zone"].endswith("S")
            assert row["utm_northing"] > 0
        zone = int(row["utm_zone"][:-1])
        code = (32700 if row["utm_zone"].endswith("S") else 32600) + zone
        to_scene = Transformer.from_crs(code, int(row["epsg"]), always_xy=True)
        x, y = to_scene.transform(row["utm_easting"], row["utm_northing"])
        assert abs(x - row["easting"]) < 0.01
        assert abs(y - row["northing"]) < 0.01


def test_field_csv_southern_scene_in_north_zone(tmp_path):
    frame = pd.DataFrame(
        {
            "target_id": ["T001"],
            "rank": [1],
            "easting": [554850.0],
            "northing": [-2374440.0],  # Landsat: southern scene in a north UTM zone
            "epsg": [32635],
        }
    )
    table = pd.read_csv(write_field_csv(frame, tmp_path / "f.csv"), encoding="utf-8-sig")
    assert table.loc[0, "utm_zone"] == "35S"
    assert table.loc[0, "utm_northing"] == pytest.approx(10_000_000 - 2374440.0, abs=0.01)
    assert "evidence" not in table.columns
    assert table["licence_id"].isna().all()


# --------------------------------------------------------------------------- atomic writes


def _boom(*args, **kwargs):
    target = args[1] if len(args) > 1 else kwargs.get("path_or_buf")
    with open(target, "w") as f:
        f.write("half")
    raise RuntimeError("killed")


def test_killed_writes_leave_no_file(tmp_path, targets, monkeypatch):
    existing = tmp_path / "kept.geojson"
    existing.write_text("old")
    monkeypatch.setattr(tables.pyogrio, "write_dataframe", _boom)
    monkeypatch.setattr(tables, "write_layer", _boom)
    with pytest.raises(RuntimeError):
        write_geojson(targets, tmp_path / "targets.geojson")
    with pytest.raises(RuntimeError):
        write_geojson(targets, existing)
    with pytest.raises(RuntimeError):
        write_shapefile_zip({"targets": targets}, tmp_path / "targets_shp.zip")
    monkeypatch.undo()

    def boom_csv(self, path, **kwargs):
        _boom(self, path)

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom_csv)
    with pytest.raises(RuntimeError):
        write_field_csv(targets, tmp_path / "targets_field.csv")
    monkeypatch.undo()

    assert existing.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.geojson"]
