"""Ranked, licence-aware targets: *the* ranking after the licence join, and zones to targets.

:func:`rank_with_licences` joins the licences, ranks and numbers the targets, gives each its
representative point, the licence context (rank within its licence, status and expiry flags)
and the straddle flag; ``geo run``, ``geo rank`` and ``geo batch`` all rank with it.
:func:`rank_targets` is the same chain from alteration zones, for use from Python.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd

from geo.targets.licences import assign_licences, licence_context
from geo.targets.rank import ScoreConfig, locate_targets, merge_zones, score_targets
from geo.targets.rank import rank_targets as number_targets

__all__ = ["STRADDLE_FLAG", "rank_targets", "rank_with_licences"]

#: The flag of a target that lies partly outside its licence (``targets.straddle: flag``).
STRADDLE_FLAG = "straddles_licence_boundary"
_LICENCE_COLUMNS = ("licence_id", "holder", "licence_status", "licence_expiry")


def rank_with_licences(
    targets: gpd.GeoDataFrame,
    licences: gpd.GeoDataFrame | None,
    *,
    straddle: str = "flag",
    on_date: str | None = None,
) -> gpd.GeoDataFrame:
    """Join the licences, rank and number, locate, add the licence context and straddle flag.

    Parameters
    ----------
    targets : geopandas.GeoDataFrame
        Scored targets (``score``, ``area_ha``...) without ``rank``/``target_id``, in a
        projected CRS; a ``flags`` column, when present, keeps its other flags.
    licences : geopandas.GeoDataFrame or None
        Licence polygons in the same CRS; None gives every target null licence columns.
    straddle : {"flag", "split"}
        ``flag``: add :data:`STRADDLE_FLAG` to ``flags`` where a target straddles its
        licence's boundary (and only there: a stale one is removed).
    on_date : str, optional
        ISO date the licences must be valid on (default: today).

    Returns
    -------
    geopandas.GeoDataFrame
        Ranked targets (``target_id``, ``rank``, ``easting``..., ``rank_in_licence``,
        ``licence_flag``), best first.
    """
    if licences is not None:
        joined = assign_licences(targets, licences)
    else:
        joined = targets.copy()
        for column in _LICENCE_COLUMNS:
            joined[column] = pd.array([None] * len(joined), dtype="object")
        joined["licence_overlap_pct"] = 0.0
        joined["straddles_boundary"] = False
    ranked = locate_targets(number_targets(joined))
    ranked = licence_context(ranked, on_date=on_date or dt.date.today().isoformat())
    if straddle == "flag" and len(ranked):
        flags = ranked["flags"] if "flags" in ranked else [""] * len(ranked)
        ranked["flags"] = [
            ",".join(
                [p for p in str(f or "").split(",") if p and p != STRADDLE_FLAG]
                + ([STRADDLE_FLAG] if s else [])
            )
            for f, s in zip(flags, ranked["straddles_boundary"], strict=True)
        ]
    return ranked


def rank_targets(
    zones: gpd.GeoDataFrame,
    licences: gpd.GeoDataFrame | None = None,
    *,
    config: ScoreConfig | None = None,
    merge_distance_m: float = 150.0,
    straddle: str = "flag",
    on_date: str | None = None,
) -> gpd.GeoDataFrame:
    """Turn alteration zones into ranked, licence-aware targets.

    Zones within ``merge_distance_m`` of each other become one target, scored from their
    iron-oxide and clay evidence (:class:`~geo.targets.rank.ScoreConfig`), then ranked with
    the licences (:func:`rank_with_licences`). The chain of ``geo run``'s targets stage for
    zones, without the mask flags and exclusions.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        Zones of :func:`geo.extract_zones` (``zone_id``, ``kind``, ``area_ha``, ``mean_z``),
        one frame or several concatenated, in a projected CRS.
    licences : geopandas.GeoDataFrame, optional
        Licences from :func:`geo.read_licences` in the zones' CRS.
    config : ScoreConfig, optional
        Which zone kinds are iron and clay evidence, the weights; default iron_oxide and
        clay_hydroxyl as in the shipped pipelines.
    merge_distance_m : float
        Zones closer than this join one target.
    straddle, on_date
        As :func:`rank_with_licences`.

    Returns
    -------
    geopandas.GeoDataFrame
        Targets best first: ``target_id``, ``rank``, ``score`` and its components, licence
        columns, the representative point (``easting``, ``northing``, ``lon``, ``lat``).
    """
    zones = zones.reset_index(drop=True)
    if "zone_id" not in zones.columns:
        zones = zones.assign(zone_id=[f"Z{i + 1:04d}" for i in range(len(zones))])
    if "mean_z" not in zones.columns:
        zones = zones.assign(mean_z=float("nan"))
    merged = merge_zones(zones, distance_m=merge_distance_m)
    scored = score_targets(merged, zones, config or ScoreConfig())
    return rank_with_licences(scored, licences, straddle=straddle, on_date=on_date)
