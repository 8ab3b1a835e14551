"""Field exports as a run writes them, `geo export`, and what a failed export leaves behind."""

import json
import warnings

import geopandas as gpd
import gpxpy
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from geo.cli.main import main
from geo.errors import GeoWarning
from geo.pipeline.export import EXPORT_FORMATS, export_run
from geo.pipeline.runner import rerank
from geo.pipeline.spec import load_spec
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
PROSPECT = ROOT / "pipelines" / "landsat_prospectivity.yaml"


def test_every_run_writes_every_field_format(prospect_run):
    out = prospect_run.out_dir
    exports = prospect_run.manifest["exports"]
    assert set(exports) == set(EXPORT_FORMATS)
    for paths in exports.values():
        for rel in paths:
            assert (out / rel).is_file() and (out / rel).stat().st_size > 0, rel
    assert set(prospect_run.manifest["outputs"]) >= {p for v in exports.values() for p in v}
    # which process wrote them: all here, or the PDFs and QField package by a second one
    record = prospect_run.manifest["export_processes"]
    assert record in (
        {"processes": 1, "second_process": []},
        {"processes": 2, "second_process": ["pdf", "qfield", "geopdf"]},
    )
    # nothing half-written is left anywhere in the run
    assert not [p for p in out.rglob("*") if ".partial" in p.name or p.name.startswith(".")]


def _kml_points(text: str) -> dict[str, tuple[float, float]]:
    """``{placemark name: (lon, lat)}`` of the point placemarks of a KML document."""
    import xml.etree.ElementTree as ET

    ns = {"k": "http://www.opengis.net/kml/2.2"}
    found = {}
    for mark in ET.fromstring(text).iter("{http://www.opengis.net/kml/2.2}Placemark"):
        name, point = mark.find("k:name", ns), mark.find("k:Point/k:coordinates", ns)
        if name is not None and point is not None:
            lon, lat = map(float, point.text.strip().split(",")[:2])
            found[name.text] = (lon, lat)
    return found


def test_one_identifier_and_one_position_in_every_format(prospect_run):
    """A printed sheet's T001 is the GPS's, Google Earth's, the tables' and the report's T001."""
    import zipfile

    from pypdf import PdfReader

    out = prospect_run.out_dir
    table = pd.read_csv(out / "targets.csv").set_index("target_id")
    ids = table.index.tolist()
    field = set(table.sort_values("rank").index[:50])  # field.top: the best 50
    where = {t: (table.loc[t, "lon"], table.loc[t, "lat"]) for t in ids}

    def agree(found: dict, expected: set, source: str) -> None:
        assert set(found) == expected, source
        for tid, (lon, lat) in found.items():
            assert lon == pytest.approx(where[tid][0], abs=1e-6), (source, tid)
            assert lat == pytest.approx(where[tid][1], abs=1e-6), (source, tid)

    gpx = gpxpy.parse((out / "exports" / "targets.gpx").read_text())
    agree({w.name.split(" ")[0]: (w.longitude, w.latitude) for w in gpx.waypoints}, field, "gpx")
    assert all(len(w.name) <= 14 for w in gpx.waypoints)
    assert {p.name.split(" ")[0] for r in gpx.routes for p in r.points} <= field
    # the KML's other points are the known occurrences, under their own names
    known = set(gpd.read_file(out / "targets.gpkg", layer="occurrences")["name"])

    def targets_of(points: dict) -> dict:
        return {name: xy for name, xy in points.items() if name not in known}

    agree(targets_of(_kml_points((out / "exports" / "targets.kml").read_text())), field, "kml")
    with zipfile.ZipFile(out / "exports" / "targets.kmz") as kmz:
        agree(targets_of(_kml_points(kmz.read("doc.kml").decode())), field, "kmz")
    outlines = pyogrio.read_dataframe(out / "exports" / "targets.kml", layer=None)
    assert set(outlines["Name"]) <= field  # outlines and points carry the same names
    csv = pd.read_csv(out / "exports" / "targets_field.csv", encoding="utf-8-sig")
    agree(
        dict(zip(csv["target_id"], zip(csv["lon"], csv["lat"], strict=True), strict=True)),
        set(ids),
        "field csv",
    )
    points = pyogrio.read_dataframe(out / "exports" / "target_points.geojson")
    agree(
        {t: (g.x, g.y) for t, g in zip(points["target_id"], points.geometry, strict=True)},
        set(ids),
        "geojson",
    )
    gpkg = gpd.read_file(out / "targets.gpkg", layer="targets")
    assert gpkg["target_id"].tolist() == ids
    assert gpkg["easting"].tolist() == table["easting"].tolist()
    html = (out / "report.html").read_text()
    pdf = " ".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)
    for tid in field:
        assert tid in html and tid in pdf, tid


def test_geo_export_rewrites_chosen_formats(run_copy):
    (run_copy / "exports" / "targets.gpx").unlink()
    result = CliRunner().invoke(main, ["export", str(run_copy), "--to", "gpx,csv"])
    assert result.exit_code == 0, result.output
    assert "gpx" in result.output and (run_copy / "exports" / "targets.gpx").is_file()


def test_geo_export_names_an_unknown_format(run_copy):
    result = CliRunner().invoke(main, ["export", str(run_copy), "--to", "gpx,dxf"])
    assert result.exit_code == 2
    assert "Unknown export format 'dxf'" in result.output + (result.stderr or "")


def test_geo_export_on_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path)])
    assert result.exit_code == 2 and "not a geo run folder" in result.output + (result.stderr or "")


def test_a_failing_export_leaves_the_previous_files_whole(run_copy, monkeypatch):
    before = (run_copy / "exports" / "targets.gpx").read_bytes()
    import geo.export.gpx as gpx_module

    def boom(path, *args, **kwargs):
        from geo.export._common import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text("<gpx>half")
            raise RuntimeError("killed mid-write")

    monkeypatch.setattr(gpx_module, "write_gpx", boom)
    with pytest.raises(RuntimeError, match="killed"):
        export_run(run_copy, ["gpx"])
    assert (run_copy / "exports" / "targets.gpx").read_bytes() == before
    assert not [p for p in (run_copy / "exports").iterdir() if ".partial" in p.name]


def test_rerank_refreshes_the_field_files(run_copy):
    spec = load_spec(PROSPECT)
    tighter = spec.model_copy(
        update={"targets": spec.targets.model_copy(update={"top_area_fraction": 0.005})}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoWarning)
        result = rerank(run_copy, pipeline=tighter)
    gpx = gpxpy.parse((run_copy / "exports" / "targets.gpx").read_text())
    assert len(gpx.waypoints) == len(result.targets)
    manifest = json.loads((run_copy / "manifest.json").read_text())
    assert set(manifest["exports"]) == set(EXPORT_FORMATS)
