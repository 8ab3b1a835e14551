"""Zones to ranked drill targets with an explainable score.

Zones closer than a merge distance join one target. Each target's score in [0, 1]
is a weighted mean of named components, all stored beside the score so the rank
can be explained:

- ``iron_intensity`` = 1 − exp(−z̄_iron / z_scale), z̄ the area-weighted mean z-score
  of the target's iron-oxide zones (0 when it has none);
- ``clay_intensity``: the same for clay/hydroxyl zones;
- ``coincidence`` = 1 − exp(−min(A_iron, A_clay) / area_scale_ha): how much of the
  weaker of the two kinds of evidence the target holds. It is 0 when only one kind is
  present and grows with the hectares where both occur, so a zoned porphyry-style
  system (a small iron core inside a wide clay halo) is not penalised for its zoning;
- ``area`` = 1 − exp(−A / area_scale_ha), A the target's anomalous area.

The saturating transforms keep each component in [0, 1] without depending on the
scene's own maximum, so scores are comparable between scenes and runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from affine import Affine
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import MultiPolygon, Polygon
from shapely.ops import unary_union

from geo.errors import InvalidParameterError

__all__ = [
    "COMPONENTS",
    "RISK_RULES",
    "ScoreConfig",
    "flag_targets",
    "locate_targets",
    "merge_zones",
    "rank_targets",
    "score_targets",
]

COMPONENTS = ("iron_intensity", "clay_intensity", "coincidence", "area")
_SCORE_COLUMNS = (
    "area_ha",
    "iron_area_ha",
    "iron_z",
    "iron_intensity",
    "clay_area_ha",
    "clay_z",
    "clay_intensity",
    "coincidence",
    "area",
    "score",
)


@dataclass(frozen=True)
class ScoreConfig:
    """How zones become a score.

    Attributes
    ----------
    iron_kinds, clay_kinds : tuple of str
        Zone kinds (index names) counted as iron-oxide and as clay/hydroxyl evidence.
    weights : dict of str to float
        Weight per component in :data:`COMPONENTS`; normalised to sum to 1.
    z_scale : float
        z-score at which an intensity reaches 1 − 1/e ≈ 0.63.
    area_scale_ha : float
        Area at which the area and coincidence components reach 0.63.
    """

    iron_kinds: tuple[str, ...] = ("iron_oxide",)
    clay_kinds: tuple[str, ...] = ("clay_hydroxyl",)
    weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "iron_intensity": 0.3,
            "clay_intensity": 0.3,
            "coincidence": 0.25,
            "area": 0.15,
        }
    )
    z_scale: float = 3.0
    area_scale_ha: float = 25.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(COMPONENTS))
        if unknown:
            raise InvalidParameterError(
                f"Unknown score component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}."
            )
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise InvalidParameterError(
                f"Score weights must be >= 0 with a positive sum; got {dict(self.weights)}."
            )
        if self.z_scale <= 0 or self.area_scale_ha <= 0:
            raise InvalidParameterError(
                f"z_scale and area_scale_ha must be > 0; got {self.z_scale} and {self.area_scale_ha}."
            )


def merge_zones(zones: gpd.GeoDataFrame, *, distance_m: float) -> gpd.GeoDataFrame:
    """Group zones lying within ``distance_m`` of each other (single linkage) into targets.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per group: ``group`` (int), ``zone_ids`` (comma-separated), ``n_zones``,
        ``kinds``, geometry = union of member zones (MultiPolygon).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> z = gpd.GeoDataFrame({"zone_id": ["a", "b", "c"], "kind": ["x", "y", "x"]},
    ...     geometry=[box(0, 0, 10, 10), box(15, 0, 20, 10), box(100, 0, 110, 10)], crs="EPSG:32635")
    >>> merge_zones(z, distance_m=6)[["zone_ids", "n_zones"]].values.tolist()
    [['a,b', 2], ['c', 1]]
    """
    if distance_m < 0:
        raise InvalidParameterError(f"merge distance must be >= 0 m; got {distance_m!r}.")
    geoms = zones.geometry.values
    n = len(zones)
    if n == 0:
        return gpd.GeoDataFrame(
            columns=["group", "zone_ids", "n_zones", "kinds"], geometry=[], crs=zones.crs
        )
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=distance_m)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    rows = []
    for g in np.unique(group):
        members = zones.iloc[np.flatnonzero(group == g)]
        union = unary_union(list(members.geometry))
        rows.append(
            {
                "group": int(g),
                "zone_ids": ",".join(members["zone_id"]),
                "n_zones": len(members),
                "kinds": ",".join(sorted(set(members["kind"]))),
                # the union of polygons is a Polygon or a MultiPolygon
                "geometry": union
                if isinstance(union, MultiPolygon)
                else MultiPolygon([cast(Polygon, union)]),
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=zones.crs)


def score_targets(
    targets: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    config: ScoreConfig = ScoreConfig(),
    *,
    clip: bool = True,
) -> gpd.GeoDataFrame:
    """Add the score components and the score to merged targets.

    ``zones`` must carry ``zone_id``, ``kind``, ``area_ha`` and ``mean_z`` (NaN for binary
    evidence) and may carry ``mean_strength`` in [0, 1]: the evidence strength of zones that
    have no z-score (SAM: 1 − angle/threshold; classifier: class probability). A zone's
    strength is ``mean_strength`` when given, else 1 − exp(−z/z_scale); an intensity is the
    area-weighted mean strength of the target's zones of that kind. Zones are clipped to the
    target polygon first when ``clip`` (a target split at a licence boundary counts only its
    own part; skip it for targets that are unions of whole zones, where it changes nothing).
    Areas of one kind are unions, so overlapping layers (a ratio and a Crosta zone) count
    once.
    Adds ``area_ha``, ``iron_area_ha``, ``clay_area_ha``, ``iron_z``, ``clay_z``, one
    column per component and ``score``.
    """
    by_id = zones.set_index("zone_id")
    weights = {c: float(config.weights.get(c, 0.0)) for c in COMPONENTS}
    total_w = sum(weights.values())
    records = []
    for ids, geometry in zip(targets["zone_ids"], targets.geometry, strict=True):
        members = by_id.loc[[i for i in str(ids).split(",") if i]]
        rec = {"area_ha": float(geometry.area / 1e4)}  # union: overlapping zones count once
        for label, kinds in (("iron", config.iron_kinds), ("clay", config.clay_kinds)):
            sub = members[members["kind"].isin(kinds)]
            if clip:  # a target split at a licence boundary keeps only its part of a zone
                clipped = sub.geometry.intersection(geometry)
                keep = (clipped.area > 0).to_numpy()
                sub, clipped = sub[keep], clipped[keep]
            else:  # targets made of whole zones (the union of their members)
                clipped = sub.geometry
            z = sub["mean_z"].to_numpy(dtype="float64")
            strength = 1 - np.exp(-np.clip(np.nan_to_num(z, nan=0.0), 0, None) / config.z_scale)
            if "mean_strength" in sub:
                given = sub["mean_strength"].to_numpy(dtype="float64")
                strength = np.where(np.isfinite(given), given, strength)
            weights_ha = clipped.area.to_numpy(dtype="float64") / 1e4
            has_z = np.isfinite(z)
            rec[f"{label}_area_ha"] = (
                float(unary_union(list(clipped)).area / 1e4) if len(sub) else 0.0
            )
            rec[f"{label}_z"] = (
                float(np.average(z[has_z], weights=weights_ha[has_z])) if has_z.any() else 0.0
            )
            rec[f"{label}_intensity"] = (
                float(np.average(strength, weights=weights_ha)) if len(sub) else 0.0
            )
        weaker = min(rec["iron_area_ha"], rec["clay_area_ha"])
        rec["coincidence"] = float(1 - np.exp(-weaker / config.area_scale_ha))
        rec["area"] = float(1 - np.exp(-rec["area_ha"] / config.area_scale_ha))
        rec["score"] = sum(weights[c] * rec[c] for c in COMPONENTS) / total_w
        records.append(rec)
    scored = targets.copy()
    for column in _SCORE_COLUMNS:  # always present, also for an empty target list
        scored[column] = np.array([round(r[column], 6) for r in records], dtype="float64")
    return scored


def rank_targets(targets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Sort and number the targets: ``rank`` (1 = best) and ``target_id`` (``T001`` = rank 1).

    The order is by score, then (for prospectivity targets) by evidence diversity
    ``n_evidence`` (independent layers agreeing), then by area.
    """
    keys = ["score", *(["n_evidence"] if "n_evidence" in targets else []), "area_ha"]
    ranked = targets.sort_values(keys, ascending=False, kind="stable").reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    ranked.insert(0, "target_id", [f"T{r:03d}" for r in ranked["rank"]])
    return ranked


