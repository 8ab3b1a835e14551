"""The stage table of issue 17: order, ``enabled()``, an added stage, one shared ranking."""

import ast
import json
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner
from shapely.geometry import box

import geo.pipeline.stages as stages_module
import geo.pipeline.stages.targets as targets_module
from geo.cli.main import main
from geo.pipeline.runner import rerank
from geo.pipeline.spec import load_spec, validate_spec
from geo.pipeline.stages import RERANK_STAGES, STAGES, RunContext, Stage, rank_with_licences
from geo.pipeline.stages.targets import STRADDLE_FLAG
from geo.testing import make_licences
from tests.conftest import PIPELINE, ROOT

PIPELINES = ROOT / "pipelines"
RUN_ORDER = [
    "ingest",
    "masks_indices",
    "crosta",
    "directed_pca",
    "kmeans",
    "sam",
    "minerals",
    "classifier",
    "anomalies",
    "zones",
    "prospectivity",
    "targets",
    "export",
    "field_exports",
]
_PIXEL = {"crosta", "directed_pca", "kmeans", "sam", "minerals", "classifier", "prospectivity"}
PIXEL_METHODS = [name for name in RUN_ORDER if name in _PIXEL]
ALWAYS = {"ingest", "masks_indices", "anomalies", "zones", "targets", "export"}
MAX_LINES = 120


def enabled(table, spec, **fields) -> set[str]:
    ctx = RunContext(spec, **fields)
    return {stage.name for stage in table if stage.enabled(ctx)}


# --------------------------------------------------------------------------- the table


def test_the_table_runs_in_this_order_and_every_entry_is_a_stage():
    assert [s.name for s in STAGES] == RUN_ORDER
    assert [s.name for s in RERANK_STAGES] == ["prospectivity", "targets", "export"]
    assert all(isinstance(s, Stage) for s in (*STAGES, *RERANK_STAGES))
    assert len({s.name for s in STAGES}) == len(STAGES), "names key timings_s: unique"
    # only ingest runs before the output folder exists; only the field formats read the manifest
    assert [s.name for s in STAGES if getattr(s, "before_output", False)] == ["ingest"]
    assert [s.name for s in STAGES if getattr(s, "reads_manifest", False)] == ["field_exports"]
    assert [s.name for s in STAGES if getattr(s, "folder_only", False)] == ["field_exports"]
    assert [s.name for s in STAGES if getattr(s, "needs_pixels", False)] == PIXEL_METHODS


def test_a_minimal_pipeline_runs_the_core_stages_only():
    doc = {"name": "minimal", "indices": ["iron_oxide"], "anomalies": {"iron_oxide": {}}}
    spec = validate_spec({**doc, "targets": {"clay": []}}, "test")
    assert enabled(STAGES, spec) == ALWAYS | {"field_exports"}
    no_formats = spec.model_copy(update={"export": spec.export.model_copy(update={"formats": []})})
    assert enabled(STAGES, no_formats) == ALWAYS
    assert enabled(RERANK_STAGES, spec) == {"targets", "export"}


@pytest.mark.parametrize(
    ("pipeline", "methods"),
    [
        ("landsat_alteration", set()),
        ("landsat_methods", {"crosta", "directed_pca", "kmeans", "sam", "classifier"}),
        ("landsat_prospectivity", {"prospectivity"}),
        ("hyperspectral_minerals", {"minerals", "prospectivity"}),
    ],
)
def test_the_sample_pipelines_enable_their_sections(pipeline, methods):
    spec = load_spec(PIPELINES / f"{pipeline}.yaml")
    assert enabled(STAGES, spec) == ALWAYS | {"field_exports"} | methods
    # a scene without usable pixels skips every method that needs them, and nothing else
    assert enabled(STAGES, spec, usable=False) == ALWAYS | {"field_exports"}
    rerun = {"targets", "export"} | ({"prospectivity"} & methods)
    assert enabled(RERANK_STAGES, spec) == rerun


# --------------------------------------------------------------------------- a new stage


class _Note:
    """A stage a contributor might add: one file, one manifest section, nothing else."""

    name = "note"

    def enabled(self, ctx):
        return True

    def run(self, ctx):
        (ctx.tmp / "note.txt").write_text(f"{len(ctx.targets)} targets\n")
        ctx.manifest["note"] = {"targets": len(ctx.targets), "zones": len(ctx.zones)}


@pytest.fixture(scope="module")
def extended_run(tmp_path_factory):
    """The sample run (``geo run --no-export``) with a stage added to a copy of the table."""
    table = list(STAGES)
    table.insert(table.index(next(s for s in STAGES if s.name == "export")), _Note())
    out = tmp_path_factory.mktemp("stages") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages_module, "STAGES", tuple(table))
        result = CliRunner().invoke(main, ["run", "--no-export", str(PIPELINE), "--out", str(out)])
    assert result.exit_code == 0, result.output + result.stderr
    return out


def test_a_stage_added_to_the_table_runs_without_runner_changes(extended_run):
    out = extended_run
    manifest = json.loads((out / "manifest.json").read_text())
    targets = gpd.read_file(out / "targets.gpkg", layer="targets")
    assert (out / "note.txt").read_text() == f"{len(targets)} targets\n"
    assert manifest["note"] == {"targets": len(targets), "zones": manifest["zones"]["count"]}
    assert "note" in manifest["timings_s"] and "note" in manifest["peak_rss_mb_after_stage"]
    assert "note.txt" in manifest["outputs"]
    # the stages of the sample ran in table order; the skipped ones are not timed
    timed = list(manifest["timings_s"])
    assert timed == ["ingest", "masks_indices", "anomalies", "zones", "targets", "note", "export"]
    assert manifest["tool"] == "geo" and manifest["schema"] == "geo-run/1"


