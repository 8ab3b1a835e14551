"""The prospectivity pipeline on the sample: evidence, score, targets, evaluation, re-ranking."""

import json
import math
import shutil
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio import features
from shapely.geometry import LineString, box

from geo.errors import CRSError, GeoWarning, InvalidParameterError, PipelineSpecError
from geo.pipeline.runner import rerank
from geo.pipeline.spec import load_spec
from geo.targets.columns import PROSPECT_COLUMNS, TARGET_COLUMNS
from tests.conftest import ROOT, SAMPLE, without_exports

pytestmark = pytest.mark.slow
PROSPECT = ROOT / "pipelines" / "landsat_prospectivity.yaml"
EVIDENCE = ("iron", "clay", "faults", "intersections")


def _quiet_rerank(run_dir, spec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoWarning)
        return rerank(run_dir, pipeline=spec)


@pytest.fixture(scope="module")
def run(prospect_run):
    return prospect_run


@pytest.fixture
def run_copy(run, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(run.out_dir, dst)
    return dst


@pytest.fixture(scope="module")
def truth():
    return gpd.read_file(SAMPLE / "truth.gpkg", layer="planted")


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1, masked=True).filled(np.nan).astype("float64"), src.transform


def test_targets_come_from_the_top_of_the_score(run):
    m = run.manifest
    assert m["targets"]["source"] == "prospectivity"
    score, transform = _read(run.out_dir / "rasters" / "prospectivity.tif")
    finite = score[np.isfinite(score)]
    # the cutoff keeps the requested share of the scored area
    assert (finite >= m["targets"]["cutoff"]).mean() == pytest.approx(0.02, abs=2e-4)
    targets = run.targets
    assert list(targets.columns[: len(TARGET_COLUMNS)]) == TARGET_COLUMNS
    extra = [
        *PROSPECT_COLUMNS,
        *(f"mean_{n}" for n in EVIDENCE),
        *(f"contrib_{n}" for n in EVIDENCE),
    ]
    assert list(targets.columns[len(TARGET_COLUMNS) : -1]) == extra
    # targets are made of the pixels at or above the cutoff, sieved (holes < 6 px filled)
    above = (score >= m["targets"]["cutoff"]).astype("uint8")
    sieved = features.sieve(above, size=6, connectivity=8) == 1
    for geom, smax in zip(targets.geometry, targets["score_max"], strict=True):
        inside = features.rasterize([(geom, 1)], out_shape=score.shape, transform=transform) == 1
        assert sieved[inside].all()
        assert (score[inside] >= m["targets"]["cutoff"]).mean() > 0.9
        assert np.nanmax(score[inside]) == pytest.approx(smax, abs=1e-6)
    assert targets["score"].is_monotonic_decreasing
    assert (targets["score_method"] == "weighted").all()


def test_the_weighted_breakdown_adds_up(run):
    """score_mean = Σ wᵢ·medianᵢ/Σw + Σ contributionᵢ: exact for a weighted overlay."""
    m = run.manifest["prospectivity"]
    weights = m["combination"]["weights"]
    medians = m["baseline_medians"]
    total = sum(weights.values())
    base = sum(weights[n] * medians[n] for n in EVIDENCE) / total
    for _, t in run.targets.iterrows():
        parts = sum(t[f"contrib_{n}"] for n in EVIDENCE)
        assert t["score_mean"] == pytest.approx(base + parts, abs=1e-5)
        for n in EVIDENCE:
            expected = weights[n] * (t[f"mean_{n}"] - medians[n]) / total
            assert t[f"contrib_{n}"] == pytest.approx(expected, abs=1e-5)


def test_planted_systems_are_found_and_the_porphyry_leads(run, truth):
    targets = run.targets
    porphyry = truth.set_index("name").geometry["porphyry"]
    first = targets.iloc[0]
    assert first.geometry.intersects(porphyry)
    assert "clay" in first["evidence"] and "intersections" in first["evidence"]
    for row in truth[truth["expect_target"]].itertuples():
        assert targets.intersects(row.geometry).any(), f"{row.name} is not in any target"
    hidden = truth.set_index("name").geometry["hidden_argillic"]
    assert not targets.intersects(hidden).any()  # under the cloud: no score, no target


