"""The plugin's files: metadata.txt by the QGIS repository's rules, the zip, the code's reach.

No QGIS needed: the algorithms module is read as source (its lists are literals) and the
zip is built by scripts/build_qgis_plugin.py.
"""

import ast
import configparser
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from geo._version import __version__
from geo.pipeline.spec import EXPORT_FORMATS, LicenceInput
from geo.prospectivity.combine import KNOWLEDGE_METHODS

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "qgis_plugin" / "geo_targeting"
BUILD = ROOT / "scripts" / "build_qgis_plugin.py"


def _metadata():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(PLUGIN / "metadata.txt", encoding="utf-8")
    return parser["general"]


def _literal(module: str, name: str):
    tree = ast.parse((PLUGIN / module).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {module}")


def test_metadata_follows_the_plugin_repository_rules():
    meta = _metadata()
    # mandatory for plugins.qgis.org
    for key in (
        "name",
        "qgisMinimumVersion",
        "description",
        "about",
        "version",
        "author",
        "email",
        "repository",
    ):
        assert meta.get(key, "").strip(), key
    assert meta["version"] == __version__  # the plugin ships with the geo it was tested with
    assert meta["qgisMinimumVersion"] == "3.22"
    assert meta["hasProcessingProvider"] == "yes"
    assert meta["category"] == "Analysis"
    assert meta["experimental"] == "False"
    assert (PLUGIN / meta["icon"]).is_file()
    assert meta["changelog"].strip().startswith(__version__)
    for key in ("repository", "tracker", "homepage"):
        assert meta[key].startswith("https://")
    assert "\n" not in meta["description"]


def test_the_running_qgis_satisfies_the_minimum_version():
    probe = (
        subprocess.run(
            ["/usr/bin/python3", "-c", "from qgis.core import Qgis; print(Qgis.QGIS_VERSION_INT)"],
            capture_output=True,
            text=True,
        )
        if Path("/usr/bin/python3").exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("QGIS is not installed (apt-get install python3-qgis qgis-providers)")
    major, minor = (int(x) for x in _metadata()["qgisMinimumVersion"].split("."))
    assert int(probe.stdout) >= major * 10000 + minor * 100


def test_plugin_lists_match_geo():
    shipped = subprocess.run(
        [sys.executable, "-m", "geo", "pipelines", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = [p["name"] for p in json.loads(shipped.stdout)]
    assert list(_literal("algorithms.py", "SHIPPED_PIPELINES")) == names
    assert list(_literal("algorithms.py", "EXPORT_FORMATS")) == ["all", *EXPORT_FORMATS]
    methods = _literal("algorithms.py", "METHODS")[1:]
    assert set(methods) == {*KNOWLEDGE_METHODS, "wofe", "logistic", "random_forest"}
    keys = [k for k, _param, _label in _literal("algorithms.py", "LICENCE_FIELDS")]
    assert set(keys) == set(LicenceInput.model_fields["fields"].annotation.__args__[0].__args__)


def test_plugin_code_runs_on_older_qgis_pythons_and_never_imports_geo():
    # OSGeo4W's QGIS 3.22 ships Python 3.9: no newer syntax in the plugin
    for path in sorted(PLUGIN.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 9))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "geo" for a in node.names), path
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert (node.module or "").split(".")[0] != "geo", path
                if path.name == "geo_process.py":  # QGIS-free: unit-tested in geo's Python
                    assert (node.module or "").split(".")[0] not in ("qgis", "PyQt5"), path
            if isinstance(node, ast.Call) and any(k.arg == "shell" for k in node.keywords):
                raise AssertionError(f"{path.name}: shell= in a subprocess call")
            assert not (isinstance(node, ast.Attribute) and node.attr == "pip"), path


def _build(out: Path) -> Path:
    done = subprocess.run(
        [sys.executable, str(BUILD), str(out)], capture_output=True, text=True, check=True
    )
    return Path(done.stdout.strip())


def test_zip_installs_as_one_plugin_folder_and_is_reproducible(tmp_path):
    first = _build(tmp_path / "a")
    assert first.name == f"geo_targeting-{__version__}.zip"
    cache = PLUGIN / "__pycache__"
    made = not cache.exists()
    cache.mkdir(exist_ok=True)  # a developer's leftovers never ship
    try:
        second = _build(tmp_path / "b")
    finally:
        if made:
            cache.rmdir()
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)]
    assert digest[0] == digest[1]
    with zipfile.ZipFile(first) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert all(n.startswith("geo_targeting/") for n in names)
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        shipped = {n.removeprefix("geo_targeting/") for n in names}
        expected = {p.name for p in PLUGIN.iterdir() if p.is_file() and p.suffix != ".pyc"}
        assert shipped == expected | {"LICENSE"}
        assert archive.read("geo_targeting/LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert archive.read("geo_targeting/metadata.txt") == (PLUGIN / "metadata.txt").read_bytes()


def test_build_refuses_a_metadata_version_other_than_geos(tmp_path, monkeypatch):
    sys.path.insert(0, str(BUILD.parent))
    try:
        import build_qgis_plugin as build
    finally:
        sys.path.remove(str(BUILD.parent))
    monkeypatch.setattr(build, "metadata_version", lambda: "0.0.1")
    with pytest.raises(SystemExit, match=r"version=0.0.1 but geo is"):
        build.build(tmp_path)
    assert not list(tmp_path.iterdir())
