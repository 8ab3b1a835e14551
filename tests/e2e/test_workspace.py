"""``geo init``, ``python -m geo`` and the shipped resources."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from geo.errors import OutputExistsError
from geo.resources import RESOURCES, resource_dir
from geo.workspace import init_workspace
from tests.conftest import ROOT


def test_resources_are_found_in_a_checkout():
    for name in RESOURCES:
        assert resource_dir(name) == ROOT / name
    with pytest.raises(ValueError, match="unknown resource"):
        resource_dir("../../etc")


def test_init_writes_a_working_folder_whose_pipelines_run_from_anywhere(tmp_path):
    course = tmp_path / "course with spaces é"
    init_workspace(course)
    assert sorted(p.name for p in course.iterdir()) == [
        "README.md",
        "notebooks",
        "out",
        "pipelines",
        "sample_rasters",
    ]
    assert sorted(p.name for p in (course / "pipelines").glob("*.yaml")) == sorted(
        p.name for p in (ROOT / "pipelines").glob("*.yaml")
    )
    notebooks = sorted(p.name for p in (course / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 7 and not list((course / "notebooks").glob("*.py"))
    product = "LC08_L2SR_171075_20230601_20230607_02_T1"
    assert (course / "sample_rasters" / product / f"{product}_MTL.txt").is_file()
    # run from another working folder: every path resolves against the pipeline file
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "geo",
            "-q",
            "run",
            str(course / "pipelines" / "landsat_alteration.yaml"),
            "--no-export",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path.anchor,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((course / "out" / "sample" / "manifest.json").read_text())
    assert manifest["targets"]["count"] == len(
        (course / "out" / "sample" / "targets.csv").read_text().splitlines()[1:]
    )
    assert manifest["inputs"]["licences"]["file"].startswith(str(course))


def test_init_never_touches_a_folder_with_something_in_it(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    with pytest.raises(OutputExistsError, match="not empty"):
        init_workspace(mine)
    assert [p.name for p in mine.iterdir()] == ["thesis.docx"]
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no staging left
    empty = tmp_path / "empty"
    empty.mkdir()
    init_workspace(empty)
    assert (empty / "pipelines").is_dir()


def test_python_dash_m_geo_is_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "geo", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip().startswith("geo, version ")
