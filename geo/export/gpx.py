"""Handheld GPS files: targets as GPX 1.1 waypoints and a route through the best of them.

A run writes its field set here (the best ``field.top`` targets, see
:func:`~geo.export._common.select_field_targets`): handheld units hold 1,000 to 2,000
waypoints, and a team walks to a few dozen. Each waypoint is named with the target's id
exactly as the printed sheets, the report, the KML and the tables give it (``T001``),
followed by the licence in short when the whole name still fits a GPS screen
(``T001 PL012/21``, at most 14 characters); the standard UTM coordinates go in the comment
(what the unit displays, whatever the scene CRS), and the full licence and evidence in
the description.

The route visits the best ``route_top`` targets in a short order (nearest neighbour, then
2-opt), computed in metres: from rank 1, or from a given start (a camp, a road end), which
becomes a waypoint of its own and the route's first point.

GPX text is plain text in XML: ElementTree escapes markup, and characters XML 1.0
cannot hold (NUL and other control characters from a licence file) are replaced with
U+FFFD (:func:`geo._text.xml_chars`) so the file always parses.
"""

from __future__ import annotations

import math
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

__all__ = [
    "GPX_NS",
    "NAME_MAX",
    "path_length",
    "target_label",
    "visit_order",
    "waypoint_name",
    "write_gpx",
]

GPX_NS = "http://www.topografix.com/GPX/1/1"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_SCHEMA_LOCATION = f"{GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd"

#: Garmin symbol names by rank class (1–3, 4–10, 11+).
SYMBOLS = {"top": "Flag, Red", "high": "Flag, Blue", "other": "Flag, Green"}
#: Garmin symbol of the route's start.
START_SYMBOL = "Trail Head"


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


#: Longest waypoint name that carries a licence: many Garmin units show 14 characters.
NAME_MAX = 14


def target_label(target_id: Any, rank: Any = None, position: int = 0) -> str:
    """Return the id a target goes by in every field file: its ``target_id``, as given.

    A table without ids (or a row whose id is missing or blank) falls back on the id the
    pipeline would have given it, ``T`` and the rank in 3 digits (``T007``), or the
    1-based ``position`` when the rank is missing too. Surrounding whitespace is dropped;
    nothing else of the id is changed or shortened.

    Examples
    --------
    >>> target_label("T001"), target_label(None, 7), target_label(float("nan"), None, 11)
    ('T001', 'T007', 'T012')
    """
    if not is_missing(target_id):
        text = str(int(target_id)) if isinstance(target_id, np.integer) else str(target_id)
        if text.strip():
            return text.strip()
    number = position + 1
    if not is_missing(rank):
        try:
            number = int(rank)
        except (TypeError, ValueError, OverflowError):
            pass
    return f"T{number:03d}"


