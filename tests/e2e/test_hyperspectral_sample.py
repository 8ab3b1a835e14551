"""The imaging-spectroscopy chain on the bundled EMIT-format sample: mineral maps against the
planted truth, assemblage zones, and targets that rank an altered system above a stained sand."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.features import geometry_mask

from geo.export.qgis import MINERAL_COLOURS
from geo.sampledata_emit import EMIT_GRANULE, make_emit_sample

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_rasters"
PIPELINE = ROOT / "pipelines" / "hyperspectral_minerals.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from geo.errors import GeoWarning
    from geo.pipeline.runner import run_pipeline
    from geo.pipeline.spec import load_spec

    out = tmp_path_factory.mktemp("hyper") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoWarning)
        return run_pipeline(load_spec(PIPELINE), out=out, pipeline_file=PIPELINE)


@pytest.fixture(scope="module")
def truth(run):
    return gpd.read_file(SAMPLE / "emit_truth.gpkg").to_crs(run.zones.crs)


def _codes_inside(path: Path, geom) -> np.ndarray:
    with rasterio.open(path) as src:
        data = src.read(1)
        inside = geometry_mask([geom], out_shape=data.shape, transform=src.transform, invert=True)
    values = data[inside]
    return values[values != 255]  # masked pixels say nothing


def _share(values: np.ndarray, codes: set[int]) -> float:
    return float(np.isin(values, list(codes)).mean()) if values.size else 0.0


def test_committed_granule_equals_a_fresh_regeneration(tmp_path):
    summary = make_emit_sample(tmp_path)
    for name in (f"{EMIT_GRANULE}.nc", f"{EMIT_GRANULE.replace('_RFL_', '_MASK_')}.nc"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name
    assert summary["planted"] == len(gpd.read_file(SAMPLE / "emit_truth.gpkg"))


def test_mineral_maps_find_the_planted_minerals(run, truth):
    rasters = run.out_dir / "rasters"
    legend = pd.read_csv(rasters / "mineral_swir.csv")
    assert list(legend.columns) == ["code", "mineral", "group"]
    code = dict(zip(legend["mineral"], legend["code"], strict=True))
    vnir_legend = pd.read_csv(rasters / "mineral_vnir.csv")
    vcode = dict(zip(vnir_legend["mineral"], vnir_legend["code"], strict=True))
    with rasterio.open(rasters / "mineral_swir.tif") as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        colours = src.colormap(1)  # the GeoTIFF's own colour table (GDAL keeps no alpha)
        assert colours[code["alunite"]][:3] == MINERAL_COLOURS["alunite"]
    by = {row.assemblage: row.geometry for row in truth.itertuples()}
    swir, vnir = rasters / "mineral_swir.tif", rasters / "mineral_vnir.tif"
    core = _codes_inside(swir, by["advanced_argillic"].buffer(-60))
    assert _share(core, {code["alunite"], code["kaolinite"], code["pyrophyllite"]}) >= 0.6
    ring = _codes_inside(swir, by["phyllic"].buffer(-60))
    assert _share(ring, {code["white_mica"]}) >= 0.6
    halo = _codes_inside(swir, by["propylitic"].buffer(-60))
    assert _share(halo, {code["chlorite"], code["epidote"], code["calcite"]}) >= 0.6
    sand = by["ferric_iron"].buffer(-60)
    assert _share(_codes_inside(vnir, sand), {vcode["hematite"], vcode["goethite"]}) >= 0.6
    assert _share(_codes_inside(swir, sand), {0}) >= 0.8  # no SWIR alteration in the sand
    planted = truth.union_all()
    soil = planted.buffer(1500).difference(planted.buffer(120))  # around, not in, the plants
    assert _share(_codes_inside(swir, soil), {0}) >= 0.95  # the soil is not called a mineral


def test_assemblages_become_zones_and_rasters(run):
    kinds = set(run.zones["kind"])
    assert {"advanced_argillic", "phyllic", "propylitic"} <= kinds
    rasters = run.out_dir / "rasters"
    for name in ("bd_aloh_22", "pos_aloh_22", "assemblage_phyllic", "fit_swir"):
        assert (rasters / f"{name}.tif").is_file(), name
    with rasterio.open(rasters / "pos_aloh_22.tif") as src:
        pos = src.read(1)
    found = pos[np.isfinite(pos) & (pos > 0)]
    assert 2150 < np.median(found) < 2230  # the Al-OH minimum, in nm
    assert (run.out_dir / "minerals.png").stat().st_size > 20_000  # the map with its legend
    assert "minerals.png" in (run.out_dir / "report.html").read_text(encoding="utf-8") or (
        "Minerals:" in (run.out_dir / "report.html").read_text(encoding="utf-8")
    )
    methods = run.manifest["methods"]["minerals"]
    assert methods["groups"] == ["vnir", "swir"] and methods["fit_floor"] == 0.9


def test_the_altered_system_outranks_the_stained_sand(run, truth):
    targets = run.targets.sort_values("rank")
    assert len(targets) >= 1
    best = targets.iloc[0]
    system = truth[truth["assemblage"].isin(["advanced_argillic", "phyllic"])].union_all()
    assert best.geometry.intersects(system)
    assert best["licence_id"] == "PL 201/2022"
    sand = truth[truth["assemblage"] == "ferric_iron"].union_all()
    on_sand = targets[targets.intersects(sand)]
    assert (on_sand["rank"] > best["rank"]).all()


def test_minerals_need_an_imaging_spectrometer_scene(tmp_path):
    from click.testing import CliRunner

    from geo.cli.main import main

    landsat = SAMPLE / "LC08_L2SR_171075_20230601_20230607_02_T1"
    res = CliRunner().invoke(
        main,
        ["run", str(PIPELINE), "--scene", str(landsat), "--out", str(tmp_path / "x")],
    )
    assert res.exit_code == 2
    assert "no imaging-spectrometer cube" in res.output
    assert not (tmp_path / "x").exists()


def test_geo_info_reads_the_sample(tmp_path):
    from click.testing import CliRunner

    from geo.cli.main import main

    copy = tmp_path / "g"
    copy.mkdir()
    for f in SAMPLE.glob("EMIT_*"):
        shutil.copy(f, copy / f.name)
    res = CliRunner().invoke(main, ["info", str(copy / f"{EMIT_GRANULE}.nc")])
    assert res.exit_code == 0, res.output
    assert "285 bands" in res.output and "EPSG:32735" in res.output
    assert "cloud" in res.output  # the MASK granule beside it was read


def test_batch_over_granules_merges_like_the_single_run(run, tmp_path):
    """`geo batch` over EMIT granules (here the sample and a copy under another name): each
    granule gives the single run's targets, and the merge keeps one target where they overlap."""
    from geo.pipeline.batch import run_batch
    from geo.pipeline.spec import load_spec

    granules = tmp_path / "granules"
    granules.mkdir()
    other = EMIT_GRANULE.replace("_004", "_005")
    for name in (EMIT_GRANULE, other):
        for kind in ("_RFL_", "_MASK_"):  # each granule with its MASK granule beside it
            src = SAMPLE / f"{EMIT_GRANULE.replace('_RFL_', kind)}.nc"
            shutil.copy(src, granules / f"{name.replace('_RFL_', kind)}.nc")
    scenes = [granules / f"{EMIT_GRANULE}.nc", granules / f"{other}.nc"]
    result = run_batch(load_spec(PIPELINE), scenes, out=tmp_path / "batch", workers=1, quiet=True)
    assert all(r["status"] == "ok" for r in result.scenes), result.scenes
    single = pd.read_csv(run.out_dir / "targets.csv")
    per_scene = pd.read_csv(tmp_path / "batch" / "scenes" / EMIT_GRANULE / "targets.csv")
    assert per_scene["score"].tolist() == pytest.approx(single["score"].tolist())
    assert len(result.targets) == len(single)  # the same ground twice: merged, not doubled
