"""Find geo and run it as a child process: no QGIS import here (unit-tested outside QGIS).

The plugin never imports geo into QGIS's process and never installs anything. It runs geo as
a child process, the same way whichever geo it found:

- ``auto``: geo is importable in QGIS's own Python (``importlib.util.find_spec``, without
  importing it) -> ``[qgis_python, "-m", "geo", ...]``, where ``qgis_python`` is the Python
  interpreter of the running QGIS (:func:`qgis_python`); otherwise the configured executable;
- ``executable``: the configured path: a ``geo``/``geo.exe`` program or a virtualenv folder
  (its ``Scripts/geo.exe`` on Windows or ``bin/geo`` elsewhere, :func:`venv_geo`).

The environment variable ``GEO_QGIS_EXECUTABLE`` overrides both (a program or a virtualenv
folder): tests and administrators use it.

geo is asked for ``--progress jsonl`` and ``--cancel-file``: :class:`ProgressTracker` turns
its JSON lines into a percentage and messages, and :func:`run_geo` creates the cancel file
when the caller says the user cancelled, so geo stops at its next progress point, removes its
staging folder and exits with code 130 (nothing half-written is left).
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "ENV_EXECUTABLE",
    "EXIT_CANCELLED",
    "GeoCancelled",
    "GeoNotFound",
    "GeoProcessError",
    "GeoResult",
    "ProgressTracker",
    "error_line",
    "find_geo",
    "geo_command",
    "geo_importable",
    "geo_version",
    "qgis_python",
    "run_geo",
    "venv_geo",
]

#: geo's exit code for a run stopped through ``--cancel-file``.
EXIT_CANCELLED = 130
#: Environment variable naming a geo program or virtualenv folder; wins over the settings.
ENV_EXECUTABLE = "GEO_QGIS_EXECUTABLE"
#: Seconds between two looks at the child and at the caller's cancel flag.
POLL_SECONDS = 0.2
#: Seconds geo gets to stop cleanly after the cancel file appears, before it is killed.
CANCEL_GRACE_SECONDS = 30.0
#: Longest message taken from geo's stderr (geo keeps its own lines shorter than this).
MAX_LINE = 2000


class GeoNotFound(RuntimeError):
    """No geo to run: neither in QGIS's Python nor at the configured path."""


