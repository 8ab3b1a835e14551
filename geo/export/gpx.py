"""Handheld GPS files: targets as GPX 1.1 waypoints and a route through the best of them.

A run writes its field set here (the best ``field.top`` targets, see
:func:`~geo.export._common.select_field_targets`): handheld units hold 1,000 to 2,000
waypoints, and a team walks to a few dozen. Waypoints carry short ASCII names a GPS
screen can show (``T01 PL012/21``), the standard UTM coordinates in the comment (what the
unit displays, whatever the scene CRS), and the licence and evidence in the description.
The route visits the best ``route_top`` targets starting at rank 1 in a short order
(nearest neighbour, then 2-opt), computed in metres.

GPX text is plain text in XML: ElementTree escapes markup, and characters XML 1.0
cannot hold (NUL and other control characters from a licence file) are replaced with
U+FFFD (:func:`geo._text.xml_chars`) so the file always parses.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from geo._text import xml_chars
from geo.errors import InvalidParameterError
from geo.export._common import (
    DEGREE_DECIMALS,
    atomic_path,
    field_coordinates,
    is_missing,
    require_point_columns,
    utm_zone_of,
)

__all__ = ["GPX_NS", "path_length", "visit_order", "waypoint_name", "write_gpx"]

GPX_NS = "http://www.topografix.com/GPX/1/1"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_SCHEMA_LOCATION = f"{GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd"

#: Garmin symbol names by rank class (1–3, 4–10, 11+).
SYMBOLS = {"top": "Flag, Red", "high": "Flag, Blue", "other": "Flag, Green"}


# --------------------------------------------------------------------------- route


def path_length(xy: np.ndarray, order: list[int] | np.ndarray) -> float:
    """Length of the open path through ``xy`` in ``order`` (units of ``xy``).

    Examples
    --------
    >>> path_length(np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]]), [0, 2, 1])
    7.0
    """
    pts = np.asarray(xy, dtype="float64")[np.asarray(order, dtype=int)]
    if len(pts) < 2:
        return 0.0
    return float(np.hypot(*np.diff(pts, axis=0).T).sum())


def visit_order(xy: np.ndarray, *, start: int = 0) -> list[int]:
    """Order in which to visit points in a plane, starting at ``start``: short, deterministic.

    Nearest neighbour from ``start`` (ties go to the lower index), then 2-opt improvement
    of the open path with the first point fixed, until no segment reversal shortens it.
    Not optimal in general, but never longer than the nearest-neighbour path.

    Parameters
    ----------
    xy : array of shape (n, 2)
        Coordinates in a projected CRS (metres), e.g. easting, northing.
    start : int
        Index of the first point (the best target).

    Returns
    -------
    list of int
        A permutation of ``range(n)`` beginning with ``start``.

    Raises
    ------
    InvalidParameterError
        ``xy`` is not ``(n, 2)`` and finite, or ``start`` is not an index of it.

    Examples
    --------
    Points on a line, given shuffled, are visited along the line:

    >>> visit_order(np.array([[0.0, 0.0], [3.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    [0, 2, 3, 1]
    >>> visit_order(np.array([[0.0, 0.0], [3.0, 0.0], [1.0, 0.0]]), start=1)
    [1, 2, 0]
    """
    pts = np.asarray(xy, dtype="float64")
    if pts.ndim != 2 or (pts.size and pts.shape[1] != 2) or not np.all(np.isfinite(pts)):
        raise InvalidParameterError(
            "The 'xy' parameter of visit_order must be a finite (n, 2) array of planar "
            f"coordinates; got shape {pts.shape}."
        )
    n = len(pts)
    if n == 0:
        return []
    if isinstance(start, bool) or not isinstance(start, int | np.integer) or not 0 <= start < n:
        raise InvalidParameterError(
            f"The 'start' parameter of visit_order must be an index in [0, {n - 1}]; got {start!r}."
        )
    dist = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))

    # nearest neighbour
    order = [int(start)]
    visited = np.zeros(n, dtype=bool)
    visited[start] = True
    for _ in range(n - 1):
        d = np.where(visited, np.inf, dist[order[-1]])
        nxt = int(np.argmin(d))
        order.append(nxt)
        visited[nxt] = True

    # 2-opt on the open path: reverse order[i..j]; the first point stays first
    path = np.array(order)
    eps = 1e-9 * max(1.0, float(dist.max()))
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                a, b, c = path[i - 1], path[i], path[j]
                before = dist[a, b]
                after = dist[a, c]
                if j + 1 < n:
                    d_ = path[j + 1]
                    before += dist[c, d_]
                    after += dist[b, d_]
                if after < before - eps:
                    path[i : j + 1] = path[i : j + 1][::-1].copy()
                    improved = True
    return [int(p) for p in path]


# --------------------------------------------------------------------------- names


def _ascii(text: str) -> str:
    """Transliterate to ASCII (accents dropped, other non-ASCII characters removed)."""
    text = unicodedata.normalize("NFKD", str(text))
    return text.encode("ascii", "ignore").decode("ascii")


def _compact_licence(licence_id: str) -> str:
    """``"PL 012/2021"`` → ``"PL012/21"``: no spaces, 4-digit years shortened to 2."""
    text = _ascii(licence_id)
    text = re.sub(r"[^A-Za-z0-9/\-._]", "", text)  # characters GPS units accept
    # a year after a separator (or at the end): 2021 -> 21
    return re.sub(r"(?<=[/\-_.])(?:19|20)(\d\d)(?=$|[/\-_.])", r"\1", text)


def waypoint_name(rank: int, licence_id: str | None, *, max_len: int = 14) -> str:
    """Short waypoint name for a GPS display: rank first, then the compacted licence id.

    Unique when ranks are unique (the rank comes first and is never cut). ASCII only:
    accents are transliterated and other characters dropped; 4-digit years in the licence
    id are shortened to 2 digits and spaces removed; the licence part is cut to fit
    ``max_len``.

    Parameters
    ----------
    rank : int
        The target's rank (1 = best); shown as ``T01``, ``T02``... (3 digits from 100).
    licence_id : str or None
        The licence holding the target; ``None`` (or NaN, or empty) outside licences.
    max_len : int
        Longest name, in characters (many Garmin units show 14 or more).

    Raises
    ------
    InvalidParameterError
        ``rank`` is not a positive integer, or ``T<rank>`` alone is longer than ``max_len``.

    Examples
    --------
    >>> waypoint_name(1, "PL 012/2021")
    'T01 PL012/21'
    >>> waypoint_name(3, None)
    'T03 no lic'
    >>> waypoint_name(12, "Licença de Prospecção 0042/2019")
    'T12 LicencadeP'
    """
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or rank < 1:
        raise InvalidParameterError(
            f"The 'rank' parameter of waypoint_name must be a positive integer; got {rank!r}."
        )
    prefix = f"T{int(rank):02d}"
    if isinstance(max_len, bool) or not isinstance(max_len, int) or len(prefix) > max_len:
        raise InvalidParameterError(
            f"The 'max_len' parameter of waypoint_name must be an integer of at least "
            f"{len(prefix)} (the length of {prefix!r}); got {max_len!r}."
        )
    if is_missing(licence_id) or not str(licence_id).strip():
        licence = "no lic"
    else:
        licence = _compact_licence(str(licence_id)) or "lic"
    room = max_len - len(prefix) - 1
    if room < 1 or not licence:
        return prefix
    return f"{prefix} {licence[:room]}".rstrip()


# --------------------------------------------------------------------------- GPX


def _text(value: Any, fmt: str = "") -> str:
    if is_missing(value):
        return ""
    if fmt:
        return format(value, fmt)
    return str(value).strip()


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    """Append an element; text and attribute values are made XML-safe (ElementTree escapes)."""
    el = ET.SubElement(parent, tag, {k: xml_chars(v) for k, v in attrib.items()})
    if text is not None:
        el.text = xml_chars(text)
    return el


def _rank_class(rank: float) -> str:
    return "top" if rank <= 3 else "high" if rank <= 10 else "other"


def _planar(targets: pd.DataFrame, coords: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Target points in metres: the scene CRS when it is one projected CRS, else UTM."""
    epsgs = pd.unique(targets["epsg"])
    if len(epsgs) == 1 and CRS.from_epsg(int(epsgs[0])).is_projected:
        xy = targets[["easting", "northing"]].to_numpy(float)
        return xy, f"EPSG:{int(epsgs[0])}"
    lon, lat = coords["lon"].to_numpy(float), coords["lat"].to_numpy(float)
    _, _, code = utm_zone_of(float(lon[0]), float(lat[0]))
    x, y = Transformer.from_crs("EPSG:4326", code, always_xy=True).transform(lon, lat)
    return np.column_stack([x, y]), f"EPSG:{code}"


def _check(targets: Any, route_top: Any) -> None:
    if not isinstance(targets, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'targets' parameter must be a (Geo)DataFrame of targets; got {type(targets).__name__}."
        )
    require_point_columns(targets)
    if isinstance(route_top, bool) or not isinstance(route_top, int) or route_top < 0:
        raise InvalidParameterError(
            f"The 'route_top' parameter must be a non-negative integer; got {route_top!r}."
        )


def _description(row: pd.Series) -> str:
    parts = []
    licence = _text(row.get("licence_id"))
    if licence:
        holder = _text(row.get("holder"))
        parts.append(f"Licence {licence}" + (f" ({holder})" if holder else ""))
        status = ", ".join(
            dict.fromkeys(
                s for s in (_text(row.get("licence_status")), _text(row.get("licence_flag"))) if s
            )
        )
        if status:
            parts.append(f"status {status}")
    else:
        parts.append("Outside licences")
    if _text(row.get("area_ha")):
        parts.append(f"{row['area_ha']:.2f} ha")
    flags = _text(row.get("flags"))
    if flags:
        parts.append(f"flags {flags}")
    evidence = _text(row.get("evidence"))
    if evidence:
        parts.append(f"evidence {evidence}")
    scene = " ".join(s for s in (_text(row.get("scene_id")), _text(row.get("date"))) if s)
    if scene:
        parts.append(f"scene {scene}")
    return "; ".join(parts)


def write_gpx(
    path: str | Path,
    targets: pd.DataFrame,
    *,
    route_top: int = 10,
    creator: str = "geo",
    total_targets: int | None = None,
) -> Path:
    """Write the targets as GPX 1.1 waypoints, plus a route through the best ``route_top``.

    Each ``<wpt>`` is at the target's representative point (``easting``, ``northing``
    converted by :func:`~geo.export._common.field_coordinates`, 8 decimals) with:
    ``<name>`` from :func:`waypoint_name`; ``<cmt>`` the score and standard UTM
    coordinates (``score 0.97, E 554850 N 7625560 35S``: ASCII, as small GPS displays need);
    ``<desc>`` licence, holder, status, area, flags and evidence; ``<sym>`` a Garmin flag
    by rank class (red 1–3, blue 4–10, green 11+); ``<type>`` ``drill target``.

    The ``<rte>`` visits the best ``min(route_top, n)`` targets from rank 1 in
    :func:`visit_order`, computed in the scene CRS (metres); its ``<desc>`` gives the
    straight-line length. No route when ``route_top`` is 0 or there are no targets.

    Parameters
    ----------
    path : str or Path
        Output file (``.gpx``); written atomically, replaced if present.
    targets : DataFrame
        The target table (``easting``, ``northing``, ``epsg``; ``rank``, ``score``,
        licence fields... when present).
    route_top : int
        How many of the best targets the route visits.
    creator : str
        The ``creator`` attribute (the software that wrote the file).
    total_targets : int, optional
        How many targets the run has when ``targets`` are the best of them (the field
        set, :func:`~geo.export._common.select_field_targets`): the metadata says so.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidParameterError
        ``targets`` lacks ``easting``/``northing``/``epsg``, or ``route_top`` is negative.
    """
    _check(targets, route_top)
    if "rank" in targets.columns:
        targets = targets.sort_values("rank", kind="stable", na_position="last")
        ranks = [
            int(r) if not is_missing(r) else i + 1 for i, r in enumerate(targets["rank"].tolist())
        ]
    else:
        ranks = list(range(1, len(targets) + 1))
    coords = field_coordinates(targets)

    root = ET.Element(
        "gpx",
        {
            "version": "1.1",
            "creator": xml_chars(creator),
            "xmlns": GPX_NS,
            "xmlns:xsi": _XSI_NS,
            "xsi:schemaLocation": _SCHEMA_LOCATION,
        },
    )
    meta = _sub(root, "metadata")
    scene = ""
    if len(targets) and "scene_id" in targets.columns:
        scene = _text(targets["scene_id"].iloc[0])
    _sub(meta, "name", f"Drill targets {scene}".strip())
    n = len(targets)
    if total_targets is not None and total_targets > n:
        _sub(
            meta,
            "desc",
            f"The best {n} of {total_targets} targets, ranked by score; rank 1 is the best. "
            "Every target is in the run's targets.csv and targets.gpkg.",
        )
    else:
        _sub(meta, "desc", f"{n} targets ranked by score; rank 1 is the best.")
    _sub(meta, "time", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if len(targets):
        lat, lon = coords["lat"], coords["lon"]
        _sub(
            meta,
            "bounds",
            minlat=f"{lat.min():.{DEGREE_DECIMALS}f}",
            minlon=f"{lon.min():.{DEGREE_DECIMALS}f}",
            maxlat=f"{lat.max():.{DEGREE_DECIMALS}f}",
            maxlon=f"{lon.max():.{DEGREE_DECIMALS}f}",
        )

    names: list[str] = []
    syms: list[str] = []
    # field_coordinates keeps the rows in order: walk both frames together
    for rank, (_, row), (_, c) in zip(ranks, targets.iterrows(), coords.iterrows(), strict=True):
        name = waypoint_name(rank, row.get("licence_id"))
        sym = SYMBOLS[_rank_class(rank)]
        names.append(name)
        syms.append(sym)
        wpt = _sub(
            root,
            "wpt",
            lat=f"{c['lat']:.{DEGREE_DECIMALS}f}",
            lon=f"{c['lon']:.{DEGREE_DECIMALS}f}",
        )
        _sub(wpt, "name", name)
        score = _text(row.get("score"), ".2f") or "n/a"
        _sub(
            wpt,
            "cmt",
            f"score {score}, E {c['utm_easting']:.0f} N {c['utm_northing']:.0f} {c['utm_zone']}",
        )
        _sub(wpt, "desc", _description(row))
        _sub(wpt, "sym", sym)
        _sub(wpt, "type", "drill target")

    k = min(route_top, len(targets))
    if k:
        xy, crs_name = _planar(targets.iloc[:k], coords.iloc[:k])
        order = visit_order(xy, start=0)
        length = path_length(xy, order)
        rte = _sub(root, "rte")
        _sub(rte, "name", f"Top {k} targets")
        _sub(
            rte,
            "desc",
            f"Visits the best {k} targets from rank 1; straight-line length "
            f"{length / 1000:.2f} km ({crs_name}).",
        )
        for i in order:
            c = coords.iloc[i]
            pt = _sub(
                rte,
                "rtept",
                lat=f"{c['lat']:.{DEGREE_DECIMALS}f}",
                lon=f"{c['lon']:.{DEGREE_DECIMALS}f}",
            )
            _sub(pt, "name", names[i])
            _sub(pt, "sym", syms[i])

    ET.indent(root, space=" ")
    path = Path(path)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="UTF-8", xml_declaration=True)
    return path
