"""Field formats written in a second process while the first writes the others.

The field exports are serial Python and matplotlib work (the report's map sheets and PDF
pages are most of it); on a machine with two cores or more, the PDFs (``pdf``,
``geopdf``) are written by a child process started with ``spawn`` (the method every
platform has, Windows included) while the calling process writes the rest. The child runs
:func:`~geo.pipeline.export.export_run` on the same folder for its formats only and reports
back through a pipe:

- its long loops' steps, which the parent shows (and checks for cancellation at) once its
  own formats are written;
- the warnings it caught, which the parent warns again;
- its written files, or its error (a :class:`~geo.errors.GeoError` is raised again in the
  parent with the same class and message; anything else as a ``RuntimeError`` with the
  child's traceback).

If the parent fails or is cancelled, the child is terminated and the temporary files of
its outputs are removed: no half-written PDF is ever left under its final name (every file
is written to a temporary name and moved into place, :func:`~geo.export._common.atomic_path`).

Not used (the formats are written one after the other, as before) on a single core, in a
daemon process (a Dask worker of ``geo batch``, which may not start children), off the
main thread (scenes of a batch running side by side already use the cores), or when the
report has fewer than :data:`MIN_SHEETS` sheets (starting the child costs about two
seconds of imports).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from geo.progress import Reporter, reporter

__all__ = ["MIN_SHEETS", "SIDE_FORMATS", "SideExports", "side_formats"]

#: The formats the child writes: both PDFs (matplotlib pages: the report's PDF is the
#: longest format to write) and the QField package (a JPEG copy of the scene), so that on
#: the full benchmark scene each process has about half of the work.
SIDE_FORMATS = ("pdf", "geopdf", "qfield")
#: Fewest report sheets for which a child is worth its start (about 2 s of imports).
MIN_SHEETS = 10
#: Seconds between two checks for cancellation while the parent waits for the child.
POLL_S = 0.2


def side_formats(formats: Sequence[str], sheets: int, processes: int | None) -> list[str]:
    """Return the formats a child process should write (empty: write them all here).

    ``processes``: 1 never starts a child, 2 (or more) always does when there is work to
    share, ``None`` decides by the machine and the work (see the module docstring).
    """
    side = [f for f in formats if f in SIDE_FORMATS]
    if not side or len(side) == len(formats) or processes == 1:
        return []  # nothing to share: one process writes everything
    if processes is None:
        if (os.cpu_count() or 1) < 2 or sheets < MIN_SHEETS:
            return []
        if multiprocessing.current_process().daemon:
            return []
        if threading.current_thread() is not threading.main_thread():
            return []
    return side


class _PipeReporter(Reporter):
    """The child's reporter: each loop's start and steps go to the parent."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """Send ``("task", description, total)``, then ``("advance", n)`` for each step."""
        self.conn.send(("task", description, total))
        yield lambda n=1: self.conn.send(("advance", n))


def _caught(records: list[warnings.WarningMessage]) -> list[tuple[str, str, str]]:
    return [(w.category.__module__, w.category.__qualname__, str(w.message)) for w in records]


def _child(
    conn: Any, run_dir: str, formats: list[str], options: dict[str, Any], quiet_tiff: bool
) -> None:
    """Entry point of the child process: write ``formats`` of ``run_dir``, report back."""
    from geo.pipeline.export import export_run
    from geo.progress import use_reporter

    if quiet_tiff:
        from geo.io._libtiff import silence_libtiff

        silence_libtiff()
    with warnings.catch_warnings(record=True) as records, use_reporter(_PipeReporter(conn)):
        warnings.simplefilter("always")
        try:
            written = export_run(run_dir, formats, processes=1, **options)
        except BaseException as exc:  # every failure goes to the parent
            conn.send(
                (
                    "error",
                    type(exc).__module__,
                    type(exc).__qualname__,
                    str(exc),
                    traceback.format_exc(),
                    _caught(records),
                )
            )
            conn.close()
            return
    conn.send(("done", written, _caught(records)))
    conn.close()


def _category(module: str, name: str) -> type[Warning]:
    """Return the class of a child's warning, looked up among the modules loaded here only."""
    import sys

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
        from geo.io._libtiff import silence_libtiff

        ctx = multiprocessing.get_context("spawn")
        self.formats = list(formats)
        self.outputs = [Path(p) for p in outputs]
        self._conn, child_conn = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_child,
            args=(
                child_conn,
                str(run_dir),
                self.formats,
                options,
                silence_libtiff.cache_info().currsize > 0,  # the command line silenced it
            ),
            name="geo-export",
            daemon=True,
        )
        self._proc.start()
        child_conn.close()  # the child holds its end: EOF here once it exits

    def wait(self) -> dict[str, list[str]]:
        """Wait for the child, showing its progress; return what it wrote.

        Each wait between messages is a cancellation point of the current reporter.
        """
        shown = reporter()
        with ExitStack() as tasks:
            advance: Callable[..., None] = lambda n=1: None  # noqa: E731
            while True:
                if not self._conn.poll(POLL_S):
                    shown.check_cancelled()
                    if not self._proc.is_alive() and not self._conn.poll(0):
                        self._proc.join()
                        raise RuntimeError(
                            "the export process stopped without a word (exit code "
                            f"{self._proc.exitcode}): out of memory? Run `geo export` again."
                        )
                    continue
                try:
                    message = self._conn.recv()
                except EOFError:
                    continue  # the child exited: told above on the next poll
                kind = message[0]
                if kind == "task":
                    tasks.close()
                    advance = tasks.enter_context(shown.task(message[1], total=message[2]))
                elif kind == "advance":
                    advance(message[1])
                else:
                    break
        self._proc.join()
        for module, name, text in message[-1]:
            warnings.warn(text, _category(module, name), stacklevel=2)
        if kind == "error":
            raise _error(*message[1:5])
        return message[1]

    def stop(self) -> None:
        """Terminate the child and remove the temporaries of its outputs."""
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join()
        self._conn.close()
        for path in self.outputs:
            for tmp in path.parent.glob(f".{path.stem}.*.partial{path.suffix}"):
                tmp.unlink(missing_ok=True)