class GeoProcessError(RuntimeError):
    """geo exited with an error; the message is geo's one line (``geo: error: ...``)."""

    def __init__(self, message: str, returncode: int, stdout: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stdout = stdout


class GeoCancelled(RuntimeError):
    """The user cancelled; geo stopped (exit 130) or was killed after the grace period."""


class GeoResult:
    """What a finished geo command left: its exit code, stdout and warnings.

    Parameters
    ----------
    returncode : int
        The child's exit code (0, or 1 for a batch where some scenes failed).
    stdout : str
        geo's human summary (the target table).
    warnings : list of str
        The ``geo: warning: ...`` lines, without the prefix.
    """

    def __init__(self, returncode: int, stdout: str, warnings: list[str]) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.warnings = warnings


# --------------------------------------------------------------------------------------------
# finding geo


def qgis_python(executable: str | None = None, exec_prefix: str | None = None) -> str:
    """Return the Python interpreter of the running QGIS (or of any embedding program).

    Inside QGIS ``sys.executable`` is often QGIS itself (``qgis-bin.exe`` on Windows, the
    ``QGIS`` binary on macOS); the interpreter is then looked up under ``sys.exec_prefix``:
    ``python.exe``/``python3.exe`` (OSGeo4W: ``apps/Python3x``), ``bin/python3``
    (macOS, Linux).

    Parameters
    ----------
    executable, exec_prefix : str, optional
        Defaults ``sys.executable`` and ``sys.exec_prefix`` (parameters for tests).

    Returns
    -------
    str
        A path to a Python interpreter.

    Raises
    ------
    GeoNotFound
        When no interpreter is found.
    """
    executable = sys.executable if executable is None else executable
    exec_prefix = sys.exec_prefix if exec_prefix is None else exec_prefix
    if executable and Path(executable).name.lower().startswith("python"):
        return executable
    prefix = Path(exec_prefix)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (
        prefix / "python.exe",
        prefix / "python3.exe",
        prefix / "bin" / "python3",
        prefix / "bin" / f"python{version}",
        prefix / "bin" / "python",
    ):
        if candidate.is_file():
            return str(candidate)
    raise GeoNotFound(
        f"cannot find the Python interpreter of this QGIS (looked in {prefix}); set the path "
        "of a geo program or virtualenv in Settings > Options > geo."
    )


def geo_importable() -> str | None:
    """Return the folder holding the ``geo`` package if QGIS's Python has geo, else None.

    Looks without importing geo (its scientific stack is never loaded into QGIS): the
    package must be found and have ``__main__.py`` and ``cli/main.py``.
    """
    try:
        spec = importlib.util.find_spec("geo")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        package = Path(location)
        if (package / "__main__.py").is_file() and (package / "cli" / "main.py").is_file():
            return str(package.parent)
    return None


def venv_geo(folder: str) -> str | None:
    """Return geo's program inside a virtualenv (or conda env) ``folder``, if there is one.

    Windows layout ``Scripts/geo.exe``; elsewhere ``bin/geo``. Both layouts are checked
    whatever the system, so a folder prepared on one system is recognised on another.
    """
    root = Path(folder)
    for candidate in (
        root / "Scripts" / "geo.exe",
        root / "Scripts" / "geo",
        root / "bin" / "geo",
        root / "geo.exe",
    ):
        if candidate.is_file():
            return str(candidate)
    return None


def _program(path: str) -> list[str]:
    """Return the command for a configured path: a program, or a virtualenv folder."""
    target = Path(path).expanduser()
    if target.is_dir():
        found = venv_geo(str(target))
        if found is None:
            raise GeoNotFound(
                f"{target}: no geo program in this folder (expected Scripts\\geo.exe or "
                "bin/geo of a virtualenv where geo is installed); choose the geo program or "
                "the virtualenv folder in Settings > Options > geo."
            )
        return [found]
    if not target.is_file():
        raise GeoNotFound(
            f"{target}: no such geo program; choose the geo program (geo.exe) or the "
            "virtualenv folder in Settings > Options > geo."
        )
    return [str(target)]


def find_geo(mode: str = "auto", executable: str = "") -> dict[str, object]:
    """Decide how to run geo.

    Parameters
    ----------
    mode : {"auto", "executable"}
        ``auto``: geo in QGIS's Python if importable, else ``executable``.
    executable : str
        A geo program or a virtualenv folder (the settings page's path).

    Returns
    -------
    dict
        ``{"command": [...], "how": text, "env": {...}}``: the command prefix to which geo's
        arguments are appended, a sentence saying which geo it is, and the environment
        variables to set (``None`` values are removed from the child's environment).

    Raises
    ------
    GeoNotFound
        With a one-line message saying what to configure.
    """
    override = os.environ.get(ENV_EXECUTABLE, "").strip()
    if override:
        command = _program(override)
        return {"command": command, "how": f"{command[0]} (from {ENV_EXECUTABLE})", "env": _clean()}
    if mode not in ("auto", "executable"):
        raise GeoNotFound(f"unknown geo mode {mode!r}: use 'auto' or 'executable'.")
    if mode == "auto":
        home = geo_importable()
        if home is not None:
            python = qgis_python()
            path = os.environ.get("PYTHONPATH", "")
            joined = home if not path else home + os.pathsep + path
            return {
                "command": [python, "-m", "geo"],
                "how": f"geo in QGIS's Python ({python}, package in {home})",
                "env": {"PYTHONPATH": joined},
            }
    if not executable.strip():
        raise GeoNotFound(
            "geo is not installed in QGIS's Python and no geo program is configured: in "
            "Settings > Options > geo choose the geo program (geo.exe) or the virtualenv "
            "folder where geo is installed."
        )
    command = _program(executable.strip())
    return {"command": command, "how": command[0], "env": _clean()}


def _clean() -> dict[str, str | None]:
    """Environment for a geo of another Python: QGIS's own Python settings must not leak.

    OSGeo4W and the macOS bundle set ``PYTHONHOME``/``PYTHONPATH`` for QGIS's Python; a
    virtualenv's geo of another Python version would fail to start with them.
    """
    return {"PYTHONHOME": None, "PYTHONPATH": None}


def geo_command(found: dict[str, object], args: Sequence[str]) -> list[str]:
    """Return the full argument list: the command prefix of :func:`find_geo` plus ``args``."""
    return [*list(found["command"]), *[str(a) for a in args]]  # type: ignore[call-overload]


def _environment(found: dict[str, object]) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in dict(found.get("env") or {}).items():  # type: ignore[call-overload]
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["PYTHONIOENCODING"] = "utf-8"  # geo's messages carry licence names in any script
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _popen_flags() -> dict[str, object]:
    if os.name == "nt":  # no console window flashing up over QGIS
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0x08000000)}
    return {}


# --------------------------------------------------------------------------------------------
# reading geo's progress


