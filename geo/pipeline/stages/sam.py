"""``sam``: spectral angle mapping against the sensor's mineral library."""

from __future__ import annotations

from geo.errors import InvalidParameterError
from geo.io.layers import open_run_layer
from geo.io.writers import RasterLayer, write_rasters
from geo.pipeline.spec import PipelineSpec
from geo.pipeline.stages.base import PixelStage, RunContext, required

__all__ = ["SamStage"]


class SamStage(PixelStage):
    """Best-matching library group per pixel; binary evidence ``sam_<group>`` for the zones.

    A layer's strength is 1 − angle / threshold: 1 for a perfect match, 0 at the threshold.
    """

    name = "sam"

    def configured(self, spec: PipelineSpec) -> bool:
        """Tell whether the pipeline has a ``sam`` section."""
        return spec.sam is not None

    def run(self, ctx: RunContext) -> None:
        """Write ``sam_group`` and ``sam_angle``; add ``sam_<group>`` to ``ctx.binary``."""
        from geo.spectral.sam import sam_classify

        opts = required(ctx.spec.sam, "pipeline section sam")
        refl, sensor = required(ctx.refl, "ctx.refl"), required(ctx.sensor, "ctx.sensor")
        rasters = required(ctx.rasters, "ctx.rasters")
        thresholds = {"default": opts.threshold, **opts.thresholds}
        clear = required(ctx.reasons, "ctx.reasons") == 0
        result = sam_classify(refl.where(clear), sensor, thresholds=thresholds)
        codes = {int(k): str(v) for k, v in result["best_group"].attrs["codes"].items()}
        write_rasters(
            {
                "sam_group": RasterLayer(
                    result["best_group"], "uint8", 255, True, "SAM group code"
                ),
                "sam_angle": RasterLayer(result["angle"], description="SAM angle (radians)"),
            },
            rasters,
        )
        ctx.methods["sam"] = {
            "library": f"geo/data/library_{sensor}.csv",
            "codes": {str(k): v for k, v in codes.items()},
            "thresholds": thresholds,
            "bands": [str(b) for b in result.attrs.get("bands", [])],
        }
        group = open_run_layer(rasters / "sam_group.tif", ctx.chunk, masked=False)
        angle = open_run_layer(rasters / "sam_angle.tif", ctx.chunk)
        by_name = {v: k for k, v in codes.items()}
        for name in opts.groups:
            if name not in by_name:
                raise InvalidParameterError(
                    f"sam.groups: {name!r} is not a library group; groups are {', '.join(by_name)}."
                )
            limit = opts.thresholds.get(name, opts.threshold)
            strength = (1 - angle / limit).clip(0, 1)
            ctx.binary[f"sam_{name}"] = (
                group == by_name[name],
                {"strength": strength, "angle": angle},
            )
