"""Run one pipeline on one scene: a loop over the stage table, timed, into an atomic folder.

The stages (ingest → masks and indices → methods → anomalies → zones → prospectivity →
targets → export → field formats) are the table :data:`geo.pipeline.stages.STAGES`; each
reads from and writes to a shared :class:`~geo.pipeline.stages.base.RunContext`. This
module adds what every stage shares: the inputs are opened and checked before anything is
written, outputs go to a staging folder that replaces the output folder only when the
whole run succeeded (:func:`geo.io.runfolder.run_folder`, under a lock), every stage is
timed (wall time and peak memory), a progress hook hears of each stage, and every choice
goes into ``manifest.json``. :func:`rerank` runs :data:`~geo.pipeline.stages.RERANK_STAGES`
on a finished run folder.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio

from geo._memory import peak_rss_mb, release_memory
from geo._version import __version__
from geo.errors import GeoWarning, InputNotFoundError, InvalidParameterError
from geo.io.checksum import file_record
from geo.io.layers import open_run_layer
from geo.io.runfolder import (
    MANIFEST_SCHEMA,
    MANIFEST_TOOL,
    output_lock,
    preflight,
    run_folder,
    run_root,
)
from geo.pipeline import stages as _stages
from geo.pipeline.prospect import read_occurrences
from geo.pipeline.spec import PipelineSpec, load_spec, validate_spec
from geo.pipeline.stages.base import CORE_SECTIONS, RunContext, Stage, required
from geo.pipeline.stages.ingest import licence_input, open_spec_scene, read_exclusion_input

__all__ = ["Progress", "RunResult", "gdal_env", "open_spec_scene", "rerank", "run_pipeline"]

logger = logging.getLogger(__name__)

#: ``progress(event, stage, seconds)``: ``event`` is ``"start"``, ``"done"`` (with the
#: stage's wall time), ``"skipped"`` (not enabled for this pipeline or scene) or
#: ``"failed"``; ``seconds`` is None but for ``"done"``.
Progress = Callable[[str, str, float | None], None]

#: Attribute of an exception raised in a stage that names the stage (read by batch reports).
_STAGE_ATTR = "geo_stage"

_VERSIONED = (
    "numpy",
    "xarray",
    "rioxarray",
    "dask",
    "rasterio",
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "scipy",
    "scikit-learn",
    "pandas",
    "pydantic",
)


def gdal_env(spec: PipelineSpec) -> rasterio.Env:
    """Return the GDAL environment of a run: block cache capped at ``processing.gdal_cache_mb``.

    GDAL's cache defaults to 5 % of RAM and is the main reason windowed readers grow with the
    scene (see bench/README); chunks bound the rest. rasterio hands an integer
    ``GDAL_CACHEMAX`` to ``GDALSetCacheMax64``, which takes **bytes** (``128`` would be a
    128-byte cache: every decimated or unaligned read decodes its tiles again and again).
    """
    return rasterio.Env(GDAL_CACHEMAX=spec.processing.gdal_cache_mb * 1024 * 1024)


@dataclass
class RunResult:
    """What a run produced (also on disk in ``out_dir``)."""

    out_dir: Path
    targets: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    licences: gpd.GeoDataFrame | None
    manifest: dict
    warnings: list[str] = field(default_factory=list)


class _Timer:
    """Wall time per stage, and the process's peak resident memory once each stage is done."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float | None] = {}  # None: not measurable here

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        logger.info("stage %s", name)
        try:
            yield
        except Exception as exc:
            # where a run failed, for batch reports: the first (innermost) stage wins
            if not hasattr(exc, _STAGE_ATTR):
                setattr(exc, _STAGE_ATTR, name)
            raise
        self.seconds[name] = round(time.perf_counter() - start, 3)
        release_memory()  # the stage's freed temporaries must not add to the next one's peak
        self.peak_rss_mb[name] = peak_rss_mb()


def _versions() -> dict[str, str]:
    out = {
        "geo": __version__,
        "python": platform.python_version(),
        "gdal": rasterio.__gdal_version__,
    }
    for name in _VERSIONED:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _dump(doc: dict) -> str:
    return json.dumps(doc, indent=2, default=_json_default) + "\n"