def error_line(stderr_lines: Sequence[str]) -> str:
    """Return the message of geo's error line, without the ``geo: error:`` prefix.

    geo writes exactly one ``geo: error: ...`` (or ``geo: internal error: ...`` or
    ``geo: cancelled: ...``) line when it fails; a usage error from the command line parser
    is ``Error: ...`` after a usage line. Without either, the last non-progress line.
    """
    lines = [ln.strip() for ln in stderr_lines if ln.strip()]
    for line in reversed(lines):
        if line.startswith("geo: error: "):
            return line[len("geo: error: ") :][:MAX_LINE]
        if line.startswith(("geo: internal error: ", "geo: cancelled")):
            return line[len("geo: ") :][:MAX_LINE]
    for line in reversed(lines):
        if line.startswith("Error: "):
            return line[len("Error: ") :][:MAX_LINE]
    others = [ln for ln in lines if not ln.startswith("{")]
    return (others[-1] if others else "geo failed without a message")[:MAX_LINE]


class ProgressTracker:
    """Turn geo's ``--progress jsonl`` lines into a percentage and messages.

    The percentage is ``(stages finished or skipped + fraction of the current loop) /
    stages planned``; without a plan (``geo export``, ``geo batch``) it is the current loop's
    fraction. It never goes backwards.

    Examples
    --------
    >>> t = ProgressTracker()
    >>> t.feed('{"geo": "plan", "stages": ["a", "b"]}')
    >>> t.feed('{"geo": "stage", "event": "done", "stage": "a", "seconds": 1.0}')
    >>> t.percent
    50.0
    """

    def __init__(self) -> None:
        self.stages: list[str] = []
        self.finished: list[str] = []
        self.current: str | None = None
        self.fraction = 0.0
        self.percent = 0.0
        self.infos: list[str] = []
        self.warnings: list[str] = []
        self.all_warnings: list[str] = []
        self.other: list[str] = []

    def feed(self, line: str) -> None:
        """Read one stderr line; update :attr:`percent` and queue messages."""
        text = line.rstrip("\r\n")
        if not text.strip():
            return
        event = None
        if text.startswith("{"):
            try:
                event = json.loads(text)
            except ValueError:
                event = None
        if not isinstance(event, dict) or "geo" not in event:
            if text.startswith("geo: warning: "):
                self.warnings.append(text[len("geo: warning: ") :][:MAX_LINE])
                self.all_warnings.append(self.warnings[-1])
            else:
                self.other.append(text[:MAX_LINE])
            return
        kind = event.get("geo")
        if kind == "plan":
            stages = event.get("stages")
            if isinstance(stages, list):
                self.stages = [str(s) for s in stages]
                self.infos.append("stages: " + ", ".join(self.stages))
        elif kind == "stage":
            self._stage(str(event.get("event")), str(event.get("stage")), event.get("seconds"))
        elif kind == "task":
            done, total = event.get("done"), event.get("total")
            if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total > 0:
                self.fraction = max(0.0, min(1.0, float(done) / float(total)))
            if event.get("task") == "scenes" and isinstance(done, int):
                self.infos.append(f"scenes: {done} of {total if total is not None else '?'}")
        elif kind == "line":
            self.infos.append(str(event.get("text", ""))[:MAX_LINE])
        self._update()

    def _stage(self, event: str, stage: str, seconds: object) -> None:
        if event == "start":
            self.current = stage
            self.fraction = 0.0
            self.infos.append(f"{stage}...")
        elif event in ("done", "skipped", "failed"):
            if stage not in self.finished:
                self.finished.append(stage)
            if self.current == stage:
                self.current = None
            self.fraction = 0.0
            if event == "done":
                took = f" {float(seconds):.1f} s" if isinstance(seconds, (int, float)) else ""
                self.infos.append(f"{stage} done{took}")
            elif event == "failed":
                self.infos.append(f"{stage} failed")

    def _update(self) -> None:
        if self.stages:
            done = len([s for s in self.finished if s in self.stages])
            value = 100.0 * (done + self.fraction) / len(self.stages)
        else:
            value = 100.0 * self.fraction
        self.percent = max(self.percent, min(100.0, value))

    def take_infos(self) -> list[str]:
        """Return and forget the info messages gathered since the last call."""
        out, self.infos = self.infos, []
        return out

    def take_warnings(self) -> list[str]:
        """Return and forget the warnings gathered since the last call."""
        out, self.warnings = self.warnings, []
        return out


# --------------------------------------------------------------------------------------------
# running geo


def _pump(stream, sink: queue.Queue[tuple], tag: str) -> None:
    try:
        for line in iter(stream.readline, ""):
            sink.put((tag, line))
    finally:
        sink.put((tag, None))


