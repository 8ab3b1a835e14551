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
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["ConsoleReporter", "Reporter", "reporter", "use_reporter"]


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