def _run_stages(
    table,
    ctx: RunContext,
    timer: _Timer,
    progress: Progress | None,
    prepare: Callable[[Stage], None] | None = None,
) -> None:
    """Run the enabled stages of ``table`` in order, each timed; tell ``progress``.

    ``prepare(stage)`` is called before each enabled stage runs (the output folder, the
    manifest a stage reads). Before a ``folder_only`` stage the context lets go of its
    in-memory grids.
    """
    from geo.progress import reporter

    tell = progress or (lambda event, stage, seconds: None)
    reporter().plan([stage.name for stage in table])
    for stage in table:
        if not stage.enabled(ctx):
            tell("skipped", stage.name, None)
            continue
        if prepare is not None:
            prepare(stage)
        if getattr(stage, "folder_only", False):
            ctx.release_grids()
            release_memory()
        tell("start", stage.name, None)
        try:
            with timer.stage(stage.name):
                stage.run(ctx)
        except BaseException:
            tell("failed", stage.name, None)
            raise
        tell("done", stage.name, timer.seconds[stage.name])


# --------------------------------------------------------------------------- geo run


def run_pipeline(
    spec: PipelineSpec | str | Path,
    *,
    scene_path: str | Path | None = None,
    licences_path: str | Path | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    pipeline_file: str | Path | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run ``spec`` end to end and write the output folder.

    Parameters
    ----------
    spec : PipelineSpec, str or Path
        Validated pipeline (:func:`~geo.pipeline.spec.load_spec`), or a pipeline file.
    scene_path, licences_path, out : str or Path, optional
        Override the pipeline file's inputs and output folder.
    overwrite : bool
        Replace an existing run folder.
    pipeline_file : str or Path, optional
        The pipeline file, recorded with its checksum in the manifest.
    progress : callable, optional
        ``progress(event, stage, seconds)`` before and after each stage (see
        :data:`Progress`).

    Returns
    -------
    RunResult

    Raises
    ------
    GeoError
        Any bad input (before anything is written) or failed validation.
    """
    if isinstance(spec, str | Path):
        pipeline_file = pipeline_file or spec
        spec = load_spec(spec)
    with gdal_env(spec):
        return _run(spec, scene_path, licences_path, out, overwrite, pipeline_file, progress)


def _context(spec: PipelineSpec, scene_path, licences_path, out) -> RunContext:
    scene_path = (
        Path(scene_path) if scene_path else (spec.inputs.scene.path if spec.inputs.scene else None)
    )
    if scene_path is None:
        raise InvalidParameterError(
            "No scene given: pass --scene or set inputs.scene.path in the pipeline file."
        )
    out_dir = Path(out) if out else spec.output
    if out_dir is None:
        raise InvalidParameterError(
            "No output folder given: pass --out or set output in the pipeline file."
        )
    return RunContext(
        spec,
        scene_path=scene_path,
        licences_path=Path(licences_path) if licences_path else None,
        out_dir=Path(out_dir),
        chunk=spec.processing.chunk,
        stages=tuple(_stages.STAGES),
    )


def _run(spec, scene_path, licences_path, out, overwrite, pipeline_file, progress) -> RunResult:
    ctx = _context(spec, scene_path, licences_path, out)
    out_dir = required(ctx.out_dir, "ctx.out_dir")
    preflight(out_dir, overwrite=overwrite)  # an output folder in the way stops the run now
    timer = _Timer()
    manifest = _Manifest(ctx, timer, pipeline_file)
    with ExitStack() as folder:

        def prepare(stage: Stage) -> None:
            if ctx.tmp is None and not getattr(stage, "before_output", False):
                # the staging folder (and the lock) once the inputs are known to be good
                ctx.tmp = folder.enter_context(run_folder(out_dir, overwrite=overwrite))
                ctx.rasters = ctx.tmp / "rasters"
            if getattr(stage, "reads_manifest", False):
                manifest.write()

        _run_stages(ctx.stages, ctx, timer, progress, prepare)
        if ctx.tmp is None:  # a table of input checks only: still a complete folder
            ctx.tmp = folder.enter_context(run_folder(out_dir, overwrite=overwrite))
        doc = manifest.write()
    for note in ctx.notes:
        warnings.warn(note, GeoWarning, stacklevel=2)
    return RunResult(out_dir, ctx.targets, ctx.zones, ctx.licence_summary, doc, ctx.notes)


class _Manifest:
    """``manifest.json`` of a run: the runner's keys around the stages' sections."""

    def __init__(self, ctx: RunContext, timer: _Timer, pipeline_file) -> None:
        self.ctx, self.timer, self.pipeline_file = ctx, timer, pipeline_file
        self.head: dict | None = None
        self.versions: dict[str, str] = {}

    def document(self) -> dict:
        ctx, spec = self.ctx, self.ctx.spec
        if self.head is None:  # the same creation time and versions in every rewrite
            self.head = {
                "tool": MANIFEST_TOOL,
                "schema": MANIFEST_SCHEMA["run"],
                "geo_version": __version__,
                "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "pipeline": {
                    "name": spec.name,
                    "file": file_record(str(self.pipeline_file)) if self.pipeline_file else None,
                    "spec": spec.model_dump(mode="json"),
                },
            }
            self.versions = _versions()
        sections = ctx.manifest
        if ctx.scene_hashes is not None and isinstance(sections.get("inputs"), dict):
            sections["inputs"]["scene"]["files"] = ctx.scene_hashes.result()
        core = {k: sections[k] for k in CORE_SECTIONS if k in sections}
        tmp = required(ctx.tmp, "ctx.tmp")
        files = {str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()}
        return {
            **self.head,
            **core,
            "outputs": sorted(files | {"manifest.json"}),
            "versions": self.versions,
            "timings_s": dict(self.timer.seconds),
            "peak_rss_mb_after_stage": dict(self.timer.peak_rss_mb),
            "licence_check_date": ctx.today,
            "warnings": ctx.notes,
            **{k: v for k, v in sections.items() if k not in core},  # later stages' sections
        }

    def write(self) -> dict:
        doc = self.document()
        (required(self.ctx.tmp, "ctx.tmp") / "manifest.json").write_text(_dump(doc))
        return doc


# --------------------------------------------------------------------------- geo rank


def rerank(
    run_dir: str | Path,
    *,
    pipeline: PipelineSpec | None = None,
    licences_path: str | Path | None = None,
    pipeline_file: str | Path | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Re-rank an existing run with new target settings or licences, without touching rasters.

    The zones and the mask-reason raster of ``run_dir`` are reused and the stages of
    :data:`~geo.pipeline.stages.RERANK_STAGES` run again (the prospectivity score from the
    run's rasters, the targets, their files); ``targets.gpkg``, ``targets.csv``,
    ``licences.csv`` and ``manifest.json`` are replaced atomically (each written to a
    temporary name first), then the field formats follow the new ranking. The ``targets``
    section (weights, merge distance, evidence kinds) and the licence input come from
    ``pipeline`` when given, else from the run's own manifest; ``licences_path``
    overrides the licence file.

    Raises
    ------
    InputNotFoundError
        ``run_dir`` is not a geo run folder.
    """
    run_dir = Path(run_dir)
    # no run, rank or export changes the folder meanwhile; every write stays inside it
    with output_lock(run_dir, existing=True), run_root(run_dir):
        return _rerank(run_dir, pipeline, licences_path, pipeline_file, progress)


def _rerank_context(run_dir: Path, pipeline, licences_path) -> RunContext:
    """Build the context of a finished run: its manifest, zones, mask reasons and inputs."""
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file() or not (run_dir / "targets.gpkg").is_file():
        raise InputNotFoundError(
            f"{run_dir}: not a geo run folder (no manifest.json / targets.gpkg)."
        )
    manifest = _read_json(manifest_path)
    spec = pipeline or validate_spec(
        (manifest.get("pipeline") or {}).get("spec"), f"{manifest_path} (pipeline.spec)"
    )
    reasons = open_run_layer(run_dir / "rasters" / "mask_reasons.tif", 1024, masked=False)
    zones = gpd.read_file(run_dir / "targets.gpkg", layer="zones", engine="pyogrio")
    if zones.crs is None:
        zones = zones.set_crs(reasons.rio.crs)
    lic_path, licences, licence_info = licence_input(spec, licences_path, reasons.rio.crs)
    scene = manifest.get("scene")
    scene = scene if isinstance(scene, dict) else {}
    ctx = RunContext(
        spec,
        licences_path=lic_path,
        out_dir=run_dir,
        rasters=run_dir / "rasters",
        chunk=spec.processing.chunk,
        stages=tuple(_stages.RERANK_STAGES),
        scene_id=scene.get("scene_id"),
        date=scene.get("date_acquired"),
        licences=licences,
        licence_file=lic_path,
        licence_info=licence_info,
        exclusions=read_exclusion_input(spec, reasons.rio.crs),
        reasons=reasons,
        zones=zones,
        manifest=manifest,
    )
    if spec.prospectivity is not None:
        # the score is rebuilt from the run's alteration rasters and the evidence sources:
        # new weights, memberships, methods or occurrences take effect, nothing else is redone
        missing = sorted(
            ev.layer
            for ev in spec.evidence.values()
            if ev.layer is not None and not (run_dir / "rasters" / f"{ev.layer}.tif").is_file()
        )
        if missing:
            raise InputNotFoundError(
                f"{run_dir}: the run has no raster {', '.join(missing)} for the evidence of this "
                "pipeline; run `geo run` with it instead of re-ranking."
            )
        ctx.occurrences = read_occurrences(spec, reasons)
    return ctx


def _rerank(run_dir: Path, pipeline, licences_path, pipeline_file, progress) -> RunResult:
    ctx = _rerank_context(run_dir, pipeline, licences_path)
    staging = run_dir / ".rerank.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    ctx.tmp = staging
    try:
        with gdal_env(ctx.spec):
            _run_stages(ctx.stages, ctx, _Timer(), progress)
    except BaseException:  # a failed or cancelled re-rank leaves the run as it was
        shutil.rmtree(staging, ignore_errors=True)
        raise
    manifest = ctx.manifest
    manifest["pipeline"]["spec"] = ctx.spec.model_dump(mode="json")
    manifest.setdefault("reranked", []).append(
        {
            "at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "pipeline_file": file_record(str(pipeline_file)) if pipeline_file else None,
            "licences": (
                {**ctx.licence_info, **file_record(str(ctx.licence_file))}
                if ctx.licence_info
                else None
            ),
        }
    )
    manifest["warnings"] = ctx.notes
    (staging / "manifest.json").write_text(_dump(manifest))
    # rasters first, the manifest last: a run whose manifest names the new settings is complete
    if (staging / "rasters").is_dir():
        for f in (staging / "rasters").iterdir():
            os.replace(f, run_dir / "rasters" / f.name)
        (staging / "rasters").rmdir()
    for f in sorted(staging.iterdir(), key=lambda f: f.name == "manifest.json"):
        os.replace(f, run_dir / f.name)
    staging.rmdir()
    ctx.tmp = run_dir
    field_exports = _stages.FIELD_EXPORTS
    if field_exports.enabled(ctx):  # the field files follow the new ranking
        _run_stages((field_exports,), ctx, _Timer(), progress)
        partial = run_dir / ".manifest.json.partial"
        partial.write_text(_dump(manifest))
        os.replace(partial, run_dir / "manifest.json")
    for note in ctx.notes:
        warnings.warn(note, GeoWarning, stacklevel=2)
    return RunResult(run_dir, ctx.targets, ctx.zones, ctx.licence_summary, manifest, ctx.notes)


def _read_json(path: Path) -> dict:
    """Read a run's JSON file (untrusted: it may come from someone else's folder)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputNotFoundError(f"{path}: not a geo manifest (not valid JSON: {exc}).") from None
    if not isinstance(doc, dict):
        raise InputNotFoundError(f"{path}: not a geo manifest (not a JSON object).")
    return doc