def waypoint_name(target_id: Any, licence_id: str | None, *, max_len: int = NAME_MAX) -> str:
    """Waypoint name for a GPS display: the target's id, then the licence in short if it fits.

    The id comes first, exactly as given (never shortened: an id longer than ``max_len``
    is the whole name), so the name matches the printed sheet, the report and the KML.
    The licence follows after one space only when the whole name stays within
    ``max_len`` characters; it is never cut (a cut licence could name another one). It is
    compacted for a small screen: ASCII only (accents transliterated, other characters and
    markup dropped), spaces removed, 4-digit years shortened to 2. A target outside
    licences gets ``no lic``; a licence with no character left after compacting, ``lic``.
    Unique whenever the ids are.

    Parameters
    ----------
    target_id : str or int
        The target's id (``T001``; see :func:`target_label`).
    licence_id : str or None
        The licence holding the target; ``None`` (or NaN, or empty) outside licences.
    max_len : int
        Longest name with a licence, in characters (many Garmin units show 14).

    Raises
    ------
    InvalidParameterError
        ``target_id`` is not a non-empty text or integer, or ``max_len`` is not a
        positive integer.

    Examples
    --------
    >>> waypoint_name("T001", "PL 012/2021")
    'T001 PL012/21'
    >>> waypoint_name("T003", None)
    'T003 no lic'
    >>> waypoint_name("T012", "Licença de Prospecção 0042/2019")
    'T012'
    >>> waypoint_name("LC09:T001", "PL 012/2021")
    'LC09:T001'
    """
    if (
        isinstance(target_id, bool)
        or not isinstance(target_id, str | int | np.integer)
        or not str(target_id).strip()
    ):
        raise InvalidParameterError(
            "The 'target_id' parameter of waypoint_name must be the target's id, a non-empty "
            f"text such as 'T001'; got {target_id!r}."
        )
    tid = target_label(target_id)
    if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) or max_len < 1:
        raise InvalidParameterError(
            f"The 'max_len' parameter of waypoint_name must be a positive integer; got {max_len!r}."
        )
    if is_missing(licence_id) or not str(licence_id).strip():
        licence = "no lic"
    else:
        licence = _compact_licence(str(licence_id)) or "lic"
    name = f"{tid} {licence}"
    return name if len(name) <= max_len else tid


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


def _check_start(start: Any, start_name: Any) -> tuple[float, float] | None:
    """Validate the route's start: ``None`` or ``(lon, lat)`` in degrees; and its name."""
    if (
        not isinstance(start_name, str)
        or not re.fullmatch(r"[ -~]+", start_name)
        or not start_name.strip()
        or start_name != start_name.strip()
        or len(start_name) > NAME_MAX
    ):
        raise InvalidParameterError(
            "The 'start_name' parameter must be a waypoint name of 1 to "
            f"{NAME_MAX} printable ASCII characters (no surrounding spaces), e.g. 'CAMP'; "
            f"got {start_name!r}."
        )
    if start is None:
        return None
    values: list[Any] = []
    if not isinstance(start, str | bytes):
        try:
            values = list(start)
        except TypeError:
            values = []
    numbers = [
        float(v)
        for v in values
        if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
    ]
    if (
        len(values) != 2
        or len(numbers) != 2
        or not all(math.isfinite(v) for v in numbers)
        or not -180 <= numbers[0] <= 180
        or not -90 <= numbers[1] <= 90
    ):
        raise InvalidParameterError(
            "The 'start' parameter must be None or (lon, lat) in WGS 84 degrees, longitude "
            f"first, finite, lon in [-180, 180] and lat in [-90, 90]; got {start!r}."
        )
    return numbers[0], numbers[1]


def _ascii_comment(text: str, limit: int = 40) -> str:
    """Printable ASCII of ``text`` for a GPS comment, cut to ``limit`` characters (``...``)."""
    clean = re.sub(r"[^ -~]", "", _ascii(text))
    clean = re.sub(r" {2,}", " ", clean).strip()
    return clean if len(clean) <= limit else clean[: limit - 3].rstrip() + "..."


def _point_fields(lon: float, lat: float) -> pd.Series:
    """UTM zone and coordinates of a WGS 84 point, as :func:`field_coordinates` gives them."""
    one = pd.DataFrame({"easting": [lon], "northing": [lat], "epsg": [4326]})
    return field_coordinates(one).iloc[0]