def test_memberships_on_disk_follow_the_pipeline(run):
    """Distance to faults on the grid, and its linear membership (1500 m → 0, 0 m → 1)."""
    dist, transform = _read(run.out_dir / "rasters" / "evidence_faults.tif")
    mu, _ = _read(run.out_dir / "rasters" / "membership_faults.tif")
    ok = np.isfinite(dist)
    assert np.allclose(mu[ok], np.clip(1 - dist[ok] / 1500, 0, 1), atol=1e-6)
    faults = gpd.read_file(SAMPLE / "structures.gpkg", layer="faults").to_crs(run.targets.crs)
    rng = np.random.default_rng(0)
    rows, cols = np.nonzero(ok)
    pick = rng.choice(rows.size, 200, replace=False)
    xs, ys = transform * (cols[pick] + 0.5, rows[pick] + 0.5)
    exact = [
        faults.distance(gpd.points_from_xy([x], [y])[0]).min() for x, y in zip(xs, ys, strict=True)
    ]
    half_diag = math.hypot(30, 30) / 2
    assert np.all(np.abs(dist[rows[pick], cols[pick]] - np.array(exact)) <= half_diag + 1e-6)


def test_evaluation_against_known_occurrences(run):
    ev = run.manifest["evaluation"]
    # 8 occurrences; the one under the cloud has no score (its alteration evidence is masked)
    assert ev["occurrences_scored"] == 7
    assert any("1 occurrence cell(s) have no prospectivity score" in w for w in run.warnings)
    pr = ev["prediction_rate"]
    assert 0.5 < pr["auc"] <= 1 and set(pr["area_capture"]) == {
        "top_2pct",
        "top_5pct",
        "top_10pct",
        "top_20pct",
    }
    # three occurrences have no surface expression: capture in the top 20 % cannot exceed 5/7
    assert pr["area_capture"]["top_20pct"] <= 5 / 7 + 1e-4  # (rounded to 4 decimals)
    assert ev["targets"]["occurrences"] == 8 and ev["targets"]["occurrences_in_targets"] >= 4
    import matplotlib.image

    for name in ("evaluation.png", "prospectivity.png", "quicklook.png"):
        png = matplotlib.image.imread(run.out_dir / name)
        assert png.shape[0] > 300 and png.shape[1] > 300 and png.std() > 0.05, name


def test_licence_summary_has_evidence_coverage(run):
    lic = pd.read_csv(run.out_dir / "licences.csv").set_index("licence_id")
    reasons, transform = _read(run.out_dir / "rasters" / "mask_reasons.tif")
    layer = gpd.read_file(SAMPLE / "licences.gpkg", layer="licences").to_crs(run.targets.crs)
    for row in layer.itertuples():
        inside = (
            features.rasterize([(row.geometry, 1)], out_shape=reasons.shape, transform=transform)
            == 1
        )
        expected = 100 * (reasons[inside] == 0).sum() / (row.geometry.area / 900)
        assert lic.loc[row.licence_no, "valid_pct"] == pytest.approx(expected, abs=0.05)
    # the cloud sits on the expired licence: much less of it could be seen
    assert lic.loc["PL 044/2017", "valid_pct"] < lic["valid_pct"].drop("PL 044/2017").min() - 10
    assert {"prospective_pct", "mean_prospectivity", "iron_oxide_pct", "clay_hydroxyl_pct"} <= set(
        lic.columns
    )
    assert lic["prospective_pct"].between(0, 100).all()


def test_straddling_targets_can_be_split_at_licence_boundaries(run_copy):
    spec = without_exports(load_spec(PROSPECT))
    before = gpd.read_file(run_copy / "targets.gpkg", layer="targets")
    straddling = before[before["straddles_boundary"]]
    assert (
        len(straddling) >= 1
        and straddling["flags"].str.contains("straddles_licence_boundary").all()
    )
    split = spec.model_copy(
        update={"targets": spec.targets.model_copy(update={"straddle": "split"})}
    )
    result = _quiet_rerank(run_copy, split)
    after = result.targets
    assert not after["straddles_boundary"].any()
    pieces = after[after["split_with"] != ""]
    assert len(pieces) >= 2
    licensed = pieces[pieces["licence_id"].notna()]
    assert (licensed["licence_overlap_pct"] > 99.9).all()
    for _, t in pieces.iterrows():  # each piece names its siblings, and they name it back
        for other in t["split_with"].split(","):
            assert t["target_id"] in after.set_index("target_id").loc[other, "split_with"].split(
                ","
            )
    assert result.manifest["targets"]["straddle"] == "split"


