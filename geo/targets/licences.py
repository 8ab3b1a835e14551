"""Join targets with mining licences and summarise per licence."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

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
        target touches no licence), ``licence_expiry`` (that licence's, when the layer has
        an ``expiry`` column), ``licence_overlap_pct`` (share of the target's area inside
        that licence, 0–100) and ``straddles_boundary`` (the target lies partly outside
        it). When licences tie on the largest overlap, the one first in ``licences`` wins.
        The overlaps of all targets are computed in one pass over the spatial-index pairs,
        so licences away from every target cost nothing.

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
    n = len(out)
    best = np.full(n, -1, dtype="int64")  # row of the licence holding most of each target
    pct = np.zeros(n)
    if len(licences) and n:
        t_geoms = np.asarray(out.geometry.values, dtype=object)
        left, right = licences.sindex.query(t_geoms, predicate="intersects")
        overlap = shapely.area(
            shapely.intersection(t_geoms[left], np.asarray(licences.geometry.values)[right])
        )
        # per target the largest overlap; ties go to the licence first in the layer
        order = np.lexsort((right, -overlap, left))
        left, right, overlap = left[order], right[order], overlap[order]
        first = np.r_[True, left[1:] != left[:-1]] & (overlap > 0)
        best[left[first]] = right[first]
        pct[left[first]] = 100.0 * overlap[first] / shapely.area(t_geoms[left[first]])
    hit = best >= 0

    def column(name):
        values = np.full(n, None, dtype=object)
        if name in licences:
            values[hit] = licences[name].to_numpy(dtype=object)[best[hit]]
        return values

    out["licence_id"] = pd.array(column("licence_id"), dtype="object")
    out["holder"] = pd.array(column("holder"), dtype="object")
    out["licence_status"] = pd.array(column("status"), dtype="object")
    out["licence_expiry"] = pd.array(
        [None if pd.isna(v) else str(v)[:10] for v in column("expiry")], dtype="object"
    )
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
    lic_geoms = np.asarray(licences.geometry.values, dtype=object)
    t_geoms = np.asarray(targets.geometry.values, dtype=object)
    left, right = (
        licences.sindex.query(t_geoms, predicate="intersects")
        if len(licences) and len(targets)
        else (np.zeros(0, "int64"), np.zeros(0, "int64"))
    )
    order = np.lexsort((right, left))
    left, right = left[order], right[order]
    areas = shapely.area(shapely.intersection(t_geoms[left], lic_geoms[right]))
    starts = np.searchsorted(left, np.arange(len(targets) + 1))
    for i, (label, row) in enumerate(targets.iterrows()):
        geom = row.geometry
        span = slice(starts[i], starts[i + 1])
        overlaps = sorted(
            zip(areas[span].tolist(), right[span].tolist(), strict=True), reverse=True
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
    disjoint_kinds: bool = False,
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
    (share of the licence's scored area at or above the cutoff).

    A pixel belongs to a licence when its centre lies in it (overlapping licences each
    count it). Every licence is listed; one that does not meet the scene gets
    ``imaged_pct`` and ``valid_pct`` 0 and no ``mean_prospectivity``, at no cost: the
    rasters are read once, only in blocks that a licence meets, and the zone areas come
    from one spatial-index join, so the work grows with the licences on the scene, not
    with the layer. A licence with no area (only possible when the layer was not read with
    :func:`geo.io.vector.read_licences`, which drops those) gets 0 for every share.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from geo.testing import make_licences, make_raster
    >>> reasons = make_raster(np.array([[0, 0, 2, 1]] * 2, "float32"))  # 2 x 4 px of 30 m
    >>> left, top = reasons.rio.transform().c, reasons.rio.transform().f
    >>> lic = make_licences({"A": (left, top - 60, left + 90, top),
    ...                      "FAR": (0, 0, 10, 10)}, crs=reasons.rio.crs)
    >>> zones = gpd.GeoDataFrame({"kind": ["clay"]}, geometry=[box(left, top - 60, left + 30, top)],
    ...                          crs=reasons.rio.crs)
    >>> targets = gpd.GeoDataFrame({"licence_id": ["A"], "score": [0.5], "rank": [1],
    ...     "target_id": ["T001"]}, geometry=[box(left, top - 30, left + 30, top)], crs=lic.crs)
    >>> out = summarise_licences(lic, targets, zones, reasons=reasons.astype("uint16"))
    >>> out[["licence_id", "n_targets", "clay_pct", "imaged_pct", "valid_pct"]].values.tolist()
    [['A', 1, 33.33, 100.0, 66.67], ['FAR', 0, 0.0, 0.0, 0.0]]
    """
    from geo.targets._windows import zonal_sums

    _check_crs(licences, zones, "summarise_licences")
    out = licences.copy()
    geoms = np.asarray(out.geometry.values, dtype=object)
    lic_area = np.nan_to_num(shapely.area(geoms))  # 0 for null geometries

    def share(part, whole=lic_area):  # percent of each licence; 0 for one with no area
        pct = np.divide(100.0 * part, whole, out=np.zeros(len(geoms)), where=whole > 0)
        return _round(pct, 2)

    # targets: one group-by, looked up by licence id
    ids = out["licence_id"].astype(object).to_numpy(dtype=object, na_value=None).tolist()
    n_by, best_by, mean_by, first_by = {}, {}, {}, {}
    if len(targets):
        mine = targets[targets["licence_id"].notna()]
        groups = mine.groupby("licence_id", sort=False)
        n_by = groups.size().to_dict()
        best_by = groups["score"].max().to_dict()
        mean_by = groups["score"].mean().to_dict()
        first_by = (
            mine.sort_values("rank", kind="stable")
            .drop_duplicates("licence_id")
            .set_index("licence_id")["target_id"]
            .to_dict()
        )
    out["n_targets"] = np.array([n_by.get(i, 0) for i in ids], dtype="int64")
    out["best_score"] = np.array([best_by.get(i, np.nan) for i in ids], dtype="float64")
    out["mean_score"] = np.array([mean_by.get(i, np.nan) for i in ids], dtype="float64")
    out["best_target"] = pd.array([first_by.get(i) for i in ids], dtype="object")

    # zones: area inside each licence, from the disjoint parts of their union
    kinds = sorted(set(zones["kind"])) if len(zones) else []
    of_kind = {k: zones.loc[zones["kind"] == k].geometry.values for k in kinds}
    inside = {k: _area_inside(geoms, of_kind[k], disjoint=disjoint_kinds) for k in kinds}
    if not len(zones):
        anomalous = np.zeros(len(geoms))
    elif len(kinds) == 1:
        anomalous = inside[kinds[0]]
    elif disjoint_kinds and len(kinds) == 2:
        # |A ∪ B| = |A| + |B| - |A ∩ B| inside each licence; the pieces of A ∩ B are
        # disjoint (each kind's zones are), so no union of every zone is ever built
        a, b = of_kind[kinds[0]], of_kind[kinds[1]]
        left, right = shapely.STRtree(b).query(a, predicate="intersects")
        both = shapely.intersection(a[left], b[right])
        anomalous = inside[kinds[0]] + inside[kinds[1]]
        anomalous -= _area_inside(geoms, both, disjoint=True)
    else:
        anomalous = _area_inside(geoms, zones.geometry.values)
    out["anomalous_area_ha"] = _round(anomalous / 1e4, 4)
    for k in kinds:
        out[f"{k}_pct"] = share(inside[k])

    if reasons is not None or score is not None:
        grid = reasons if reasons is not None else score
        transform, shape = grid.rio.transform(), grid.shape
        pixel = abs(transform.a * transform.e)
        layers = [layer for layer in (reasons, score) if layer is not None]

        def per_pixel(arrays):
            values = []
            if reasons is not None:
                r = arrays[0].astype("int64")
                values += [(r & fill_bit) == 0, r == 0]
            if score is not None:
                s = arrays[-1]
                finite = np.isfinite(s)
                values += [finite, np.where(finite, s, 0.0)]
                if cutoff is not None:
                    values.append(finite & (s >= cutoff))
            return values

        n_values = 2 * (reasons is not None) + (
            (2 + (cutoff is not None)) if score is not None else 0
        )
        sums = zonal_sums(geoms, layers, per_pixel, n_values, transform=transform, shape=shape)
        if reasons is not None:
            # pixel centres counted against the polygon's area: a licence edge cutting pixels
            # can count a pixel more than its area holds (100.01 %); a share stops at 100
            out["imaged_pct"] = np.minimum(share(sums[:, 0], lic_area / pixel), 100.0)
            out["valid_pct"] = np.minimum(share(sums[:, 1], lic_area / pixel), 100.0)
        if score is not None:
            j = 2 if reasons is not None else 0
            n_scored, total = sums[:, j], sums[:, j + 1]
            scored = n_scored > 0
            mean_p = np.full(len(geoms), np.nan)
            mean_p[scored] = _round(total[scored] / n_scored[scored], 6)
            out["mean_prospectivity"] = mean_p
            above = np.full(len(geoms), np.nan)
            if cutoff is not None:
                above[scored] = _round(100 * sums[scored, j + 2] / n_scored[scored], 2)
            out["prospective_pct"] = above
    return out


