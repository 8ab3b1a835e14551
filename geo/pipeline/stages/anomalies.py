"""``anomalies``: a threshold per anomaly layer (μ + kσ, percentile, Otsu) → z-score and flag.

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
from geo.spectral.anomaly import anomaly_z, fit_threshold
from geo.spectral.indices import get_index
from geo.targets.evaluate import polygon_mask

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
        ctx.index_layers = {
            name: open_run_layer(rasters / f"{name}.tif", ctx.chunk)
            for name in spec.anomalies
            if (rasters / f"{name}.tif").is_file()
        }
        inside = _inside(ctx)
        layers: dict[str, RasterLayer] = {}
        for name, opts in spec.anomalies.items():
            if name not in ctx.index_layers:  # a layer of a method skipped for lack of pixels
                continue
            values = ctx.index_layers[name]
            log = get_index(name, ctx.sensor).log_stats if name in spec.indices else False
            try:
                thr = fit_threshold(
                    values,
                    inside,
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
            layers.update(_layers(name, values, thr))
        write_rasters(layers, rasters)
        ctx.manifest["thresholds"] = {
            **{n: t.to_dict() for n, t in ctx.thresholds.items()},
            **{n: {"index": n, "fitted": False, "reason": r} for n, r in ctx.unfitted.items()},
        }


def _inside(ctx: RunContext) -> xr.DataArray | None:
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


def _layers(name: str, values: xr.DataArray, thr) -> dict[str, RasterLayer]:
    z = anomaly_z(values, thr)
    flag = (values >= thr.cutoff).astype("uint8")
    flag = flag.where(values.notnull(), ANOMALY_NODATA)
    return {
        f"{name}_z": RasterLayer(z, description=f"{name} z-score"),
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