def test_rerank_with_weights_of_evidence(run_copy):
    spec = without_exports(load_spec(PROSPECT))
    p = spec.prospectivity.model_copy(
        update={"method": "wofe", "min_studentised": 1.0, "weights": {}}
    )
    result = _quiet_rerank(run_copy, spec.model_copy(update={"prospectivity": p}))
    info = result.manifest["prospectivity"]["combination"]
    assert info["method"] == "wofe" and 0 < info["prior"] < 0.001
    # the posterior on disk is logit(prior) + Σ W± of the patterns, cell by cell
    post, _ = _read(run_copy / "rasters" / "prospectivity.tif")
    logit = np.full(post.shape, math.log(info["prior"] / (1 - info["prior"])))
    for name, ev in info["evidence"].items():
        mu, _ = _read(run_copy / "rasters" / f"membership_{name}.tif")
        op, cut = ev["pattern"].split()
        present = mu <= float(cut) if op == "<=" else mu >= float(cut) - 1e-6
        logit += np.where(np.isfinite(mu), np.where(present, ev["w_plus"], ev["w_minus"]), 0.0)
    ok = np.isfinite(post)
    assert np.allclose(post[ok], 1 / (1 + np.exp(-logit[ok])), rtol=1e-4, atol=1e-9)
    ev = result.manifest["evaluation"]
    assert (
        "success_rate" in ev and ev["holdout"]["leave_one_out"]["folds"] == ev["occurrences_scored"]
    )
    assert "blocks" in ev["holdout"] and (run_copy / "rasters" / "prospectivity_std.tif").is_file()
    assert "conditional_independence" in info


def test_rerank_with_random_forest_reports_hold_outs(run_copy):
    spec = without_exports(load_spec(PROSPECT))
    p = spec.prospectivity.model_copy(
        update={"method": "random_forest", "weights": {}, "estimator_params": {"n_estimators": 60}}
    )
    result = _quiet_rerank(run_copy, spec.model_copy(update={"prospectivity": p}))
    info = result.manifest["prospectivity"]["combination"]
    assert set(info["importances"]) == set(EVIDENCE)
    assert info["positives"] == 7 and info["negatives"] == 70
    ev = result.manifest["evaluation"]
    assert ev["holdout"]["leave_one_out"]["folds"] == 7
    assert 0 <= ev["holdout"]["blocks"]["auc"] <= 1
    # the same seed gives the same ranking (hold-outs off: they do not change the map)
    quick = p.model_copy(update={"evaluation": p.evaluation.model_copy(update={"holdout": []})})
    again = _quiet_rerank(run_copy, spec.model_copy(update={"prospectivity": quick}))
    assert again.targets["score"].tolist() == result.targets["score"].tolist()