def write_gpx(
    path: str | Path,
    targets: pd.DataFrame,
    *,
    route_top: int = 10,
    creator: str = "geo",
    total_targets: int | None = None,
    start: tuple[float, float] | None = None,
    start_name: str = "START",
) -> Path:
    """Write the targets as GPX 1.1 waypoints, plus a route through the best ``route_top``.

    Each ``<wpt>`` is at the target's representative point (``easting``, ``northing``
    converted by :func:`~geo.export._common.field_coordinates`, 8 decimals) with:
    ``<name>`` from :func:`waypoint_name` (the ``target_id``, e.g. ``T001 PL012/21``);
    ``<cmt>`` the score, the licence and standard UTM coordinates
    (``score 0.97, PL 012/2021, E 554850 N 7625560 35S``: printable ASCII, as small GPS
    displays need; a licence longer than 40 characters is cut there and ends in ``...``);
    ``<desc>`` the id, rank, full licence, holder, status, area, flags and evidence;
    ``<sym>`` a Garmin flag by rank class (red 1–3, blue 4–10, green 11+); ``<type>``
    ``drill target``.

    The ``<rte>`` visits the best ``min(route_top, n)`` targets in :func:`visit_order`,
    computed in the scene CRS (metres; UTM when the scene CRS is geographic or the
    targets come from several): from rank 1, or, with ``start``, from that point, which
    is then the route's first point and a waypoint of its own (named ``start_name``,
    symbol ``Trail Head``, written after the targets). Its ``<desc>`` gives the
    straight-line length. No route when ``route_top`` is 0 or there are no targets.

    Parameters
    ----------
    path : str or Path
        Output file (``.gpx``); written atomically, replaced if present.
    targets : DataFrame
        The target table (``easting``, ``northing``, ``epsg``; ``target_id``, ``rank``,
        ``score``, licence fields... when present).
    route_top : int
        How many of the best targets the route visits.
    creator : str
        The ``creator`` attribute (the software that wrote the file).
    total_targets : int, optional
        How many targets the run has when ``targets`` are the best of them (the field
        set, :func:`~geo.export._common.select_field_targets`): the metadata says so.
    start : (float, float), optional
        Where the team sets off (a camp, a road end): longitude, latitude in WGS 84
        degrees. ``None``: the route starts at rank 1.
    start_name : str
        Name of the start's waypoint: printable ASCII, at most 14 characters, different
        from every target's waypoint name.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidParameterError
        ``targets`` lacks ``easting``/``northing``/``epsg``, ``route_top`` is negative,
        ``start`` is not a longitude, latitude pair in range, or ``start_name`` is not a
        short ASCII name or is a target's name.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> table = pd.DataFrame({"target_id": ["T001", "T002"], "rank": [1, 2],
    ...     "licence_id": ["PL 012/2021", None], "easting": [554850.0, 555850.0],
    ...     "northing": [7625560.0, 7625560.0], "epsg": [32735, 32735]})
    >>> out = write_gpx(pathlib.Path(tempfile.mkdtemp()) / "t.gpx", table,
    ...     start=(27.50, -21.47), start_name="CAMP")
    >>> import gpxpy; gpx = gpxpy.parse(out.read_text())
    >>> [w.name for w in gpx.waypoints], [p.name for p in gpx.routes[0].points]
    (['T001 PL012/21', 'T002 no lic', 'CAMP'], ['CAMP', 'T001 PL012/21', 'T002 no lic'])
    """
    _check(targets, route_top)
    origin = _check_start(start, start_name)
    if "rank" in targets.columns:
        targets = targets.sort_values("rank", kind="stable", na_position="last")
        ranks = [
            int(r) if not is_missing(r) else i + 1 for i, r in enumerate(targets["rank"].tolist())
        ]
    else:
        ranks = list(range(1, len(targets) + 1))
    ids = targets["target_id"].tolist() if "target_id" in targets.columns else [None] * len(ranks)
    labels = [target_label(t, r, i) for i, (t, r) in enumerate(zip(ids, ranks, strict=True))]
    names = [
        waypoint_name(label, lic)
        for label, lic in zip(
            labels,
            targets["licence_id"].tolist()
            if "licence_id" in targets.columns
            else [None] * len(ranks),
            strict=True,
        )
    ]
    if origin is not None and start_name in names:
        raise InvalidParameterError(
            f"The 'start_name' parameter {start_name!r} is also a target's waypoint name; "
            "choose another name for the start, e.g. 'CAMP'."
        )
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
    lats = coords["lat"].tolist() + ([origin[1]] if origin else [])
    lons = coords["lon"].tolist() + ([origin[0]] if origin else [])
    if lats:
        _sub(
            meta,
            "bounds",
            minlat=f"{min(lats):.{DEGREE_DECIMALS}f}",
            minlon=f"{min(lons):.{DEGREE_DECIMALS}f}",
            maxlat=f"{max(lats):.{DEGREE_DECIMALS}f}",
            maxlon=f"{max(lons):.{DEGREE_DECIMALS}f}",
        )

    syms: list[str] = []
    # field_coordinates keeps the rows in order: walk both frames together
    for rank, label, name, (_, row), (_, c) in zip(
        ranks, labels, names, targets.iterrows(), coords.iterrows(), strict=True
    ):
        sym = SYMBOLS[_rank_class(rank)]
        syms.append(sym)
        wpt = _sub(
            root,
            "wpt",
            lat=f"{c['lat']:.{DEGREE_DECIMALS}f}",
            lon=f"{c['lon']:.{DEGREE_DECIMALS}f}",
        )
        _sub(wpt, "name", name)
        score = _text(row.get("score"), ".2f") or "n/a"
        licence = _ascii_comment(_text(row.get("licence_id"))) or "no licence"
        _sub(
            wpt,
            "cmt",
            f"score {score}, {licence}, E {c['utm_easting']:.0f} N {c['utm_northing']:.0f} "
            f"{c['utm_zone']}",
        )
        _sub(wpt, "desc", f"Target {label}, rank {rank}; {_description(row)}")
        _sub(wpt, "sym", sym)
        _sub(wpt, "type", "drill target")
    if origin is not None:
        here = _point_fields(*origin)
        wpt = _sub(
            root,
            "wpt",
            lat=f"{origin[1]:.{DEGREE_DECIMALS}f}",
            lon=f"{origin[0]:.{DEGREE_DECIMALS}f}",
        )
        _sub(wpt, "name", start_name)
        _sub(
            wpt,
            "cmt",
            f"route start, E {here['utm_easting']:.0f} N {here['utm_northing']:.0f} "
            f"{here['utm_zone']}",
        )
        k = min(route_top, n)
        _sub(wpt, "desc", f"Start of the route through the best {k} targets." if k else "Start.")
        _sub(wpt, "sym", START_SYMBOL)
        _sub(wpt, "type", "route start")

    k = min(route_top, len(targets))
    if k:
        xy, crs_name = _planar(targets.iloc[:k], coords.iloc[:k])
        if origin is None:
            order = visit_order(xy, start=0)
            length = path_length(xy, order)
            where = "from rank 1"
        else:
            sx, sy = Transformer.from_crs("EPSG:4326", crs_name, always_xy=True).transform(*origin)
            if not (math.isfinite(sx) and math.isfinite(sy)):
                raise InvalidParameterError(
                    f"The 'start' parameter {origin!r} cannot be placed in {crs_name}, the "
                    "targets' CRS: give a start near the targets (lon, lat in degrees)."
                )
            full = np.vstack([[sx, sy], xy])
            tour = visit_order(full, start=0)
            length = path_length(full, tour)
            order = [i - 1 for i in tour[1:]]
            where = f"from {start_name}"
        rte = _sub(root, "rte")
        _sub(rte, "name", f"Top {k} targets")
        _sub(
            rte,
            "desc",
            f"Visits the best {k} targets {where}; straight-line length "
            f"{length / 1000:.2f} km ({crs_name}).",
        )
        if origin is not None:
            pt = _sub(
                rte,
                "rtept",
                lat=f"{origin[1]:.{DEGREE_DECIMALS}f}",
                lon=f"{origin[0]:.{DEGREE_DECIMALS}f}",
            )
            _sub(pt, "name", start_name)
            _sub(pt, "sym", START_SYMBOL)
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
