"""The stage contract: a shared :class:`RunContext` and the :class:`Stage` protocol.

A stage is a small object with a ``name`` (its key in the manifest's ``timings_s``), an
``enabled(ctx)`` test (usually "does the pipeline have my section?") and a ``run(ctx)`` that
reads its inputs from the context and writes its outputs back to it: objects for the
stages after it, files under ``ctx.tmp`` (the staging folder of the run) and its
manifest section(s) under ``ctx.manifest`` (named by its ``sections`` attribute).

Optional attributes the runner looks at (``getattr`` with these defaults):

``before_output = False``
    The stage only reads and checks inputs and runs before the output folder exists
    (``ingest``: a bad input stops the run before anything is written).
``reads_manifest = False``
    The stage reads ``manifest.json`` of the staging folder (``field_exports``): the
    runner writes the manifest as it stands before running it.
``folder_only = False``
    The stage reads nothing but the staging folder (``field_exports``): the runner lets
    go of the whole-scene grids the earlier stages held in memory
    (:meth:`RunContext.release_grids`) before it runs, so its peak is not added to theirs.
``needs_pixels = False``
    With ``configured(spec)``: a method that cannot run on a scene without usable pixels;
    listed in the manifest's ``usable.skipped`` when the scene has none.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import geopandas as gpd
import xarray as xr

from geo.pipeline.prospect import Prospect
from geo.pipeline.spec import PipelineSpec

__all__ = ["CORE_SECTIONS", "PixelStage", "RunContext", "Stage", "required"]

_T = TypeVar("_T")

#: Manifest sections of the built-in stages, in the order ``manifest.json`` lists them
#: (a new stage's sections follow the runner's own keys).
CORE_SECTIONS = (
    "inputs",
    "scene",
    "masks",
    "indices",
    "thresholds",
    "usable",
    "methods",
    "zones",
    "targets",
    "prospectivity",
    "evaluation",
)


def _sections() -> dict[str, Any]:
    return dict.fromkeys(CORE_SECTIONS)


@dataclass
class RunContext:
    """Everything a run's stages share: inputs, folders, intermediate objects, manifest.

    Stages fill the fields in table order; a field is None until the stage that makes it
    ran (or for good, when that stage is not enabled).
    """

    spec: PipelineSpec
    scene_path: Path | None = None
    licences_path: Path | None = None
    out_dir: Path | None = None
    #: staging folder of the run (the output folder's contents until the final move)
    tmp: Path | None = None
    #: folder the run's rasters are read from (``tmp / "rasters"`` in a run; the run
    #: folder's ``rasters`` when re-ranking, new rasters going to ``tmp / "rasters"``)
    rasters: Path | None = None
    chunk: int = 1024
    #: the table being run (so a stage can ask about the others, e.g. ``usable.skipped``)
    stages: tuple = ()
    # -- ingest
    scene: Any = None  # geo.io.scene.Scene
    refl: xr.DataArray | None = None  # reflectance (band, y, x)
    sensor: str | None = None
    scene_id: str | None = None
    date: str | None = None
    scene_hashes: Future | None = None  # checksums of the scene files, computed meanwhile
    licences: gpd.GeoDataFrame | None = None
    licence_file: Path | None = None  # the licence layer read (None: no licences)
    licence_info: dict | None = None
    exclusions: tuple | None = None  # (polygons, names, info)
    aoi: tuple | None = None  # (polygons, info)
    occurrences: tuple | None = None  # (points, info)
    training: tuple | None = None  # (polygons, info)
    # -- masks and indices
    reasons: xr.DataArray | None = None  # mask-reason raster (from disk); 0 = valid
    rgb: Any = None  # decimated true colour, for the quicklook
    fractions: dict | None = None
    usable: bool = True
    #: staged layers of the index pass kept for the anomaly stage (uncompressed, read back
    #: without decoding; their COGs are written), a geo.io.writers.StagedRasters
    staged: Any = None
    #: statistics of the anomaly layers counted in the index pass: name -> ValueHistogram
    pass_stats: dict = field(default_factory=dict)
    inside: xr.DataArray | None = None  # the area of interest as a pixel mask (None: all)
    # -- methods, anomalies, zones
    binary: dict = field(default_factory=dict)  # name -> (mask, {value name: layer})
    index_layers: dict = field(default_factory=dict)  # anomaly layers opened from disk
    thresholds: dict = field(default_factory=dict)  # name -> Threshold
    unfitted: dict = field(default_factory=dict)  # name -> why no threshold
    zones: gpd.GeoDataFrame | None = None
    prospect: Prospect | None = None
    # -- targets
    targets: gpd.GeoDataFrame | None = None
    licence_summary: gpd.GeoDataFrame | None = None  # one row per licence
    target_info: dict = field(default_factory=dict)
    # -- what the run reports
    notes: list[str] = field(default_factory=list)  # the run's warnings
    manifest: dict = field(default_factory=_sections)  # the stages' manifest sections
    methods: dict = field(default_factory=dict)  # the manifest's "methods" section
    today: str = field(default_factory=lambda: dt.date.today().isoformat())

    def release_grids(self) -> None:
        """Let go of the whole-scene arrays held for the stages (their rasters are on disk).

        The true-colour preview, the area-of-interest mask and the prospectivity stage's
        study area and occurrence cells; the targets, zones and licences stay.
        """
        self.rgb = self.inside = self.prospect = self.staged = None

    def __post_init__(self) -> None:
        # ``methods`` *is* the manifest's section (a re-ranked manifest keeps its own)
        if isinstance(self.manifest.get("methods"), dict):
            self.methods = self.manifest["methods"]
        elif "methods" in self.manifest and self.manifest["methods"] is None:
            self.manifest["methods"] = self.methods


def required(value: _T | None, what: str) -> _T:
    """Return ``value``, an input a stage needs; raise when it is None.

    A :class:`RunContext` field is None until the stage that makes it ran, and a
    method's pipeline section is None when the pipeline does not ask for the method:
    a stage that finds one of them None was run out of order (or without its section).
    """
    if value is None:
        raise RuntimeError(
            f"{what} is not set: the stage that makes it has not run, or the pipeline has "
            "no such section (stage table out of order?)"
        )
    return value


@runtime_checkable
class Stage(Protocol):
    """One step of a run (see the module docstring for the optional attributes)."""

    @property
    def name(self) -> str:
        """Key of the stage in the manifest's ``timings_s``."""
        ...

    def enabled(self, ctx: RunContext) -> bool:
        """Tell whether the stage runs for this context (its spec section, usable pixels)."""
        ...

    def run(self, ctx: RunContext) -> None:
        """Read inputs from ``ctx``, write outputs to it (and files under ``ctx.tmp``)."""
        ...


class PixelStage:
    """Base of the optional methods that need valid pixels (skipped on an unusable scene).

    Subclasses set ``name``, ``sections`` and implement ``configured(spec)`` and ``run``.
    """

    name: str = ""
    sections: tuple[str, ...] = ("methods",)
    needs_pixels = True

    def configured(self, spec: PipelineSpec) -> bool:
        """Tell whether the pipeline asks for this method."""
        raise NotImplementedError

    def enabled(self, ctx: RunContext) -> bool:
        """Run when the pipeline asks for the method and the scene has usable pixels."""
        return self.configured(ctx.spec) and ctx.usable

    def run(self, ctx: RunContext) -> None:
        """Run the method (see the subclass)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<stage {self.name}>"