def test_outside_raster_in_another_crs_is_reprojected_explicitly(run_copy, tmp_path):
    """A 'magnetics' grid in UTM 35S at 60 m: warped onto the scene grid, values preserved."""
    spec = without_exports(load_spec(PROSPECT))
    with rasterio.open(run_copy / "rasters" / "mask_reasons.tif") as src:
        left, bottom, right, top = src.bounds
    # same zone, southern false northing: y_south = y_north + 10 000 000
    res = 60.0
    width, height = int((right - left) / res) + 4, int((top - bottom) / res) + 4
    transform = rasterio.transform.from_origin(left - 2 * res, top + 1e7 + 2 * res, res, res)
    xs = left - 2 * res + res * (np.arange(width) + 0.5)
    grid = np.tile((xs - left) / 1000.0, (height, 1)).astype("float32")  # km east of the scene edge
    path = tmp_path / "magnetics.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="float32",
        crs="EPSG:32735",
        transform=transform,
        nodata=-9999,
    ) as dst:
        dst.write(grid, 1)
    evidence = dict(spec.evidence)
    evidence["magnetics"] = spec.evidence["iron"].model_copy(
        update={"layer": None, "raster": path, "membership": None}
    )
    p = spec.prospectivity.model_copy(update={"method": "logistic", "weights": {}})
    result = _quiet_rerank(
        run_copy, spec.model_copy(update={"evidence": evidence, "prospectivity": p})
    )
    info = result.manifest["prospectivity"]["evidence"]["magnetics"]
    assert info["reprojected"]["from_crs"] == "EPSG:32735"
    warped, t = _read(run_copy / "rasters" / "evidence_magnetics.tif")
    centres = (t.c + t.a * (np.arange(warped.shape[1]) + 0.5) - left) / 1000.0
    ok = np.isfinite(warped)
    # bilinear on a linear ramp is exact
    assert np.allclose(warped[ok], np.broadcast_to(centres, warped.shape)[ok], atol=1e-4)


def test_bad_evidence_inputs_get_clear_errors(run_copy, tmp_path):
    spec = without_exports(load_spec(PROSPECT))
    lines = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])])  # no CRS
    nocrs = tmp_path / "nocrs.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyogrio: "'crs' was not provided"
        lines.to_file(nocrs, layer="faults")
    evidence = dict(spec.evidence)
    evidence["faults"] = spec.evidence["faults"].model_copy(update={"vector": nocrs})
    with pytest.raises(CRSError, match="no CRS; geo never guesses one"):
        _quiet_rerank(run_copy, spec.model_copy(update={"evidence": evidence}))
    geology = gpd.GeoDataFrame(
        {"rock": ["granite", "basalt"]},
        geometry=[box(545000, -2390000, 560000, -2380000), box(545000, -2380000, 560000, -2370000)],
        crs="EPSG:32635",
    )
    geology.to_file(tmp_path / "geology.gpkg", layer="geology")
    doc = {
        "vector": str(tmp_path / "geology.gpkg"),
        "measure": "category",
        "column": "rock",
        "membership": {"function": "categories", "values": {"granit": 0.9}},
    }
    from geo.pipeline.spec import EvidenceSpec

    evidence = {**spec.evidence, "rock": EvidenceSpec.model_validate(doc)}
    with pytest.raises(
        InvalidParameterError, match=r"'granit' is not a value of column 'rock'.*basalt, granite"
    ):
        _quiet_rerank(run_copy, spec.model_copy(update={"evidence": evidence}))


def test_categories_become_memberships(run_copy, tmp_path):
    spec = without_exports(load_spec(PROSPECT))
    with rasterio.open(run_copy / "rasters" / "mask_reasons.tif") as src:
        left, bottom, right, top = src.bounds
    mid = (left + right) / 2
    geology = gpd.GeoDataFrame(
        {"rock": ["granite", "basalt"]},
        geometry=[box(left, bottom, mid, top), box(mid, bottom, right, top)],
        crs="EPSG:32635",
    ).to_crs("EPSG:4326")
    geology.to_file(tmp_path / "geology.gpkg", layer="geology")
    from geo.pipeline.spec import EvidenceSpec

    rock = EvidenceSpec.model_validate(
        {
            "vector": str(tmp_path / "geology.gpkg"),
            "measure": "category",
            "column": "rock",
            "membership": {"function": "categories", "values": {"granite": 0.9}, "default": 0.2},
        }
    )
    _quiet_rerank(run_copy, spec.model_copy(update={"evidence": {**spec.evidence, "rock": rock}}))
    mu, t = _read(run_copy / "rasters" / "membership_rock.tif")
    xs = t.c + t.a * (np.arange(mu.shape[1]) + 0.5)
    west, east = mu[:, xs < mid - 100], mu[:, xs > mid + 100]
    assert np.nanmin(west) == pytest.approx(0.9) and np.nanmax(west) == pytest.approx(0.9)
    assert np.nanmax(east) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"evidence": {"x": {"layer": "nope"}}},
            "evidence.x.layer: 'nope' is not a raster this pipeline writes",
        ),
        (
            {"evidence": {"x": {"layer": "iron_oxide_z", "vector": "a.gpkg"}}},
            "exactly one of layer",
        ),
        ({"evidence": {"x": {"vector": "a.gpkg", "measure": "density"}}}, "needs radius_m"),
        (
            {"evidence": {"x": {"vector": "a.gpkg", "measure": "category", "column": "c"}}},
            "category codes have no order",
        ),
        (
            {"prospectivity": {"method": "weighted", "weights": {"y": 1}}},
            "prospectivity.weights: 'y' is not under evidence",
        ),
        ({"prospectivity": {"method": "wofe"}}, "set inputs.occurrences"),
        ({"prospectivity": {"method": "magic"}}, "prospectivity.method"),
    ],
)
def test_pipeline_file_mistakes_are_caught_before_running(tmp_path, patch, message):
    import yaml

    doc = yaml.safe_load(PROSPECT.read_text())
    doc["inputs"].pop("occurrences") if "wofe" in json.dumps(patch) else None
    for key, value in patch.items():
        if key == "prospectivity":
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(PipelineSpecError, match=message):
        load_spec(path)


