"""The plugin in real QGIS (Debian's python3-qgis), headless, installed from its built zip.

One QGIS session (scripts/qgis_plugin_check.py under /usr/bin/python3 with
QT_QPA_PLATFORM=offscreen) loads the plugin from the extracted zip and runs each algorithm
through ``processing.run`` on the bundled sample; geo is this checkout's, named by
GEO_QGIS_EXECUTABLE. The tests below read what that session reports. `make test` installs
python3-qgis where it can (scripts/install_qgis.sh); elsewhere the tests skip with the reason.
"""

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.qgis_plugin.conftest import geo_program, install_plugin

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_rasters"
PRODUCT = SAMPLE / "LC08_L2SR_171075_20230601_20230607_02_T1"
SYSTEM_PYTHON = Path("/usr/bin/python3")
DRIVER = ROOT / "scripts" / "qgis_plugin_check.py"
FIELDS = "licence_id=licence_no,holder=holder_name,status=status,expiry=expiry"


def _has_qgis() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import qgis.core, processing"],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": "/usr/share/qgis/python/plugins"},
    )
    return probe.returncode == 0


def _geo_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Run the driver once; return its checks by name, the CLI's run and the timings."""
    if os.name != "posix" or not _has_qgis():
        pytest.skip("QGIS is not installed (apt-get install python3-qgis qgis-providers)")
    tmp = tmp_path_factory.mktemp("qgis_plugin")
    plugins = install_plugin(tmp)  # the plugin as a user installs it: from the built zip
    program = geo_program(tmp)
    work = tmp / "work"
    work.mkdir()
    # the CLI with the same inputs, alongside the QGIS session
    cli_out = tmp / "cli_run"
    cli = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "geo",
            "-q",
            "run",
            "landsat_alteration",
            "--scene",
            str(PRODUCT),
            "--licences",
            str(SAMPLE / "licences.gpkg"),
            "--licence-fields",
            FIELDS,
            "--field-top",
            "3",
            "--out",
            str(cli_out),
        ],
        env=_geo_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    home = tmp / "home"  # QGIS settings written by the test stay out of the user's profile
    home.mkdir()
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "GEO_QGIS_EXECUTABLE": str(program),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(home),
    }
    env.pop("PYTHONPATH", None)
    started = time.monotonic()
    done = subprocess.run(
        [str(SYSTEM_PYTHON), str(DRIVER), str(plugins), str(SAMPLE), str(work)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    seconds = time.monotonic() - started
    cli.wait(timeout=300)
    assert cli.returncode == 0, cli.stderr
    checks = {
        d["check"]: d
        for d in (json.loads(ln) for ln in done.stdout.splitlines() if ln.startswith("{"))
    }
    assert done.returncode == 0 and "settings" in checks, done.stderr[-3000:]
    bad_cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "geo",
            "run",
            "landsat_alteration",
            "--scene",
            str(SAMPLE),
            "--licences",
            str(SAMPLE / "licences.gpkg"),
            "--licence-fields",
            FIELDS,
            "--out",
            str(tmp / "bad_cli"),
        ],
        env=_geo_env(),
        capture_output=True,
        text=True,
    )
    print(
        f"QGIS session {seconds:.1f} s: "
        + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in checks.items() if "seconds" in v)
    )
    return {"checks": checks, "work": work, "cli_out": cli_out, "bad_cli": bad_cli, "home": home}


def test_provider_lists_every_algorithm(session):
    provider = session["checks"]["provider"]
    assert provider["loaded"] and provider["name"] == "geo"
    assert provider["algorithms"] == [
        "geo:batch",
        "geo:exportfield",
        "geo:rerank",
        "geo:runpipeline",
        "geo:sceneinfo",
    ]
    assert provider["names"]["geo:runpipeline"] == "Run pipeline"
    params = provider["parameters"]["geo:runpipeline"]
    for name in (
        "PIPELINE",
        "PIPELINE_FILE",
        "SCENE",
        "SCENE_FOLDER",
        "LICENCES",
        "LICENCE_ID_FIELD",
        "HOLDER_FIELD",
        "STATUS_FIELD",
        "EXPIRY_FIELD",
        "OCCURRENCES",
        "STRUCTURES",
        "FIELD_TOP",
        "OVERWRITE",
        "OUTPUT",
    ):
        assert name in params


def test_run_pipeline_gives_the_clis_targets(session):
    run = session["checks"]["run"]
    assert run["error"] is None, run["error"]
    qgis_csv = (session["work"] / "qgis_run_targets.csv").read_bytes()
    cli_csv = (session["cli_out"] / "targets.csv").read_bytes()
    assert qgis_csv == cli_csv
    rows = list(csv.DictReader(qgis_csv.decode("utf-8").splitlines()))
    assert [r["target_id"] for r in rows] == ["T001", "T002", "T003", "T004"]
    assert rows[0]["licence_id"] == "PL 012/2021"  # the licence fields chosen in the widgets
    out = str(session["work"] / "qgis_run")
    assert run["results"]["RUN_FOLDER"] == out
    assert run["results"]["REPORT"] == os.path.join(out, "report.html")
    assert run["results"]["TARGETS"] == os.path.join(out, "targets.gpkg") + "|layername=targets"


def test_progress_follows_geos_stages(session):
    run = session["checks"]["run"]
    percents = run["percents"]
    assert percents == sorted(percents) and percents[-1] == 100.0 and len(percents) >= 5
    for stage in ("ingest", "masks_indices", "anomalies", "zones", "targets", "field_exports"):
        assert any(i.startswith(f"{stage} done") for i in run["infos"]), stage
    assert run["warnings"] == ["1 target(s) lie outside every licence (licence_id is null)"]


