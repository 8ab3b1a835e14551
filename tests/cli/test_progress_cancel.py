"""Progress for a program driving geo (``--progress jsonl``), cancellation, and ``geo rank``'s
``--weights``/``--method``: what the QGIS plugin relies on."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from geo.errors import RunCancelled
from geo.progress import JsonLinesReporter, use_reporter

ROOT = Path(__file__).resolve().parents[2]
ALTERATION = ROOT / "pipelines" / "landsat_alteration.yaml"
SAMPLE = ROOT / "sample_rasters" / "LC08_L2SR_171075_20230601_20230607_02_T1"


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"geo"')]


def test_json_lines_reporter_events_and_throttle(monkeypatch):
    buf = io.StringIO()
    shown = JsonLinesReporter(stream=buf)
    clock = iter([100.0, 100.05, 100.1, 100.3, 100.31, 100.32])
    monkeypatch.setattr("geo.progress.time.monotonic", lambda: next(clock))
    shown.plan(["ingest", "zones"])
    shown.stage_event("start", "ingest", None)
    with shown.task("chunks", total=6) as advance:
        for _ in range(6):
            advance()
    shown.stage_event("done", "ingest", 1.25)
    shown.line("scene <b> done")
    events = _events(buf.getvalue())
    assert events[0] == {"geo": "plan", "stages": ["ingest", "zones"]}
    assert events[1] == {"geo": "stage", "event": "start", "stage": "ingest", "seconds": None}
    tasks = [(e["done"], e["total"]) for e in events if e["geo"] == "task"]
    # announced at 0; then steps >= 0.2 s apart (t=100.0 -> 1, 100.3 -> 4) and the last
    assert tasks == [(0, 6), (1, 6), (4, 6), (6, 6)]
    assert events[-2] == {"geo": "stage", "event": "done", "stage": "ingest", "seconds": 1.25}
    assert events[-1] == {"geo": "line", "text": "scene <b> done"}
    assert all(line.startswith('{"geo"') for line in buf.getvalue().splitlines())


def test_cancel_file_stops_at_the_next_progress_point(tmp_path):
    flag = tmp_path / "cancel"
    shown = JsonLinesReporter(stream=io.StringIO(), cancel_file=flag)
    shown.check_cancelled()  # nothing yet
    with pytest.raises(RunCancelled, match="cancel"), shown.task("chunks", total=3) as advance:
        advance()
        flag.touch()
        advance()
        advance()


def test_runner_tells_the_plan_and_every_stage(tmp_path):
    from geo.pipeline.runner import run_pipeline
    from geo.pipeline.spec import load_spec
    from tests.conftest import without_exports

    buf = io.StringIO()
    shown = JsonLinesReporter(stream=buf)
    with use_reporter(shown):
        run_pipeline(
            without_exports(load_spec(ALTERATION)), out=tmp_path / "run", progress=shown.stage_event
        )
    events = _events(buf.getvalue())
    plan = next(e["stages"] for e in events if e["geo"] == "plan")
    told = [(e["stage"], e["event"]) for e in events if e["geo"] == "stage"]
    assert plan[0] == "ingest" and "targets" in plan
    ended = {s: ev for s, ev in told if ev != "start"}
    assert set(ended) == set(plan)  # every stage ends: done or skipped
    assert all(ended[s] == "done" for s, ev in told if ev == "start")
    assert ended["field_exports"] == "skipped"  # no export formats


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "geo", *args]


def test_cli_cancelled_mid_run_leaves_nothing(tmp_path):
    """The run stops at the first progress point after the file appears: exit 130, one
    line, no output folder and no staging folder left beside it."""
    out = tmp_path / "run"
    flag = tmp_path / "cancel.flag"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cli(
            *("--progress", "jsonl", "--cancel-file", str(flag)),
            "run",
            str(ALTERATION),
            "--out",
            str(out),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if '"event": "done", "stage": "masks_indices"' in line:
            flag.touch()  # after the staging folder exists: the run is mid-way
    code = proc.wait(timeout=300)
    assert code == 130, "".join(seen[-5:])
    assert seen[-1].startswith("geo: cancelled:") and "Traceback" not in "".join(seen)
    assert not out.exists()
    # no staging folder (.run.tmp-*) left; the empty lock file stays on POSIX, as after
    # every run (filelock does not delete it, to stay race-free)
    assert {p.name for p in tmp_path.iterdir()} <= {"cancel.flag", ".run.lock"}


def test_cli_cancelled_before_start(tmp_path):
    flag = tmp_path / "cancel.flag"
    flag.touch()
    done = subprocess.run(
        _cli(*("--progress", "jsonl", "--cancel-file", str(flag)), "info", str(SAMPLE)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 130 and done.stdout == ""


@pytest.fixture(scope="module")
def rank_run(prospect_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("rank") / "run"
    shutil.copytree(prospect_run.out_dir, run)
    return run


def test_rank_weights_and_method_are_recorded_and_used(rank_run):
    """New weights (the others kept) and a new method in one re-rank: the manifest records
    them, validated as a pipeline file's, and the re-ranked scores stay in [0, 1]."""
    from click.testing import CliRunner

    from geo.cli.main import main

    res = CliRunner().invoke(
        main,
        ["rank", str(rank_run), "--weights", "iron=0,clay=3", "--method", "fuzzy_or", "--top", "0"],
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((rank_run / "manifest.json").read_text())
    prospect = manifest["pipeline"]["spec"]["prospectivity"]
    assert prospect["weights"] == {"iron": 0.0, "clay": 3.0, "faults": 1.0, "intersections": 1.0}
    assert prospect["method"] == "fuzzy_or"
    assert manifest["reranked"]  # recorded as a re-rank
    targets = pd.read_csv(rank_run / "targets.csv")
    assert len(targets) > 0 and targets["score"].between(0, 1).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--weights", "iron=-1"], "--weights: 'iron=-1' is not NAME=WEIGHT"),
        (["--weights", "iron"], "--weights: 'iron' is not NAME=WEIGHT"),
        (["--weights", "iron=nan"], "--weights: 'iron=nan'"),
        (["--weights", "gold=1"], "prospectivity.weights: 'gold'"),
        (["--method", "magic"], "prospectivity.method"),
    ],
)
def test_rank_bad_weights_or_method_is_one_line(rank_run, args, message):
    done = subprocess.run(
        _cli("rank", str(rank_run), *args), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_rank_method_on_an_alteration_run_says_why(tmp_path):
    from click.testing import CliRunner

    from geo.cli.main import main
    from geo.pipeline.runner import run_pipeline
    from geo.pipeline.spec import load_spec
    from tests.conftest import without_exports

    run = tmp_path / "alt"
    run_pipeline(without_exports(load_spec(ALTERATION)), out=run)
    before = (run / "targets.csv").read_bytes()
    res = CliRunner().invoke(main, ["rank", str(run), "--method", "weighted"])
    assert res.exit_code == 2 and "no prospectivity section" in res.output
    assert (run / "targets.csv").read_bytes() == before
    res = CliRunner().invoke(main, ["rank", str(run), "--weights", "area=0", "--top", "0"])
    assert res.exit_code == 0, res.output
    spec = json.loads((run / "manifest.json").read_text())["pipeline"]["spec"]
    assert spec["targets"]["weights"]["area"] == 0.0


def test_shipped_pipelines_by_name():
    from click.testing import CliRunner

    from geo.cli.main import main

    res = CliRunner().invoke(main, ["pipelines", "--json"])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.output)
    assert [p["name"] for p in listed] == sorted(
        p.stem for p in (ROOT / "pipelines").glob("*.yaml")
    )
    prospect = next(p for p in listed if p["name"] == "landsat_prospectivity")
    assert prospect["prospectivity"] and Path(prospect["file"]).is_file()
    res = CliRunner().invoke(main, ["run", "no_such_pipeline", "--out", "x"])
    assert res.exit_code == 2
    assert "no_such_pipeline: pipeline file not found" in res.output
    assert "landsat_alteration" in res.output  # the names it could have been