def test_the_progress_hook_hears_every_stage(tmp_path, monkeypatch):
    events = []

    class Boom:
        name = "boom"

        def enabled(self, ctx):
            return True

        def run(self, ctx):
            raise RuntimeError("boom")

    from geo.pipeline.runner import run_pipeline

    spec = load_spec(PIPELINE)
    # stops after masks: a failing stage leaves no output folder and names the stage
    monkeypatch.setattr(stages_module, "STAGES", (*STAGES[:2], Boom()))
    with pytest.raises(RuntimeError, match="boom") as caught:
        run_pipeline(spec, out=tmp_path / "run", progress=lambda *e: events.append(e))
    assert caught.value.geo_stage == "boom"
    assert not (tmp_path / "run").exists()
    assert [e[:2] for e in events] == [
        ("start", "ingest"),
        ("done", "ingest"),
        ("start", "masks_indices"),
        ("done", "masks_indices"),
        ("start", "boom"),
        ("failed", "boom"),
    ]
    assert all(isinstance(e[2], float) for e in events if e[0] == "done")
    assert all(e[2] is None for e in events if e[0] != "done")


def test_a_folder_only_stage_runs_after_the_grids_are_let_go(tmp_path, monkeypatch):
    """The field files' stage reads the folder: the whole-scene arrays are gone by then."""
    from geo.pipeline.runner import run_pipeline

    seen = {}

    class Before:
        name = "before"

        def enabled(self, ctx):
            return True

        def run(self, ctx):
            seen["before"] = ctx.rgb is not None
            ctx.prospect = ctx.staged = object()  # held by a stage like the real ones

    class FolderOnly:
        name = "folder_only"
        folder_only = True

        def enabled(self, ctx):
            return True

        def run(self, ctx):
            seen["after"] = (ctx.rgb, ctx.prospect, ctx.staged, ctx.inside)
            seen["targets"] = len(ctx.targets)

    monkeypatch.setattr(stages_module, "STAGES", (*STAGES[:-2], Before(), FolderOnly()))
    result = run_pipeline(load_spec(PIPELINE), out=tmp_path / "run")
    assert seen["before"] is True
    assert seen["after"] == (None, None, None, None)
    assert seen["targets"] == len(result.targets) > 0  # the run's results stay


# --------------------------------------------------------------------------- one ranking


def test_rerank_and_the_batch_merge_rank_with_the_same_function(
    extended_run, tmp_path, monkeypatch
):
    from geo.pipeline.batch import _merge

    calls = []
    real = targets_module.rank_with_licences

    def spy(targets, licences, **kwargs):
        calls.append((len(targets), licences is not None, kwargs["straddle"]))
        return real(targets, licences, **kwargs)

    monkeypatch.setattr(targets_module, "rank_with_licences", spy)
    run_dir = tmp_path / "run"
    shutil.copytree(extended_run, run_dir)
    spec = load_spec(PIPELINE)
    ranked = rerank(run_dir, pipeline=spec)
    assert calls == [(len(ranked.targets), True, "flag")]

    batch = tmp_path / "batch"
    batch.mkdir()
    records = [{"scene": "one", "status": "ok", "out_dir": str(run_dir)}]
    merged, _, _, info = _merge(spec, records, batch, spec.inputs.licences.path, "best")
    assert len(calls) == 2 and calls[1][1:] == (True, "flag")
    assert info["count"] == len(merged) == len(ranked.targets)
    # one scene merged with itself: the same ranking as the run's
    assert list(merged["target_id"]) == list(ranked.targets["target_id"])
    assert list(merged["licence_id"]) == list(ranked.targets["licence_id"])


def test_rank_with_licences_flags_straddles_once_and_works_without_licences():
    crs = "EPSG:32635"
    targets = gpd.GeoDataFrame(
        {
            "score": [0.2, 0.9, 0.5],
            "area_ha": [1.0, 2.0, 3.0],
            "flags": ["tiny", "", f"near_cloud,{STRADDLE_FLAG}"],
        },
        geometry=[box(0, 0, 100, 100), box(500, 0, 600, 100), box(1000, 0, 1100, 100)],
        crs=crs,
    )
    # A holds the first target whole, half of the second; nothing holds the third
    licences = make_licences({"A": (-50, -50, 550, 150)}, crs=crs)
    ranked = rank_with_licences(targets, licences, on_date="2024-01-01")
    assert list(ranked["target_id"]) == ["T001", "T002", "T003"]
    assert list(ranked["score"]) == [0.9, 0.5, 0.2]
    assert list(ranked["flags"]) == [STRADDLE_FLAG, "near_cloud", "tiny"]
    assert list(ranked["licence_id"].fillna("-")) == ["A", "-", "A"]
    assert list(ranked["rank_in_licence"].astype("float").fillna(0)) == [1, 0, 2]
    split = rank_with_licences(targets, licences, straddle="split", on_date="2024-01-01")
    assert list(split["flags"]) == ["", f"near_cloud,{STRADDLE_FLAG}", "tiny"]
    alone = rank_with_licences(targets, None)
    assert alone["licence_id"].isna().all() and not alone["straddles_boundary"].any()
    assert list(alone["flags"]) == ["", "near_cloud", "tiny"]


# --------------------------------------------------------------------------- small functions


def test_no_function_in_the_pipeline_package_is_long():
    folder = ROOT / "geo" / "pipeline"
    long = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno
                if lines > MAX_LINES:
                    long.append(f"{Path(path).relative_to(ROOT)}:{node.lineno} {node.name} {lines}")
    assert not long, long
