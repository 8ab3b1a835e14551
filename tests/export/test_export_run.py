"""Field exports as a run writes them, `geo export`, and what a failed export leaves behind."""

import json
import shutil
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


@pytest.fixture
def run_copy(prospect_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(prospect_run.out_dir, dst)
    return dst


def test_every_run_writes_every_field_format(prospect_run):
    out = prospect_run.out_dir
    exports = prospect_run.manifest["exports"]
    assert set(exports) == set(EXPORT_FORMATS)
    for paths in exports.values():
        for rel in paths:
            assert (out / rel).is_file() and (out / rel).stat().st_size > 0, rel
    assert set(prospect_run.manifest["outputs"]) >= {p for v in exports.values() for p in v}
    # nothing half-written is left anywhere in the run
    assert not [p for p in out.rglob("*") if ".partial" in p.name or p.name.startswith(".")]


def test_all_formats_agree_on_the_targets(prospect_run):
    out = prospect_run.out_dir
    targets = prospect_run.targets
    ids = targets["target_id"].tolist()
    gpx = gpxpy.parse((out / "exports" / "targets.gpx").read_text())
    assert len(gpx.waypoints) == len(ids)
    csv = pd.read_csv(out / "exports" / "targets_field.csv", encoding="utf-8-sig")
    assert csv["target_id"].tolist() == ids
    geojson = pyogrio.read_dataframe(out / "exports" / "targets.geojson")
    assert sorted(geojson["target_id"]) == sorted(ids)
    kml_layers = [str(n) for n in pyogrio.list_layers(out / "exports" / "targets.kml")[:, 0]]
    assert kml_layers  # GDAL's KML driver reads it
    styled = gpd.read_file(out / "targets.gpkg", layer="targets")
    assert styled["target_id"].tolist() == ids
    assert "layer_styles" in [str(n) for n in pyogrio.list_layers(out / "targets.gpkg")[:, 0]]


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
