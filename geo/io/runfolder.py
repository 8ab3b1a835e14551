"""Output folders that are safe to share: staged, locked, and replaced only when provably geo's.

A run writes into a hidden staging folder beside its output folder
(``.NAME.tmp-<tag>``) and moves it into place only when the whole run succeeded. Around
that, this module guarantees:

- **One writer per output folder.** :func:`output_lock` takes an exclusive lock on
  ``.NAME.lock`` beside the folder for the whole run (``filelock``: ``fcntl`` on POSIX,
  ``msvcrt`` on Windows; the operating system releases it when a process dies). A second
  run into the same folder stops at once with "output folder busy (held by pid N since T)".
- **Nothing foreign is replaced.** :func:`check_replaceable` lets ``--overwrite`` replace a
  folder only when its ``manifest.json`` is a geo manifest (``tool: geo`` and a ``geo-*``
  schema, or a manifest of geo before 0.7) and every file in it is one the manifest lists
  or one geo (or QGIS, looking at the run) writes later; anything else is named and kept.
  The check is made again just before the final move, so a folder that appears while the
  run is working is never deleted.
- **Killed runs leave nothing for long.** The staging folders of a run that died are
  removed by the next run into the same parent folder, once their lock shows that no
  live process owns them (:func:`clean_stale`).
- **A full disk is one line.** :class:`~geo.errors.DiskFullError` names the folder and
  "no space left on device"; the staging folder is removed.
- **Every path stays inside the run.** :func:`safe_child` refuses a name that is not a
  plain file name and a path that resolves outside its folder (``..``, separators,
  drive letters, links); :func:`inside_run` refuses any path outside the folder of the
  running run (its staging folder, set by :func:`run_folder` / :func:`run_root`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import errno
import fnmatch
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from filelock import FileLock, Timeout

from geo.errors import (
    DiskFullError,
    InputNotFoundError,
    OutputBusyError,
    OutputExistsError,
    UnsafePathError,
)

__all__ = [
    "MANIFEST_SCHEMA",
    "MANIFEST_TOOL",
    "check_replaceable",
    "clean_stale",
    "inside_run",
    "is_disk_full",
    "output_lock",
    "preflight",
    "run_folder",
    "run_root",
    "safe_child",
]

#: ``tool`` and ``schema`` keys of every manifest geo writes (run, stack, batch).
MANIFEST_TOOL = "geo"
MANIFEST_SCHEMA = {"run": "geo-run/1", "stack": "geo-stack/1", "batch": "geo-batch/1"}

#: Files geo (``geo export``, ``geo rank``) or QGIS looking at a run may add after the
#: manifest was written; relative POSIX paths, ``fnmatch`` patterns.
_LATER_FILES = (
    "manifest.json",
    "report.html",
    "report.pdf",
    "prospectivity.png",
    "evaluation.png",
    "exports/*",
    "rasters/*.qml",
    "*.aux.xml",  # GDAL/QGIS statistics beside a raster
    "*.gpkg-wal",  # SQLite journals of a GeoPackage open in QGIS
    "*.gpkg-shm",
    "*.gpkg-journal",
    ".*.partial*",  # an interrupted `geo export` / `geo rank`
    ".rerank.tmp/*",
)
_STALE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-[0-9a-f]{8}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_MESSAGE_ITEMS = 5
#: The folder the current run may write into (its staging folder), while it runs.
_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar("geo_run_root", default=None)


@contextmanager
def run_root(folder: str | Path) -> Iterator[Path]:
    """Declare ``folder`` the only place writes may go for the block (see :func:`inside_run`)."""
    token = _ROOT.set(Path(folder).resolve())
    try:
        yield Path(folder)
    finally:
        _ROOT.reset(token)


def inside_run(path: str | Path) -> Path:
    """Return ``path`` if it resolves inside the current run's folder (or no run is active).

    Raises
    ------
    UnsafePathError
        The path (after following links) lies outside the folder of the running run.
    """
    root = _ROOT.get()
    if root is not None and not Path(path).resolve().is_relative_to(root):
        raise UnsafePathError(
            f"{path}: resolves to {Path(path).resolve()}, outside the run folder {root}; geo "
            "writes only inside it (is a folder in it a link to elsewhere?)."
        )
    return Path(path)


def _lock_paths(out: Path) -> tuple[Path, Path]:
    return out.parent / f".{out.name}.lock", out.parent / f".{out.name}.lock.json"


@contextmanager
def output_lock(out: str | Path, *, existing: bool = False) -> Iterator[None]:
    """Hold an exclusive, cross-platform lock on output folder ``out`` for the block.

    The lock file ``.NAME.lock`` and a note of its holder (``.NAME.lock.json``: pid, host,
    start time) sit beside ``out``. The lock is taken without waiting. With ``existing``,
    ``out`` must be a folder already (a run being re-ranked or exported); otherwise its
    parent folders are created.

    Raises
    ------
    OutputBusyError
        Another process (or another run in this process) holds the lock.
    InputNotFoundError
        ``existing`` and ``out`` is not a folder.
    """
    out = Path(out)
    if existing and not out.is_dir():
        raise InputNotFoundError(f"{out}: folder not found; give the folder `geo run` wrote.")
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_file, note = _lock_paths(out)
    lock = FileLock(lock_file, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputBusyError(
            f"{out}: output folder busy ({_holder(note)}); wait for that run to finish or "
            "choose another --out."
        ) from None
    try:
        _write_json(
            note,
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            },
        )
        yield
    finally:
        note.unlink(missing_ok=True)
        lock.release()


def _holder(note: Path) -> str:
    try:
        info = json.loads(note.read_text(encoding="utf-8"))
        host = "" if info.get("host") == socket.gethostname() else f" on {info.get('host')}"
        return f"held by pid {int(info['pid'])}{host} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "held by another geo process"


def _write_json(path: Path, doc: dict) -> None:
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.partial")
    partial.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(partial, path)


def clean_stale(parent: str | Path, *, own: str | None = None) -> list[Path]:
    """Remove the staging folders (``.NAME.tmp-*``, ``.NAME.old-*``) of runs that died.

    A staging folder is stale when nobody holds the lock of its output folder ``NAME``:
    runs hold it from start to end, and the operating system drops it with the process.
    ``own`` names the output folder whose lock the caller already holds (its leftovers
    are stale by definition). ``.old-*`` folders are removed only if they hold a geo run.
    Returns the paths removed.
    """
    parent = Path(parent)
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    by_name: dict[str, list[Path]] = {}
    for path in parent.iterdir():
        match = _STALE.match(path.name)
        if match and path.is_dir() and not path.is_symlink():
            if match["kind"] == "old" and not _is_geo_manifest(path / "manifest.json"):
                continue
            by_name.setdefault(match["name"], []).append(path)
    for name, paths in by_name.items():
        if name == own:
            removed += _remove(paths)
            continue
        lock = FileLock(parent / f".{name}.lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:  # a live run owns them
            continue
        try:
            removed += _remove(paths)
        finally:
            lock.release()
    return removed


def _remove(paths: list[Path]) -> list[Path]:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    return [p for p in paths if not p.exists()]


def _is_geo_manifest(path: Path) -> bool:
    return _read_manifest(path) is not None


def _read_manifest(path: Path) -> dict | None:
    """Return a geo manifest, or None when ``path`` is not one (missing, foreign, damaged)."""
    try:
        if not path.is_file() or path.stat().st_size > 64 * 1024 * 1024:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    if doc.get("tool") == MANIFEST_TOOL and str(doc.get("schema", "")).startswith("geo-"):
        return doc
    # manifests of geo before 0.7 carry no tool/schema: a run's version, spec and outputs
    legacy_run = (
        isinstance(doc.get("geo_version"), str)
        and isinstance(doc.get("pipeline"), dict)
        and isinstance(doc.get("outputs"), list)
    )
    return doc if legacy_run else None


def check_replaceable(out: str | Path) -> None:
    """Raise unless ``out`` may be replaced by a new geo run (``--overwrite``).

    ``out`` must be a real folder (not a link) holding a geo ``manifest.json``, and every
    file in it must be one that manifest lists or one geo or QGIS adds to a finished run
    (field exports, styles, ``.aux.xml`` statistics, GeoPackage journals).

    Raises
    ------
    OutputExistsError
        ``out`` is a file or a link, has no geo manifest, or holds foreign files (the
        message names them).
    """
    out = Path(out)
    if out.is_symlink() or not out.is_dir():
        raise OutputExistsError(
            f"{out}: exists and is {'a link' if out.is_symlink() else 'not a folder'}; geo "
            "replaces only a folder it wrote. Choose another --out."
        )
    manifest = _read_manifest(out / "manifest.json")
    if manifest is None:
        raise OutputExistsError(
            f"{out}: exists and is not a geo output folder (no geo manifest.json); geo will "
            "not replace it even with --overwrite. Choose another --out."
        )
    listed = {str(PurePosixPath(str(p))) for p in manifest.get("outputs") or [] if p}
    foreign = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        if path.is_symlink() or not (
            rel in listed or any(fnmatch.fnmatchcase(rel, pat) for pat in _LATER_FILES)
        ):
            foreign.append(rel)
    if foreign:
        shown = ", ".join(foreign[:_MESSAGE_ITEMS])
        more = f" and {len(foreign) - _MESSAGE_ITEMS} more" if len(foreign) > _MESSAGE_ITEMS else ""
        raise OutputExistsError(
            f"{out}: holds files that are not part of the geo run its manifest.json records "
            f"({shown}{more}); geo will not replace it even with --overwrite. Move them "
            "elsewhere or choose another --out."
        )


def _check_out(out: Path, overwrite: bool) -> None:
    if out.is_symlink() or out.exists():
        if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
            return  # an empty folder: nothing to lose
        if not overwrite:
            raise OutputExistsError(
                f"{out}: the output folder already exists; choose another --out or pass "
                "--overwrite to replace the previous run."
            )
        check_replaceable(out)


def is_disk_full(exc: BaseException, folder: Path) -> bool:
    """Tell whether ``exc`` (from GDAL, SQLite, numpy or Python I/O) means the disk is full."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, OSError) and link.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return True
        text = str(link).lower()
        if "no space left" in text or "disk full" in text or "not enough space" in text:
            return True
        link = link.__cause__ or link.__context__
    try:  # GDAL often says only "Write failed" / "TIFFAppendToStrip"
        return shutil.disk_usage(folder).free < 1024 * 1024
    except OSError:
        return False


