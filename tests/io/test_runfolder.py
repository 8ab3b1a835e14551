"""Output folders: locks, proof before replacing, stale staging, full disks, contained paths."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from geo.errors import DiskFullError, OutputBusyError, OutputExistsError, UnsafePathError
from geo.io.runfolder import (
    MANIFEST_SCHEMA,
    check_replaceable,
    clean_stale,
    output_lock,
    run_folder,
    run_root,
    safe_child,
)
from geo.io.writers import RasterLayer, write_rasters


def geo_run(folder, files=("targets.csv", "rasters/iron_oxide.tif"), **extra):
    """A finished geo run folder: a manifest listing ``files``, and those files."""
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    manifest = {
        "tool": "geo",
        "schema": MANIFEST_SCHEMA["run"],
        "geo_version": "0.7.0",
        "pipeline": {"name": "p"},
        "outputs": [*files, "manifest.json"],
        **extra,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def tree(root):
    return sorted(
        (p.relative_to(root).as_posix(), p.stat().st_size if p.is_file() else -1)
        for p in root.rglob("*")
    )


# ---------------------------------------------------------------- replacing a folder


def test_a_geo_run_with_its_later_files_may_be_replaced(tmp_path):
    run = geo_run(tmp_path / "run")
    for later in ("report.html", "exports/targets.kml", "rasters/iron_oxide.tif.aux.xml"):
        (run / later).parent.mkdir(exist_ok=True)
        (run / later).write_text("x")
    check_replaceable(run)
    with run_folder(run, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in run.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == ["run"]


def test_a_legacy_run_manifest_is_recognised(tmp_path):
    run = tmp_path / "old"
    run.mkdir()
    (run / "targets.csv").write_text("x")
    legacy = {"geo_version": "0.6.3", "pipeline": {"name": "p"}, "outputs": ["targets.csv"]}
    (run / "manifest.json").write_text(json.dumps(legacy))
    check_replaceable(run)


@pytest.mark.parametrize(
    "manifest",
    [
        {"name": "my web app", "short_name": "app", "icons": []},  # a web app manifest
        {"tool": "other", "schema": "geo-run/1", "outputs": []},
        {"geo_version": "0.6.3"},  # half a manifest
        [1, 2, 3],
        "not json at all {",
    ],
)
def test_a_folder_with_a_foreign_manifest_is_never_replaced(tmp_path, manifest):
    folder = tmp_path / "site"
    folder.mkdir()
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (folder / "manifest.json").write_text(text)
    (folder / "index.html").write_text("<h1>mine</h1>")
    before = tree(folder)
    with pytest.raises(OutputExistsError, match="not a geo output folder") as err:
        with run_folder(folder, overwrite=True) as tmp:
            (tmp / "x").write_text("x")
    assert str(folder) in str(err.value) and "\n" not in str(err.value)
    assert tree(folder) == before


def test_a_geo_run_holding_a_foreign_file_is_kept_and_the_file_named(tmp_path):
    run = geo_run(tmp_path / "run")
    (run / "field notes.docx").write_text("three weeks of work")
    (run / "project.qgz").write_text("qgis project")
    before = tree(run)
    with pytest.raises(OutputExistsError, match=r"field notes\.docx, project\.qgz"):
        check_replaceable(run)
    with pytest.raises(OutputExistsError):
        with run_folder(run, overwrite=True):
            pass
    assert tree(run) == before


def test_links_and_files_are_not_replaced(tmp_path):
    target = geo_run(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(OutputExistsError, match="a link"):
        check_replaceable(link)
    plain = tmp_path / "file.txt"
    plain.write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        with run_folder(plain, overwrite=True):
            pass
    assert plain.read_text() == "x"


def test_a_run_inside_a_run_with_a_symlink_to_elsewhere_is_refused(tmp_path):
    run = geo_run(tmp_path / "run")
    (tmp_path / "precious").mkdir()
    (run / "rasters" / "link").symlink_to(tmp_path / "precious", target_is_directory=True)
    with pytest.raises(OutputExistsError, match="rasters/link"):
        check_replaceable(run)


def test_without_overwrite_an_existing_folder_stops_the_run(tmp_path):
    run = geo_run(tmp_path / "run")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        with run_folder(run):
            pass
    empty = tmp_path / "empty"
    empty.mkdir()
    with run_folder(empty) as tmp:  # an empty folder holds nothing to lose
        (tmp / "a").write_text("a")
    assert (empty / "a").is_file()


def test_a_folder_appearing_during_the_run_is_never_deleted(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(OutputExistsError, match="already exists"):
        with run_folder(out) as tmp:
            (tmp / "result.tif").write_text("run")
            out.mkdir()  # someone else writes here meanwhile
            (out / "theirs.txt").write_text("theirs")
    assert (out / "theirs.txt").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]


def test_a_failed_run_leaves_the_previous_run_untouched(tmp_path):
    run = geo_run(tmp_path / "run")
    before = tree(run)
    with pytest.raises(RuntimeError, match="boom"):
        with run_folder(run, overwrite=True) as tmp:
            (tmp / "half.tif").write_text("x")
            raise RuntimeError("boom")
    assert tree(run) == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("out", [".", ".."])
def test_degenerate_output_names_are_refused(tmp_path, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((UnsafePathError, OutputExistsError)):
        with run_folder(out, overwrite=True):
            pass


# ---------------------------------------------------------------- locks


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from geo.io.runfolder import output_lock
    with output_lock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def _holder(out):
    """Start another process that holds the lock of ``out`` until it reads a line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def held(tmp_path):
    """Another process holding the lock of ``tmp_path / 'out'`` until the test ends."""
    proc = _holder(tmp_path / "out")
    yield proc
    proc.communicate("\n", timeout=30)


