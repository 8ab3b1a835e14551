"""The full chain on the bundled sample, checked against the planted truth."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import Point

from geo.errors import GeoWarning
from geo.pipeline.runner import run_pipeline
from geo.pipeline.spec import load_spec
from geo.targets.columns import TARGET_COLUMNS
from tests.conftest import PIPELINE, SAMPLE, without_exports

pytestmark = pytest.mark.slow
TRAPS = ("cloud", "cloud_shadow", "water", "vegetation", "dark_slope")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "sample"
    with pytest.warns(GeoWarning, match=r"1 target\(s\) lie outside every licence"):
        result = run_pipeline(without_exports(load_spec(PIPELINE)), out=out, pipeline_file=PIPELINE)
    return result


@pytest.fixture(scope="module")
def truth():
    return gpd.read_file(SAMPLE / "truth.gpkg", layer="planted")


def test_every_visible_planted_zone_is_a_target_in_the_right_licence(run, truth):
    targets = gpd.read_file(run.out_dir / "targets.gpkg", layer="targets")
    expected = truth[truth["expect_target"]]
    assert len(expected) >= 4
    for row in expected.itertuples():
        hits = targets[targets.intersects(row.geometry)]
        assert len(hits) == 1, f"planted {row.name} matched {len(hits)} targets"
        hit = hits.iloc[0]
        overlap = hit.geometry.intersection(row.geometry).area / hit.geometry.area
        assert overlap > 0.8, f"target over {row.name} lies mostly outside it ({overlap:.0%})"
        want = row.licence_no if isinstance(row.licence_no, str) else None
        got = hit["licence_id"] if isinstance(hit["licence_id"], str) else None
        assert got == want, f"{row.name}: licence {got!r}, expected {want!r}"


def test_porphyry_ranks_first(run, truth):
    targets = run.targets
    porphyry = truth[truth["kind"] == "porphyry"].geometry.iloc[0]
    first = targets[targets["rank"] == 1].iloc[0]
    assert first.geometry.intersects(porphyry)
    assert first["iron_intensity"] > 0 and first["clay_intensity"] > 0 and first["coincidence"] > 0
    assert first["score"] > targets[targets["rank"] == 2]["score"].iloc[0]


def test_no_target_on_cloud_water_vegetation_or_shadow(run, truth):
    traps = truth[truth["kind"].isin(TRAPS)]
    assert set(traps["kind"]) >= {"cloud", "water", "vegetation", "cloud_shadow"}
    for row in traps.itertuples():
        touching = run.targets[run.targets.intersects(row.geometry.buffer(-15))]
        assert touching.empty, (
            f"target(s) {touching['target_id'].tolist()} sit on the {row.kind} trap {row.name}"
        )
    hidden = truth[truth["name"] == "hidden_argillic"].geometry.iloc[0]
    assert not run.targets.intersects(hidden).any()


def test_output_contract(run):
    out = run.out_dir
    targets = gpd.read_file(out / "targets.gpkg", layer="targets")
    assert list(targets.columns[: len(TARGET_COLUMNS)]) == TARGET_COLUMNS
    assert targets.crs == "EPSG:32635"
    assert targets["rank"].tolist() == list(range(1, len(targets) + 1))
    assert targets["score"].is_monotonic_decreasing and targets["score"].between(0, 1).all()
    for row in targets.itertuples():
        assert row.geometry.contains(Point(row.easting, row.northing))
    back = gpd.GeoSeries.from_xy(targets["lon"], targets["lat"], crs="EPSG:4326").to_crs(
        targets.crs
    )
    np.testing.assert_allclose(back.x, targets["easting"], atol=0.05)
    np.testing.assert_allclose(back.y, targets["northing"], atol=0.05)
    csv = pd.read_csv(out / "targets.csv")
    assert list(csv.columns) == TARGET_COLUMNS
    assert csv["target_id"].tolist() == targets["target_id"].tolist()
    licences = gpd.read_file(out / "targets.gpkg", layer="licences")
    for lic in licences.itertuples():
        mine = targets[targets["licence_id"] == lic.licence_id]
        assert lic.n_targets == len(mine)
        if len(mine):
            assert lic.best_score == pytest.approx(mine["score"].max())
    zones = gpd.read_file(out / "targets.gpkg", layer="zones")
    assert set(zones["kind"]) == {"iron_oxide", "clay_hydroxyl"}


def test_rasters_are_cogs_and_masked(run):
    rasters = run.out_dir / "rasters"
    names = {p.stem for p in rasters.glob("*.tif")}
    # outputs: default writes what is needed to check and reuse the result: the masks, the
    # anomaly layers, their z-scores and the indices they are fitted on (no field format
    # draws the basemap here: exports are off); the other indices only with outputs: all
    assert names == {
        "mask_reasons",
        "iron_oxide",
        "clay_hydroxyl",
        "iron_oxide_z",
        "iron_oxide_anomaly",
        "clay_hydroxyl_z",
        "clay_hydroxyl_anomaly",
    }
    written = run.manifest["rasters"]["written"]
    assert written["iron_oxide"] == ["anomalies.iron_oxide"]
    assert "ndvi" in run.manifest["rasters"]["not_written"]
    assert not list(rasters.glob(".*")), "no staging file left"
    with (
        rasterio.open(rasters / "mask_reasons.tif") as m,
        rasterio.open(rasters / "iron_oxide.tif") as r,
    ):
        assert r.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        reasons, ratio = m.read(1), r.read(1)
        assert np.isnan(ratio[reasons != 0]).all()
        assert np.isfinite(ratio[reasons == 0]).mean() > 0.999


def test_manifest_records_inputs_scaling_masks_thresholds(run):
    m = json.loads((run.out_dir / "manifest.json").read_text())
    files = m["inputs"]["scene"]["files"]
    assert any(f["path"].endswith("_MTL.json") for f in files) and all(
        len(f["sha256"]) == 64 for f in files
    )
    assert m["inputs"]["licences"]["source_crs"] == "EPSG:4326"
    assert m["inputs"]["licences"]["reprojected_to"] == "EPSG:32635"
    assert (
        m["scene"]["bands"]["red"]["mult"] == 2.75e-05 and m["scene"]["bands"]["red"]["add"] == -0.2
    )
    assert m["scene"]["scaling_group"] == "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
    rules = m["masks"]["rules"]
    assert (
        rules["cloud"]["fraction"] > 0
        and rules["vegetation"]["fraction"] > 0
        and rules["fill"]["fraction"] > 0
    )
    assert 0.3 < m["masks"]["valid_fraction"] < 0.95
    thr = m["thresholds"]["iron_oxide"]
    assert (
        thr["method"] == "robust_z"
        and thr["log"] is True
        and thr["cutoff"] == pytest.approx(np.exp(thr["center"] + 3 * thr["scale"]), rel=1e-9)
    )
    assert set(m["timings_s"]) >= {
        "ingest",
        "masks_indices",
        "anomalies",
        "zones",
        "targets",
        "export",
    }
    assert "rasterio" in m["versions"] and m["versions"]["gdal"]
    assert sorted(m["outputs"]) == sorted(
        str(p.relative_to(run.out_dir)) for p in run.out_dir.rglob("*") if p.is_file()
    )


def test_a_scene_without_anomalies_gives_an_empty_but_complete_output(tmp_path):
    spec = without_exports(load_spec(PIPELINE))
    strict = {name: a.model_copy(update={"k": 80.0}) for name, a in spec.anomalies.items()}
    spec = spec.model_copy(update={"anomalies": strict})
    with pytest.warns(GeoWarning, match="no targets: no anomaly zone"):
        result = run_pipeline(spec, out=tmp_path / "empty")
    assert result.targets.empty
    targets = gpd.read_file(tmp_path / "empty" / "targets.gpkg", layer="targets")
    assert list(targets.columns[: len(TARGET_COLUMNS)]) == TARGET_COLUMNS and targets.empty
    assert list(pd.read_csv(tmp_path / "empty" / "targets.csv").columns) == TARGET_COLUMNS
    licences = gpd.read_file(tmp_path / "empty" / "targets.gpkg", layer="licences")
    assert (licences["n_targets"] == 0).all() and (licences["anomalous_area_ha"] == 0).all()


def test_thresholds_use_only_pixels_inside_the_area_of_interest(tmp_path):
    licences = gpd.read_file(SAMPLE / "licences.gpkg", layer="licences")
    aoi = licences[licences["licence_no"] == "PL 012/2021"]  # holds the porphyry
    aoi.to_file(tmp_path / "aoi.gpkg", layer="aoi")
    from geo.pipeline.spec import AoiInput

    spec = without_exports(load_spec(PIPELINE))
    aoi_input = AoiInput(path=tmp_path / "aoi.gpkg", layer="aoi")
    spec = spec.model_copy(update={"inputs": spec.inputs.model_copy(update={"aoi": aoi_input})})
    with pytest.warns(GeoWarning):
        result = run_pipeline(spec, out=tmp_path / "run")
    whole = json.loads((tmp_path / "run" / "manifest.json").read_text())
    inside = whole["methods"]["aoi"]["pixels_inside"]
    area_px = aoi.to_crs("EPSG:32635").area.sum() / 900
    assert inside == pytest.approx(area_px, rel=0.02)
    # fewer pixels enter the statistics than in the whole-scene run
    assert whole["thresholds"]["iron_oxide"]["n_valid"] <= inside < 200_000
    assert result.targets["licence_id"].notna().any()


@pytest.mark.parametrize("action", ["flag", "remove"])
def test_exclusion_zones_flag_or_remove_targets(tmp_path, truth, action):
    from geo.pipeline.spec import ExclusionInput

    # a "protected area" over the argillic zone, stored in WGS84 like most national layers
    protected = truth[truth["name"] == "argillic"][["geometry"]].assign(name="Nature reserve")
    protected.to_crs("EPSG:4326").to_file(tmp_path / "protected.gpkg", layer="protected")
    spec = without_exports(load_spec(PIPELINE))
    ex = ExclusionInput(
        path=tmp_path / "protected.gpkg", layer="protected", name_column="name", action=action
    )
    spec = spec.model_copy(update={"inputs": spec.inputs.model_copy(update={"exclusions": ex})})
    with pytest.warns(GeoWarning):
        result = run_pipeline(spec, out=tmp_path / "run")
    argillic = truth[truth["name"] == "argillic"].geometry.iloc[0]
    hit = result.targets[result.targets.intersects(argillic)]
    if action == "flag":
        assert len(hit) == 1 and "excluded:Nature reserve" in hit.iloc[0]["flags"]
    else:
        assert hit.empty
        assert result.targets["rank"].tolist() == list(range(1, len(result.targets) + 1))
        assert any("removed by the exclusion zones" in n for n in result.warnings)


def test_results_do_not_depend_on_the_chunk_size(tmp_path):
    """Chunks of 256 px (many blocks, zones cut across tiles) give the same run as 1024 px."""
    import rasterio as rio

    spec = without_exports(load_spec(PIPELINE))
    runs = {}
    for chunk in (256, 1024):
        s = spec.model_copy(
            update={"processing": spec.processing.model_copy(update={"chunk": chunk})}
        )
        with pytest.warns(GeoWarning):
            runs[chunk] = run_pipeline(s, out=tmp_path / str(chunk))
    a, b = runs[256].targets, runs[1024].targets
    assert a["target_id"].tolist() == b["target_id"].tolist()
    assert np.allclose(a["score"], b["score"]) and np.allclose(a["area_ha"], b["area_ha"])
    assert a.geometry.symmetric_difference(b.geometry, align=False).area.max() < 1e-6
    for name in ("iron_oxide", "clay_hydroxyl_z", "mask_reasons"):
        with (
            rio.open(tmp_path / "256" / "rasters" / f"{name}.tif") as x,
            rio.open(tmp_path / "1024" / "rasters" / f"{name}.tif") as y,
        ):
            assert np.array_equal(x.read(1), y.read(1), equal_nan=True), name


def test_an_indices_only_pipeline_runs_and_writes_no_targets(tmp_path):
    spec = without_exports(load_spec(PIPELINE))
    spec = spec.model_copy(
        update={
            "indices": ["iron_oxide", "clay_hydroxyl"],
            "anomalies": {},
            "targets": spec.targets.model_copy(update={"iron": [], "clay": []}),
        }
    )
    with pytest.warns(GeoWarning, match="no targets"):
        result = run_pipeline(spec, out=tmp_path / "idx")
    assert result.targets.empty and result.zones.empty
    with rasterio.open(result.out_dir / "rasters" / "iron_oxide.tif") as src:
        assert np.isfinite(src.read(1)).mean() > 0.5
