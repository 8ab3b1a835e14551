"""Helpers for the training notebooks: where the lesson data is, and answer checks.

Each lesson's checks live in ``geo.training.lesson<N>``; they compute the expected result
with the package itself and compare it with the learner's, saying what is off (shape, grid,
nodata, values, units) instead of only "wrong". The notebooks hold no library code.
"""

from __future__ import annotations

import os
from pathlib import Path

from geo.training.checks import CheckFailed, check_array, check_choice, check_value

__all__ = ["CheckFailed", "check_array", "check_choice", "check_value", "output_dir", "sample_dir"]


def _root() -> Path:
    """Return the project folder: the nearest parent of the working folder with ``sample_rasters``."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "sample_rasters").is_dir():
            return folder
    raise FileNotFoundError(
        f"No 'sample_rasters' folder in {here} or above it. Start Jupyter from the geo "
        "project folder (`make notebooks`), or set GEO_SAMPLE_DIR to the sample data folder."
    )


def sample_dir() -> Path:
    """Return the bundled sample data folder (``GEO_SAMPLE_DIR`` if set, else the project's ``sample_rasters``)."""
    env = os.environ.get("GEO_SAMPLE_DIR")
    return Path(env) if env else _root() / "sample_rasters"


def output_dir(lesson: str) -> Path:
    """Return (and create) a folder for a lesson's files (``GEO_LESSON_OUT`` if set, else ``out/notebooks/<lesson>``)."""
    env = os.environ.get("GEO_LESSON_OUT")
    folder = Path(env) / lesson if env else _root() / "out" / "notebooks" / lesson
    folder.mkdir(parents=True, exist_ok=True)
    return folder