def test_a_second_process_finds_the_folder_busy_and_names_the_holder(tmp_path, held):
    with pytest.raises(OutputBusyError) as err:
        with run_folder(tmp_path / "out") as tmp:
            (tmp / "x").write_text("x")
    message = str(err.value)
    assert f"held by pid {held.pid} since " in message and "output folder busy" in message
    assert not (tmp_path / "out").exists()


def test_two_runs_in_one_process_exclude_each_other(tmp_path):
    out = tmp_path / "out"
    with run_folder(out) as tmp:
        (tmp / "first").write_text("1")
        with pytest.raises(OutputBusyError, match=f"held by pid {os.getpid()}"):
            with run_folder(out, overwrite=True):
                pass
    assert sorted(p.name for p in out.iterdir()) == ["first"]
    with output_lock(out):  # released again
        pass


def test_a_killed_holder_releases_the_lock(tmp_path):
    proc = _holder(tmp_path / "out")
    proc.kill()
    proc.wait(timeout=30)
    with run_folder(tmp_path / "out") as tmp:
        (tmp / "x").write_text("x")
    assert (tmp_path / "out" / "x").is_file()


# ---------------------------------------------------------------- stale staging folders


def test_staging_folders_of_dead_runs_are_removed_by_the_next_run(tmp_path):
    dead = tmp_path / ".other.tmp-0123abcd"
    (dead / "rasters").mkdir(parents=True)
    (dead / "rasters" / "big.tif").write_bytes(b"0" * 1000)
    old = geo_run(tmp_path / ".other.old-89abcdef")
    own = tmp_path / ".out.tmp-deadbeef"
    own.mkdir()
    with run_folder(tmp_path / "out") as tmp:
        (tmp / "x").write_text("x")
    assert not dead.exists() and not old.exists() and not own.exists()


def test_staging_folders_of_live_runs_and_lookalikes_are_kept(tmp_path, held):
    live = tmp_path / ".out.tmp-0123abcd"  # `held` holds the lock of "out"
    live.mkdir()
    not_ours = [
        tmp_path / ".notes.old-0123abcd",  # no geo manifest inside
        tmp_path / ".photos.tmp-holiday",  # not a geo tag
    ]
    for p in not_ours:
        p.mkdir()
        (p / "keep.txt").write_text("mine")
    assert clean_stale(tmp_path) == []
    with run_folder(tmp_path / "elsewhere") as tmp:
        (tmp / "x").write_text("x")
    assert live.is_dir() and all((p / "keep.txt").is_file() for p in not_ours)


# ---------------------------------------------------------------- disk full


def test_a_full_disk_is_one_line_and_removes_the_staging_folder(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DiskFullError) as err:
        with run_folder(out) as tmp:
            (tmp / "part.tif").write_text("x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(err.value).startswith(f"{tmp_path}: no space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB tmpfs (Linux, root); skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs Linux and root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_real_full_disk_from_the_command_line(tiny_disk):
    from tests.conftest import PIPELINE

    proc = subprocess.run(
        [sys.executable, "-m", "geo.cli.main", "run", str(PIPELINE), "--out", str(tiny_disk / "r")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"geo: error: {tiny_disk}: no space left on device while writing r; free some space "
        "or choose another --out (the partial output was removed)."
    ]
    assert sorted(p.name for p in tiny_disk.iterdir()) == [".r.lock"]


# ---------------------------------------------------------------- contained paths


def _layer():
    data = xr.DataArray(np.ones((4, 4), "float32"), dims=("y", "x"))
    return data.rio.write_crs("EPSG:32635").rio.write_transform()


@pytest.mark.parametrize(
    "name", ["../../x", "./../x", "a/b", "a\\b", "..", ".hidden", "C:evil", "", "x" * 200, "a\x00b"]
)
def test_the_raster_writer_refuses_names_that_leave_its_folder(tmp_path, name):
    folder = tmp_path / "run" / "rasters"
    with pytest.raises(UnsafePathError):
        write_rasters({name: RasterLayer(_layer())}, folder)
    assert tree(tmp_path) == [("run", -1), ("run/rasters", -1)]


def test_a_linked_subfolder_cannot_carry_writes_outside(tmp_path):
    (tmp_path / "outside").mkdir()
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "rasters").symlink_to(tmp_path / "outside", target_is_directory=True)
    with run_root(folder):
        with pytest.raises(UnsafePathError, match="outside the run folder"):
            safe_child(folder / "rasters", "iron_oxide", ".tif")
        assert safe_child(folder, "iron_oxide", ".tif") == folder / "iron_oxide.tif"
    assert not any((tmp_path / "outside").iterdir())


@given(st.text(max_size=40))
def test_safe_child_either_refuses_or_stays_in_the_folder(tmp_path_factory, name):
    folder = tmp_path_factory.getbasetemp() / "prop"
    folder.mkdir(exist_ok=True)
    try:
        path = safe_child(folder, name, ".tif")
    except UnsafePathError as exc:
        assert "\n" not in str(exc)
        return
    assert path.resolve().parent == folder.resolve()
    assert not path.name.startswith(".") and path.name == f"{name}.tif"


def test_a_second_geo_run_into_a_busy_folder_exits_2_and_keeps_the_first(tmp_path, held):
    from click.testing import CliRunner

    from geo.cli.main import main
    from tests.conftest import PIPELINE

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(PIPELINE), "--out", str(out), "--no-export"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"geo: error: {out}: output folder busy (held by pid {held.pid} since "
        + result.stderr.split(" since ", 1)[1].strip()
    ]
    assert "wait for that run to finish" in result.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
