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

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.errors import InvalidParameterError
from geo.targets._windows import near_sums, union_groups

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

    The pairs come from one spatial-index query, the groups from the connected components
    of that graph, and the unions of all groups from a few vectorised calls
    (:func:`~geo.targets._windows.union_groups`).

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
    geoms = np.asarray(zones.geometry.values, dtype=object)
    n = len(zones)
    if n == 0:
        return gpd.GeoDataFrame(
            columns=["group", "zone_ids", "n_zones", "kinds"], geometry=[], crs=zones.crs
        )
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=distance_m)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    order = np.argsort(group, kind="stable")  # each group's zones in their order
    grouped = group[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    ends = np.r_[starts[1:], n]
    unions = _as_multipolygons(union_groups(geoms[order], grouped))
    ids = zones["zone_id"].to_numpy(dtype=object)[order]
    kinds = zones["kind"].to_numpy(dtype=object)[order]
    rows = [
        {
            "group": int(g),
            "zone_ids": ",".join(ids[s:e]),
            "n_zones": int(e - s),
            "kinds": ",".join(sorted(set(kinds[s:e]))),
            "geometry": union,
        }
        for g, s, e, union in zip(grouped[starts], starts, ends, unions, strict=True)
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=zones.crs)


def _as_multipolygons(geoms: np.ndarray) -> np.ndarray:
    """Unions of polygons (each a Polygon or a MultiPolygon) as MultiPolygons."""
    single = shapely.get_type_id(geoms) != shapely.GeometryType.MULTIPOLYGON
    geoms[single] = shapely.multipolygons(geoms[single].reshape(-1, 1))
    return geoms


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

    The geometry work is done for all (target, zone) pairs at once: the clipping and the
    areas in vectorised calls, and the area of a union of zones that do not touch (zones
    of one layer never do) is the sum of their areas, so only zones that meet are unioned.
    """
    weights = {c: float(config.weights.get(c, 0.0)) for c in COMPONENTS}
    total_w = sum(weights.values())
    # the zone rows of every target, in the order of its zone_ids (as .loc gives them)
    rows_of: dict = {}
    for j, zid in enumerate(zones["zone_id"].tolist()):
        rows_of.setdefault(zid, []).append(j)
    pair_t: list[int] = []
    pair_z: list[int] = []
    for t, ids in enumerate(targets["zone_ids"].tolist()):
        for i in str(ids).split(","):
            if i:
                if i not in rows_of:
                    raise KeyError(f"zone {i!r} of a target is not among the zones")
                pair_z.extend(rows_of[i])
                pair_t.extend([t] * len(rows_of[i]))
    t_of, z_of = np.asarray(pair_t, dtype="int64"), np.asarray(pair_z, dtype="int64")
    n = len(targets)
    target_geoms = np.asarray(targets.geometry.values, dtype=object)
    zone_geoms = np.asarray(zones.geometry.values, dtype=object)
    kind = zones["kind"].to_numpy(dtype=object)
    z_all = zones["mean_z"].to_numpy(dtype="float64")
    strength_all = 1 - np.exp(-np.clip(np.nan_to_num(z_all, nan=0.0), 0, None) / config.z_scale)
    if "mean_strength" in zones:
        given = zones["mean_strength"].to_numpy(dtype="float64")
        strength_all = np.where(np.isfinite(given), given, strength_all)
    area_ha = shapely.area(target_geoms) / 1e4 if n else np.zeros(0)
    records = [{"area_ha": float(a)} for a in area_ha]  # union: overlapping zones count once
    for label, kinds in (("iron", config.iron_kinds), ("clay", config.clay_kinds)):
        sel = np.flatnonzero(np.isin(kind[z_of], list(kinds))) if len(z_of) else z_of
        t_sel, z_sel = t_of[sel], z_of[sel]
        if clip:  # a target split at a licence boundary keeps only its part of a zone
            pieces = shapely.intersection(zone_geoms[z_sel], target_geoms[t_sel])
            area = shapely.area(pieces)
            keep = area > 0
            t_sel, z_sel, pieces, area = t_sel[keep], z_sel[keep], pieces[keep], area[keep]
        else:  # targets made of whole zones (the union of their members)
            pieces = zone_geoms[z_sel]
            area = shapely.area(pieces)
        weights_ha = area / 1e4
        union_ha = _union_areas(pieces, t_sel, area, n) / 1e4
        z, strength = z_all[z_sel], strength_all[z_sel]
        bounds = np.searchsorted(t_sel, np.arange(n + 1))
        for t, rec in enumerate(records):
            s, e = bounds[t], bounds[t + 1]
            rec[f"{label}_area_ha"] = float(union_ha[t]) if e > s else 0.0
            has_z = np.isfinite(z[s:e])
            rec[f"{label}_z"] = (
                float(np.average(z[s:e][has_z], weights=weights_ha[s:e][has_z]))
                if has_z.any()
                else 0.0
            )
            rec[f"{label}_intensity"] = (
                float(np.average(strength[s:e], weights=weights_ha[s:e])) if e > s else 0.0
            )
    for rec in records:
        weaker = min(rec["iron_area_ha"], rec["clay_area_ha"])
        rec["coincidence"] = float(1 - np.exp(-weaker / config.area_scale_ha))
        rec["area"] = float(1 - np.exp(-rec["area_ha"] / config.area_scale_ha))
        rec["score"] = sum(weights[c] * rec[c] for c in COMPONENTS) / total_w
    scored = targets.copy()
    for column in _SCORE_COLUMNS:  # always present, also for an empty target list
        scored[column] = np.array([round(r[column], 6) for r in records], dtype="float64")
    return scored


def _union_areas(pieces: np.ndarray, owner: np.ndarray, area: np.ndarray, n: int) -> np.ndarray:
    """Area of the union of each owner's pieces (``owner`` sorted; 0 for an owner without).

    Pieces of one owner that do not meet (no two intersect, not even touching) add up: their
    union's area is the sum of theirs. Only owners with meeting pieces are unioned, in one
    vectorised call (:func:`~geo.targets._windows.union_groups`).
    """
    out = np.zeros(n)
    if not len(pieces):
        return out
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    sizes = np.diff(np.r_[starts, len(owner)])
    # every pair of pieces of one owner whose bounding boxes overlap: do they meet?
    meets = np.zeros(len(starts), dtype=bool)
    pairs = [
        (g, s + np.array(np.triu_indices(k, 1)))
        for g, (s, k) in enumerate(zip(starts, sizes, strict=True))
        if k > 1
    ]
    if pairs:
        which = np.concatenate([np.full(p.shape[1], g) for g, p in pairs])
        a, b = np.concatenate([p for _, p in pairs], axis=1)
        box = shapely.bounds(pieces)
        close = (
            (box[a, 0] <= box[b, 2])
            & (box[b, 0] <= box[a, 2])
            & (box[a, 1] <= box[b, 3])
            & (box[b, 1] <= box[a, 3])
        )
        hit = shapely.intersects(pieces[a[close]], pieces[b[close]])
        meets[np.unique(which[close][hit])] = True
    # sums in piece order (bincount adds sequentially)
    out[owner[starts]] = np.bincount(np.repeat(np.arange(len(starts)), sizes), weights=area)
    if meets.any():
        member = np.repeat(meets, sizes)
        unions = union_groups(pieces[member], owner[member])
        out[owner[starts[meets]]] = shapely.area(unions)
    return out


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

    The pixels within ``buffer_m`` of a target are its pixels (centre inside) dilated by a
    disk of that radius. They are counted for all targets in one pass over the blocks of
    ``reasons`` that lie near a target (:func:`~geo.targets._windows.near_sums`): each
    block is read once and all its targets are burnt and dilated together, so the reads
    and rasterisations do not grow with the number of targets.

    Parameters
    ----------
    targets : geopandas.GeoDataFrame
        Targets with ``area_ha`` and ``kinds``, in the raster's CRS.
    reasons : xarray.DataArray
        ``(y, x)`` uint16 mask-reason raster; bit ``i`` = ``rules[i]``.
    rules : tuple of str
        Rule names in bit order (``MASK_RULES``).
    """
    out = targets.copy()
    transform = reasons.rio.transform()
    bits = {r: 1 << i for i, r in enumerate(rules)}
    fill = bits.get("fill", 0)
    risks = [r for r in RISK_RULES if r in bits]

    if "n_evidence" in out:  # prospectivity targets: layers that raised the score
        support = out["n_evidence"].to_numpy()
    else:  # alteration targets: kinds of zones merged into the target
        support = np.array([len(str(k).split(",")) for k in out["kinds"]])
    # the ring is the target dilated by buffer_m in pixels (a disk)
    pad = int(np.ceil(buffer_m / abs(transform.a)))
    yy, xx = np.mgrid[-pad : pad + 1, -pad : pad + 1]
    disk = (xx * abs(transform.a)) ** 2 + (yy * abs(transform.e)) ** 2 <= buffer_m**2

    def per_pixel(values: np.ndarray) -> list[np.ndarray]:
        data = (values & fill) == 0  # near pixels with data
        return [
            data,
            data & (values != 0),  # ... that the masks removed
            *[(values & bits[r]) != 0 for r in risks],
        ]

    sums = near_sums(
        out.geometry.values,
        reasons,
        per_pixel,
        2 + len(risks),
        transform=transform,
        shape=reasons.shape,
        footprint=disk,
        dtype="uint16",
    )
    area = out["area_ha"].to_numpy()
    masked, flags = [], []
    for i, (n_data, n_masked, *n_risk) in enumerate(sums.tolist()):
        masked.append(round(n_masked / max(n_data, 1), 4))
        found = [f"near_{r}" for r, k in zip(risks, n_risk, strict=True) if k > 0]
        if area[i] < 2 * min_area_ha:
            found.append("tiny")
        if support[i] <= 1:
            found.append("single_evidence")
        flags.append(",".join(found))
    out["masked_fraction"] = np.array(masked, dtype="float64")
    out["flags"] = pd.array(flags, dtype="object")
    return out
