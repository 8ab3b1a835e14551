"""The plugin's QGIS-free half (qgis_plugin/geo_targeting/geo_process.py), in geo's own Python.

Finding geo (QGIS's Python, a program, a virtualenv folder on either layout), reading geo's
progress lines into percentages, the error line, and running a child: real geo for the
version, a scene's info and an error; a fake geo for cancellation (it stops when the cancel
file appears, or ignores it and is killed).
"""

import importlib.util
import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_rasters"
PRODUCT = SAMPLE / "LC08_L2SR_171075_20230601_20230607_02_T1"


def _load():
    path = ROOT / "qgis_plugin" / "geo_targeting" / "geo_process.py"
    spec = importlib.util.spec_from_file_location("geo_qgis_geo_process", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gp = _load()


@pytest.fixture
def real_geo(monkeypatch):
    """find_geo's answer for this checkout's geo, run by this Python (auto mode)."""
    monkeypatch.delenv(gp.ENV_EXECUTABLE, raising=False)
    return gp.find_geo("auto", "")


# -- progress -----------------------------------------------------------------------------


def _line(kind, **fields):
    return json.dumps({"geo": kind, **fields})


def test_progress_counts_stages_and_the_current_loop():
    t = gp.ProgressTracker()
    seen = []
    for line, expected in [
        (_line("plan", stages=["ingest", "indices", "crosta", "targets"]), 0.0),
        (_line("stage", event="start", stage="ingest", seconds=None), 0.0),
        (_line("stage", event="done", stage="ingest", seconds=0.5), 25.0),
        (_line("stage", event="start", stage="indices", seconds=None), 25.0),
        (_line("task", task="rasters", done=0, total=4), 25.0),
        (_line("task", task="rasters", done=1, total=4), 25.0 + 25.0 / 4),
        (_line("task", task="rasters", done=2, total=4), 37.5),
        (_line("stage", event="done", stage="indices", seconds=2.0), 50.0),
        (_line("stage", event="skipped", stage="crosta", seconds=None), 75.0),
        ("geo: warning: 1 target(s) lie outside every licence", 75.0),
        (_line("stage", event="start", stage="targets", seconds=None), 75.0),
        (_line("stage", event="done", stage="targets", seconds=0.1), 100.0),
    ]:
        t.feed(line)
        assert t.percent == pytest.approx(expected)
        seen.append(t.percent)
    assert seen == sorted(seen)  # never backwards
    assert t.take_infos() == [
        "stages: ingest, indices, crosta, targets",
        "ingest...",
        "ingest done 0.5 s",
        "indices...",
        "indices done 2.0 s",
        "targets...",
        "targets done 0.1 s",
    ]
    assert t.take_infos() == []
    assert t.take_warnings() == ["1 target(s) lie outside every licence"]
    assert t.all_warnings == ["1 target(s) lie outside every licence"]


def test_progress_without_a_plan_follows_the_loop():
    # geo batch: no plan, a "scenes" loop and news lines
    t = gp.ProgressTracker()
    t.feed(_line("task", task="scenes", done=0, total=3))
    t.feed(_line("line", text="[1/3] a ok 2.0 s, 4 targets"))
    t.feed(_line("task", task="scenes", done=1, total=3))
    assert t.percent == pytest.approx(100 / 3)
    t.feed(_line("task", task="scenes", done=3, total=3))
    assert t.percent == 100.0
    assert t.take_infos() == [
        "scenes: 0 of 3",
        "[1/3] a ok 2.0 s, 4 targets",
        "scenes: 1 of 3",
        "scenes: 3 of 3",
    ]


def test_progress_ignores_noise_and_hostile_lines():
    t = gp.ProgressTracker()
    for line in [
        "",
        "{not json",
        '{"no_geo_key": 1}',
        _line("task", task="x", done="many", total=None),
        _line("plan", stages="not a list"),
        "x" * 10_000,
    ]:
        t.feed(line)
    assert t.percent == 0.0
    assert t.other[-1] == "x" * gp.MAX_LINE  # long lines are cut


def test_error_line_is_geos_one_line():
    assert gp.error_line(["geo: warning: w", "geo: error: --scene x: not a product"]) == (
        "--scene x: not a product"
    )
    assert gp.error_line(["geo: internal error: KeyError: 'a' (this is a bug)"]) == (
        "internal error: KeyError: 'a' (this is a bug)"
    )
    usage = [
        "Usage: geo run [OPTIONS] PIPELINE",
        "Try 'geo run -h' for help.",
        "",
        "Error: No such option: --bogus",
    ]
    assert gp.error_line(usage) == "No such option: --bogus"
    assert gp.error_line([_line("plan", stages=[]), "Traceback? no: last words"]) == (
        "Traceback? no: last words"
    )
    assert gp.error_line([]) == "geo failed without a message"


# -- finding geo --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout", [("Scripts", "geo.exe"), ("bin", "geo")], ids=["windows", "posix"]
)
def test_a_virtualenv_folder_gives_its_geo_program(tmp_path, monkeypatch, layout):
    monkeypatch.delenv(gp.ENV_EXECUTABLE, raising=False)
    program = tmp_path / "venv" / layout[0] / layout[1]
    program.parent.mkdir(parents=True)
    program.write_text("")
    assert gp.venv_geo(str(tmp_path / "venv")) == str(program)
    found = gp.find_geo("executable", str(tmp_path / "venv"))
    assert found["command"] == [str(program)]
    # another Python's geo must not inherit QGIS's Python settings
    assert found["env"] == {"PYTHONHOME": None, "PYTHONPATH": None}
    monkeypatch.setenv("PYTHONHOME", "/qgis/apps/Python39")
    assert "PYTHONHOME" not in gp._environment(found)
    # the program itself works as well as its folder
    assert gp.find_geo("executable", str(program))["command"] == [str(program)]


