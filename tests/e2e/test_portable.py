"""geo runs where trainees are: no POSIX-only module on its paths, any folder name.

Windows has no ``resource``, ``fcntl``, ``pwd``, ``grp`` or ``termios``. These tests run the
sample pipeline, ``geo batch`` on two scenes and the exports in processes where importing any
of them *from geo's code* fails (an import hook installed by ``sitecustomize``, so the batch's
worker processes have it too; third-party libraries keep their own platform code, e.g.
psutil's Linux module imports ``resource``), in folders whose names hold spaces and
non-ASCII letters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import PIPELINE, PRODUCT_ID, SAMPLE

pytestmark = pytest.mark.slow

BLOCKED = ("resource", "fcntl", "pwd", "grp", "termios")

_SITECUSTOMIZE = textwrap.dedent(
    f"""
    import builtins

    _real_import = builtins.__import__
    _BLOCKED = {set(BLOCKED)!r}


    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {{}}).get("__name__") or ""
        if level == 0 and name.partition(".")[0] in _BLOCKED and (
            importer == "geo" or importer.startswith("geo.")
        ):
            raise ImportError(f"{{name}} is POSIX-only: not on Windows ({{importer}} imports it)")
        return _real_import(name, globals, locals, fromlist, level)


    builtins.__import__ = _import
    """
)


@pytest.fixture(scope="module")
def windowsish(tmp_path_factory):
    """An environment whose geo imports fail like on Windows, and a folder named like a user's."""
    hook = tmp_path_factory.mktemp("hook")
    (hook / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    home = tmp_path_factory.mktemp("portable") / "Données de terrain – Kalahari"
    for name in ("scène A", "scène B"):  # product folders renamed as a user would
        shutil.copytree(SAMPLE / PRODUCT_ID, home / name)
    shutil.copy(SAMPLE / "licences.gpkg", home / "permis miniers.gpkg")
    return env, home


def _geo(env, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "geo", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        encoding="utf-8",
    )


def test_the_hook_blocks_geo_but_not_the_libraries(windowsish):
    env, _ = windowsish
    probe = (
        "import psutil\n"  # psutil's Linux code imports resource itself: allowed
        "try:\n"
        "    exec('import fcntl', {'__name__': 'geo.probe'})\n"
        "except ImportError as e:\n"
        "    print('blocked:', e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0 and done.stdout.startswith("blocked: fcntl is POSIX-only")


def test_run_and_exports_without_posix_modules_in_a_non_ascii_folder(windowsish):
    env, home = windowsish
    run = home / "sorties" / "run 1"
    done = _geo(
        env,
        "run",
        PIPELINE,
        "--scene",
        home / "scène A",
        "--licences",
        home / "permis miniers.gpkg",
        "--out",
        run,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["targets"]["count"] > 0
    assert {"exports/targets.gpx", "exports/targets.kmz", "report.html", "report.pdf"} <= set(
        manifest["outputs"]
    )
    again = _geo(env, "export", run, "--to", "kml,gpx,csv")
    assert again.returncode == 0, again.stderr


def test_batch_of_two_scenes_without_posix_modules(windowsish):
    env, home = windowsish
    out = home / "lot de scènes"
    done = _geo(
        env,
        "batch",
        PIPELINE,
        home / "scène A",
        home / "scène B",
        "--out",
        out,
        "--workers",
        "2",
        "--threads",
        "1",
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    assert report["counts"]["ok"] == 2 and (out / "targets.gpkg").is_file()
