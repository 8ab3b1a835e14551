"""``masks_indices``: mask reasons, index layers and the true-colour basemap; usable pixels.

The mask-reason raster is re-opened from disk for every later stage (``ctx.reasons``), and
the scene is declared *usable* when at least :data:`~geo.spectral.anomaly.MIN_PIXELS`
pixels are valid: the methods that need pixels are skipped otherwise (``usable.skipped``).
"""

from __future__ import annotations

from geo.export.quicklook import decimated_rgb, true_colour
from geo.io.layers import open_run_layer
from geo.io.writers import RasterLayer, write_rasters
from geo.pipeline.stages.base import RunContext, required
from geo.spectral.anomaly import MIN_PIXELS
from geo.spectral.indices import compute_indices
from geo.spectral.masks import build_mask, mask_fractions, product_flags

__all__ = ["MasksIndicesStage"]


class MasksIndicesStage:
    """Mask reasons (bit per rule), index layers and the basemap, written under ``rasters/``."""

    name = "masks_indices"
    sections = ("masks", "indices", "usable")

    def enabled(self, ctx: RunContext) -> bool:
        """Run always."""
        return True

    def run(self, ctx: RunContext) -> None:
        """Write the layers; decide whether the scene has usable pixels."""
        spec, refl, scene = ctx.spec, required(ctx.refl, "ctx.refl"), ctx.scene
        sensor = required(ctx.sensor, "ctx.sensor")
        rasters = required(ctx.rasters, "ctx.rasters")
        reasons = build_mask(
            refl,
            flags=product_flags(scene.qa, scene.metadata.get("qa_kind"), sensor=sensor),
            config=spec.masks.to_config(),
        )
        indices = compute_indices(refl, spec.indices, sensor=sensor, custom=spec.custom_indices)
        valid = reasons == 0
        layers = {
            "mask_reasons": RasterLayer(
                reasons, "uint16", None, True, "mask reasons (bit per rule)"
            )
        }
        for name in indices["index"].values:
            layers[str(name)] = RasterLayer(
                indices.sel(index=name, drop=True).where(valid), description=str(name)
            )
        if {"red", "green", "blue"} <= {str(b) for b in refl["band"].values}:
            # one read, through the files' overviews, for the basemap's stretch and the quicklook
            ctx.rgb = decimated_rgb(refl, preview=scene.preview)
            layers["true_colour"] = RasterLayer(  # the field team's basemap
                true_colour(refl, sample=ctx.rgb), "uint8", 0, False, "true colour (2-98 % stretch)"
            )
        write_rasters(layers, rasters)
        ctx.reasons = open_run_layer(rasters / "mask_reasons.tif", ctx.chunk, masked=False)
        fractions = mask_fractions(ctx.reasons.assign_attrs(reasons.attrs))
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
