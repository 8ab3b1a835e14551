"""``anomalies``: a threshold per anomaly layer (μ + kσ, percentile, Otsu) → z-score and flag.

The statistics of an index layer were counted in the index pass (``ctx.pass_stats``), and
its z-scores and flags are computed from its staged, uncompressed copy (``ctx.staged``):
this stage decodes no COG. Layers of the later methods (``crosta_*``, ``dpca_*``) are read
once from their COG for the statistics (:func:`~geo.spectral.anomaly.fit_threshold`) and
once for the z-scores and flags.

A layer with too few valid pixels for a threshold is a result, not a failure: its z-score
is all NaN, its flag raster all nodata, and the manifest says why (``fitted: false``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from geo.errors import TooFewPixelsError
from geo.io.layers import open_run_layer
from geo.io.writers import RasterLayer, write_rasters
from geo.pipeline.stages.base import RunContext, required
from geo.spectral.anomaly import anomaly_z, fit_threshold, threshold_from_histogram
from geo.spectral.indices import get_index

__all__ = ["ANOMALY_COLOURS", "ANOMALY_NODATA", "AnomaliesStage"]

ANOMALY_NODATA = 255
#: Colour table of anomaly rasters: background transparent, anomaly red.
ANOMALY_COLOURS = {0: (0, 0, 0, 0), 1: (220, 30, 30, 255), ANOMALY_NODATA: (0, 0, 0, 0)}


class AnomaliesStage:
    """``<name>_z`` and ``<name>_anomaly`` for every layer of ``anomalies`` that was written."""

    name = "anomalies"
    sections = ("thresholds", "methods")

    def enabled(self, ctx: RunContext) -> bool:
        """Run always (a pipeline without anomaly layers gets an empty ``thresholds``)."""
        return True

    def run(self, ctx: RunContext) -> None:
        """Fit the thresholds (inside the area of interest) and write the layers."""
        spec, rasters = ctx.spec, required(ctx.rasters, "ctx.rasters")
        staged = ctx.staged
        layers: dict[str, RasterLayer] = {}
        fitted: list[str] = []
        try:
            for name, opts in spec.anomalies.items():
                hist = ctx.pass_stats.get(name)
                if hist is not None and staged is not None:
                    values = staged.open(name)  # the staged copy: no decoding
                elif (rasters / f"{name}.tif").is_file():
                    values = open_run_layer(rasters / f"{name}.tif", ctx.chunk)
                    hist = None
                else:  # a layer of a method skipped for lack of pixels
                    continue
                fitted.append(name)
                try:
                    if hist is not None:
                        thr = threshold_from_histogram(
                            hist,
                            name=name,
                            method=opts.method,
                            k=opts.k,
                            percentile=opts.percentile,
                        )
                    else:
                        log = (
                            get_index(name, ctx.sensor).log_stats if name in spec.indices else False
                        )
                        thr = fit_threshold(
                            values,
                            ctx.inside,
                            name=name,
                            method=opts.method,
                            k=opts.k,
                            percentile=opts.percentile,
                            log=log,
                        )
                except TooFewPixelsError as exc:
                    # a result, not a failure: no anomaly of this index can be seen here
                    ctx.unfitted[name] = str(exc)
                    if ctx.usable:
                        ctx.notes.append(f"{exc} No anomalies of {name} in this scene.")
                    layers.update(_unfitted_layers(name, values))
                    continue
                ctx.thresholds[name] = thr
                layers.update(_layers(name, values, thr, spec.outputs.z_max_error))
            write_rasters(layers, rasters)
        finally:
            if staged is not None:  # the staged indices have served
                staged.discard()
                ctx.staged = None
        ctx.index_layers = {
            name: open_run_layer(rasters / f"{name}.tif", ctx.chunk) for name in fitted
        }
        ctx.manifest["thresholds"] = {
            **{n: t.to_dict() for n, t in ctx.thresholds.items()},
            **{n: {"index": n, "fitted": False, "reason": r} for n, r in ctx.unfitted.items()},
        }


def _layers(
    name: str, values: xr.DataArray, thr, max_error: float | None = None
) -> dict[str, RasterLayer]:
    z = anomaly_z(values, thr)
    flag = (values >= thr.cutoff).astype("uint8")
    flag = flag.where(values.notnull(), ANOMALY_NODATA)
    return {
        f"{name}_z": RasterLayer(z, description=f"{name} z-score", max_error=max_error),
        f"{name}_anomaly": RasterLayer(
            flag,
            "uint8",
            ANOMALY_NODATA,
            True,
            f"{name} anomaly (1) at >= {thr.cutoff:.4g}",
            ANOMALY_COLOURS,
        ),
    }


def _unfitted_layers(name: str, values: xr.DataArray) -> dict[str, RasterLayer]:
    return {
        f"{name}_z": RasterLayer(values * np.nan, description=f"{name} z-score (not fitted)"),
        f"{name}_anomaly": RasterLayer(
            xr.full_like(values, ANOMALY_NODATA, dtype="uint8"),
            "uint8",
            ANOMALY_NODATA,
            True,
            f"{name} anomaly (not fitted: too few valid pixels)",
            ANOMALY_COLOURS,
        ),
    }
