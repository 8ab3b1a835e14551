"""Where the shipped pipelines, sample data and notebooks are, installed or in a checkout.

A wheel carries them as package data under ``geo/_resources/`` (copied there when the wheel
is built, see ``setup.py``); a source checkout has them beside the package (``pipelines/``,
``sample_rasters/``, ``notebooks/``). :func:`resource_dir` finds either, so ``geo init``
works the same after ``pip install`` as in a clone.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from geo.errors import InputNotFoundError

__all__ = ["RESOURCES", "pipeline_file", "resource_dir", "shipped_pipelines"]

#: The folders a working copy (``geo init``) is made of.
RESOURCES = ("pipelines", "sample_rasters", "notebooks")


def resource_dir(name: str) -> Path:
    """Return the folder of shipped resource ``name`` (one of :data:`RESOURCES`).

    Raises
    ------
    InputNotFoundError
        Neither the installed package nor a source checkout holds it (a broken install).
    """
    if name not in RESOURCES:
        raise ValueError(f"unknown resource {name!r}; one of {', '.join(RESOURCES)}")
    packaged = Path(str(resources.files("geo"))) / "_resources" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[1] / name
    if checkout.is_dir():
        return checkout
    raise InputNotFoundError(
        f"geo's {name} folder is missing from this installation ({packaged}); reinstall "
        "geo-targets (pip install --force-reinstall geo-targets)."
    )


def shipped_pipelines() -> dict[str, Path]:
    """Return the pipelines geo ships, by name (``landsat_alteration``: its YAML file)."""
    return {p.stem: p for p in sorted(resource_dir("pipelines").glob("*.yaml"))}


def pipeline_file(value: str | Path) -> Path:
    """Return the pipeline file ``value`` names: a file, else a shipped pipeline's name.

    ``geo run landsat_alteration --scene ...`` runs the shipped pipeline without a copy of
    it (its relative inputs point at the bundled sample; the command line overrides them).

    Raises
    ------
    InputNotFoundError
        Neither a file nor a shipped pipeline's name (the message lists the names).
    """
    path = Path(value)
    if path.is_file():
        return path
    shipped = shipped_pipelines()
    if str(value) in shipped:
        return shipped[str(value)]
    raise InputNotFoundError(
        f"{value}: pipeline file not found; give a pipeline YAML file or the name of a shipped "
        f"pipeline ({', '.join(shipped)}; `geo pipelines` lists them)."
    )