def run_geo(
    args: Sequence[str],
    *,
    found: dict[str, object] | None = None,
    progress: Callable[[float], None] | None = None,
    info: Callable[[str], None] | None = None,
    warning: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    grace: float = CANCEL_GRACE_SECONDS,
    cwd: str | None = None,
) -> GeoResult:
    """Run ``geo --progress jsonl --cancel-file F ARGS`` and wait, reporting as it goes.

    Parameters
    ----------
    args : sequence of str
        geo's command and its options (``["run", "pipeline.yaml", "--out", ...]``).
    found : dict, optional
        :func:`find_geo`'s answer (default: ``find_geo()`` with the default settings).
    progress, info, warning : callable, optional
        Called from the calling thread with a percentage (0-100), a stage message, a
        warning (``geo: warning:`` removed).
    cancelled : callable, optional
        Polled every :data:`POLL_SECONDS`; once it returns True the cancel file is created
        and geo gets ``grace`` seconds to stop cleanly before it is killed.
    grace : float
        See ``cancelled``.
    cwd : str, optional
        The child's working folder.

    Returns
    -------
    GeoResult

    Raises
    ------
    GeoCancelled
        The run was cancelled (geo exited 130, or was killed after the grace period).
    GeoProcessError
        geo failed: its message is geo's one error line.
    GeoNotFound
        No geo to run.
    """
    found = found if found is not None else find_geo()
    work = tempfile.mkdtemp(prefix="geo_qgis_")
    cancel_file = os.path.join(work, "cancel")
    command = geo_command(found, ["--progress", "jsonl", "--cancel-file", cancel_file, *args])
    tracker = ProgressTracker()
    stdout_parts: list[str] = []
    try:
        try:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=_environment(found),
                cwd=cwd,
                **_popen_flags(),  # type: ignore[call-overload]
            )
        except OSError as exc:
            raise GeoNotFound(f"cannot start geo ({command[0]}): {exc}") from exc
        lines: queue.Queue = queue.Queue()
        readers = [
            threading.Thread(target=_pump, args=(child.stderr, lines, "err"), daemon=True),
            threading.Thread(target=_pump, args=(child.stdout, lines, "out"), daemon=True),
        ]
        for reader in readers:
            reader.start()
        open_streams = 2
        asked_at: float | None = None
        killed = False
        last_percent = -1.0
        while open_streams or child.poll() is None:
            try:
                tag, line = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                tag, line = None, None
            while tag is not None:
                if line is None:
                    open_streams -= 1
                elif tag == "out":
                    stdout_parts.append(line)
                else:
                    tracker.feed(line)
                try:
                    tag, line = lines.get_nowait()
                except queue.Empty:
                    tag = None
            for message in tracker.take_infos():
                if info is not None:
                    info(message)
            for message in tracker.take_warnings():
                if warning is not None:
                    warning(message)
            if progress is not None and tracker.percent != last_percent:
                last_percent = tracker.percent
                progress(tracker.percent)
            if asked_at is None and cancelled is not None and cancelled():
                asked_at = time.monotonic()
                Path(cancel_file).touch()
                if info is not None:
                    info("cancelling: geo stops at its next progress point...")
            if (
                asked_at is not None
                and not killed
                and child.poll() is None
                and time.monotonic() - asked_at > grace
            ):
                child.kill()
                killed = True
            if not open_streams and child.poll() is None:
                child.wait(timeout=None if killed else POLL_SECONDS * 5)
        returncode = child.wait()
        for reader in readers:
            reader.join(timeout=5)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stdout = "".join(stdout_parts)
    if returncode == EXIT_CANCELLED or (asked_at is not None and returncode != 0):
        if killed:
            raise GeoCancelled(
                f"geo: cancelled: geo did not stop within {grace:.0f} s and was killed; a "
                "staging folder may remain beside the output folder."
            )
        raise GeoCancelled(
            "geo: cancelled: stopped at the user's request; nothing was written in place of "
            "the output folder."
        )
    if returncode not in (0, 1) or (returncode == 1 and args and args[0] != "batch"):
        raise GeoProcessError(error_line(tracker.other), returncode, stdout)
    return GeoResult(returncode, stdout, tracker.all_warnings)


def geo_version(found: dict[str, object] | None = None, timeout: float = 120.0) -> str:
    """Return ``geo --version``'s line (``geo, version X.Y.Z``), for the settings' Test button.

    Raises
    ------
    GeoNotFound, GeoProcessError
        When geo cannot be found or started, or fails.
    """
    found = found if found is not None else find_geo()
    command = geo_command(found, ["--version"])
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=_environment(found),
            timeout=timeout,
            **_popen_flags(),  # type: ignore[call-overload]
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise GeoNotFound(f"cannot start geo ({command[0]}): {exc}") from exc
    if done.returncode != 0:
        raise GeoProcessError(error_line(done.stderr.splitlines()), done.returncode)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "geo (no version)"