def preflight(out: str | Path, *, overwrite: bool = False) -> None:
    """Fail fast, before any work, where :func:`run_folder` would fail at the end of it.

    Checks that ``out`` may be written (or replaced) and that no other process holds it
    right now. The run itself checks again under its lock.

    Raises
    ------
    OutputExistsError, OutputBusyError, UnsafePathError
        As :func:`run_folder` would.
    """
    out = Path(out)
    _check_name(out)
    _check_out(out, overwrite)
    if out.parent.is_dir():
        with output_lock(out):
            pass


def _check_name(out: Path) -> None:
    if out.name in ("", ".", "..") or out.resolve() == Path(out.resolve().anchor):
        raise UnsafePathError(f"{out}: name a folder for the outputs, e.g. --out runs/first.")


@contextmanager
def run_folder(out: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder that replaces ``out`` only if the block succeeds.

    The output folder is locked for the whole block (:func:`output_lock`); stale staging
    folders of dead runs in the same parent are removed first (:func:`clean_stale`). A
    failed or killed run leaves ``out`` untouched.

    Raises
    ------
    OutputExistsError
        ``out`` holds something and ``overwrite`` is False; or it is not provably a geo
        output folder (see :func:`check_replaceable`), checked at the start and again just
        before the move.
    OutputBusyError
        Another run holds ``out``.
    DiskFullError
        The disk filled up (the staging folder is removed).
    """
    out = Path(out)
    _check_name(out)
    _check_out(out, overwrite)
    with output_lock(out):
        clean_stale(out.parent, own=out.name)
        _check_out(out, overwrite)  # again, now that no other geo run can change it
        tag = uuid.uuid4().hex[:8]
        tmp = out.parent / f".{out.name}.tmp-{tag}"
        tmp.mkdir()
        try:
            with run_root(tmp):
                yield tmp
            _check_out(out, overwrite)  # a folder may have appeared while the run worked
        except BaseException as exc:
            full = is_disk_full(exc, tmp) if isinstance(exc, Exception) else False
            shutil.rmtree(tmp, ignore_errors=True)
            if full:
                raise DiskFullError(
                    f"{out.parent}: no space left on device while writing {out.name}; free some "
                    "space or choose another --out (the partial output was removed)."
                ) from None
            raise
        old = out.parent / f".{out.name}.old-{tag}"
        if out.exists() or out.is_symlink():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)


def safe_child(folder: str | Path, name: str, suffix: str = "") -> Path:
    """Return ``folder / (name + suffix)``, refusing anything that is not a plain file name.

    ``name`` must be letters, digits, ``_``, ``-`` or ``.`` (not first), and the path must
    resolve to a direct child of ``folder`` (no ``..``, separators, drive letters or links
    leading elsewhere).

    Raises
    ------
    UnsafePathError
        ``name`` is not a plain file name, or the path resolves outside ``folder``.

    Examples
    --------
    >>> safe_child("out/rasters", "iron_oxide", ".tif").as_posix()
    'out/rasters/iron_oxide.tif'
    >>> safe_child("out/rasters", "../../x", ".tif")
    Traceback (most recent call last):
    ...
    geo.errors.UnsafePathError: '../../x': a layer name becomes a file name and must be letters, digits, '_', '-' or '.' (not first); it would be written outside out/rasters.
    """
    folder = Path(folder)
    text = f"{name}{suffix}"
    path = folder / text
    if not _SAFE_NAME.fullmatch(text) or ".." in text:
        raise UnsafePathError(
            f"{name!r}: a layer name becomes a file name and must be letters, digits, '_', '-' "
            f"or '.' (not first); it would be written outside {folder.as_posix()}."
        )
    if path.resolve().parent != folder.resolve():
        raise UnsafePathError(
            f"{path}: resolves to {path.resolve()}, outside {folder}; geo writes only inside "
            "the run's folder."
        )
    return inside_run(path)
