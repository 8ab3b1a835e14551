"""Field formats written in a second process while the first writes the others.

The field exports are serial Python and matplotlib work (the report's map sheets and PDF
pages are most of it). On a machine with two cores or more, the PDFs (``pdf``,
``geopdf``) and the QField package are written by a child Python
(``python -c <bootstrap>``, the same interpreter and import path) while the calling process
writes the rest. The child runs :func:`~geo.pipeline.export.export_run` on the same folder
for its formats only. It talks to the parent in JSON lines on its standard output (its
own prints and C libraries' go to standard error):

- its long loops' steps, which the parent shows (and checks for cancellation at) once its
  own formats are written;
- the warnings it caught, which the parent warns again;
- its written files, or its error (a :class:`~geo.errors.GeoError` is raised again in the
  parent with the same class and message; anything else as a ``RuntimeError`` with the
  child's traceback).

A plain child process rather than :mod:`multiprocessing`: ``spawn`` (the start method
every platform has) imports the caller's main script again in the child, so a trainee's
script calling :func:`~geo.run_pipeline` without an ``if __name__ == "__main__":`` guard
would run again there.

If the parent fails or is cancelled, the child is terminated and the temporary files of
its outputs are removed: no half-written PDF is ever left under its final name (every file
is written to a temporary name and moved into place, :func:`~geo.export._common.atomic_path`).

Not used (the formats are written one after the other, as before) on a single core, in a
worker process of a pool (a Dask worker of ``geo batch``: the pool has the cores), off the
main thread (scenes of a batch running side by side already use the cores), or when the
report has fewer than :data:`MIN_SHEETS` sheets (starting the child costs about two
seconds of imports).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

from geo.progress import Reporter, reporter

__all__ = ["MIN_SHEETS", "SIDE_FORMATS", "ChildLost", "SideExports", "side_formats"]

#: The formats the child writes: both PDFs (matplotlib pages: the report's PDF is the
#: longest format to write) and the QField package (a JPEG copy of the scene), so that on
#: the full benchmark scene each process has about half of the work.
SIDE_FORMATS = ("pdf", "geopdf", "qfield")
#: Fewest report sheets for which a child is worth its start (about 2 s of imports).
MIN_SHEETS = 10
#: Seconds between two checks for cancellation while the parent waits for the child.
POLL_S = 0.2

#: What the child runs: read the job (one JSON line on stdin), take the parent's import
#: path, write the formats.
_BOOTSTRAP = (
    "import json, sys; job = json.loads(sys.stdin.readline()); "
    "sys.path[:0] = [p for p in job['path'] if p not in sys.path]; "
    "from geo.pipeline._side import child_main; child_main(job)"
)


class ChildLost(RuntimeError):
    """The child process stopped without telling its result (killed, out of memory...)."""


def side_formats(formats: Sequence[str], sheets: int, processes: int | None) -> list[str]:
    """Return the formats a child process should write (empty: write them all here).

    ``processes``: 1 never starts a child, 2 (or more) always does when there is work to
    share, ``None`` decides by the machine and the work (see the module docstring).
    """
    side = [f for f in formats if f in SIDE_FORMATS]
    if not side or len(side) == len(formats) or processes == 1:
        return []  # nothing to share: one process writes everything
    if not sys.executable:  # an embedded interpreter that cannot start another
        return []
    if processes is None:
        if (os.cpu_count() or 1) < 2 or sheets < MIN_SHEETS:
            return []
        if multiprocessing.current_process().daemon:
            return []
        if threading.current_thread() is not threading.main_thread():
            return []
    return side


class _LineReporter(Reporter):
    """The child's reporter: each loop's start and steps go to the parent."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def send(self, message: dict) -> None:
        """Write one message line."""
        self.out.write(json.dumps(message, default=str) + "\n")
        self.out.flush()

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """Send ``task`` (description, total), then ``advance`` for each step."""
        self.send({"kind": "task", "description": description, "total": total})
        yield lambda n=1: self.send({"kind": "advance", "n": n})


def _caught(records: list[warnings.WarningMessage]) -> list[list[str]]:
    return [[w.category.__module__, w.category.__qualname__, str(w.message)] for w in records]


def child_main(job: dict[str, Any]) -> None:
    """Entry point of the child process: write the job's formats, report on stdout."""
    import contextlib

    # the messages keep fd 1 to themselves: print() and C libraries write to stderr (where
    # there is one: a windowed Windows program may have none, then they go nowhere)
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    try:
        os.dup2(2, 1)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    sys.stdout = sys.stderr if sys.stderr is not None else open(os.devnull, "w", encoding="utf-8")
    line = _LineReporter(out)

    import rasterio

    from geo.pipeline.export import export_run
    from geo.progress import use_reporter

    if job.get("quiet_tiff"):
        from geo.io._libtiff import silence_libtiff

        silence_libtiff()
    options = dict(job["options"])
    if options.get("start") is not None:
        options["start"] = tuple(options["start"])
    cache = job.get("gdal_cache")
    with (
        warnings.catch_warnings(record=True) as records,
        use_reporter(line),
        # the parent's GDAL block cache (a run's ``processing.gdal_cache_mb``)
        rasterio.Env(GDAL_CACHEMAX=cache) if cache else contextlib.nullcontext(),
    ):
        warnings.simplefilter("always")
        try:
            written = export_run(job["run_dir"], job["formats"], processes=1, **options)
        except BaseException as exc:  # every failure goes to the parent
            line.send(
                {
                    "kind": "error",
                    "module": type(exc).__module__,
                    "name": type(exc).__qualname__,
                    "message": str(exc),
                    "trace": traceback.format_exc(),
                    "warnings": _caught(records),
                }
            )
            return
    line.send({"kind": "done", "written": written, "warnings": _caught(records)})