def test_layers_load_styled_in_a_group_named_after_the_run(session):
    run = session["checks"]["run"]
    assert run["group"] == "qgis_run" and run["group_index"] == 0
    layers = {entry["name"]: entry for entry in run["layers"]}
    assert all(entry["valid"] for entry in layers.values())
    assert [e["name"] for e in run["layers"] if e["kind"] == "vector"] == [
        "targets",
        "zones",
        "licences",
    ]
    assert layers["targets"]["renderer"] == "graduatedSymbol" and layers["targets"]["labels"]
    assert layers["targets"]["features"] == 4
    assert layers["zones"]["renderer"] == "categorizedSymbol"
    assert layers["licences"]["labels"]
    rasters = [e for e in run["layers"] if e["kind"] == "raster"]
    assert all(e["parent"] == "rasters" for e in rasters)
    assert layers["iron_oxide_anomaly"]["renderer"] == "paletted"
    assert layers["iron_oxide_anomaly"]["visible"]
    assert layers["true_colour"]["renderer"] == "multibandcolor"
    assert rasters[-1]["name"] == "true_colour"  # drawn under the others
    assert layers["iron_oxide_z"]["renderer"] == "singlebandpseudocolor"
    assert not layers["iron_oxide_z"]["visible"]


def test_bad_input_raises_the_clis_one_line(session):
    bad = session["checks"]["bad"]
    cli = session["bad_cli"]
    assert cli.returncode == 2
    (line,) = [ln for ln in cli.stderr.splitlines() if ln.startswith("geo: error: ")]
    assert bad["type"] == "QgsProcessingException"
    assert bad["raised"] == line[len("geo: error: ") :]
    assert "not a product folder" in bad["raised"]
    assert not bad["out_exists"]


def test_cancel_after_the_first_stage_leaves_no_output_folder(session):
    cancel = session["checks"]["cancel"]
    assert cancel["raised"].startswith("geo: cancelled: stopped at the user's request")
    assert not cancel["out_exists"]
    assert not [n for n in cancel["siblings"] if n.startswith("cancelled_run") or "staging" in n]
    assert "ingest done" in " ".join(cancel["infos"])
    assert not any(i.startswith("anomalies") for i in cancel["infos"])


def test_rerank_reloads_the_run_with_the_new_weights(session):
    rerank = session["checks"]["rerank"]
    assert rerank["error"] is None, rerank["error"]
    assert rerank["groups"] == ["qgis_run"]  # replaced, not duplicated
    assert rerank["renderer"] == "graduatedSymbol"
    rows = sorted(rerank["rows"], key=lambda r: r["rank"])
    # only the iron intensity weighs: the score is the iron intensity, ranked by it
    assert [r["score"] for r in rows] == pytest.approx([r["iron_intensity"] for r in rows])
    irons = [r["iron_intensity"] for r in rows]
    assert irons == sorted(irons, reverse=True)
    # the clay-only target (iron 0) ranked second-to-last before falls to last; ids follow ranks
    assert irons[-1] == 0.0 and irons[0] == pytest.approx(0.981461)
    assert [r["target_id"] for r in rows] == ["T001", "T002", "T003", "T004"]


def test_export_for_the_field_starts_the_route_at_the_picked_point(session):
    from pyproj import Transformer

    export = session["checks"]["export"]
    assert export["error"] is None, export["error"]
    assert "targets.gpx" in export["files"] and "targets.geojson" in export["files"]
    gpx = (session["work"] / "qgis_run" / "exports" / "targets.gpx").read_text(encoding="utf-8")
    lon, lat = Transformer.from_crs(32635, 4326, always_xy=True).transform(549000, -2378000)
    first = gpx.split("<rtept ", 1)[1].split(">", 1)[0]
    got = dict(part.split("=") for part in first.split())
    assert float(got["lat"].strip('"')) == pytest.approx(lat, abs=1e-6)
    assert float(got["lon"].strip('"')) == pytest.approx(lon, abs=1e-6)


def test_scene_info(session):
    info = session["checks"]["info"]
    assert info["error"] is None, info["error"]
    text = info["results"]["INFO"]
    assert text.startswith("scene      LC08_L2SR_171075_20230601_20230607_02_T1")
    assert "landsat_oli" in text and "EPSG:32635" in text


def test_batch_over_scenes(session):
    batch = session["checks"]["batch"]
    assert batch["error"] is None, batch["error"]
    assert batch["percents"][-1] == 100.0
    assert any(i.startswith("[1/1] LC08_L2SR_171075") for i in batch["infos"])
    layers = {e["name"]: e for e in batch["layers"]}
    assert layers["targets"]["valid"] and layers["targets"]["features"] == 4


def test_settings_test_button(session):
    settings = session["checks"]["settings"]
    from geo._version import __version__

    assert settings["good"].startswith(f"geo, version {__version__}\n")
    assert settings["bad"].startswith("Failed: ") and "no_such_venv" in settings["bad"]
    assert settings["label"] == settings["bad"]  # what the page shows
    assert settings["saved"][0] == "executable"
    assert settings["configured"].startswith(f"geo, version {__version__}\n")
    # saved in the test's own QGIS profile, not the user's
    assert any(
        "geo_targeting" in p.read_text(errors="replace") for p in session["home"].rglob("*.ini")
    )
