"""The styled GeoPackage and raster styles opened in real QGIS, where Debian's python3-qgis exists.

`make test` installs it where it can (root and apt-get: ``scripts/install_qgis.sh``), as it
does Chromium; elsewhere `apt-get install python3-qgis qgis-providers` enables it. Skips with
that reason otherwise.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SYSTEM_PYTHON = Path("/usr/bin/python3")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "qgis_style_check.py"


def _has_qgis() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import qgis.core"], capture_output=True, timeout=60
    )
    return probe.returncode == 0


def test_layers_open_styled_in_qgis(prospect_run, tmp_path):
    if not _has_qgis():
        pytest.skip("QGIS is not installed (apt-get install python3-qgis qgis-providers)")
    png = tmp_path / "qgis.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [str(SYSTEM_PYTHON), str(SCRIPT), str(prospect_run.out_dir), str(png)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = {
        d["layer"]: d
        for d in (json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))
    }
    assert report["targets"]["renderer"] == "graduatedSymbol" and report["targets"]["labels"]
    assert report["zones"]["renderer"] == "categorizedSymbol"
    assert report["licences"]["labels"] and report["licences"]["style"]
    assert report["targets"]["features"] == len(prospect_run.targets)
    assert report["true_colour"]["renderer"] == "multibandcolor"
    assert report["prospectivity"]["renderer"] == "singlebandpseudocolor"
    assert report["iron_oxide_anomaly"]["renderer"] == "paletted"
    assert all(d["valid"] and d["style"] for d in report.values())
    assert png.stat().st_size > 50_000  # a map was drawn