def test_missing_or_empty_configuration_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv(gp.ENV_EXECUTABLE, raising=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        gp.GeoNotFound, match=r"no geo program in this folder.*Settings > Options > geo"
    ):
        gp.find_geo("executable", str(tmp_path / "empty"))
    with pytest.raises(gp.GeoNotFound, match=r"no such geo program"):
        gp.find_geo("executable", str(tmp_path / "nowhere" / "geo.exe"))
    monkeypatch.setattr(gp, "geo_importable", lambda: None)
    with pytest.raises(gp.GeoNotFound, match=r"not installed in QGIS's Python.*virtualenv"):
        gp.find_geo("auto", "  ")
    with pytest.raises(gp.GeoNotFound, match="unknown geo mode"):
        gp.find_geo("pip-install-it", "")


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    program = tmp_path / "bin" / "geo"
    program.parent.mkdir()
    program.write_text("")
    monkeypatch.setenv(gp.ENV_EXECUTABLE, str(tmp_path))
    found = gp.find_geo("auto", "/configured/elsewhere")
    assert found["command"] == [str(program)]
    assert gp.ENV_EXECUTABLE in found["how"]


def test_auto_mode_runs_geo_in_this_python(real_geo):
    # geo is importable here: the command is this interpreter with -m geo, and the child
    # gets geo's folder on its path whatever the parent's sys.path held
    assert real_geo["command"] == [sys.executable, "-m", "geo"]
    home = gp.geo_importable()
    import geo

    assert Path(home) == Path(geo.__file__).parents[1]
    assert real_geo["env"]["PYTHONPATH"].split(os.pathsep)[0] == home


def test_qgis_python_found_beside_an_embedding_program(tmp_path):
    # OSGeo4W: sys.executable is qgis-bin.exe, the interpreter is <exec_prefix>/python.exe
    win = tmp_path / "apps" / "Python39"
    win.mkdir(parents=True)
    (win / "python.exe").write_text("")
    assert gp.qgis_python("C:/OSGeo4W/bin/qgis-bin.exe", str(win)) == str(win / "python.exe")
    # macOS bundle / Linux: <exec_prefix>/bin/python3
    mac = tmp_path / "Frameworks"
    (mac / "bin").mkdir(parents=True)
    (mac / "bin" / "python3").write_text("")
    assert gp.qgis_python("/Applications/QGIS.app/Contents/MacOS/QGIS", str(mac)) == str(
        mac / "bin" / "python3"
    )
    assert gp.qgis_python("/usr/bin/python3.11", "/nowhere") == "/usr/bin/python3.11"
    with pytest.raises(gp.GeoNotFound, match="Python interpreter of this QGIS"):
        gp.qgis_python("/opt/qgis/qgis", str(tmp_path / "empty"))


# -- running geo --------------------------------------------------------------------------


def test_version_of_real_geo(real_geo):
    from geo._version import __version__

    assert gp.geo_version(real_geo) == f"geo, version {__version__}"


