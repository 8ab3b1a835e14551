"""``zones``: anomaly flags and binary evidence → alteration-zone polygons."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.io.layers import open_run_layer
from geo.pipeline.stages.base import RunContext, required
from geo.targets.zones import ZONE_COLUMNS, extract_zones

__all__ = ["ZonesStage"]


class ZonesStage:
    """Sieved polygons of every fitted anomaly and every binary layer (SAM, classifier)."""

    name = "zones"
    sections = ("zones",)

    def enabled(self, ctx: RunContext) -> bool:
        """Run always (no anomaly layer: no zones)."""
        return True

    def run(self, ctx: RunContext) -> None:
        """Extract the zones of each layer; ``zones`` of the manifest counts them by kind."""
        spec = ctx.spec
        crs = required(ctx.refl, "ctx.refl").rio.crs
        rasters = required(ctx.rasters, "ctx.rasters")
        frames = []
        for name in spec.anomalies:
            if name not in ctx.thresholds:  # not fitted: no zones
                continue
            flag = open_run_layer(rasters / f"{name}_anomaly.tif", ctx.chunk)
            z = open_run_layer(rasters / f"{name}_z.tif", ctx.chunk)
            values = {"index": ctx.index_layers[name], "z": z}
            frames.append(self._extract(spec, flag == 1, name, values))
        for name, (mask, values) in ctx.binary.items():
            frames.append(self._extract(spec, mask, name, values))
        if frames:
            zones = pd.concat(frames, ignore_index=True)
        else:  # a pipeline without anomaly layers (indices only): no zones, no targets
            zones = gpd.GeoDataFrame(columns=ZONE_COLUMNS, geometry=[], crs=crs)
        zones = gpd.GeoDataFrame(zones, geometry="geometry", crs=crs)
        if "mean_z" not in zones:  # only binary evidence (SAM, classifier) this run
            zones["mean_z"] = np.nan
        ctx.zones = zones
        ctx.manifest["zones"] = {
            "count": len(zones),
            "by_kind": {str(k): int(v) for k, v in zones["kind"].value_counts().items()}
            if len(zones)
            else {},
        }

    @staticmethod
    def _extract(spec, mask, kind: str, values: dict) -> gpd.GeoDataFrame:
        return extract_zones(
            mask,
            kind=kind,
            values=values,
            min_area_ha=spec.zones.min_area_ha,
            sieve_px=spec.zones.sieve_px,
        )
