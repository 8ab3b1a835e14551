"""``geo batch`` / :func:`geo.pipeline.batch.run_batch` on two overlapping tiles of the sample.

The tiles are windowed copies of every file of the sample product (left: columns 0-400,
right: columns 360-600), so the porphyry (columns 371-432, rows 174-227) is cut by the
left tile's edge and lies whole in the right tile: it must come out once, from two scenes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from geo.cli.main import main
from geo.errors import GeoWarning
from geo.pipeline.batch import run_batch
from geo.pipeline.runner import run_pipeline
from geo.pipeline.spec import load_spec
from tests.conftest import PIPELINE, PRODUCT_ID, SAMPLE, without_exports

pytestmark = pytest.mark.slow

LEFT = PRODUCT_ID
RIGHT = PRODUCT_ID.replace("171075", "171076")
GEO = Path(sys.executable).parent / "geo"


def _tile(dst_root: Path, product_id: str, col0: int, col1: int) -> Path:
    """Copy a column window of every file of the sample product as a new product folder."""
    src = SAMPLE / PRODUCT_ID
    dst = dst_root / product_id
    dst.mkdir(parents=True)
    for f in src.iterdir():
        name = f.name.replace(PRODUCT_ID, product_id)
        if f.suffix.upper() != ".TIF":  # MTL: the reader checks no line/sample counts
            (dst / name).write_text(f.read_text().replace(PRODUCT_ID, product_id))
            continue
        with rasterio.open(f) as ds:
            window = Window(col0, 0, col1 - col0, ds.height)
            profile = ds.profile | {
                "width": col1 - col0,
                "transform": window_transform(window, ds.transform),
            }
            with rasterio.open(dst / name, "w", **profile) as out:
                out.write(ds.read(window=window))
                out.descriptions = ds.descriptions
    return dst


@pytest.fixture(scope="module")
def tiles(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("tiles")
    return [_tile(root, LEFT, 0, 400), _tile(root, RIGHT, 360, 600)]


@pytest.fixture(scope="module")
def spec():
    return without_exports(load_spec(PIPELINE))


@pytest.fixture(scope="module")
def reference(tiles, spec, tmp_path_factory) -> dict[str, gpd.GeoDataFrame]:
    """Serial runs, one per tile."""
    root = tmp_path_factory.mktemp("serial")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoWarning)
        for tile in tiles:
            out[tile.name] = run_pipeline(spec, scene_path=tile, out=root / tile.name).targets
    return out


@pytest.fixture(scope="module")
def batch(tiles, spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "out"
    start = time.perf_counter()
    result = run_batch(spec, tiles, out=out, workers=2, quiet=True, pipeline_file=PIPELINE)
    result.report["test_seconds"] = time.perf_counter() - start
    return result


def _read(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(path, layer="targets", engine="pyogrio")


def _assert_same_targets(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert list(a["target_id"]) == list(b["target_id"])
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.drop(columns="geometry")).reset_index(drop=True),
        pd.DataFrame(b.drop(columns="geometry")).reset_index(drop=True),
        check_dtype=False,
    )
    assert a.geometry.reset_index(drop=True).geom_equals(b.geometry.reset_index(drop=True)).all()


def _planted(name: str, crs) -> object:
    truth = gpd.read_file(SAMPLE / "truth.gpkg", layer="planted", engine="pyogrio")
    return truth.to_crs(crs).set_index("name").geometry[name]


def test_batch_matches_serial_runs_and_merges_the_cut_target(batch, reference, tiles):
    assert [s["status"] for s in batch.scenes] == ["ok", "ok"]
    assert batch.report["workers"] == 2 and batch.report["scheduler"].startswith("tcp://")
    for tile in tiles:
        per_scene = _read(batch.out_dir / "scenes" / tile.name / "targets.gpkg")
        ref = reference[tile.name]
        assert list(per_scene["target_id"]) == list(ref["target_id"])
        assert per_scene["score"].round(6).tolist() == ref["score"].round(6).tolist()
        assert per_scene.geometry.geom_equals(ref.geometry.reset_index(drop=True)).all()

    merged = _read(batch.out_dir / "targets.gpkg")
    assert str(merged.crs) == "EPSG:32635"  # the first scene's CRS
    assert list(merged["rank"]) == list(range(1, len(merged) + 1))
    assert merged["score"].is_monotonic_decreasing
    # every serial target is covered by a merged target
    union = merged.geometry.union_all()
    for ref in reference.values():
        assert ref.geometry.difference(union).area.max() < 1.0
    # the porphyry is cut by the left tile's edge: one merged target from both scenes
    hits = merged[merged.intersects(_planted("porphyry", merged.crs))]
    assert len(hits) == 1
    porphyry = hits.iloc[0]
    assert porphyry["n_scenes"] == 2
    assert porphyry["scene_ids"] == f"{LEFT},{RIGHT}"
    assert porphyry["rank"] == 1 and porphyry["licence_id"] == "PL 012/2021"
    assert porphyry["score"] == pytest.approx(reference[RIGHT]["score"].max())  # "best"
    # so is the argillic zone (columns 395-443): the two are the only targets merged
    argillic = merged[merged.intersects(_planted("argillic", merged.crs))]
    assert len(argillic) == 1 and argillic["n_scenes"].iloc[0] == 2
    assert (merged["n_scenes"] == 2).sum() == 2
    n_serial = sum(len(r) for r in reference.values())
    assert len(merged) == n_serial - 2
    assert set(gpd.list_layers(batch.out_dir / "targets.gpkg")["name"]) >= {"targets", "licences"}
    csv = pd.read_csv(batch.out_dir / "targets.csv")
    assert list(csv["target_id"]) == list(merged["target_id"])

    report = json.loads((batch.out_dir / "batch.json").read_text())
    assert report["pipeline"] == "landsat-alteration"
    assert {s["scene"]: s["targets"] for s in report["scenes"]} == {
        name: len(r) for name, r in reference.items()
    }
    page = (batch.out_dir / "batch.html").read_text()
    assert page.count("<tr class=") == 2 and "http" not in page
    print(f"\nbatch of 2 tiles on 2 workers: {batch.report['test_seconds']:.1f} s")


def test_resume_skips_up_to_date_scenes_and_reruns_changed_pipeline(batch, tiles, spec, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(batch.out_dir, out)
    again = run_batch(spec, tiles, out=out, workers=2, quiet=True)
    assert [s["status"] for s in again.scenes] == ["skipped", "skipped"]
    assert again.report["workers"] == 0  # nothing submitted, no cluster started
    _assert_same_targets(_read(out / "targets.gpkg"), _read(batch.out_dir / "targets.gpkg"))

    changed = spec.model_copy(
        update={"targets": spec.targets.model_copy(update={"merge_distance_m": 90.0})}
    )
    rerun = run_batch(changed, tiles, out=out, workers=2, quiet=True)
    assert [s["status"] for s in rerun.scenes] == ["ok", "ok"]
    manifest = json.loads((out / "scenes" / LEFT / "manifest.json").read_text())
    assert manifest["pipeline"]["spec"]["targets"]["merge_distance_m"] == 90.0


def _hidden_leftovers(root: Path) -> list[Path]:
    return [
        p for p in root.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name or "partial" in p.name
    ]


def test_kill_9_then_rerun_finishes_like_an_uninterrupted_batch(batch, tiles, tmp_path):
    out = tmp_path / "out"
    cmd = [str(GEO), "-q", "batch", str(PIPELINE), *map(str, tiles), "--out", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--workers", "1"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        # kill once the first scene is done and the second is writing its hidden temp folder
        while not (
            list((out / "scenes").glob("*/manifest.json"))
            and list((out / "scenes").glob(".*.tmp-*"))
        ):
            assert proc.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "the batch did not get there within 60 s"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker processes too
        except ProcessLookupError:
            pass
        proc.wait()
    assert not (out / "targets.gpkg").exists()
    assert _hidden_leftovers(out)  # the killed run's temp folder

    done = subprocess.run([*cmd, "--workers", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    statuses = [s["status"] for s in json.loads((out / "batch.json").read_text())["scenes"]]
    assert "skipped" in statuses and set(statuses) <= {"ok", "skipped"}
    _assert_same_targets(_read(out / "targets.gpkg"), _read(batch.out_dir / "targets.gpkg"))
    assert _hidden_leftovers(out) == []


def test_failed_scene_is_recorded_and_the_others_finish(batch, tiles, tmp_path):
    bad = tmp_path / "bad" / "scene.tif"
    bad.parent.mkdir()
    bad.write_text("not a GeoTIFF\n")
    out = tmp_path / "out"
    shutil.copytree(batch.out_dir, out)  # the two tiles are up to date: only the bad one runs
    args = ["batch", str(PIPELINE), *map(str, tiles), str(bad), "--out", str(out)]

    result = CliRunner().invoke(main, [*args, "--workers", "1"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 3
    assert any("scene FAILED at ingest:" in line for line in lines)
    report = json.loads((out / "batch.json").read_text())
    failed = [s for s in report["scenes"] if s["status"] == "failed"]
    assert [s["scene"] for s in failed] == ["scene"]
    assert failed[0]["stage"] == "ingest" and failed[0]["error"] and failed[0]["error_type"]
    assert [s["status"] for s in report["scenes"][:2]] == ["skipped", "skipped"]
    _assert_same_targets(_read(out / "targets.gpkg"), _read(batch.out_dir / "targets.gpkg"))
    assert (
        "FAILED" in (out / "batch.html").read_text() or "failed" in (out / "batch.html").read_text()
    )

    quiet = CliRunner().invoke(main, ["-q", *args, "--workers", "1", "--fail-fast"])
    assert quiet.exit_code not in (0, None)
    assert quiet.stdout == ""
    assert "scene" in quiet.stderr and str(bad) in quiet.stderr


def test_local_workers_keep_glibc_adaptive_malloc(monkeypatch):
    """Dask's nannies would set MALLOC_TRIM_THRESHOLD_ (and with it a fixed 128 KiB mmap
    threshold, so every chunk is faulted in afresh); geo's local workers go without it
    and keep the nannies' other settings."""
    from distributed import Client

    from geo.pipeline.batch import _local_cluster

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    names = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")
    with _local_cluster(1, 1) as cluster, Client(cluster, set_as_default=False) as client:
        env = client.submit(lambda: {k: os.environ.get(k) for k in names}).result()
    assert env == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}


def test_a_scene_without_usable_pixels_is_done_not_failed(spec, tmp_path):
    """A forest scene in a batch finishes as a result: 0 targets, noted 'no usable pixels'."""
    from geo.pipeline.batch import _run_scene

    forest = without_exports(spec)
    forest = forest.model_copy(
        update={"masks": forest.masks.model_copy(update={"ndvi_max": -1.0})}
    )  # every pixel counts as vegetation
    record = _run_scene(forest, str(SAMPLE / PRODUCT_ID), str(tmp_path / "forest"), None, None, 1)
    assert record["status"] == "ok" and record["note"] == "no usable pixels", record
    assert record["targets"] == 0
    assert any("no usable pixels" in w for w in record["warnings"])


def test_a_batch_never_writes_into_a_folder_it_did_not_make(tmp_path):
    out = tmp_path / "project"
    out.mkdir()
    (out / "targets.csv").write_text("someone's own table")
    result = CliRunner().invoke(
        main, ["batch", str(PIPELINE), str(SAMPLE / PRODUCT_ID), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "not a geo batch folder" in result.stderr and str(out) in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["targets.csv"]
    assert (out / "targets.csv").read_text() == "someone's own table"
