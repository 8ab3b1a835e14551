"""``ingest``: open the scene and read every input layer, before anything is written.

A bad input (missing file, unknown index for the sensor, unreadable licence layer...) stops
the run here, so an output folder is never created for a run that cannot finish.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import xarray as xr

from geo.errors import GeoWarning, InputNotFoundError
from geo.io.checksum import file_record
from geo.io.readers import open_scene
from geo.io.vector import read_aoi, read_exclusions, read_licences, read_training
from geo.pipeline.prospect import read_occurrences
from geo.pipeline.spec import PipelineSpec
from geo.pipeline.stages.base import RunContext, required
from geo.spectral.indices import get_index

__all__ = ["IngestStage", "licence_input", "open_spec_scene", "read_exclusion_input"]


def open_spec_scene(spec: PipelineSpec, scene_path: str | Path):
    """Open ``scene_path`` the way ``spec`` says (``inputs.scene`` options, chunk size)."""
    opts = spec.inputs.scene
    return open_scene(
        scene_path,
        roles=opts.roles if opts else None,
        bands=opts.bands if opts else None,
        resolution=opts.resolution if opts else None,
        sensor=opts.sensor if opts else None,
        scale=opts.scale if opts else None,
        offset=opts.offset if opts else None,
        chunk=spec.processing.chunk,
    )


def licence_input(spec: PipelineSpec, override, crs):
    """Read the licence layer named by ``override`` or the pipeline, reprojected to ``crs``.

    Returns ``(path or None, licences or None, info or None)``.
    """
    opts = spec.inputs.licences
    path = Path(override) if override else (opts.path if opts else None)
    if path is None:
        return None, None, None
    # a column the layer lacks is given as None (``holder``, ``status``)
    fields: dict[str, str | None] | None = dict(opts.fields.items()) if opts else None
    licences, info = read_licences(
        path,
        layer=opts.layer if opts else None,
        fields=fields,
        encoding=opts.encoding if opts else None,
        to_crs=crs,
    )
    return path, licences, info


def read_exclusion_input(spec: PipelineSpec, crs):
    """Read the exclusion zones in ``crs`` as ``(polygons, names, info)`` (None: none)."""
    ex = spec.inputs.exclusions
    if ex is None:
        return None
    return read_exclusions(ex.path, layer=ex.layer, name_column=ex.name_column, to_crs=crs)


def licence_overlap_notes(licences: gpd.GeoDataFrame, refl: xr.DataArray, path: Path) -> list[str]:
    """Warn when no licence meets the scene (the layer is probably of another area)."""
    from shapely.geometry import box

    footprint = box(*refl.rio.bounds())
    hits = licences.geometry.intersects(footprint)
    if not hits.any():
        return [
            f"{path}: none of the {len(licences)} licences overlaps the scene (scene bounds "
            f"{tuple(round(b) for b in refl.rio.bounds())} in {refl.rio.crs}); every target "
            "will have a null licence_id. Check that the licence layer covers this scene."
        ]
    return []


class IngestStage:
    """Scene, licences, exclusions, area of interest, evidence files, occurrences, training."""

    name = "ingest"
    sections = ("inputs", "scene")
    before_output = True

    def enabled(self, ctx: RunContext) -> bool:
        """Run always."""
        return True

    def run(self, ctx: RunContext) -> None:
        """Open and check every input; ``inputs`` and ``scene`` of the manifest."""
        spec = ctx.spec
        scene = open_spec_scene(spec, required(ctx.scene_path, "ctx.scene_path"))
        refl = scene.reflectance
        ctx.scene, ctx.refl, ctx.sensor = scene, refl, refl.attrs["sensor"]
        ctx.scene_id, ctx.date = refl.attrs.get("scene_id"), refl.attrs.get("date")
        # the manifest's checksums of the scene files, computed beside the raster work
        # (hashlib releases the GIL) instead of as a serial pass at the end
        hashing = ThreadPoolExecutor(1, thread_name_prefix="geo-sha256")
        ctx.scene_hashes = hashing.submit(lambda: [file_record(f) for f in scene.files])
        hashing.shutdown(wait=False)
        for name in spec.indices:
            get_index(name, ctx.sensor)  # fail now, not after the first pass
        self._licences(ctx)
        crs = refl.rio.crs
        ctx.exclusions = read_exclusion_input(spec, crs)
        if spec.inputs.aoi is not None:
            ctx.aoi = read_aoi(spec.inputs.aoi.path, layer=spec.inputs.aoi.layer, to_crs=crs)
        _check_evidence_files(spec)
        if spec.prospectivity is not None:
            ctx.occurrences = read_occurrences(spec, refl)
        if spec.classifier is not None:
            c = spec.classifier
            ctx.training = read_training(
                c.training, layer=c.layer, label_column=c.label_column, to_crs=crs
            )
        ctx.manifest["inputs"] = inputs_record(ctx)
        ctx.manifest["scene"] = scene.metadata

    @staticmethod
    def _licences(ctx: RunContext) -> None:
        """Read the licence layer; its repairs (GeoWarnings) become notes of the run."""
        refl = required(ctx.refl, "ctx.refl")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GeoWarning)  # repairs of the layer, for the manifest
            path, ctx.licences, ctx.licence_info = licence_input(
                ctx.spec, ctx.licences_path, refl.rio.crs
            )
        for w in caught:
            if issubclass(w.category, GeoWarning):
                ctx.notes.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        ctx.licence_file = path
        if path is not None:
            ctx.notes += licence_overlap_notes(ctx.licences, refl, path)
        else:
            ctx.notes.append("no licence layer given: every target has a null licence_id")


def _check_evidence_files(spec: PipelineSpec) -> None:
    for name, ev in spec.evidence.items():
        for source in (ev.raster, ev.vector):
            if source is not None and not Path(source).exists():
                raise InputNotFoundError(
                    f"{source}: file of evidence {name!r} not found (evidence.{name})."
                )


def inputs_record(ctx: RunContext) -> dict:
    """Return the manifest's ``inputs``: files and checksums (the scene's come at the end)."""
    licences = (
        {**ctx.licence_info, **file_record(str(ctx.licence_file))}
        if ctx.licence_info is not None
        else None
    )
    exclusions = None
    if ctx.exclusions is not None:  # read from the pipeline's inputs.exclusions
        ex = required(ctx.spec.inputs.exclusions, "pipeline section inputs.exclusions")
        exclusions = {**ctx.exclusions[2], "action": ex.action, **file_record(str(ex.path))}
    return {
        "scene": {"path": str(ctx.scene_path), "files": []},
        "licences": licences,
        "exclusions": exclusions,
    }
