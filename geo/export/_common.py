"""What every field format needs: coordinates a GPS understands, and files written atomically."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, SupportsInt, cast

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from geo.errors import InvalidParameterError

__all__ = [
    "DEFAULT_FIELD_TOP",
    "LicenceRelevance",
    "atomic_path",
    "dms",
    "draw_lines",
    "field_coordinates",
    "is_missing",
    "licence_relevance",
    "open_decimated",
    "require_point_columns",
    "select_field_targets",
    "utm_zone_of",
]

#: Decimal places of degrees in field files: 1e-8° ≈ 1 mm, so a round trip stays within 1 cm.
DEGREE_DECIMALS = 8
#: Targets that go to the field by default (the pipeline's ``field.top``).
DEFAULT_FIELD_TOP = 50


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it into place only if the block succeeds.

    A failed or killed export never leaves a half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def dms(value: float, *, axis: str) -> str:
    """Format degrees as degrees, minutes and seconds with a hemisphere letter (0.01″ ≈ 30 cm).

    Examples
    --------
    >>> print(dms(-21.471644, axis="lat"), dms(27.529441, axis="lon"))
    21°28'17.92"S 27°31'45.99"E
    """
    if not math.isfinite(value):
        return ""
    letter = ("N" if value >= 0 else "S") if axis == "lat" else ("E" if value >= 0 else "W")
    total = round(abs(value) * 360000)  # hundredths of a second, rounded once
    degrees, rest = divmod(total, 360000)
    minutes, hundredths = divmod(rest, 6000)
    return f"{degrees}°{minutes:02d}'{hundredths / 100:05.2f}\"{letter}"


def utm_zone_of(lon: float, lat: float) -> tuple[int, str, int]:
    """Return the standard UTM zone of a point: ``(zone number, hemisphere 'N'/'S', EPSG code)``.

    Examples
    --------
    >>> utm_zone_of(27.53, -21.47)
    (35, 'S', 32735)
    """
    from geo._utm import utm_epsg

    code = utm_epsg(lon, lat)
    return code % 100, "S" if code >= 32700 else "N", code


def field_coordinates(targets: pd.DataFrame) -> pd.DataFrame:
    """Coordinates of each target's representative point as a field team needs them.

    Computed from ``easting``, ``northing`` and ``epsg`` (the target table's point in the
    scene CRS), so every format agrees with the CSV to the centimetre:

    - ``lon``, ``lat``: WGS 84 degrees, 8 decimals;
    - ``lat_dms``, ``lon_dms``: degrees, minutes, seconds with hemisphere;
    - ``utm_zone`` (e.g. ``35S``), ``utm_easting``, ``utm_northing``: the standard UTM
      coordinates a handheld GPS shows (southern points get the 10 000 km false
      northing, whatever the scene CRS; Landsat delivers southern scenes in north zones
      with negative northings, which no GPS displays).

    Returns a frame with the same index.
    """
    out = pd.DataFrame(index=targets.index)
    if targets.empty:
        for c in ("lon", "lat", "lat_dms", "lon_dms", "utm_zone", "utm_easting", "utm_northing"):
            out[c] = pd.Series(dtype="object" if c.endswith(("dms", "zone")) else "float64")
        return out
    lon = np.empty(len(targets))
    lat = np.empty(len(targets))
    for epsg, idx in targets.groupby("epsg").groups.items():
        rows = targets.loc[idx]
        code = int(cast(SupportsInt, epsg))  # pandas types group keys as Hashable
        to_wgs84 = Transformer.from_crs(CRS.from_epsg(code), "EPSG:4326", always_xy=True)
        x, y = to_wgs84.transform(rows["easting"].to_numpy(float), rows["northing"].to_numpy(float))
        pos = targets.index.get_indexer(idx)
        lon[pos], lat[pos] = x, y
    out["lon"] = np.round(lon, DEGREE_DECIMALS)
    out["lat"] = np.round(lat, DEGREE_DECIMALS)
    out["lat_dms"] = [dms(v, axis="lat") for v in lat]
    out["lon_dms"] = [dms(v, axis="lon") for v in lon]
    zones, eastings, northings = [], [], []
    to_utm: dict[int, Transformer] = {}  # one transformer per zone: building one costs ms
    for x, y in zip(lon, lat, strict=True):
        number, hemisphere, code = utm_zone_of(x, y)
        if code not in to_utm:
            to_utm[code] = Transformer.from_crs("EPSG:4326", code, always_xy=True)
        e, n = to_utm[code].transform(x, y)
        zones.append(f"{number}{hemisphere}")
        eastings.append(round(e, 2))
        northings.append(round(n, 2))
    out["utm_zone"] = zones
    out["utm_easting"] = eastings
    out["utm_northing"] = northings
    return out


def _count(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(
            f"The '{name}' parameter must be an integer >= {minimum}; got {value!r}."
        )
    return int(value)


def select_field_targets(
    targets: pd.DataFrame, top: int | None, *, per_licence: int | None = None
) -> pd.DataFrame:
    """Return the field set: the best ``top`` targets by rank, at most ``per_licence`` a licence.

    The targets are taken in rank order (ties keep their order; unranked last). With
    ``per_licence``, a target is skipped once ``per_licence`` better targets of its licence
    (``licence_id``) are taken; the targets outside every licence count as one licence.
    Without a ``licence_id`` column there is no licence to cap. Vectorised: the cost is
    one sort of the table, whatever its length.

    Parameters
    ----------
    targets : DataFrame
        The target table (``rank``, ``licence_id`` when present).
    top : int or None
        How many targets go to the field (at least 1); ``None`` takes every target.
    per_licence : int or None
        At most this many targets of one licence (at least 1); ``None`` or 0: no cap.

    Returns
    -------
    DataFrame
        The chosen rows (the original index), best first.

    Raises
    ------
    InvalidParameterError
        ``top`` below 1 or ``per_licence`` below 0, or not integers.

    Examples
    --------
    >>> t = pd.DataFrame({"rank": [3, 1, 2, 4], "licence_id": ["A", "A", "A", None]})
    >>> select_field_targets(t, 2)["rank"].tolist()
    [1, 2]
    >>> select_field_targets(t, 3, per_licence=1)["rank"].tolist()
    [1, 4]
    """
    if top is not None:
        top = _count(top, "top", minimum=1)
    cap = 0 if per_licence is None else _count(per_licence, "per_licence", minimum=0)
    if "rank" in targets.columns and len(targets):
        targets = targets.sort_values("rank", kind="stable", na_position="last")
    if cap and "licence_id" in targets.columns and len(targets):
        ids = targets["licence_id"]
        key = ids.astype(str).where(ids.notna(), "\0outside")  # NaN: one group of its own
        targets = targets[(key.groupby(key, sort=False).cumcount() < cap).to_numpy()]
    return targets if top is None else targets.iloc[:top]


#: Columns every field format needs: the representative point in the scene CRS.
POINT_COLUMNS = ("easting", "northing", "epsg")


def is_missing(value) -> bool:
    """Return True for None, NaN, NA and NaT (False for anything pandas cannot test)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def require_point_columns(targets: pd.DataFrame) -> None:
    """Raise unless ``targets`` has the representative-point columns of a target table."""
    absent = [c for c in POINT_COLUMNS if c not in targets.columns]
    if absent:
        raise InvalidParameterError(
            f"The 'targets' table needs columns {', '.join(POINT_COLUMNS)} (the representative "
            f"point in the scene CRS); {', '.join(absent)} missing. Found: "
            f"{', '.join(map(str, targets.columns))}."
        )