def test_cli_prints_the_evaluation(run_copy):
    from click.testing import CliRunner

    from geo.cli.main import main

    result = CliRunner().invoke(main, ["rank", str(run_copy), "--pipeline", str(PROSPECT)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((run_copy / "manifest.json").read_text())
    auc = manifest["evaluation"]["prediction_rate"]["auc"]
    assert f"prediction-rate AUC {auc:.3f} on 7 occurrences" in result.output
    assert "evidence (contribution)" in result.output


def test_a_raster_of_class_codes_takes_a_categories_membership(run_copy, tmp_path):
    spec = without_exports(load_spec(PROSPECT))
    with rasterio.open(run_copy / "rasters" / "mask_reasons.tif") as src:
        profile = {k: src.profile[k] for k in ("width", "height", "crs", "transform")}
    codes = np.ones((profile["height"], profile["width"]), "uint8")
    codes[:, profile["width"] // 2 :] = 7
    codes[:10] = 0  # nodata
    path = tmp_path / "geology_codes.tif"
    with rasterio.open(
        path, "w", driver="GTiff", count=1, dtype="uint8", nodata=0, **profile
    ) as dst:
        dst.write(codes, 1)
    from geo.pipeline.spec import EvidenceSpec

    rock = EvidenceSpec.model_validate(
        {
            "raster": str(path),
            "resampling": "nearest",
            "membership": {"function": "categories", "values": {"7": 0.8}, "default": 0.3},
        }
    )
    _quiet_rerank(run_copy, spec.model_copy(update={"evidence": {**spec.evidence, "rock": rock}}))
    mu, _ = _read(run_copy / "rasters" / "membership_rock.tif")
    half = profile["width"] // 2
    assert np.isnan(mu[:10]).all()  # nodata stays undefined
    body = mu[10:]
    assert np.nanmax(body[:, :half]) == pytest.approx(0.3) and np.nanmin(
        body[:, half:]
    ) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="class codes"):
        EvidenceSpec.model_validate(
            {
                "raster": str(path),
                "membership": {"function": "categories", "values": {"granite": 1}},
            }
        )


def test_in_memory_evidence_is_chunked_without_a_copy():
    """A computed grid (distances) goes to dask as views: no second whole grid."""
    import tracemalloc

    import xarray as xr

    from geo.pipeline.prospect import _chunked_view

    values = np.arange(300 * 500, dtype="float32").reshape(300, 500)
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": np.arange(300), "x": np.arange(500)})
    tracemalloc.start()
    view = _chunked_view(da, 128)
    grown = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert grown < values.nbytes / 10  # da.chunk() would copy all 600 kB
    assert view.chunks == ((128, 128, 44), (128, 128, 128, 116))
    np.testing.assert_array_equal(view.values, values)
    np.testing.assert_array_equal(view[130:140, 250:260].values, values[130:140, 250:260])
    assert view.dims == da.dims and np.array_equal(view.x, da.x)