def test_real_geo_info_and_error(real_geo, tmp_path):
    infos, percents = [], []
    result = gp.run_geo(
        ["info", str(PRODUCT)], found=real_geo, info=infos.append, progress=percents.append
    )
    assert result.returncode == 0
    assert "LC08_L2SR_171075_20230601_20230607_02_T1" in result.stdout
    assert "landsat_oli" in result.stdout
    # a folder that is not a product: the exception carries the CLI's own error line
    cli = gp.subprocess.run(
        [sys.executable, "-m", "geo", "info", str(SAMPLE)],
        capture_output=True,
        text=True,
        env=gp._environment(real_geo),
    )
    assert cli.returncode == 2
    line = [ln for ln in cli.stderr.splitlines() if ln.startswith("geo: error: ")]
    assert len(line) == 1
    with pytest.raises(gp.GeoProcessError) as caught:
        gp.run_geo(["info", str(SAMPLE)], found=real_geo)
    assert str(caught.value) == line[0][len("geo: error: ") :]
    assert caught.value.returncode == 2


FAKE_GEO = textwrap.dedent(
    """
    # A stand-in for geo: a plan, one stage, then a long stage polling the cancel file.
    import json, os, sys, time
    args = sys.argv[1:]
    cancel = args[args.index("--cancel-file") + 1]
    out = args[args.index("--out") + 1]
    honour = "--ignore-cancel" not in args
    staging = out + ".staging"
    os.makedirs(staging)
    def say(**kw):
        print(json.dumps({"geo": kw.pop("kind"), **kw}), file=sys.stderr, flush=True)
    say(kind="plan", stages=["ingest", "masks", "targets"])
    say(kind="stage", event="start", stage="ingest", seconds=None)
    say(kind="stage", event="done", stage="ingest", seconds=0.1)
    say(kind="stage", event="start", stage="masks", seconds=None)
    for step in range(60):
        if honour and os.path.exists(cancel):
            os.rmdir(staging)
            print("geo: cancelled: " + cancel + " appeared", file=sys.stderr, flush=True)
            sys.exit(130)
        say(kind="task", task="chunks", done=step, total=60)
        time.sleep(0.05)
    os.rename(staging, out)
    print("done")
    """
)


@pytest.fixture
def fake_geo(tmp_path):
    script = tmp_path / "fake_geo.py"
    script.write_text(FAKE_GEO)
    return {"command": [sys.executable, str(script)], "how": "fake", "env": {}}


def test_cancel_creates_the_cancel_file_and_geo_stops_clean(fake_geo, tmp_path):
    out = tmp_path / "run"
    infos = []
    started = time.monotonic()
    with pytest.raises(gp.GeoCancelled, match="stopped at the user's request"):
        gp.run_geo(
            ["run", "x.yaml", "--out", str(out)],
            found=fake_geo,
            info=infos.append,
            cancelled=lambda: "ingest done 0.1 s" in infos,
        )
    assert time.monotonic() - started < 10
    assert not out.exists() and not Path(str(out) + ".staging").exists()
    assert "cancelling: geo stops at its next progress point..." in infos
    # the cancel file's temporary folder is gone too
    assert not [
        p for p in Path(gp.tempfile.gettempdir()).glob("geo_qgis_*") if (p / "cancel").exists()
    ]


def test_a_geo_that_ignores_cancel_is_killed_after_the_grace(fake_geo, tmp_path):
    out = tmp_path / "run"
    started = time.monotonic()
    with pytest.raises(gp.GeoCancelled, match="did not stop within 1 s and was killed"):
        gp.run_geo(
            ["run", "x.yaml", "--out", str(out), "--ignore-cancel"],
            found=fake_geo,
            cancelled=lambda: True,
            grace=1.0,
        )
    assert time.monotonic() - started < 8


def test_progress_reaches_the_caller_in_order(fake_geo, tmp_path):
    out = tmp_path / "run"
    percents = []
    result = gp.run_geo(
        ["run", "x.yaml", "--out", str(out)],
        found={**fake_geo, "command": [*fake_geo["command"]]},
        progress=percents.append,
        cancelled=lambda: False,
    )
    assert result.returncode == 0 and result.stdout == "done\n"
    assert out.is_dir()
    assert percents == sorted(percents)
    # ingest done is one of three stages; the last value is inside the second stage's loop
    assert all(0 <= p <= 200 / 3 for p in percents)
    assert 100 / 3 < percents[-1]