@contextmanager
def open_decimated(path: str | Path, *, extent_px: float, max_px: int) -> Iterator:
    """Open a raster at its coarsest overview that still gives ``max_px`` over ``extent_px``.

    ``extent_px`` is the size (full-resolution pixels) of what will be read: the whole
    raster's long side, or a window's. Reading through the overview directly is fast for
    every data type; GDAL's own choice of overview for a resampled read of a float32 COG
    with NaN nodata decodes the full resolution (seconds per layer on a Landsat scene).
    The dataset's ``transform`` is the overview's, so windows come from ``from_bounds``.
    """
    import rasterio

    with rasterio.open(path) as src:
        factors = src.overviews(1)
    level = None
    for i, factor in enumerate(factors):
        if extent_px / factor >= max_px:
            level = i
    with rasterio.open(path, **({} if level is None else {"overview_level": level})) as src:
        yield src


@dataclass(frozen=True)
class LicenceRelevance:
    """Which licences of a layer matter to a run's field files (boolean arrays, layer order).

    Attributes
    ----------
    holds
        The licence holds or touches a target: its ``licence_id`` is a target's, its
        ``n_targets`` is above 0, or its polygon meets a target polygon.
    meets
        The licence meets the scene's data footprint (see :func:`licence_relevance`).
    """

    holds: np.ndarray
    meets: np.ndarray

    @property
    def in_play(self) -> np.ndarray:
        """Licences that hold a target or meet the scene: the ones drawn one by one."""
        return self.holds | self.meets

    def counts(self) -> dict[str, int]:
        """``{"licences", "hold_targets", "meet_scene", "left_out"}`` for summaries."""
        return {
            "licences": int(self.holds.size),
            "hold_targets": int(self.holds.sum()),
            "meet_scene": int(self.meets.sum()),
            "left_out": int((~self.in_play).sum()),
        }


