"""``masks_indices``: mask reasons, index layers and the true-colour basemap, in one pass.

One chunked pass over the scene computes the mask reasons, the indices and the basemap,
writes them (the layers of the pipeline's ``outputs``, :func:`raster_plan`) and counts, from
the same blocks, what the thresholds need (a :class:`~geo.spectral.anomaly.ValueHistogram`
of every anomaly layer that is an index, inside the area of interest) and the histogram of
the reason codes (the mask fractions): the anomaly stage reads neither the scene nor the
index COGs again. Each layer is then copied once into its COG; the staged (uncompressed)
anomaly indices are kept for the anomaly stage's z-scores and flags.

The mask-reason raster is re-opened from disk for every later stage (``ctx.reasons``), and
the scene is declared *usable* when at least :data:`~geo.spectral.anomaly.MIN_PIXELS`
pixels are valid: the methods that need pixels are skipped otherwise (``usable.skipped``).
"""

from __future__ import annotations

import threading

import numpy as np
import xarray as xr

from geo.export.quicklook import decimated_rgb, true_colour
from geo.io.layers import open_run_layer
from geo.io.writers import RasterLayer, stage_rasters, use_compression
from geo.pipeline.spec import PipelineSpec
from geo.pipeline.stages.base import RunContext, required
from geo.spectral.anomaly import MIN_PIXELS, ValueHistogram
from geo.spectral.indices import compute_indices, get_index
from geo.spectral.masks import (
    MASK_RULES,
    build_mask,
    fractions_from_codes,
    product_flags,
)
from geo.targets.evaluate import polygon_mask

__all__ = ["BASEMAP_FREE_FORMATS", "MasksIndicesStage", "raster_plan"]

#: Field formats that do not draw the true-colour basemap (``rasters/true_colour.tif``):
#: the others (QGIS, KMZ overlay, HTML and PDF report maps, and any format added later)
#: need it, so a run with one of them on writes it.
BASEMAP_FREE_FORMATS = frozenset({"kml", "gpx", "geojson", "shp", "csv"})


def raster_plan(spec: PipelineSpec) -> dict[str, list[str]]:
    """Return the index layers (and ``true_colour``) a run writes, each with why.

    ``mask_reasons`` and the anomaly layers are always written; see
    :class:`~geo.pipeline.spec.Outputs` for the rule.
    """
    computed = [*spec.indices, *spec.custom_indices]
    why: dict[str, list[str]] = {}

    def need(name: str, reason: str) -> None:
        why.setdefault(name, []).append(reason)

    for name in spec.anomalies:
        if name in computed:
            need(name, f"anomalies.{name}")
    for name, ev in spec.evidence.items():
        if ev.layer in computed:
            need(ev.layer, f"evidence.{name}.layer")
    for name, pair in spec.directed_pca.items():
        need(pair.mineral, f"directed_pca.{name}")
        need(pair.vegetation, f"directed_pca.{name}")
    if spec.classifier is not None and spec.classifier.features == "bands+indices":
        for name in spec.indices:
            need(name, "classifier.features: bands+indices")
    listed = spec.outputs.rasters
    if listed == "all":
        for name in (*computed, "true_colour"):
            need(name, "outputs: all")
    elif isinstance(listed, list):
        for name in listed:
            if name in computed or name == "true_colour":
                need(name, "outputs.rasters")
    elif not spec.anomalies:
        for name in computed:
            need(name, "indices (a pipeline without anomalies: they are its result)")
    drawn = sorted(set(spec.export.formats) - BASEMAP_FREE_FORMATS)
    if drawn:
        need("true_colour", f"export.formats: {', '.join(drawn)} draw the basemap")
    return why


class _CodeCounts:
    """``dask.array.store`` target counting the reason codes of the blocks written."""

    def __init__(self) -> None:
        self.counts = np.zeros(1 << len(MASK_RULES), dtype=np.int64)
        self._lock = threading.Lock()

    def __setitem__(self, key, block: np.ndarray) -> None:
        counts = np.bincount(np.asarray(block).ravel(), minlength=self.counts.size)
        with self._lock:
            self.counts += counts


