"""The command line: the sample run, `info`, `indices`, and every bad input of the foundation issue."""

import json
import shutil
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from click.testing import CliRunner
from shapely.geometry import box

from geo.cli.main import main
from tests.conftest import PIPELINE, PRODUCT_ID, SAMPLE


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_user_error(result, *fragments, out=None):
    assert result.exit_code == 2, result.output + result.stderr
    assert isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.startswith("geo: error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr
    if out is not None:
        assert not out.exists(), "a failed run must not leave an output folder"
        assert not list(out.parent.glob(f".{out.name}.tmp-*")), "temporary folder left behind"


def test_run_prints_table_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "run"
    first = invoke("run", "--no-export", PIPELINE, "--out", out)
    assert first.exit_code == 0, first.stderr
    assert "rank" in first.output and "T001" in first.output and "PL 012/2021" in first.output
    again = invoke("run", "--no-export", PIPELINE, "--out", out)
    assert_user_error(again, str(out), "--overwrite")
    assert (out / "manifest.json").exists(), "the refused run must leave the previous run intact"
    assert invoke("run", "--no-export", PIPELINE, "--out", out, "--overwrite").exit_code == 0


def test_info_and_indices():
    info = invoke("info", SAMPLE / PRODUCT_ID)
    assert info.exit_code == 0, info.stderr
    assert "landsat_oli (LANDSAT_8)" in info.output and "EPSG:32635" in info.output
    assert "x 2.75e-05 + -0.2" in info.output and "swir2" in info.output
    listing = invoke("indices", "--list", "--sensor", "landsat_oli")
    assert "iron_oxide" in listing.output and "red / blue" in listing.output
    assert_user_error(
        invoke("indices", "--list", "--sensor", "sentinel9"), "Unknown sensor 'sentinel9'"
    )


def test_missing_scene(tmp_path):
    out = tmp_path / "o"
    assert_user_error(
        invoke("run", "--no-export", PIPELINE, "--scene", tmp_path / "nope", "--out", out),
        "nope",
        "scene not found",
        out=out,
    )


def test_unreadable_scene(tmp_path):
    bad = tmp_path / "scene.tif"
    bad.write_bytes(b"not a tiff at all")
    out = tmp_path / "o"
    assert_user_error(
        invoke("run", "--no-export", PIPELINE, "--scene", bad, "--out", out),
        "scene.tif",
        "cannot open",
        out=out,
    )


def test_missing_band_file(tmp_path, product_copy):
    (product_copy / f"{PRODUCT_ID}_SR_B6.TIF").unlink()
    out = tmp_path / "o"
    assert_user_error(
        invoke("run", "--no-export", PIPELINE, "--scene", product_copy, "--out", out),
        f"{PRODUCT_ID}_SR_B6.TIF",
        "band 6 (swir1)",
        out=out,
    )


def test_mtl_without_level2_group(tmp_path, product_copy):
    for mtl in product_copy.glob("*_MTL.*"):
        text = mtl.read_text().replace(
            "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "LEVEL2_SOMETHING_ELSE"
        )
        mtl.write_text(text)
    out = tmp_path / "o"
    assert_user_error(
        invoke("run", "--no-export", PIPELINE, "--scene", product_copy, "--out", out),
        "_MTL.json",
        "PROCESSING_LEVEL is L2SR but the MTL has no",
        out=out,
    )


def test_scene_without_crs(tmp_path, product_copy):
    band = product_copy / f"{PRODUCT_ID}_SR_B2.TIF"
    with rasterio.open(band) as src:
        profile, data = src.profile, src.read()
    profile.pop("crs")
    band.unlink()
    with rasterio.open(band, "w", **profile) as dst:
        dst.write(data)
    out = tmp_path / "o"
    assert_user_error(
        invoke("run", "--no-export", PIPELINE, "--scene", product_copy, "--out", out),
        "SR_B2.TIF",
        "has no CRS",
        out=out,
    )


def test_licence_file_missing_empty_or_without_crs(tmp_path):
    out = tmp_path / "o"
    assert_user_error(
        invoke("run", "--no-export", PIPELINE, "--licences", tmp_path / "none.gpkg", "--out", out),
        "none.gpkg",
        "licence file not found",
        out=out,
    )
    lic = gpd.read_file(SAMPLE / "licences.gpkg", layer="licences")
    empty = tmp_path / "empty.gpkg"
    lic.iloc[:0].to_file(empty, layer="licences")
    assert_user_error(
        invoke("run", "--no-export", PIPELINE, "--licences", empty, "--out", out),
        "empty.gpkg",
        "licence layer is empty",
        out=out,
    )
    no_crs = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        lic.set_crs(None, allow_override=True).to_file(no_crs, layer="licences")
    assert_user_error(
        invoke("run", "--no-export", PIPELINE, "--licences", no_crs, "--out", out),
        "nocrs.gpkg",
        "has no CRS",
        out=out,
    )


def test_licence_field_mapping_error(tmp_path):
    lic = gpd.read_file(SAMPLE / "licences.gpkg", layer="licences").rename(
        columns={"licence_no": "lic_num"}
    )
    path = tmp_path / "renamed.gpkg"
    lic.to_file(path, layer="licences")
    out = tmp_path / "o"
    assert_user_error(
        invoke("run", "--no-export", PIPELINE, "--licences", path, "--out", out),
        "column 'licence_no' (mapped to 'licence_id') is missing",
        "lic_num",
        out=out,
    )


def test_licences_that_do_not_overlap_warn_and_keep_targets_unlicensed(tmp_path):
    far = gpd.GeoDataFrame(
        {"licence_no": ["FAR-1"], "holder_name": ["X"], "status": ["granted"]},
        geometry=[box(10.0, 50.0, 10.1, 50.1)],
        crs="EPSG:4326",
    )
    path = tmp_path / "far.gpkg"
    far.to_file(path, layer="licences")
    out = tmp_path / "o"
    result = invoke("run", "--no-export", PIPELINE, "--licences", path, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "none of the 1 licences overlaps the scene" in result.stderr
    targets = gpd.read_file(out / "targets.gpkg", layer="targets")
    assert len(targets) > 0 and targets["licence_id"].isna().all()


def test_unknown_pipeline_key(tmp_path):
    doc = yaml.safe_load(PIPELINE.read_text())
    doc["zones"]["min_area"] = 3
    doc["inputs"]["scene"]["path"] = str(SAMPLE / PRODUCT_ID)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "o"
    assert_user_error(
        invoke("run", "--no-export", path, "--out", out),
        "p.yaml",
        "unknown key 'zones.min_area'",
        out=out,
    )


def test_licence_layer_in_a_projected_national_crs(tmp_path):
    """Licences in Arc 1950 / UTM 35S (southern zone, other datum) join like the WGS84 ones."""
    lic = gpd.read_file(SAMPLE / "licences.gpkg", layer="licences").to_crs("EPSG:20935")
    path = tmp_path / "arc1950.gpkg"
    lic.to_file(path, layer="licences")
    out = tmp_path / "o"
    result = invoke("run", "--no-export", PIPELINE, "--licences", path, "--out", out)
    assert result.exit_code == 0, result.stderr
    ref = invoke("run", "--no-export", PIPELINE, "--out", tmp_path / "ref")
    a = gpd.read_file(out / "targets.gpkg", layer="targets")
    b = gpd.read_file(tmp_path / "ref" / "targets.gpkg", layer="targets")
    assert ref.exit_code == 0
    assert a["licence_id"].fillna("-").tolist() == b["licence_id"].fillna("-").tolist()
    np.testing.assert_allclose(a["licence_overlap_pct"], b["licence_overlap_pct"], atol=0.5)


def test_real_process_exit_code_and_no_traceback(tmp_path):
    """Through the installed console script, as a user runs it."""
    geo = shutil.which("geo", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert geo, "the geo console script is not installed"
    proc = subprocess.run(
        [
            geo,
            "run",
            str(PIPELINE),
            "--scene",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("geo: error:") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_fully_masked_scene_is_a_result_that_says_which_masks_removed_it(tmp_path):
    """A forest scene (every pixel vegetation) finishes: zero targets, unexplored licences."""
    doc = yaml.safe_load(PIPELINE.read_text())
    doc["masks"]["ndvi_max"] = -1.0  # every pixel counts as vegetation
    doc["inputs"]["scene"]["path"] = str(SAMPLE / PRODUCT_ID)
    doc["inputs"]["licences"]["path"] = str(SAMPLE / "licences.gpkg")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "o"
    result = invoke("run", path, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "0 targets" in result.output and "vegetation 96.50%" in result.output
    warning = [line for line in result.stderr.splitlines() if "no usable pixels" in line]
    assert warning and "the masks removed vegetation 96.5%" in warning[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["usable"]["usable"] is False and manifest["usable"]["pixels"] == 0
    assert manifest["targets"]["count"] == 0
    assert {t["fitted"] for t in manifest["thresholds"].values()} == {False}
    licences = pd.read_csv(out / "licences.csv")
    assert len(licences) == 4 and (licences["valid_pct"] == 0).all()
    assert (licences["imaged_pct"] > 99).all() and (licences["n_targets"] == 0).all()
    assert (out / "report.html").is_file() and (out / "exports" / "targets.gpx").is_file()


def test_rank_re_ranks_an_existing_run_without_touching_rasters(tmp_path):
    out = tmp_path / "run"
    assert invoke("run", "--no-export", PIPELINE, "--out", out).exit_code == 0
    before = {p.name: p.stat().st_mtime_ns for p in (out / "rasters").glob("*.tif")}
    first = gpd.read_file(out / "targets.gpkg", layer="targets")
    doc = yaml.safe_load(PIPELINE.read_text())
    doc["targets"]["weights"] = {
        "iron_intensity": 0.0,
        "clay_intensity": 1.0,
        "coincidence": 0.0,
        "area": 0.0,
    }
    doc["inputs"]["scene"]["path"] = str(SAMPLE / PRODUCT_ID)
    doc["inputs"]["licences"]["path"] = str(SAMPLE / "licences.gpkg")
    clay_only = tmp_path / "clay.yaml"
    clay_only.write_text(yaml.safe_dump(doc))
    result = invoke("rank", out, "--pipeline", clay_only)
    assert result.exit_code == 0, result.stderr
    again = gpd.read_file(out / "targets.gpkg", layer="targets")
    assert len(again) == len(first)
    assert again.iloc[0]["clay_intensity"] == again["clay_intensity"].max()  # clay decides now
    assert again.iloc[0]["score"] == pytest.approx(again.iloc[0]["clay_intensity"], abs=1e-6)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "rasters").glob("*.tif")} == before
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pipeline"]["spec"]["targets"]["weights"]["clay_intensity"] == 1.0
    assert len(manifest["reranked"]) == 1
    assert_user_error(invoke("rank", tmp_path), "not a geo run folder")


def test_version_is_the_package_s():
    import geo
    from geo.cli.main import main

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"geo, version {geo.__version__}"