def licence_relevance(licences, targets=None, *, footprint=None) -> LicenceRelevance:
    """Tell which licences hold a target and which meet the scene, without a per-licence loop.

    A licence layer can hold tens of thousands of licences (a national cadastre), of which
    a scene meets a part and the targets a handful. The field formats do per-licence work
    (placemarks, labels, SVG paths) only for the licences that matter:

    - **holds** a target: its ``licence_id`` is the ``licence_id`` of a target, its
      ``n_targets`` (the run's licence summary) is above 0, or its polygon meets a target
      polygon (one spatial-index query for all targets);
    - **meets** the scene: with ``footprint`` (a shapely geometry in the licences' CRS, or
      a GeoSeries/GeoDataFrame with a CRS), the licence polygon meets it (one spatial-index
      query); otherwise, in a run's licence summary, ``imaged_pct`` (the share of the
      licence the scene has data for) is above 0 or unknown; otherwise every licence
      counts as meeting the scene (nothing is left out when nothing tells).

    Parameters
    ----------
    licences : geopandas.GeoDataFrame
        The licence layer.
    targets : geopandas.GeoDataFrame, optional
        The targets (any CRS; ``licence_id`` when present).
    footprint : shapely geometry, GeoSeries or GeoDataFrame, optional
        The scene's data footprint.

    Returns
    -------
    LicenceRelevance
    """
    import geopandas as gpd
    import pandas as pd

    n = len(licences)
    holds = np.zeros(n, dtype=bool)
    if n == 0:
        return LicenceRelevance(holds, np.zeros(0, dtype=bool))
    geometry = licences.geometry
    if targets is not None and len(targets):
        if "licence_id" in licences.columns and "licence_id" in targets.columns:
            ids = set(targets["licence_id"].dropna().astype(str))
            holds |= (
                licences["licence_id"].astype(str).isin(ids).to_numpy()
                & licences["licence_id"].notna().to_numpy()
            )
        if isinstance(targets, gpd.GeoDataFrame) and targets.geometry.notna().any():
            shapes = targets.geometry
            if licences.crs is not None and shapes.crs is not None and shapes.crs != licences.crs:
                shapes = shapes.to_crs(licences.crs)
            if licences.crs is None or shapes.crs is not None:
                hit = geometry.sindex.query(shapes.values, predicate="intersects")[1]
                holds[np.unique(hit)] = True
    if "n_targets" in licences.columns:
        holds |= pd.to_numeric(licences["n_targets"], errors="coerce").fillna(0).to_numpy() > 0
    if footprint is not None:
        if isinstance(footprint, gpd.GeoDataFrame | gpd.GeoSeries):
            shapes = footprint.geometry if isinstance(footprint, gpd.GeoDataFrame) else footprint
            if licences.crs is not None and shapes.crs is not None:
                shapes = shapes.to_crs(licences.crs)
            shapes = shapes.values
        else:
            shapes = [footprint]
        meets = np.zeros(n, dtype=bool)
        meets[np.unique(geometry.sindex.query(shapes, predicate="intersects")[1])] = True
    elif "imaged_pct" in licences.columns:
        imaged = pd.to_numeric(licences["imaged_pct"], errors="coerce").to_numpy(dtype=float)
        meets = ~(imaged <= 0)  # NaN (unknown) counts as meeting
    else:
        meets = np.ones(n, dtype=bool)
    empty = (geometry.isna() | geometry.is_empty).to_numpy()
    return LicenceRelevance(holds, meets & ~empty)


def draw_lines(ax, geoms, **kwargs):
    """Draw lines and polygon outlines on a matplotlib axes as one ``LineCollection``.

    ``GeoSeries.plot`` redraws the whole figure after each call on a non-interactive
    canvas (its ``draw_idle`` draws at once), so a map sheet paid for every label and
    picture several times; and thousands of licence outlines cost one artist here, not
    one per licence. Polygons are drawn by their rings, lines as they are; points and
    empty geometries are skipped. ``kwargs`` go to ``LineCollection`` (``colors``,
    ``linewidths``, ``linestyles``, ``zorder``...). Returns the collection, or ``None``
    when there is nothing to draw.
    """
    import shapely
    from matplotlib.collections import LineCollection

    geoms = np.asarray(geoms, dtype=object).ravel()
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(geoms):
        return None
    areal = np.isin(shapely.get_type_id(geoms), (3, 6))  # (Multi)Polygon: their rings
    lines = geoms.copy()
    lines[areal] = shapely.boundary(geoms[areal])
    parts = shapely.get_parts(lines)
    parts = parts[np.isin(shapely.get_type_id(parts), (1, 2))]  # LineString, LinearRing
    if not len(parts):
        return None
    xy, index = shapely.get_coordinates(parts, return_index=True)
    cuts = np.flatnonzero(np.diff(index)) + 1
    collection = LineCollection(np.split(xy, cuts), **kwargs)
    ax.add_collection(collection, autolim=False)
    return collection
