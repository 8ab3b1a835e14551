"""Live progress for long work: one line per stage as it finishes, bars over chunks and targets.

Library code reports through :func:`reporter` and never prints: by default the reporter is
silent, so ``geo.run_pipeline`` in a notebook or a script says nothing unless asked. The
command line installs a :class:`ConsoleReporter` for the duration of a command:

- on a terminal, a `rich <https://rich.readthedocs.io>`_ progress bar on stderr for each
  long loop (the chunked raster pass, the report's sheets), and one line per stage with its
  duration;
- when the output is not a terminal (a pipe, a log file, a CI job), plain lines only
  (``geo: masks_indices 1.2 s``), no bars and no control characters;
- nothing with ``-q``.

A program that drives geo (the QGIS plugin, a job scheduler's wrapper) asks for
``geo --progress jsonl``: a :class:`JsonLinesReporter` writes one JSON object a line on
stderr for each event (the stages a run will go through, each stage's start and end, the
steps of the long loops), and ``geo --cancel-file PATH`` stops the work at its next
progress point once ``PATH`` exists (:class:`~geo.errors.RunCancelled`: the staging folder
is removed, exit code 130).

The stage lines go to stdout with the run's summary: stderr carries only warnings and, when
a command fails, its one-line error, so a script or a log reader sees exactly one line for
a failure whatever stage it happened in.

Example
-------
>>> from geo.progress import reporter
>>> with reporter().task("chunks", total=3) as advance:
...     for _ in range(3):
...         advance()
"""

from __future__ import annotations

import contextvars
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from geo.errors import RunCancelled

__all__ = ["ConsoleReporter", "JsonLinesReporter", "Reporter", "reporter", "use_reporter"]


class Reporter:
    """Silent progress reporter: the default for library use."""

    def stage(self, name: str, seconds: float) -> None:
        """Say that stage ``name`` finished after ``seconds``."""

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """Yield ``advance(n=1)`` for a loop of ``total`` steps described by ``description``."""
        yield lambda n=1: None

    def line(self, text: str) -> None:
        """Show one line of news (a scene finished in a batch...)."""

    def plan(self, stages: Sequence[str]) -> None:
        """Hear the stages a run goes through, in order (some may be skipped)."""

    def stage_event(self, event: str, name: str, seconds: float | None) -> None:
        """Hear the runner's stage events (see :data:`geo.pipeline.runner.Progress`)."""
        if event == "done" and seconds is not None:
            self.stage(name, seconds)

    def check_cancelled(self) -> None:
        """Raise :class:`~geo.errors.RunCancelled` if the user asked to stop (never here)."""


class ConsoleReporter(Reporter):
    """Progress for a terminal user: bars and ticks, plain lines in a pipe, nothing if quiet.

    Parameters
    ----------
    quiet : bool
        Show nothing.
    stream : file, optional
        Where the stage lines go (default ``sys.stdout``).
    bars : file, optional
        Where the progress bars go, on a terminal (default ``sys.stderr``).
    """

    #: Loops shorter than this many seconds never show a bar (no flicker on small scenes).
    MIN_BAR_SECONDS = 0.5

    def __init__(
        self, *, quiet: bool = False, stream: TextIO | None = None, bars: TextIO | None = None
    ) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stdout
        self.bars = bars if bars is not None else sys.stderr
        self.live = bool(getattr(self.bars, "isatty", lambda: False)()) and bool(
            getattr(self.stream, "isatty", lambda: False)()
        )

    def stage(self, name: str, seconds: float) -> None:
        """Print ``geo: <stage> <seconds> s`` (a tick on a terminal)."""
        if not self.quiet:
            mark = "✓ " if self.live else "geo: "
            self.line(f"{mark}{name} {seconds:.1f} s")

    def line(self, text: str) -> None:
        """Print one line on the stream."""
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """Show a rich bar on a terminal (after :data:`MIN_BAR_SECONDS`); nothing otherwise."""
        if self.quiet or not self.live:
            yield lambda n=1: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        start = time.perf_counter()
        bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=self.bars),
            transient=True,  # the stage line that follows says it all
        )
        task = bar.add_task(description, total=total)
        shown = False

        def advance(n: int = 1) -> None:
            nonlocal shown
            if not shown and time.perf_counter() - start > self.MIN_BAR_SECONDS:
                bar.start()
                shown = True
            bar.advance(task, n)

        try:
            yield advance
        finally:
            if shown:
                bar.stop()