def _round(values: np.ndarray, digits: int) -> np.ndarray:
    """Python's :func:`round` (correctly rounded decimals) of each value, as floats.

    Unlike :func:`numpy.round` (which scales, rounds and scales back), ``round(2.675, 2)``
    is 2.67, as the per-licence code always gave. Zeros (most licences of a large layer)
    and NaN are kept as they are without a Python call each.
    """
    out = np.array(values, dtype="float64")
    todo = np.flatnonzero(np.isfinite(out) & (out != 0))
    out[todo] = [round(v, digits) for v in out[todo].tolist()]
    return out


def _area_inside(geoms: np.ndarray, zones, *, disjoint: bool = False) -> np.ndarray:
    """Area of the union of ``zones`` inside each of ``geoms`` (overlaps counted once).

    The union's parts are disjoint, so each geometry's area is the sum of its
    intersections with the parts it meets, found with a spatial index: geometries away
    from every zone cost nothing. ``disjoint``: the zones do not overlap (the components
    of one kind of one scene), so they are the parts and no union is built (the union of
    a full scene's zones took seconds).
    """
    zones = np.asarray(zones, dtype=object)
    parts = shapely.get_parts(zones if disjoint else shapely.union_all(zones))
    parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    area = np.zeros(len(geoms))
    if not len(parts) or not len(geoms):
        return area
    left, right = shapely.STRtree(parts).query(geoms, predicate="intersects")  # None: no hit
    if len(left):
        pieces = shapely.area(shapely.intersection(geoms[left], parts[right]))
        area += np.bincount(left, weights=pieces, minlength=len(geoms))
    return area


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
