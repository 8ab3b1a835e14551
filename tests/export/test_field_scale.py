"""A scene with well over a thousand targets: the field files hold the field set, the tables every target.

The sample run's GeoPackage is given 1,200 targets scattered over the scene (copies of its
targets, moved and renumbered, coordinates recomputed), then every field format is written
as ``geo export`` does, and each is read back with its own ecosystem's reader.
"""

from __future__ import annotations

import zipfile

import geopandas as gpd
import gpxpy
import pandas as pd
import pyogrio

from geo.pipeline.export import export_run
from tests.export.conftest import scatter_targets

N = 1200
FIELD_TOP = 12  # (50 by default; fewer sheets keep the test quick)
MB = 1024 * 1024


def test_a_thousand_targets_go_to_the_field_as_the_field_set(run_copy):
    ids = scatter_targets(run_copy, N)
    best = set(ids[:FIELD_TOP])

    export_run(run_copy, ["gpx", "kmz", "html", "csv", "geojson", "qfield"], field_top=FIELD_TOP)

    exports = run_copy / "exports"
    gpx = gpxpy.parse((exports / "targets.gpx").read_text())
    assert {w.name.split(" ")[0] for w in gpx.waypoints} == best
    assert f"of {N} targets" in gpx.description
    with zipfile.ZipFile(exports / "targets.kmz") as kmz:
        doc = kmz.read("doc.kml").decode()
    assert sum(f"<name>{t}</name>" in doc for t in ids) == FIELD_TOP
    assert (exports / "targets.kmz").stat().st_size < 5 * MB
    html = (run_copy / "report.html").read_text()
    assert (run_copy / "report.html").stat().st_size < 5 * MB
    assert f"{N}" in html and "targets.csv" in html
    assert all(f'id="{t}"' in html or f"#{t}" in html or t in html for t in best)
    assert ids[FIELD_TOP + 5] not in html  # beyond the field set: only in the tables
    # the tables keep every target
    csv = pd.read_csv(exports / "targets_field.csv", encoding="utf-8-sig")
    assert csv["target_id"].tolist() == ids
    assert len(pyogrio.read_dataframe(exports / "target_points.geojson")) == N
    qfield = gpd.read_file(exports / "qfield" / "targets.gpkg", layer="targets")
    assert len(qfield) == N