def locate_targets(targets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add a representative point inside each polygon, in the target CRS and in WGS84.

    Adds ``easting``, ``northing`` (metres, 2 decimals), ``epsg`` and ``lon``, ``lat``
    (EPSG:4326, 7 decimals ≈ 1 cm). The point is ``representative_point()``: always
    inside the polygon, unlike a centroid of a concave or multi-part target.
    """
    crs = targets.crs
    if crs is None or not crs.is_projected:
        raise InvalidParameterError(
            f"Targets must be in a projected CRS to report easting/northing; got {crs}."
        )
    points = targets.geometry.representative_point()
    out = targets.copy()
    out["easting"] = points.x.round(2).to_numpy()
    out["northing"] = points.y.round(2).to_numpy()
    out["epsg"] = pd.array([crs.to_epsg()] * len(out), dtype="Int64")
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(points.x.to_numpy(), points.y.to_numpy())
    out["lon"] = np.round(lon, 7)
    out["lat"] = np.round(lat, 7)
    return out


#: Mask rules whose nearness makes a target suspect: mixed pixels at their edges mimic alteration.
RISK_RULES = ("vegetation", "water", "cloud", "cloud_shadow", "dark")


def flag_targets(
    targets: gpd.GeoDataFrame,
    reasons: xr.DataArray,
    rules: tuple[str, ...],
    *,
    buffer_m: float = 60.0,
    min_area_ha: float = 2.0,
) -> gpd.GeoDataFrame:
    """Add ``masked_fraction`` and ``flags`` (false-positive risks) to each target.

    ``masked_fraction`` is the share of pixels within ``buffer_m`` of the target that the
    masks removed (fill excluded). ``flags`` is a comma-separated list of:
    ``near_<rule>`` for each :data:`RISK_RULES` rule with a flagged pixel in that ring
    (vegetation or water edges next to an anomaly are classic false positives),
    ``tiny`` (area under twice ``min_area_ha``) and ``single_evidence`` (one kind of zone,
    or for prospectivity targets with ``n_evidence``, at most one layer raising the score).
    Only a window around each target is read from ``reasons``.

    Parameters
    ----------
    targets : geopandas.GeoDataFrame
        Targets with ``area_ha`` and ``kinds``, in the raster's CRS.
    reasons : xarray.DataArray
        ``(y, x)`` uint16 mask-reason raster; bit ``i`` = ``rules[i]``.
    rules : tuple of str
        Rule names in bit order (``MASK_RULES``).
    """
    import dask
    from rasterio import features
    from rasterio.windows import from_bounds
    from scipy import ndimage

    out = targets.copy()
    transform = reasons.rio.transform()
    height, width = reasons.shape
    bits = {r: 1 << i for i, r in enumerate(rules)}
    fill = bits.get("fill", 0)

    if "n_evidence" in out:  # prospectivity targets: layers that raised the score
        support = out["n_evidence"].to_numpy()
    else:  # alteration targets: kinds of zones merged into the target
        support = np.array([len(str(k).split(",")) for k in out["kinds"]])
    # the ring is the target dilated by buffer_m in pixels (a disk), on a window around it
    pad = int(np.ceil(buffer_m / abs(transform.a)))
    yy, xx = np.mgrid[-pad : pad + 1, -pad : pad + 1]
    disk = (xx * abs(transform.a)) ** 2 + (yy * abs(transform.e)) ** 2 <= buffer_m**2
    windows = []
    for geom in out.geometry:
        win = from_bounds(*geom.bounds, transform=transform).round_offsets().round_lengths()
        r0, c0 = max(int(win.row_off) - pad - 1, 0), max(int(win.col_off) - pad - 1, 0)
        r1 = min(int(win.row_off + win.height) + pad + 2, height)
        c1 = min(int(win.col_off + win.width) + pad + 2, width)
        windows.append((r0, r1, c0, c1))
    data = reasons.data
    masked = [0.0] * len(windows)
    flags = [""] * len(windows)
    # windows read 64 at a time, top to bottom: a batch touches one or two chunk rows, not the
    # whole scene (a batch of windows spread over the scene would read every chunk at once)
    order = np.argsort([w[0] for w in windows], kind="stable")
    for start in range(0, len(order), 64):
        idx = order[start : start + 64]
        batch = [windows[i] for i in idx]
        blocks = dask.compute(*[data[r0:r1, c0:c1] for r0, r1, c0, c1 in batch])
        for i, (r0, _r1, c0, _c1), block in zip(idx, batch, blocks, strict=True):
            values = np.asarray(block, dtype="uint16")
            local = transform * Affine.translation(c0, r0)
            inside = (
                features.rasterize(
                    [(out.geometry.iloc[i], 1)],
                    out_shape=values.shape,
                    transform=local,
                    dtype="uint8",
                )
                == 1
            )
            near = ndimage.binary_dilation(inside, structure=disk) if pad else inside
            data_px = near & ((values & fill) == 0)
            masked[i] = round(float(((values != 0) & data_px).sum() / max(data_px.sum(), 1)), 4)
            found = [
                f"near_{r}"
                for r in RISK_RULES
                if r in bits and ((values & bits[r]) != 0)[near].any()
            ]
            if out["area_ha"].iloc[i] < 2 * min_area_ha:
                found.append("tiny")
            if support[i] <= 1:
                found.append("single_evidence")
            flags[i] = ",".join(found)
    out["masked_fraction"] = np.array(masked, dtype="float64")
    out["flags"] = pd.array(flags, dtype="object")
    return out