def test_occurrence_and_structure_layers_replace_the_pipeline_s(tmp_path):
    import geopandas as gpd

    from geo.cli.main import _vector_options
    from geo.errors import InvalidParameterError
    from geo.pipeline.spec import load_spec

    spec = load_spec(ROOT / "pipelines" / "landsat_prospectivity.yaml")
    faults = gpd.read_file(ROOT / "sample_rasters" / "structures.gpkg", layer="faults")
    mine = tmp_path / "my_faults.gpkg"
    faults.to_file(mine, layer="mapped_faults")  # another layer name than the pipeline's
    occ = gpd.read_file(ROOT / "sample_rasters" / "occurrences.gpkg", layer="occurrences")
    pts = tmp_path / "pts.gpkg"
    occ.to_file(pts, layer="occurrences")
    new = _vector_options(spec, pts, mine)
    assert new.inputs.occurrences.path == pts and new.inputs.occurrences.layer == "occurrences"
    changed = {k for k, ev in new.evidence.items() if ev.vector == mine}
    assert changed == {"faults", "intersections"}
    assert all(new.evidence[k].vector_layer is None for k in changed)  # the file's only layer
    assert new.evidence["iron"] == spec.evidence["iron"]
    alteration = load_spec(ALTERATION)
    with pytest.raises(InvalidParameterError, match=r"--structures .* no evidence layer"):
        _vector_options(alteration, None, mine)
