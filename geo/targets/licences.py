"""Join targets with mining licences and summarise per licence."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import CRSError

__all__ = [
    "LICENCE_FIELDS",
    "apply_exclusions",
    "assign_licences",
    "licence_context",
    "split_at_licences",
    "summarise_licences",
]

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
    expiry: list = [None] * len(out)
    if "expiry" in licences:
        for t_idx, lic in enumerate(ids):
            if lic is not None:
                value = licences.loc[licences["licence_id"] == lic, "expiry"].iloc[0]
                expiry[t_idx] = None if pd.isna(value) else str(value)[:10]
    out["licence_expiry"] = pd.array(expiry, dtype="object")
    out["licence_overlap_pct"] = np.round(pct, 2)
    out["straddles_boundary"] = (out["licence_overlap_pct"] > 0) & (
        out["licence_overlap_pct"] < 99.99
    )
    return out


#: Licence statuses that do not allow drilling now (case-insensitive substrings).
INACTIVE_STATUS = ("expired", "pending", "application", "relinquished", "cancelled", "suspended")


def licence_context(targets: gpd.GeoDataFrame, *, on_date: str | None = None) -> gpd.GeoDataFrame:
    """Add ``rank_in_licence`` and ``licence_flag`` to ranked targets.

    ``rank_in_licence`` is 1 for the best target of each licence (null outside licences).
    ``licence_flag`` says why a licence needs attention: its status (expired, pending...) or,
    when ``licence_expiry`` is known and earlier than ``on_date`` (the run date: is the licence
    valid now?), ``expired_<expiry>``; empty otherwise.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> t = gpd.GeoDataFrame({"rank": [1, 2, 3], "licence_id": ["A", "B", "A"],
    ...     "licence_status": ["granted", "Pending", "granted"]}, geometry=[box(0, 0, 1, 1)] * 3)
    >>> out = licence_context(t)
    >>> out["rank_in_licence"].tolist(), out["licence_flag"].tolist()
    ([1, 1, 2], ['', 'pending', ''])
    """
    out = targets.copy()
    has = out["licence_id"].notna()
    ranks = out.loc[has].groupby("licence_id")["rank"].rank(method="first")
    out["rank_in_licence"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out.loc[has, "rank_in_licence"] = ranks.astype("int64").to_numpy()
    flags = []
    expiry = out["licence_expiry"] if "licence_expiry" in out else pd.Series([None] * len(out))
    for status, ends in zip(out["licence_status"], expiry, strict=True):
        text = str(status).lower() if isinstance(status, str) else ""
        found = [word for word in INACTIVE_STATUS if word in text]
        if (
            on_date
            and isinstance(ends, str)
            and ends[:10] < on_date[:10]
            and "expired" not in found
        ):
            found.append(f"expired_{ends[:10]}")
        flags.append(",".join(found))
    out["licence_flag"] = pd.array(flags, dtype="object")
    return out


def split_at_licences(
    targets: gpd.GeoDataFrame, licences: gpd.GeoDataFrame, *, min_area_m2: float = 0.0
) -> tuple[gpd.GeoDataFrame, int]:
    """Cut targets that straddle licence boundaries into one piece per licence.

    A target lying in several licences (or partly outside all of them) becomes one piece
    per licence plus one piece outside every licence; each piece keeps the target's other
    columns and gets ``split_from`` (the row label of the original target, else null).
    Licences are taken in order of overlap, largest first, and each area is given out
    once, so overlapping licence polygons never duplicate a piece. Pieces smaller than
    ``min_area_m2`` are dropped; their number is returned.

    Returns
    -------
    (geopandas.GeoDataFrame, int)
        The pieces and the number of slivers dropped.

    Raises
    ------
    CRSError
        The layers are not in one CRS.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from geo.testing import make_licences
    >>> t = gpd.GeoDataFrame({"name": ["x"]}, geometry=[box(0, 0, 100, 10)], crs="EPSG:32635")
    >>> lic = make_licences({"A": (0, 0, 60, 10), "B": (60, 0, 90, 10)})
    >>> pieces, dropped = split_at_licences(t, lic, min_area_m2=50)
    >>> sorted(round(g.area) for g in pieces.geometry), dropped, pieces["split_from"].tolist()
    ([100, 300, 600], 0, [0, 0, 0])
    """
    from shapely.geometry import MultiPolygon, Polygon

    _check_crs(targets, licences, "split_at_licences")
    rows, dropped = [], 0
    lic_geoms = licences.geometry.values
    for label, row in targets.iterrows():
        geom = row.geometry
        candidates = licences.sindex.query(geom, predicate="intersects") if len(licences) else []
        overlaps = sorted(
            ((geom.intersection(lic_geoms[c]).area, c) for c in candidates), reverse=True
        )
        pieces = []
        remaining = geom
        for area, c in overlaps:
            if area <= 0:
                continue
            part = remaining.intersection(lic_geoms[c])
            remaining = remaining.difference(lic_geoms[c])
            pieces.append(part)
        if pieces and len(pieces) + (remaining.area > 0) > 1:
            pieces.append(remaining)
            for part in pieces:
                polys = [
                    g
                    for g in getattr(part, "geoms", [part])
                    if isinstance(g, Polygon) and g.area > 0
                ]
                if not polys:
                    continue
                part = MultiPolygon(polys)
                if part.area < min_area_m2:
                    dropped += 1
                    continue
                rows.append(
                    {**row.drop("geometry").to_dict(), "split_from": label, "geometry": part}
                )
        else:
            rows.append({**row.drop("geometry").to_dict(), "split_from": None, "geometry": geom})
    columns = [*[c for c in targets.columns if c != "geometry"], "split_from", "geometry"]
    out = gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=targets.crs)
    out["split_from"] = pd.array(list(out["split_from"]), dtype="object")
    return out.reset_index(drop=True), dropped


def summarise_licences(
    licences: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    reasons=None,
    fill_bit: int = 1,
    score=None,
    cutoff: float | None = None,
) -> gpd.GeoDataFrame:
    """Per-licence targets, scores, anomalous area and evidence coverage.

    Adds ``n_targets``, ``best_score``, ``mean_score``, ``best_target``,
    ``anomalous_area_ha`` (area of all alteration zones inside the licence, overlapping
    zones counted once) and ``<kind>_pct`` per zone kind (share of the licence area under
    zones of that kind). With the mask-reason raster ``reasons`` (0 = valid; bit
    ``fill_bit`` = no data), the evidence coverage: ``imaged_pct`` (share of the licence
    area the scene has data for) and ``valid_pct`` (share left after the cloud, water,
    vegetation... masks: where the imagery could see alteration at all; a licence with
    no targets and a low ``valid_pct`` is unexplored, not barren). With the prospectivity
    ``score`` and the target ``cutoff``, ``mean_prospectivity`` and ``prospective_pct``
    (share of the licence's scored area at or above the cutoff). Only a window around
    each licence is read from the rasters.
    """
    from geo.targets._windows import polygon_window, read_windows

    _check_crs(licences, zones, "summarise_licences")
    out = licences.copy()
    n, best, best_id, area = [], [], [], []
    zone_union = zones.geometry.union_all() if len(zones) else None
    kinds = sorted(set(zones["kind"])) if len(zones) else []
    kind_union = {k: zones.loc[zones["kind"] == k].geometry.union_all() for k in kinds}
    cover: dict[str, list[float]] = {k: [] for k in kinds}
    for lic_id, geom in zip(out["licence_id"], out.geometry, strict=True):
        mine = targets[targets["licence_id"] == lic_id] if len(targets) else targets
        n.append(len(mine))
        best.append(float(mine["score"].max()) if len(mine) else np.nan)
        best_id.append(mine.sort_values("rank")["target_id"].iloc[0] if len(mine) else None)
        area.append(
            round(geom.intersection(zone_union).area / 1e4, 4) if zone_union is not None else 0.0
        )
        for k in kinds:
            cover[k].append(round(100 * geom.intersection(kind_union[k]).area / geom.area, 2))
    out["n_targets"] = n
    out["best_score"] = best
    out["mean_score"] = [
        float(targets.loc[targets["licence_id"] == lic, "score"].mean()) if k else np.nan
        for lic, k in zip(out["licence_id"], n, strict=True)
    ]
    out["best_target"] = pd.array(best_id, dtype="object")
    out["anomalous_area_ha"] = area
    for k in kinds:
        out[f"{k}_pct"] = cover[k]
    if reasons is not None or score is not None:
        grid = reasons if reasons is not None else score
        transform, shape = grid.rio.transform(), grid.shape
        pixel = abs(transform.a * transform.e)
        imaged, valid, mean_p, above = [], [], [], []
        for geom in out.geometry:
            window, inside = polygon_window(geom, transform, shape)
            total_px = geom.area / pixel
            if reasons is not None:
                r = (
                    read_windows([reasons], window, "int64")[0][inside]
                    if inside.size
                    else np.zeros(0, "int64")
                )
                imaged.append(round(100 * float(((r & fill_bit) == 0).sum()) / total_px, 2))
                valid.append(round(100 * float((r == 0).sum()) / total_px, 2))
            if score is not None:
                s = read_windows([score], window)[0][inside] if inside.size else np.zeros(0)
                s = s[np.isfinite(s)]
                mean_p.append(round(float(s.mean()), 6) if s.size else np.nan)
                above.append(
                    round(100 * float((s >= cutoff).sum()) / s.size, 2)
                    if s.size and cutoff is not None
                    else np.nan
                )
        if reasons is not None:
            out["imaged_pct"] = imaged
            out["valid_pct"] = valid
        if score is not None:
            out["mean_prospectivity"] = mean_p
            out["prospective_pct"] = above
    return out


def apply_exclusions(
    targets: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *, names: list[str], action: str = "flag"
) -> gpd.GeoDataFrame:
    """Flag (``excluded:<name>`` in ``flags``) or remove targets touching exclusion zones.

    ``zones`` are exclusion polygons in the targets' CRS; ``names`` labels each polygon.
    Removed targets are dropped and the rest re-ranked (``rank``, ``target_id`` kept stable
    for the survivors' order).

    Raises
    ------
    CRSError
        The layers are not in one CRS.
    """
    _check_crs(targets, zones, "apply_exclusions")
    out = targets.copy()
    if out.empty or zones.empty:
        return out
    left, right = zones.sindex.query(out.geometry.values, predicate="intersects")
    hits: dict[int, list[str]] = {}
    for t, z in zip(left, right, strict=True):
        hits.setdefault(int(t), []).append(names[int(z)])
    if action == "remove":
        out = out.drop(index=out.index[sorted(hits)]).reset_index(drop=True)
        out["rank"] = np.arange(1, len(out) + 1)
        out["target_id"] = [f"T{r:03d}" for r in out["rank"]]
        return out
    flags = list(out["flags"]) if "flags" in out else [""] * len(out)
    for i, found in hits.items():
        extra = ",".join(f"excluded:{n}" for n in sorted(set(found)))
        flags[i] = f"{flags[i]},{extra}" if flags[i] else extra
    out["flags"] = pd.array(flags, dtype="object")
    return out