def _category(module: str, name: str) -> type[Warning]:
    """Return the class of a child's warning, looked up among the modules loaded here only."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, Warning) else UserWarning


def _error(module: str, name: str, message: str, trace: str) -> BaseException:
    """Return the child's error as the parent raises it."""
    from geo import errors

    found = getattr(errors, name, None) if module == errors.__name__ else None
    if isinstance(found, type) and issubclass(found, errors.GeoError):
        return found(message)
    if module == "builtins":  # what the command line tells in one line (a full disk...)
        import builtins

        found = getattr(builtins, name, None)
        if isinstance(found, type) and issubclass(found, OSError | MemoryError | RecursionError):
            return found(message)
    return RuntimeError(f"the export process failed: {name}: {message}\n{trace}")


class SideExports:
    """A child process writing ``formats`` of ``run_dir`` (see the module docstring).

    Parameters
    ----------
    run_dir : path
        The run folder.
    formats : sequence of str
        The formats the child writes.
    outputs : sequence of path
        The files those formats write (their temporaries are removed if the child is stopped).
    options : dict
        The other keyword arguments of :func:`~geo.pipeline.export.export_run`.
    """

    def __init__(
        self,
        run_dir: Path,
        formats: Sequence[str],
        outputs: Sequence[Path],
        options: dict[str, Any],
    ) -> None:
        import rasterio.env

        from geo.io._libtiff import silence_libtiff

        cache = rasterio.env.getenv().get("GDAL_CACHEMAX") if rasterio.env.hasenv() else None
        job = {
            "path": [p for p in sys.path if p],
            "run_dir": str(run_dir),
            "formats": list(formats),
            "options": options,
            "quiet_tiff": silence_libtiff.cache_info().currsize > 0,  # the command line's
            "gdal_cache": int(str(cache)) if str(cache).isdigit() else None,
        }
        self.outputs = [Path(p) for p in outputs]
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            # Windows: no console window flashing up when the run itself has none (the QGIS
            # plugin starts geo without one); 0 elsewhere
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(job) + "\n")
            self._proc.stdin.close()
        except OSError:  # it died at once: reaped here, the caller writes the formats itself
            self._proc.kill()
            self._proc.wait()
            raise
        # a thread reads the lines so that the wait can time out to check for a cancel
        # (a pipe cannot be polled on Windows)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(
            target=self._read, args=(self._proc.stdout,), name="geo-export-reader", daemon=True
        )
        self._reader.start()

    def _read(self, stream: TextIO) -> None:
        for text in stream:
            self._lines.put(text)
        self._lines.put(None)  # the child closed its end: it exited

    def wait(self) -> dict[str, list[str]]:
        """Wait for the child, showing its progress; return what it wrote.

        Each wait between messages is a cancellation point of the current reporter.
        """
        shown = reporter()
        message: dict[str, Any] = {}
        with ExitStack() as tasks:
            advance: Callable[..., None] = lambda n=1: None  # noqa: E731
            while True:
                try:
                    text = self._lines.get(timeout=POLL_S)
                except queue.Empty:
                    shown.check_cancelled()
                    continue
                if text is None:
                    code = self._proc.wait()
                    raise ChildLost(f"the export process stopped without a word (exit code {code})")
                try:
                    message = json.loads(text)
                except ValueError:
                    continue  # not one of ours (nothing else writes there)
                kind = message.get("kind")
                if kind == "task":
                    tasks.close()
                    advance = tasks.enter_context(
                        shown.task(str(message["description"]), total=message.get("total"))
                    )
                elif kind == "advance":
                    advance(int(message.get("n", 1)))
                elif kind in ("done", "error"):
                    break
        self._proc.wait()
        for module, name, text in message.get("warnings", []):
            warnings.warn(text, _category(module, name), stacklevel=2)
        if kind == "error":
            raise _error(message["module"], message["name"], message["message"], message["trace"])
        return message["written"]

    def stop(self) -> None:
        """Terminate the child and remove the temporaries of its outputs."""
        if self._proc.poll() is None:
            self._proc.terminate()
        self._proc.wait()
        for path in self.outputs:
            for tmp in path.parent.glob(f".{path.stem}.*.partial{path.suffix}"):
                tmp.unlink(missing_ok=True)