class MasksIndicesStage:
    """Mask reasons (bit per rule), index layers and the basemap, written under ``rasters/``."""

    name = "masks_indices"
    sections = ("masks", "indices", "usable")

    def enabled(self, ctx: RunContext) -> bool:
        """Run always."""
        return True

    def run(self, ctx: RunContext) -> None:
        """Write the layers; count the thresholds' statistics; decide whether the scene is usable."""
        spec, refl, scene = ctx.spec, required(ctx.refl, "ctx.refl"), ctx.scene
        sensor = required(ctx.sensor, "ctx.sensor")
        rasters = required(ctx.rasters, "ctx.rasters")
        use_compression(spec.outputs.compression)  # every raster of this run
        reasons = build_mask(
            refl,
            flags=product_flags(scene.qa, scene.metadata.get("qa_kind"), sensor=sensor),
            config=spec.masks.to_config(),
        )
        # lazy: only the layers written are ever computed
        indices = compute_indices(refl, spec.indices, sensor=sensor, custom=spec.custom_indices)
        plan = raster_plan(spec)
        valid = reasons == 0
        layers = {
            "mask_reasons": RasterLayer(
                reasons, "uint16", None, True, "mask reasons (bit per rule)"
            )
        }
        for name in map(str, indices["index"].values):
            if name in plan:
                layers[name] = RasterLayer(
                    indices.sel(index=name, drop=True).where(valid), description=name
                )
        rgb_bands = {"red", "green", "blue"} <= {str(b) for b in refl["band"].values}
        if rgb_bands:
            # one read, through the files' overviews, for the basemap's stretch and the quicklook
            ctx.rgb = decimated_rgb(refl, preview=scene.preview)
        if "true_colour" in plan and rgb_bands:
            layers["true_colour"] = RasterLayer(  # the field team's basemap
                true_colour(refl, sample=ctx.rgb), "uint8", 0, False, "true colour (2-98 % stretch)"
            )
        codes = _CodeCounts()
        taps: list[tuple] = [(layers["mask_reasons"].data.data, codes)]
        ctx.inside = aoi_mask(ctx)
        ctx.pass_stats = {}
        for name, opts in spec.anomalies.items():
            if name not in layers:  # a layer of a later method (crosta_*, dpca_*)
                continue
            log = get_index(name, sensor).log_stats if name in spec.indices else False
            hist = ValueHistogram(log=log, moments=opts.method == "mean_std")
            values = layers[name].data
            if ctx.inside is not None:  # else: the very array written, counted as it is
                values = values.where(ctx.inside)
            taps.append((values.data, hist))
            ctx.pass_stats[name] = hist
        # blocks of 8 chunks, not 4: this pass's graph (masks, every index, overviews,
        # histograms) is optimized again for each block, 0.26 s a block on the alteration
        # pipeline; on the full scene the stage took 12.1-12.9 s instead of 14.6-15.9 s
        staged = stage_rasters(layers, rasters, taps=taps, block_chunks=8)
        # the anomaly stage derives z-scores and flags from the staged indices
        keep = list(ctx.pass_stats) if any(s.name == "anomalies" for s in ctx.stages) else []
        staged.finish(keep=keep)
        ctx.staged = staged
        ctx.reasons = open_run_layer(rasters / "mask_reasons.tif", ctx.chunk, masked=False)
        total = int(np.prod(reasons.shape))
        fractions = fractions_from_codes(codes.counts, total, reasons.attrs["applied"])
        ctx.fractions = fractions
        pixels = round(fractions["valid_fraction"] * fractions["pixels"])
        ctx.usable = pixels >= MIN_PIXELS
        skipped = self._notes(ctx, fractions)
        ctx.manifest["masks"] = {"config": spec.masks.model_dump(mode="json"), **fractions}
        ctx.manifest["indices"] = indices.attrs["formulas"]
        ctx.manifest["usable"] = {
            "pixels": pixels,
            "min_pixels": MIN_PIXELS,
            "usable": ctx.usable,
            "skipped": skipped,
        }
        ctx.manifest["rasters"] = {
            "outputs": spec.outputs.model_dump(mode="json"),
            "written": {
                "mask_reasons": ["always"],
                **{n: plan[n] for n in layers if n in plan},
            },
            "not_written": sorted(n for n in indices["index"].values if n not in layers),
        }
        if "true_colour" in plan and not rgb_bands:
            ctx.manifest["rasters"]["not_written"].append("true_colour")

    @staticmethod
    def _notes(ctx: RunContext, fractions: dict) -> list[str]:
        """Warn about a scene with few or no valid pixels; return the methods skipped."""
        if not ctx.usable:
            ctx.notes.append(unusable_note(fractions))
        elif fractions["valid_fraction"] < 0.05:
            ctx.notes.append(
                f"only {fractions['valid_fraction']:.1%} of the scene is valid after masking; "
                "thresholds rest on few pixels"
            )
        skipped = [] if ctx.usable else pixel_methods(ctx)
        if skipped:
            ctx.notes.append(
                f"not run for lack of usable pixels: {', '.join(skipped)} (see the masks in "
                "manifest.json)"
            )
        return skipped


def pixel_methods(ctx: RunContext) -> list[str]:
    """Stages of the table that the pipeline asks for and that need valid pixels."""
    return [
        stage.name
        for stage in ctx.stages
        if getattr(stage, "needs_pixels", False) and stage.configured(ctx.spec)
    ]


def unusable_note(fractions: dict) -> str:
    """Return the warning of a scene with too few valid pixels: which masks removed them."""
    n = round(fractions["valid_fraction"] * fractions["pixels"])
    top = sorted(fractions["rules"].items(), key=lambda kv: -kv[1]["fraction"])
    removed = ", ".join(f"{rule} {v['fraction']:.1%}" for rule, v in top[:3] if v["fraction"] > 0)
    return (
        f"no usable pixels: {n} of {fractions['pixels']:,} pixels are valid after masking "
        f"(at least {MIN_PIXELS} are needed for a threshold); the masks removed "
        f"{removed or 'nothing'}. The run has no targets; licences.csv lists each licence's "
        "valid_pct (unexplored, not barren)"
    )


def aoi_mask(ctx: RunContext) -> xr.DataArray | None:
    """Return the area of interest as a pixel mask (None: whole scene); record it in ``methods``."""
    if ctx.aoi is None:
        return None
    polygons, info = ctx.aoi
    refl = required(ctx.refl, "ctx.refl")
    inside = refl.isel(band=0, drop=True).copy(data=polygon_mask(polygons, refl))
    ctx.methods["aoi"] = {
        **info,
        "area_ha": round(float(polygons.union_all().area) / 1e4, 2),
        "pixels_inside": int(inside.values.sum()),
    }
    return inside