class JsonLinesReporter(Reporter):
    """Progress for a program driving geo: one JSON object a line, and cancellation.

    Every line is an object with a ``"geo"`` key naming the event:

    - ``{"geo": "plan", "stages": [...]}``: the stages of a run, in order;
    - ``{"geo": "stage", "event": "start"|"done"|"skipped"|"failed", "stage": name,
      "seconds": s|null}``;
    - ``{"geo": "task", "task": description, "done": k, "total": n|null}``: a long loop's
      steps, at most every :data:`MIN_INTERVAL` seconds and at its end;
    - ``{"geo": "line", "text": ...}``: news (a scene of a batch finished).

    Parameters
    ----------
    stream : file, optional
        Where the lines go (default ``sys.stderr``: stdout keeps the command's summary).
    cancel_file : path, optional
        The work stops (:class:`~geo.errors.RunCancelled`) at its next progress point once
        this file exists: a stage's start or end, a step of a loop, a batch's poll.
    """

    #: Seconds between two task lines of the same loop (its last step is always sent).
    MIN_INTERVAL = 0.2

    def __init__(self, *, stream: TextIO | None = None, cancel_file: str | Path | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.cancel_file = Path(cancel_file) if cancel_file else None
        self._lock = threading.Lock()  # loops may advance from worker threads

    def _emit(self, kind: str, /, **fields) -> None:
        text = json.dumps({"geo": kind, **fields}, ensure_ascii=True, default=str)
        with self._lock:
            print(text, file=self.stream, flush=True)

    def check_cancelled(self) -> None:
        """Raise :class:`~geo.errors.RunCancelled` once the cancel file exists."""
        if self.cancel_file is not None and self.cancel_file.exists():
            raise RunCancelled(
                f"cancelled: {self.cancel_file} appeared (the tool driving geo asked it to "
                "stop); nothing was written in place of the output folder."
            )

    def plan(self, stages: Sequence[str]) -> None:
        """Write a ``plan`` line."""
        self._emit("plan", stages=list(stages))

    def stage_event(self, event: str, name: str, seconds: float | None) -> None:
        """Write a ``stage`` line; a stage's start and end are cancellation points."""
        self._emit("stage", event=event, stage=name, seconds=seconds)
        if event in ("start", "done"):
            self.check_cancelled()

    def stage(self, name: str, seconds: float) -> None:
        """Write a ``stage`` line for a finished stage."""
        self._emit("stage", event="done", stage=name, seconds=seconds)

    def line(self, text: str) -> None:
        """Write a ``line`` line (a cancellation point)."""
        self._emit("line", text=text)
        self.check_cancelled()

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """Yield ``advance(n=1)``, writing ``task`` lines; each line is a cancellation point."""
        done = 0
        last = 0.0

        def advance(n: int = 1) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last >= self.MIN_INTERVAL or (total is not None and done >= total):
                last = now
                self._emit("task", task=description, done=done, total=total)
                self.check_cancelled()

        self.check_cancelled()
        self._emit("task", task=description, done=0, total=total)
        yield advance


_SILENT = Reporter()
_CURRENT: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "geo_progress", default=None
)


def reporter() -> Reporter:
    """Return the reporter of the current command (a silent one by default)."""
    return _CURRENT.get() or _SILENT


@contextmanager
def use_reporter(new: Reporter) -> Iterator[Reporter]:
    """Report through ``new`` for the block."""
    token = _CURRENT.set(new)
    try:
        yield new
    finally:
        _CURRENT.reset(token)
