"""Join targets with mining licences and summarise per licence."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import CRSError

__all__ = ["LICENCE_FIELDS", "assign_licences", "summarise_licences"]

#: Canonical licence attributes; readers map the layer's own column names onto these.
LICENCE_FIELDS = ("licence_id", "holder", "status")


def _check_crs(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, what: str) -> None:
    if a.crs is None or b.crs is None or a.crs != b.crs:
        raise CRSError(
            f"{what}: CRS mismatch. Left CRS: {a.crs}; right CRS: {b.crs}. Reproject the "
            "licences to the scene CRS first (geo.io.vector.read_licences(..., to_crs=...))."
        )


def assign_licences(targets: gpd.GeoDataFrame, licences: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Give each target the licence holding most of its area.

    Parameters
    ----------
    targets : geopandas.GeoDataFrame
        Target polygons.
    licences : geopandas.GeoDataFrame
        Licence polygons in the same CRS with ``licence_id``, ``holder``, ``status``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``targets`` plus ``licence_id``, ``holder``, ``licence_status`` (null when the
        target touches no licence), ``licence_overlap_pct`` (share of the target's area
        inside that licence, 0–100) and ``straddles_boundary`` (the target lies partly
        outside it).

    Raises
    ------
    CRSError
        The two layers are not in the same CRS.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from geo.testing import make_licences
    >>> t = gpd.GeoDataFrame(geometry=[box(0, 0, 10, 10), box(50, 50, 60, 60)], crs="EPSG:32635")
    >>> lic = make_licences({"A": (5, -5, 30, 30)})
    >>> out = assign_licences(t, lic)
    >>> out["licence_id"].tolist()[0], out["licence_id"].isna().tolist(), out["licence_overlap_pct"].tolist()
    ('A', [False, True], [50.0, 0.0])
    """
    _check_crs(targets, licences, "assign_licences")
    out = targets.copy()
    ids: list = [None] * len(out)
    holders: list = [None] * len(out)
    statuses: list = [None] * len(out)
    pct = np.zeros(len(out))
    if len(licences) and len(out):
        lic_geoms = licences.geometry.values
        left, right = licences.sindex.query(out.geometry.values, predicate="intersects")
        for t_idx in np.unique(left):
            candidates = right[left == t_idx]
            geom = out.geometry.values[t_idx]
            overlap = np.array([geom.intersection(lic_geoms[c]).area for c in candidates])
            best = candidates[int(np.argmax(overlap))]
            if overlap.max() <= 0:
                continue
            ids[t_idx] = licences["licence_id"].iloc[best]
            holders[t_idx] = licences["holder"].iloc[best]
            statuses[t_idx] = licences["status"].iloc[best]
            pct[t_idx] = 100.0 * overlap.max() / geom.area
    out["licence_id"] = pd.array(ids, dtype="object")
    out["holder"] = pd.array(holders, dtype="object")
    out["licence_status"] = pd.array(statuses, dtype="object")
    out["licence_overlap_pct"] = np.round(pct, 2)
    out["straddles_boundary"] = (out["licence_overlap_pct"] > 0) & (
        out["licence_overlap_pct"] < 99.99
    )
    return out


def summarise_licences(
    licences: gpd.GeoDataFrame, targets: gpd.GeoDataFrame, zones: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Add per-licence ``n_targets``, ``best_score``, ``best_target`` and ``anomalous_area_ha``.

    ``anomalous_area_ha`` is the area of all alteration zones inside the licence
    (overlapping zones of different kinds are counted once).
    """
    _check_crs(licences, zones, "summarise_licences")
    out = licences.copy()
    n, best, best_id, area = [], [], [], []
    zone_union = zones.geometry.union_all() if len(zones) else None
    for lic_id, geom in zip(out["licence_id"], out.geometry, strict=True):
        mine = targets[targets["licence_id"] == lic_id] if len(targets) else targets
        n.append(len(mine))
        best.append(float(mine["score"].max()) if len(mine) else np.nan)
        best_id.append(mine.sort_values("rank")["target_id"].iloc[0] if len(mine) else None)
        area.append(
            round(geom.intersection(zone_union).area / 1e4, 4) if zone_union is not None else 0.0
        )
    out["n_targets"] = n
    out["best_score"] = best
    out["best_target"] = pd.array(best_id, dtype="object")
    out["anomalous_area_ha"] = area
    return out
