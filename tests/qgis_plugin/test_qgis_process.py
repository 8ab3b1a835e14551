"""The plugin's algorithms from ``qgis_process`` (QGIS's command-line Processing runner).

A GIS analyst scripts QGIS with ``qgis_process run geo:runpipeline -- NAME=VALUE ...``; the
plugin is installed from its zip into a plugins folder named by ``QGIS_PLUGINPATH`` and
enabled in a throwaway QGIS profile (never the user's). `make test` installs Debian's
``qgis`` package (which brings ``qgis_process``) where it can; elsewhere this skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.qgis_plugin.conftest import geo_program, install_plugin

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_rasters"
PRODUCT = SAMPLE / "LC08_L2SR_171075_20230601_20230607_02_T1"


def _qgis_process() -> str | None:
    # Debian's /usr/bin/qgis_process wrapper passes --noversioncheck (from /etc/default/qgis),
    # which QGIS 3.22's qgis_process does not know: call the program itself where it exists
    for name in ("qgis_process.bin", "qgis_process"):
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def qgis(tmp_path_factory):
    """``(run, tmp)``: call qgis_process with the plugin installed and enabled."""
    program = _qgis_process()
    if os.name != "posix" or program is None:
        pytest.skip("qgis_process is not installed (apt-get install qgis)")
    tmp = tmp_path_factory.mktemp("qgis_process")
    plugins = install_plugin(tmp)
    home = tmp / "home"
    profile = home / ".local" / "share" / "QGIS" / "QGIS3" / "profiles" / "default" / "QGIS"
    profile.mkdir(parents=True)
    (profile / "QGIS3.ini").write_text("[PythonPlugins]\ngeo_targeting=true\n", encoding="utf-8")
    geo = geo_program(tmp)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "QGIS_PLUGINPATH": str(plugins),
        "GEO_QGIS_EXECUTABLE": str(geo),
    }
    env.pop("PYTHONPATH", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [program, *args], capture_output=True, text=True, timeout=600, env=env, cwd=tmp
        )

    return run, tmp


def test_qgis_process_lists_the_geo_algorithms(qgis):
    run, _ = qgis
    done = run("list")
    assert done.returncode == 0, done.stderr[-2000:]
    listed = sorted(
        line.split("\t")[1] for line in done.stdout.splitlines() if line.startswith("\tgeo:")
    )
    assert listed == [
        "geo:batch",
        "geo:exportfield",
        "geo:rerank",
        "geo:runpipeline",
        "geo:sceneinfo",
    ]


def test_qgis_process_runs_a_shipped_pipeline_like_the_cli(qgis):
    run, tmp = qgis
    out = tmp / "run"
    done = run(
        "--json",
        "run",
        "geo:runpipeline",
        "--",
        "PIPELINE=landsat_alteration",
        f"SCENE_FOLDER={PRODUCT}",
        f"LICENCES={SAMPLE / 'licences.gpkg'}",
        "LICENCE_ID_FIELD=licence_no",
        "HOLDER_FIELD=holder_name",
        "STATUS_FIELD=status",
        "EXPIRY_FIELD=expiry",
        "FIELD_EXPORTS=false",
        f"OUTPUT={out}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)["results"]
    assert results["RUN_FOLDER"] == str(out)
    assert results["TARGETS"] == f"{out / 'targets.gpkg'}|layername=targets"
    cli = tmp / "cli"
    subprocess.run(
        [sys.executable, "-m", "geo", "-q", "run", "landsat_alteration", "--scene", str(PRODUCT),
         "--licences", str(SAMPLE / "licences.gpkg"), "--licence-fields",
         "licence_id=licence_no,holder=holder_name,status=status,expiry=expiry",
         "--no-export", "--out", str(cli)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True,
    )  # fmt: skip
    assert (out / "targets.csv").read_bytes() == (cli / "targets.csv").read_bytes()
    # a bad value: geo's one line, a failed exit, nothing written
    bad = run(
        "run", "geo:runpipeline", "--", "PIPELINE=landsat_alteration",
        f"SCENE_FOLDER={SAMPLE}", f"OUTPUT={tmp / 'bad'}",
    )  # fmt: skip
    assert bad.returncode != 0
    assert "not a product folder" in bad.stdout + bad.stderr
    assert not (tmp / "bad").exists()
