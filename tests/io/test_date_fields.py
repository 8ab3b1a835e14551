"""Dates are DATE fields in the GeoPackage and the Shapefiles; text that is not a date stays text."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, box

from geo._vectorfile import date_fields, dates_as_text, write_layer
from geo.export.tables import write_shapefile_zip


def _targets(expiry):
    return gpd.GeoDataFrame(
        {
            "target_id": ["T001", "T002", "T003"],
            "date": ["2023-06-01"] * 3,
            "licence_expiry": expiry,
            "score": [0.9, 0.5, 0.1],
            "n": pd.array([1, None, 3], dtype="Int64"),
        },
        geometry=[box(0, 0, 1, 1), MultiPolygon([box(2, 2, 3, 3)]), box(4, 4, 5, 5)],
        crs=32735,
    )


def _types(path, layer=None):
    info = pyogrio.read_info(path, layer=layer)
    return dict(zip(info["fields"], info["ogr_types"], strict=True)), info


def test_geopackage_dates_are_date_fields_and_read_back_as_the_same_days(tmp_path):
    path = tmp_path / "t.gpkg"
    write_layer(_targets(["2031-12-31", None, " 2024-2-29 "]), path, layer="targets", driver="GPKG")
    types, info = _types(path, "targets")
    assert types["date"] == types["licence_expiry"] == "OFTDate"
    assert types["target_id"] == "OFTString" and types["n"] == "OFTInteger64"
    assert info["geometry_type"] == "MultiPolygon" and info["crs"] == "EPSG:32735"
    back = dates_as_text(gpd.read_file(path, layer="targets"))
    assert back["licence_expiry"].tolist() == ["2031-12-31", None, "2024-02-29"]
    assert back["date"].tolist() == ["2023-06-01"] * 3
    assert back["n"].isna().tolist() == [False, True, False]
    assert all(back.geometry.geom_type == "MultiPolygon")


def test_one_expiry_that_is_not_a_date_keeps_the_column_as_text(tmp_path):
    path = tmp_path / "t.gpkg"
    frame = _targets(["2031-12-31", "perpetual", "31/12/2031"])
    write_layer(frame, path, layer="targets", driver="GPKG")
    types, _ = _types(path, "targets")
    assert types["licence_expiry"] == "OFTString" and types["date"] == "OFTDate"
    back = gpd.read_file(path, layer="targets")
    assert back["licence_expiry"].tolist() == ["2031-12-31", "perpetual", "31/12/2031"]


def test_the_never_expires_sentinel_round_trips(tmp_path):
    path = tmp_path / "t.gpkg"
    write_layer(_targets(["9999-12-31", None, "2031-01-01"]), path, layer="t", driver="GPKG")
    back = dates_as_text(gpd.read_file(path, layer="t"))
    assert back["licence_expiry"].tolist() == ["9999-12-31", None, "2031-01-01"]


def test_impossible_days_are_not_dates():
    frame = pd.DataFrame({"expiry": ["2023-02-30", "2023-01-01"], "date": ["2023-13-01", None]})
    assert date_fields(frame) == {}


def test_shapefile_dates_are_date_fields_under_their_short_names(tmp_path):
    out = write_shapefile_zip({"targets": _targets(["2031-12-31", None, None])}, tmp_path / "s.zip")
    with zipfile.ZipFile(out) as archive:
        archive.extractall(tmp_path / "x")
    types, _ = _types(tmp_path / "x" / "targets.shp")
    dated = {name for name, kind in types.items() if kind == "OFTDate"}
    assert dated == {"date", "lic_exp"}  # the short DBF names of fields.csv


@settings(deadline=None, max_examples=40)
@given(st.lists(st.dates(min_value=pd.Timestamp("1900-01-01").date()), min_size=1, max_size=8))
def test_any_list_of_days_round_trips(tmp_path_factory, days):
    path = tmp_path_factory.mktemp("d") / "t.gpkg"
    text = [d.isoformat() for d in days]
    frame = gpd.GeoDataFrame(
        {"expiry": text}, geometry=[box(i, 0, i + 1, 1) for i in range(len(days))], crs=4326
    )
    write_layer(frame, path, layer="l", driver="GPKG")
    assert dates_as_text(gpd.read_file(path))["expiry"].tolist() == text


@pytest.mark.parametrize("value", [np.datetime64("2023-06-01T10:00")])
def test_date_times_that_are_not_midnight_stay_date_times(value):
    frame = pd.DataFrame({"date": pd.to_datetime([value])})
    assert date_fields(frame) == {}
