"""Google Earth files: targets, outlines, licences and the scene picture as KML or KMZ.

The document has shared styles and one folder per layer:

- **Targets**: one point per target at the table's representative point (``easting``,
  ``northing`` converted by :func:`~geo.export._common.field_coordinates`, so KML, GPX and
  CSV agree to the centimetre), named with its ``target_id`` (``T001``: the same id as the
  printed sheets, the report and the GPS waypoints), coloured by rank class (1–3 red,
  4–10 orange, 11+ yellow), with an HTML balloon (rank, score, licence...) and the same
  values as ``ExtendedData`` (read as fields by GIS tools, e.g. GDAL's LIBKML driver);
- **Target outlines**: the target polygons, named with the same ``target_id``
  (``MultiGeometry`` for several parts, holes as ``innerBoundaryIs``);
- **Licences**: outlines without fill, labelled with the licence id;
- **Alteration zones** and **Known occurrences** when given;
- in a KMZ, the true-colour scene as a ``GroundOverlay`` placed with ``gx:LatLonQuad``
  (the scene is in UTM, so its pixel grid is not north-up in latitude/longitude).

Coordinates are WGS 84 longitude, latitude with 8 decimals (about 1 mm). No style refers
to the web (a field laptop is offline): a KMZ carries its own icons, PNGs drawn here
(:func:`draw_icons`: a bullseye per rank class, a star for occurrences) stored in the zip
and referenced by relative ``href``; a plain KML, which cannot hold pictures, gives its
point styles no icon at all, so Google Earth draws its default pin tinted with the
style's colour.

Text from the layers is untrusted. A KML ``description`` (and a document or folder
description) is HTML inside XML: every value is HTML-escaped, the HTML is put in a CDATA
section (a ``]]>`` split over two sections), so a holder ``<script>…`` shows as text in
the balloon. Names and ``ExtendedData`` values are plain text, XML-escaped once. Every
style has a ``BalloonStyle`` showing only the (escaped) description, so the balloon never
renders a raw name as HTML. Characters XML 1.0 cannot hold (NUL and other control
characters) are replaced with U+FFFD (:func:`geo._text.xml_chars`).

A run writes its field set here (the best ``field.top`` targets, see
:func:`~geo.export._common.select_field_targets`) with ``total_targets`` telling how many the
run has, and only the alteration zones meeting those targets (``zones_total`` telling how
many the run has): the file stays a few megabytes whatever the scene. The scene picture of
a KMZ is a PNG of at most :data:`OVERLAY_MAX_BYTES` (a 256-colour PNG, halved in size as
often as needed, when the full-colour one is larger).

With a large licence layer (a national cadastre: tens of thousands of licences) only the
licences that hold a target or meet the scene (:func:`~geo.export._common.licence_relevance`)
become placemarks; the others are counted in the Licences folder's description.
Context layers are written as text directly, not element by element, so tens of
thousands of licence or zone placemarks take seconds.
"""

from __future__ import annotations

import io
import math
import re
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import Transformer
from rasterio.enums import Resampling
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from geo._text import cdata, html_escape, xml_chars, xml_escape
from geo.errors import InvalidParameterError
from geo.export._common import (
    DEGREE_DECIMALS,
    atomic_path,
    field_coordinates,
    is_missing,
    licence_relevance,
    open_decimated,
    require_point_columns,
)
from geo.export.gpx import target_label

__all__ = [
    "GX_NS",
    "ICON_HREFS",
    "ICON_PX",
    "KML_NS",
    "MAX_KML_LICENCES",
    "OVERLAY_MAX_BYTES",
    "draw_icons",
    "overlay_from_true_colour",
    "rank_class",
    "write_kml",
    "write_kmz",
]

KML_NS = "http://www.opengis.net/kml/2.2"
GX_NS = "http://www.google.com/kml/ext/2.2"

#: Most licences meeting the scene drawn as placemarks; above it, only those holding or
#: touching a target are (Google Earth slows down with tens of thousands of polygons).
MAX_KML_LICENCES = 2000
#: Name of the scene picture inside a KMZ.
OVERLAY_HREF = "files/overlay.png"
#: Largest scene picture in a KMZ, in bytes (a full Landsat scene in full colour: ~4.8 MB).
OVERLAY_MAX_BYTES = 2_000_000

# KML colours are aabbggrr.
_CLASS_COLOURS = {"top": "ff0000ff", "high": "ff00a5ff", "other": "ff00ffff"}
_CLASS_LABELS = {"top": "ranks 1–3", "high": "ranks 4–10", "other": "ranks 11+"}
#: Side of the icons drawn for a KMZ, in pixels.
ICON_PX = 64
#: Icons inside a KMZ: one per target rank class, one for occurrences.
ICON_HREFS = {
    **{f"target-{cls}": f"files/target_{cls}.png" for cls in _CLASS_COLOURS},
    "occurrence": "files/occurrence.png",
}
_OCCURRENCE_COLOUR = "ff00ff00"


def rank_class(rank: Any) -> str:
    """Rank class of a target: ``"top"`` (1–3), ``"high"`` (4–10) or ``"other"`` (11+, unranked).

    Examples
    --------
    >>> [rank_class(r) for r in (1, 3, 4, 10, 11, None)]
    ['top', 'top', 'high', 'high', 'other', 'other']
    """
    try:
        r = float(rank)
    except (TypeError, ValueError):
        return "other"
    if not math.isfinite(r):
        return "other"
    return "top" if r <= 3 else "high" if r <= 10 else "other"


# --------------------------------------------------------------------------- formatting


def _text(value: Any, fmt: str = "") -> str:
    """Value as display text; missing values become ``""``; characters XML cannot hold, U+FFFD."""
    if is_missing(value):
        return ""
    if fmt and isinstance(value, int | float | np.integer | np.floating):
        return format(value, fmt)
    if isinstance(value, np.integer):
        return str(int(value))
    return xml_chars(str(value).strip())


def _lonlat(x: float, y: float) -> str:
    return f"{x:.{DEGREE_DECIMALS}f},{y:.{DEGREE_DECIMALS}f}"


def _coords(coords: Iterable[Sequence[float]]) -> str:
    return " ".join(_lonlat(c[0], c[1]) for c in coords)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    """Append an element; text and attribute values are made XML-safe (ElementTree escapes)."""
    el = ET.SubElement(parent, tag, {k: xml_chars(v) for k, v in attrib.items()})
    if text is not None:
        el.text = xml_chars(text)
    return el


class _Cdata:
    """CDATA sections for ElementTree (which has none): placeholders replaced on output."""

    def __init__(self) -> None:
        self._token = uuid.uuid4().hex
        self._blocks: list[str] = []

    def __call__(self, content: str) -> str:
        self._blocks.append(content)
        return f"@@{self._token}:{len(self._blocks) - 1}@@"

    def expand(self, text: str) -> str:
        """Replace the placeholders in ``text`` and forget their blocks."""
        if not self._blocks:
            return text

        def section(match: re.Match) -> str:
            return cdata(self._blocks[int(match.group(1))])

        text = re.sub(f"@@{self._token}:(\\d+)@@", section, text)
        self._blocks.clear()
        return text


class _Stream:
    """Write the document element by element (one placemark at a time).

    Memory follows the largest placemark, not the file: a scene with tens of thousands of
    zone outlines never holds its whole KML tree or text.
    """

    def __init__(self, fh: io.TextIOBase) -> None:
        self.fh = fh
        self.cdata = _Cdata()

    def element(self, el: ET.Element, level: int) -> None:
        ET.indent(el, space=" ", level=level)
        text = ET.tostring(el, encoding="unicode", xml_declaration=False)
        self.fh.write(" " * level + self.cdata.expand(text) + "\n")

    def children(self, container: ET.Element, level: int) -> None:
        for child in container:
            self.element(child, level)

    def text(self, text: str) -> None:
        """Write markup built as text (already escaped)."""
        self.fh.write(text)

    def open(self, tag: str, level: int, attrib: str = "") -> None:
        self.fh.write(" " * level + f"<{tag}{attrib}>\n")

    def close(self, tag: str, level: int) -> None:
        self.fh.write(" " * level + f"</{tag}>\n")


# --------------------------------------------------------------------------- geometry


def _to_wgs84(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    _check_layer(frame, name)
    return frame.to_crs("EPSG:4326")


def _check_layer(frame: gpd.GeoDataFrame, name: str) -> None:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidParameterError(
            f"The '{name}' parameter must be a GeoDataFrame; got {type(frame).__name__}."
        )
    if frame.crs is None:
        raise InvalidParameterError(
            f"The '{name}' layer has no CRS; expected a projected or geographic CRS "
            "(set it with .set_crs()) so it can be placed on the globe."
        )


def _polygon(parent: ET.Element, poly: Polygon) -> None:
    poly = orient(poly, sign=1.0)  # outer ring counter-clockwise, holes clockwise
    el = _sub(parent, "Polygon")
    _sub(el, "tessellate", "1")
    outer = _sub(_sub(el, "outerBoundaryIs"), "LinearRing")
    _sub(outer, "coordinates", _coords(poly.exterior.coords))
    for ring in poly.interiors:
        inner = _sub(_sub(el, "innerBoundaryIs"), "LinearRing")
        _sub(inner, "coordinates", _coords(ring.coords))


def _geometry(parent: ET.Element, geom: BaseGeometry, *, label_point: bool = False) -> None:
    """Append a KML geometry; several parts (or a label point) go in a ``MultiGeometry``."""
    if geom is None or geom.is_empty:
        return
    parts: list[BaseGeometry]
    if hasattr(geom, "geoms"):  # Multi* and collections
        parts = [g for g in geom.geoms if not g.is_empty]
    else:
        parts = [geom]
    label = geom.representative_point() if label_point else None
    if len(parts) > 1 or label is not None:
        parent = _sub(parent, "MultiGeometry")
    for part in parts:
        if isinstance(part, Polygon):
            _polygon(parent, part)
        elif isinstance(part, Point):
            _sub(_sub(parent, "Point"), "coordinates", _lonlat(part.x, part.y))
        elif part.geom_type in ("LineString", "LinearRing"):
            line = _sub(parent, "LineString")
            _sub(line, "tessellate", "1")
            _sub(line, "coordinates", _coords(part.coords))
        else:  # nested collections
            _geometry(parent, part)
    if label is not None:
        _sub(_sub(parent, "Point"), "coordinates", _lonlat(label.x, label.y))


def _extended_data(parent: ET.Element, values: dict[str, str]) -> None:
    ext = _sub(parent, "ExtendedData")
    for key, value in values.items():
        _sub(_sub(ext, "Data", name=key), "value", value)


# --------------------------------------------------------------------------- styles


def _balloon(style: ET.Element) -> None:
    """Show only the description (escaped HTML) in the balloon, never a raw name as HTML."""
    _sub(_sub(style, "BalloonStyle"), "text", "$[description]")


def _rgb(colour: str) -> tuple[int, int, int]:
    """``(r, g, b)`` of a KML colour (``aabbggrr``)."""
    return int(colour[6:8], 16), int(colour[4:6], 16), int(colour[2:4], 16)


def draw_icons(size: int = ICON_PX) -> dict[str, bytes]:
    """Draw the point icons of a KMZ: PNG bytes by their ``href`` in :data:`ICON_HREFS`.

    A target is a bullseye in its rank class colour (a disc, a white ring, a dot) and an
    occurrence a five-pointed star in green, each with a dark outline that shows on bright
    and dark imagery alike, on a transparent background. Drawn at 4 times the size and
    reduced (Lanczos) for smooth edges; the bytes are the same on every call.

    Parameters
    ----------
    size : int
        Side of each icon, in pixels (16 to 256).

    Returns
    -------
    dict of str to bytes
        ``{"files/target_top.png": <PNG bytes>, ...}``.

    Raises
    ------
    InvalidParameterError
        ``size`` is not an integer in [16, 256].

    Examples
    --------
    >>> icons = draw_icons()
    >>> sorted(icons) == sorted(ICON_HREFS.values())
    True
    >>> all(png[1:4] == b"PNG" for png in icons.values())
    True
    """
    from PIL import Image, ImageDraw

    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not 16 <= size <= 256:
        raise InvalidParameterError(
            f"The 'size' parameter of draw_icons must be an integer in [16, 256]; got {size!r}."
        )
    big = 4 * int(size)
    c = big / 2
    outline = (32, 32, 32, 255)

    def disc(draw: ImageDraw.ImageDraw, radius: float, fill: tuple, width: int = 0) -> None:
        box = (c - radius, c - radius, c + radius, c + radius)
        draw.ellipse(box, fill=fill, outline=outline if width else None, width=width)

    def png(image: Image.Image) -> bytes:
        buf = io.BytesIO()
        image.resize((size, size), Image.Resampling.LANCZOS).save(buf, format="PNG", optimize=True)
        return buf.getvalue()

    icons: dict[str, bytes] = {}
    for cls, colour in _CLASS_COLOURS.items():
        image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        fill = (*_rgb(colour), 255)
        line = max(2, round(0.06 * big))
        disc(draw, 0.46 * big, fill, line)
        disc(draw, 0.28 * big, (255, 255, 255, 255), max(1, line // 2))
        disc(draw, 0.14 * big, fill, max(1, line // 2))
        icons[ICON_HREFS[f"target-{cls}"]] = png(image)

    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    outer, inner = 0.47 * big, 0.19 * big
    star = [
        (
            c + (outer if k % 2 == 0 else inner) * math.sin(math.pi * k / 5),
            c + 0.04 * big - (outer if k % 2 == 0 else inner) * math.cos(math.pi * k / 5),
        )
        for k in range(10)
    ]
    ImageDraw.Draw(image).polygon(
        star,
        fill=(*_rgb(_OCCURRENCE_COLOUR), 255),
        outline=outline,
        width=max(2, round(0.05 * big)),
    )
    icons[ICON_HREFS["occurrence"]] = png(image)
    return icons


def _icon(icon_style: ET.Element, key: str) -> None:
    """Point the style at the KMZ's own picture ``key`` (a relative ``href``), centred."""
    _sub(_sub(icon_style, "Icon"), "href", ICON_HREFS[key])
    _sub(icon_style, "hotSpot", x="0.5", y="0.5", xunits="fraction", yunits="fraction")


def _styles(doc: ET.Element, *, icons: bool = False) -> None:
    """Write the shared styles; ``icons``: point styles use the KMZ's own pictures.

    Without ``icons`` (a plain KML) a point style has no ``Icon``: Google Earth draws its
    default pin tinted with the style's ``color``. With them (a KMZ) the pictures are
    already coloured, so the style has no tint. ``IconStyle`` children follow the KML 2.2
    schema order (``color``, ``scale``, ``Icon``, ``hotSpot``).
    """
    for cls, colour in _CLASS_COLOURS.items():
        style = _sub(doc, "Style", id=f"target-{cls}")
        _balloon(style)
        icon_style = _sub(style, "IconStyle")
        if not icons:
            _sub(icon_style, "color", colour)
        _sub(icon_style, "scale", "1.2" if cls == "top" else "1.0")
        if icons:
            _icon(icon_style, f"target-{cls}")
        label = _sub(style, "LabelStyle")
        _sub(label, "color", "ffffffff")
        _sub(label, "scale", "1.3" if cls == "top" else "1.1")

        outline = _sub(doc, "Style", id=f"outline-{cls}")
        _balloon(outline)
        line = _sub(outline, "LineStyle")
        _sub(line, "color", colour)
        _sub(line, "width", "2")
        poly = _sub(outline, "PolyStyle")
        _sub(poly, "color", "40" + colour[2:])  # 25 % opaque fill
        _sub(poly, "fill", "1")
        _sub(poly, "outline", "1")

    licence = _sub(doc, "Style", id="licence")
    _balloon(licence)
    _sub(_sub(licence, "IconStyle"), "scale", "0")  # label point shows only its text
    label = _sub(licence, "LabelStyle")
    _sub(label, "color", "ffffff00")
    _sub(label, "scale", "0.9")
    line = _sub(licence, "LineStyle")
    _sub(line, "color", "ffffff00")  # cyan
    _sub(line, "width", "2.5")
    poly = _sub(licence, "PolyStyle")
    _sub(poly, "fill", "0")
    _sub(poly, "outline", "1")

    zone = _sub(doc, "Style", id="zone")
    _balloon(zone)
    line = _sub(zone, "LineStyle")
    _sub(line, "color", "ffff00ff")  # magenta
    _sub(line, "width", "1")
    poly = _sub(zone, "PolyStyle")
    _sub(poly, "color", "30ff00ff")

    occurrence = _sub(doc, "Style", id="occurrence")
    _balloon(occurrence)
    icon_style = _sub(occurrence, "IconStyle")
    if not icons:
        _sub(icon_style, "color", _OCCURRENCE_COLOUR)
    _sub(icon_style, "scale", "0.9")
    if icons:
        _icon(icon_style, "occurrence")
    _sub(_sub(occurrence, "LabelStyle"), "scale", "0.8")


# --------------------------------------------------------------------------- folders


def _target_values(row: pd.Series, coords: pd.Series) -> dict[str, str]:
    code = row.get("epsg")
    epsg = "" if code is None or is_missing(code) else str(int(code))
    return {
        "target_id": _text(row.get("target_id")),
        "rank": _text(row.get("rank"), ".0f"),
        "score": _text(row.get("score"), ".3f"),
        "score_max": _text(row.get("score_max"), ".3f"),
        "score_mean": _text(row.get("score_mean"), ".3f"),
        "licence_id": _text(row.get("licence_id")),
        "holder": _text(row.get("holder")),
        "licence_status": _text(row.get("licence_status")),
        "licence_flag": _text(row.get("licence_flag")),
        "area_ha": _text(row.get("area_ha"), ".2f"),
        "flags": _text(row.get("flags")),
        "evidence": _text(row.get("evidence")),
        "epsg": epsg,
        "easting": _text(row.get("easting"), ".2f"),
        "northing": _text(row.get("northing"), ".2f"),
        "utm_zone": _text(coords["utm_zone"]),
        "utm_easting": _text(coords["utm_easting"], ".2f"),
        "utm_northing": _text(coords["utm_northing"], ".2f"),
        "lat": _text(coords["lat"], f".{DEGREE_DECIMALS}f"),
        "lon": _text(coords["lon"], f".{DEGREE_DECIMALS}f"),
        "lat_dms": _text(coords["lat_dms"]),
        "lon_dms": _text(coords["lon_dms"]),
        "scene_id": _text(row.get("scene_id")),
        "date": _text(row.get("date")),
    }


def _description(v: dict[str, str]) -> str:
    """Build the balloon: an HTML table of what a geologist checks before walking out."""
    score = v["score"]
    extra = ", ".join(
        f"{label} {v[key]}"
        for key, label in (("score_max", "max"), ("score_mean", "mean"))
        if v[key]
    )
    if extra:
        score = f"{score} ({extra})"
    licence = v["licence_id"] or "outside licences"
    if v["holder"]:
        licence += f" — {v['holder']}"
    status = "; ".join(dict.fromkeys(s for s in (v["licence_status"], v["licence_flag"]) if s))
    rows = [
        ("Target", v["target_id"]),
        ("Rank", v["rank"]),
        ("Score", score),
        ("Licence", licence),
        ("Status", status),
        ("Area", f"{v['area_ha']} ha" if v["area_ha"] else ""),
        ("Flags", v["flags"].replace(";", "; ") if v["flags"] else "none"),
        ("Evidence", v["evidence"]),
        (
            f"Scene CRS (EPSG:{v['epsg']})" if v["epsg"] else "Scene CRS",
            f"E {v['easting']} N {v['northing']}",
        ),
        (f"UTM {v['utm_zone']}", f"E {v['utm_easting']} N {v['utm_northing']}"),
        ("Lat, lon", f"{v['lat']}, {v['lon']}"),
        ("Lat, lon (DMS)", f"{v['lat_dms']} {v['lon_dms']}"),
        ("Scene", " ".join(s for s in (v["scene_id"], v["date"]) if s)),
    ]
    return _html_table(rows)


def _html_table(rows: Sequence[tuple[str, str]], heading: str = "") -> str:
    """Return an HTML table of ``(label, value)`` rows (empty values left out), all escaped."""
    # element content only (no value goes into an attribute): quotes stay as they are
    cells = "".join(
        f'<tr><th align="left">{html_escape(k, quote=False)}</th>'
        f"<td>{html_escape(val, quote=False)}</td></tr>"
        for k, val in rows
        if val
    )
    head = f"<h3>{html_escape(heading, quote=False)}</h3>" if heading else ""
    return f'{head}<table border="0" cellpadding="2">{cells}</table>'


def _check_targets(targets: Any) -> None:
    if not isinstance(targets, gpd.GeoDataFrame):
        raise InvalidParameterError(
            f"The 'targets' parameter must be a GeoDataFrame of targets; got {type(targets).__name__}."
        )
    require_point_columns(targets)


def _sorted_targets(targets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if "rank" in targets.columns and len(targets):
        return targets.sort_values("rank", kind="stable", na_position="last")
    return targets


def _folder(out: _Stream, name: str, *, open_: bool = False, description: str = "") -> None:
    out.open("Folder", 2)
    head = ET.Element("Folder")
    _sub(head, "name", name)
    if open_:
        _sub(head, "open", "1")
    if description:
        _sub(head, "description", html_escape(description, quote=False))  # HTML
    out.children(head, 3)


def _labels(targets: gpd.GeoDataFrame) -> list[str]:
    """Each target's id as every field file names it (:func:`~geo.export.gpx.target_label`)."""
    ids = targets["target_id"].tolist() if "target_id" in targets.columns else [None] * len(targets)
    ranks = targets["rank"].tolist() if "rank" in targets.columns else [None] * len(targets)
    return [
        xml_chars(target_label(t, r, i)) for i, (t, r) in enumerate(zip(ids, ranks, strict=True))
    ]


def _targets_folders(out: _Stream, targets: gpd.GeoDataFrame) -> None:
    """Write the Targets (points) and Target outlines folders, both named by ``target_id``."""
    targets = _sorted_targets(targets)
    coords = field_coordinates(targets)
    labels = _labels(targets)
    _folder(out, "Targets", open_=True)
    for tid, (idx, row) in zip(labels, targets.iterrows(), strict=True):
        here = coords.loc[idx]
        values = _target_values(row, here)
        values["target_id"] = tid
        cls = rank_class(row.get("rank"))
        pm = ET.Element("Placemark", id=f"target-{tid}")
        _sub(pm, "name", tid)
        licence = values["licence_id"] or "outside licences"
        snippet = f"rank {values['rank'] or 'n/a'}, score {values['score'] or 'n/a'}, {licence}"
        _sub(pm, "Snippet", snippet, maxLines="1")
        _sub(pm, "description", out.cdata(_description(values)))
        _sub(pm, "styleUrl", f"#target-{cls}")
        _extended_data(pm, values)
        point = _sub(pm, "Point")
        _sub(point, "coordinates", _lonlat(here["lon"], here["lat"]))
        out.element(pm, 3)
    out.close("Folder", 2)

    _folder(out, "Target outlines")
    wgs = _to_wgs84(targets, "targets")
    for tid, (_, row) in zip(labels, wgs.iterrows(), strict=True):
        pm = ET.Element("Placemark")
        _sub(pm, "name", tid)
        rank = _text(row.get("rank"), ".0f")
        licence = _text(row.get("licence_id"))
        summary = f"{tid}: rank {rank}, score {_text(row.get('score'), '.3f')}"
        if not is_missing(row.get("area_ha")):
            summary += f", {_text(row.get('area_ha'), '.2f')} ha"
        summary += f", licence {licence}" if licence else ", outside licences"
        _sub(pm, "description", html_escape(summary, quote=False))  # a description is HTML
        _sub(pm, "styleUrl", f"#outline-{rank_class(row.get('rank'))}")
        _extended_data(pm, {"target_id": tid, "rank": rank, "licence_id": licence})
        _geometry(pm, row.geometry)
        out.element(pm, 3)
    out.close("Folder", 2)


def _layer_folder(
    out: _Stream,
    frame: gpd.GeoDataFrame,
    *,
    name: str,
    param: str,
    style: str,
    name_column: Sequence[str],
    fields: Sequence[str],
    label_point: bool = False,
    description: str = "",
) -> None:
    """Write a context layer (licences, zones, occurrences) as one folder of placemarks.

    Each placemark is built as text (names and values XML-escaped, the balloon an escaped
    HTML table in CDATA): tens of thousands of licences or zones take seconds, where an
    element tree per placemark took minutes. Geometries are converted to WGS 84 and
    oriented (outer rings counter-clockwise) for the whole layer at once.
    """
    wgs = _to_wgs84(frame, param)
    _folder(out, name, description=description)
    geoms = shapely.orient_polygons(wgs.geometry.values.to_numpy(), exterior_cw=False)
    labels = np.full(len(wgs), None, dtype=object)
    if label_point and len(wgs):
        valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        labels[valid] = shapely.point_on_surface(geoms[valid])
    columns = [c for c in fields if c in wgs.columns]
    texts = {c: [_text(v) for v in wgs[c].tolist()] for c in columns}
    name_texts = [
        [_text(v) for v in wgs[c].tolist()] for c in dict.fromkeys(name_column) if c in wgs.columns
    ]
    head = f"<styleUrl>#{xml_escape(style)}</styleUrl>"
    chunk: list[str] = []
    for i, idx in enumerate(wgs.index):
        label = next((t[i] for t in name_texts if t[i]), str(idx))
        values = {c: texts[c][i] for c in columns}
        parts = [f"<Placemark><name>{xml_escape(label)}</name>"]
        rows = [(k, val) for k, val in values.items() if val]
        if rows:
            parts.append(f"<description>{cdata(_html_table(rows, heading=label))}</description>")
        parts.append(head)
        if values:
            parts.append(
                "<ExtendedData>"
                + "".join(
                    f'<Data name="{xml_escape(k, quote=True)}"><value>{xml_escape(v)}</value></Data>'
                    for k, v in values.items()
                )
                + "</ExtendedData>"
            )
        parts.append(_geometry_text(geoms[i], labels[i]))
        parts.append("</Placemark>")
        chunk.append("   " + "".join(parts) + "\n")
        if len(chunk) >= 1000:
            out.text("".join(chunk))
            chunk.clear()
    out.text("".join(chunk))
    out.close("Folder", 2)


def _ring_text(ring) -> str:
    xy = shapely.get_coordinates(ring)
    return " ".join(f"{x:.{DEGREE_DECIMALS}f},{y:.{DEGREE_DECIMALS}f}" for x, y in xy)


def _part_text(part: BaseGeometry) -> str:
    """KML of one part (already oriented); nested collections become a ``MultiGeometry``."""
    if isinstance(part, Polygon):
        inner = "".join(
            f"<innerBoundaryIs><LinearRing><coordinates>{_ring_text(r)}</coordinates>"
            "</LinearRing></innerBoundaryIs>"
            for r in part.interiors
        )
        return (
            "<Polygon><tessellate>1</tessellate><outerBoundaryIs><LinearRing><coordinates>"
            f"{_ring_text(part.exterior)}</coordinates></LinearRing></outerBoundaryIs>"
            f"{inner}</Polygon>"
        )
    if isinstance(part, Point):
        return f"<Point><coordinates>{_lonlat(part.x, part.y)}</coordinates></Point>"
    if part.geom_type in ("LineString", "LinearRing"):
        return (
            f"<LineString><tessellate>1</tessellate><coordinates>{_ring_text(part)}"
            "</coordinates></LineString>"
        )
    return _geometry_text(part, None)


def _geometry_text(geom: BaseGeometry | None, label: Point | None) -> str:
    """KML of a geometry (as :func:`_geometry`); several parts or a label point: ``MultiGeometry``."""
    if geom is None or geom.is_empty:
        return ""
    if hasattr(geom, "geoms"):  # Multi* and collections
        parts = [g for g in geom.geoms if not g.is_empty]
    else:
        parts = [geom]
    body = "".join(_part_text(part) for part in parts)
    if label is not None and not label.is_empty:
        body += f"<Point><coordinates>{_lonlat(label.x, label.y)}</coordinates></Point>"
        return f"<MultiGeometry>{body}</MultiGeometry>"
    return f"<MultiGeometry>{body}</MultiGeometry>" if len(parts) > 1 else body


def _look_at(doc: ET.Element, layers: Sequence[gpd.GeoDataFrame]) -> None:
    """Point Google Earth's camera at the data when the file is opened."""
    bounds = [f.to_crs("EPSG:4326").total_bounds for f in layers if f is not None and len(f)]
    bounds = [b for b in bounds if np.all(np.isfinite(b))]
    if not bounds:
        return
    b = np.array(bounds)
    west, south, east, north = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    lat = (south + north) / 2
    width = (east - west) * 111_320 * math.cos(math.radians(lat))
    height = (north - south) * 110_540
    look = _sub(doc, "LookAt")
    _sub(look, "longitude", f"{(west + east) / 2:.6f}")
    _sub(look, "latitude", f"{lat:.6f}")
    _sub(look, "altitude", "0")
    _sub(look, "heading", "0")
    _sub(look, "tilt", "0")
    _sub(look, "range", f"{max(width, height) * 1.3 + 1000:.0f}")
    _sub(look, "altitudeMode", "relativeToGround")


def _document(
    targets: gpd.GeoDataFrame,
    *,
    licences: gpd.GeoDataFrame | None,
    zones: gpd.GeoDataFrame | None,
    occurrences: gpd.GeoDataFrame | None,
    title: str,
    fh: io.TextIOBase,
    overlay: tuple[bytes, Sequence[tuple[float, float]]] | None = None,
    footprint: Any = None,
    total_targets: int | None = None,
    zones_total: int | None = None,
    note: str = "",
    icons: bool = False,
) -> None:
    """Write the KML document to the text file ``fh``, one placemark at a time.

    ``icons``: the point styles use the pictures of :func:`draw_icons` (a KMZ, which
    stores them); otherwise they have no icon of their own (a plain KML).
    """
    _check_targets(targets)
    for name, frame in (
        ("targets", targets),
        ("licences", licences),
        ("zones", zones),
        ("occurrences", occurrences),
    ):
        if frame is not None:
            _check_layer(frame, name)
    licence_note = ""
    if licences is not None:
        relevance = licence_relevance(licences, targets, footprint=footprint)
        counts = relevance.counts()
        if counts["meet_scene"] > MAX_KML_LICENCES:
            # a cadastre's worth of placemarks slows Google Earth to a crawl: the licences
            # that hold or touch a target, the rest in targets.gpkg (QGIS, QField)
            licences = licences[relevance.holds]
            licence_note = (
                f"{len(licences)} of {counts['licences']} licences: those holding or touching "
                f"a target. {counts['meet_scene']} licences meet the scene, more than "
                f"{MAX_KML_LICENCES} placemarks Google Earth shows comfortably; all are in "
                "the run's targets.gpkg."
            )
        elif counts["left_out"]:
            licences = licences[relevance.in_play]
            licence_note = (
                f"{len(licences)} of {counts['licences']} licences: those holding or touching "
                f"a target ({counts['hold_targets']}) or meeting the scene "
                f"({counts['meet_scene']}). The other {counts['left_out']} licences are left "
                "out (they are in the run's targets.gpkg)."
            )
    out = _Stream(fh)
    fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.open("kml", 0, f' xmlns="{KML_NS}" xmlns:gx="{GX_NS}"')
    out.open("Document", 1)
    doc = ET.Element("Document")  # the small elements before the folders
    _sub(doc, "name", title)
    _sub(doc, "open", "1")
    n = len(targets)
    scene = ""
    if n and "scene_id" in targets.columns:
        scene = _text(targets["scene_id"].iloc[0])
        if "date" in targets.columns:
            scene = " ".join(s for s in (scene, _text(targets["date"].iloc[0])) if s)
    if total_targets is not None and total_targets > n:
        count = (
            f"The best {n} of {total_targets} targets"
            + (f" from scene {scene}" if scene else "")
            + " (every target is in the run's targets.gpkg and targets.csv)"
        )
    else:
        count = f"{n} target{'s' if n != 1 else ''}" + (f" from scene {scene}" if scene else "")
    _sub(
        doc,
        "description",
        html_escape(
            count + ". Red: ranks 1–3; orange: 4–10; yellow: 11+." + (f" {note}" if note else ""),
            quote=False,
        ),
    )
    _look_at(doc, [targets, licences])  # the licences in the document only
    _styles(doc, icons=icons)
    out.children(doc, 2)
    if overlay is not None:
        _, corners = overlay
        scene_folder = ET.Element("Folder")
        _sub(scene_folder, "name", "Scene image")
        ground = _sub(scene_folder, "GroundOverlay")
        _sub(ground, "name", "Scene (true colour)")
        _sub(ground, "drawOrder", "0")
        _sub(_sub(ground, "Icon"), "href", OVERLAY_HREF)
        quad = _sub(ground, "gx:LatLonQuad")
        _sub(quad, "coordinates", _coords(corners))
        out.element(scene_folder, 2)
    _targets_folders(out, targets)
    if licences is not None:
        _layer_folder(
            out,
            licences,
            name="Licences",
            param="licences",
            style="licence",
            name_column=("licence_id", "licence_no", "name"),
            fields=("licence_id", "holder", "status", "expiry", "commodity"),
            label_point=True,
            description=licence_note,
        )
    if zones is not None:
        zones_note = ""
        if zones_total is not None and zones_total > len(zones):
            zones_note = (
                f"{len(zones)} of {zones_total} alteration zones: those meeting the targets in "
                "this file. All are in the run's targets.gpkg."
            )
        _layer_folder(
            out,
            zones,
            name="Alteration zones",
            param="zones",
            style="zone",
            name_column=("zone_id", "name"),
            fields=("zone_id", "kind", "area_ha", "mean_z", "max_z"),
            description=zones_note,
        )
    if occurrences is not None:
        _layer_folder(
            out,
            occurrences,
            name="Known occurrences",
            param="occurrences",
            style="occurrence",
            name_column=("name",),
            fields=("name", "commodity", "type"),
        )
    out.close("Document", 1)
    out.close("kml", 0)


# --------------------------------------------------------------------------- public API


def write_kml(
    path: str | Path,
    targets: gpd.GeoDataFrame,
    *,
    licences: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    occurrences: gpd.GeoDataFrame | None = None,
    title: str = "geo targets",
    footprint: Any = None,
    total_targets: int | None = None,
    zones_total: int | None = None,
    note: str = "",
) -> Path:
    """Write the targets (and optional context layers) as a KML file for Google Earth.

    Parameters
    ----------
    path : str or Path
        Output file (``.kml``); written atomically, replaced if present.
    targets : GeoDataFrame
        The target table (polygons in any CRS, with ``easting``, ``northing``, ``epsg`` of
        the representative point, and the usual columns: ``target_id``, ``rank``,
        ``score``, licence fields, ``evidence``...; absent columns are left out).
    licences, zones, occurrences : GeoDataFrame, optional
        Context layers in any CRS: licence polygons (``licence_id``, ``holder``,
        ``status``), alteration zones (``zone_id``, ``kind``) and known occurrences
        (``name``, ``commodity``, ``type``).
    title : str
        Document name shown in Google Earth's Places panel.
    footprint : shapely geometry, GeoSeries or GeoDataFrame, optional
        The scene's data footprint (a bare geometry in the licences' CRS). Only licences
        that hold or touch a target or meet the scene become placemarks (see
        :func:`~geo.export._common.licence_relevance`; without ``footprint``, a run's
        licence summary tells by its ``imaged_pct``); the Licences folder's description
        counts the others.
    total_targets : int, optional
        How many targets the run has when ``targets`` are the best of them (the field
        set): the document's description says so.
    zones_total : int, optional
        How many alteration zones the run has when ``zones`` are a part of them (those
        meeting the field targets): the zones folder's description says so.
    note : str
        A sentence added to the document's description (plain text).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidParameterError
        A layer is not a GeoDataFrame or has no CRS, or ``targets`` lacks
        ``easting``/``northing``/``epsg``.
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        _document(
            targets,
            licences=licences,
            zones=zones,
            occurrences=occurrences,
            title=title,
            fh=fh,
            footprint=footprint,
            total_targets=total_targets,
            zones_total=zones_total,
            note=note,
        )
    return path


def _check_overlay(overlay: Any) -> tuple[bytes, list[tuple[float, float]]]:
    if isinstance(overlay, str | Path):
        return overlay_from_true_colour(overlay)
    try:
        png, corners = overlay
        corners = [(float(x), float(y)) for x, y in corners]
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            "The 'overlay' parameter must be a true-colour GeoTIFF path or (png bytes, "
            f"4 lon/lat corners); got {type(overlay).__name__}."
        ) from exc
    if not isinstance(png, bytes | bytearray) or not bytes(png).startswith(b"\x89PNG"):
        raise InvalidParameterError(
            "The 'overlay' parameter's image must be PNG bytes; got "
            f"{type(png).__name__} not starting with the PNG signature."
        )
    if len(corners) != 4 or not all(math.isfinite(v) for c in corners for v in c):
        raise InvalidParameterError(
            "The 'overlay' parameter needs 4 finite lon/lat corners (counter-clockwise from "
            f"lower-left); got {corners!r}."
        )
    return bytes(png), corners


def write_kmz(
    path: str | Path,
    targets: gpd.GeoDataFrame,
    *,
    licences: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    occurrences: gpd.GeoDataFrame | None = None,
    overlay: str | Path | tuple[bytes, Sequence[tuple[float, float]]] | None = None,
    title: str = "geo targets",
    footprint: Any = None,
    total_targets: int | None = None,
    zones_total: int | None = None,
    note: str = "",
) -> Path:
    """Write a KMZ: the KML of :func:`write_kml` with its icons and, optionally, the scene picture.

    The zip holds ``doc.kml`` first (the entry Google Earth opens), the point icons of
    :func:`draw_icons` (``files/target_top.png``... referenced by relative ``href``, so
    the file shows the same offline) and, with an overlay, ``files/overlay.png`` shown as
    a ``GroundOverlay`` placed by ``gx:LatLonQuad``.

    Parameters
    ----------
    path : str or Path
        Output file (``.kmz``); written atomically, replaced if present.
    targets, licences, zones, occurrences, title, footprint, total_targets, zones_total, note
        As for :func:`write_kml`.
    overlay : str, Path or (bytes, corners), optional
        The run's ``rasters/true_colour.tif`` (decimated by
        :func:`overlay_from_true_colour`), or its result: PNG bytes and the 4 lon/lat
        corners counter-clockwise from the image's lower-left.

    Returns
    -------
    Path
        ``path``.
    """
    image = _check_overlay(overlay) if overlay is not None else None
    path = Path(path)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            with (
                zf.open("doc.kml", "w") as raw,
                io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as fh,
            ):
                _document(
                    targets,
                    licences=licences,
                    zones=zones,
                    occurrences=occurrences,
                    title=title,
                    overlay=image,
                    fh=fh,
                    footprint=footprint,
                    total_targets=total_targets,
                    zones_total=zones_total,
                    note=note,
                    icons=True,
                )
            for href, png in draw_icons().items():
                zf.writestr(href, png)
            if image is not None:
                zf.writestr(OVERLAY_HREF, image[0])
    return path


def overlay_from_true_colour(
    tif_path: str | Path, *, max_px: int = 2048, max_bytes: int | None = OVERLAY_MAX_BYTES
) -> tuple[bytes, list[tuple[float, float]]]:
    """Decimated RGBA PNG of a true-colour GeoTIFF and its corners in longitude, latitude.

    Reads at most ``max_px`` pixels on the long side (an ``out_shape`` read, which GDAL
    serves from the overviews of a COG; never the full raster of a large scene). Alpha is
    0 where the raster is nodata.

    Parameters
    ----------
    tif_path : str or Path
        An 8-bit RGB (or single-band) GeoTIFF with a CRS, e.g. ``rasters/true_colour.tif``.
    max_px : int
        Longest side of the picture, in pixels.
    max_bytes : int or None
        Largest PNG, in bytes: a larger full-colour picture is written with 256 colours
        (255 and one transparent), then halved in size until it fits; ``None``: no limit.

    Returns
    -------
    png : bytes
        The picture.
    corners : list of (lon, lat)
        The image's lower-left, lower-right, upper-right and upper-left corners (the order
        of ``gx:LatLonQuad``), 8 decimals.

    Raises
    ------
    InvalidParameterError
        ``max_px`` or ``max_bytes`` is below 1, or the raster has no CRS, is not 8-bit,
        or has 2 bands.
    """
    from PIL import Image

    if isinstance(max_px, bool) or not isinstance(max_px, int | np.integer) or max_px < 1:
        raise InvalidParameterError(
            f"The 'max_px' parameter must be a positive integer; got {max_px!r}."
        )
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int | np.integer) or max_bytes < 1
    ):
        raise InvalidParameterError(
            f"The 'max_bytes' parameter must be a positive integer or None; got {max_bytes!r}."
        )
    with rasterio.open(tif_path) as full:
        long_side = max(full.width, full.height)
    with open_decimated(tif_path, extent_px=long_side, max_px=max_px) as src:
        if src.crs is None:
            raise InvalidParameterError(
                f"The true-colour raster {tif_path} has no CRS; expected a georeferenced GeoTIFF."
            )
        if src.dtypes[0] != "uint8" or src.count == 2:
            raise InvalidParameterError(
                f"The true-colour raster {tif_path} must be 8-bit RGB or greyscale; found "
                f"{src.count} band(s) of {src.dtypes[0]}."
            )
        factor = max(src.width, src.height) / max_px
        if factor > 1:
            shape = (max(1, round(src.height / factor)), max(1, round(src.width / factor)))
        else:
            shape = (src.height, src.width)
        bands = [1, 2, 3] if src.count >= 3 else [1, 1, 1]
        rgb = src.read(bands, out_shape=(3, *shape), resampling=Resampling.average)
        if src.nodata is not None:
            alpha = np.where(np.all(rgb == src.nodata, axis=0), 0, 255).astype("uint8")
        else:
            alpha = src.dataset_mask(out_shape=shape, resampling=Resampling.nearest)
            alpha = np.where(alpha > 0, 255, 0).astype("uint8")
        h, w = src.height, src.width
        px = [(0, h), (w, h), (w, 0), (0, 0)]  # lower-left, then counter-clockwise
        xs, ys = zip(*(src.transform * p for p in px), strict=True)
        to_wgs84 = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
        lon, lat = to_wgs84.transform(np.array(xs), np.array(ys))
    rgba = np.dstack([*rgb, alpha])
    png = b""
    if max_bytes is not None:
        # a quick zlib level 1 first (a quarter of level 6's time): when even 20 % less
        # would not fit, the picture becomes the 256-colour PNG without the level 6 try
        # (level 6 saves 14 % over level 1 on a Landsat scene's true colour; 20 % is rare)
        quick = io.BytesIO()
        Image.fromarray(rgba).save(quick, format="PNG", compress_level=1)
        if 0.8 * len(quick.getvalue()) > max_bytes:
            png = _palette_png(rgba, int(max_bytes))
    if not png:
        buf = io.BytesIO()
        # zlib level 6, not optimize=True (level 9 and filter trials: 3x the time for ~3 %
        # less); a picture over max_bytes becomes a smaller 256-colour PNG anyway
        Image.fromarray(rgba).save(buf, format="PNG", compress_level=6)
        png = buf.getvalue()
        if max_bytes is not None and len(png) > max_bytes:
            png = _palette_png(rgba, int(max_bytes))
    corners = [
        (round(float(x), DEGREE_DECIMALS), round(float(y), DEGREE_DECIMALS))
        for x, y in zip(lon, lat, strict=True)
    ]
    return png, corners


def _palette_png(rgba: np.ndarray, max_bytes: int) -> bytes:
    """RGBA picture as a 256-colour PNG (index 255 transparent), halved until ``max_bytes``.

    A scene in full colour compresses badly (~4.8 MB for a Landsat scene at 2048 pixels);
    with 255 colours it takes about a quarter of that and looks the same in Google Earth.
    """
    from PIL import Image

    image = Image.fromarray(rgba, "RGBA")
    while True:
        rgb = image.convert("RGB")
        paletted = rgb.quantize(255, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        index = np.asarray(paletted).copy()
        index[np.asarray(image)[..., 3] == 0] = 255
        out = Image.fromarray(index, "P")
        colours = (paletted.getpalette() or [])[: 255 * 3]
        out.putpalette([*colours, *[0] * (768 - len(colours))])  # index 255: transparent
        buf = io.BytesIO()
        out.save(buf, format="PNG", optimize=True, transparency=255)
        if buf.tell() <= max_bytes or min(image.size) <= 64:
            return buf.getvalue()
        image = image.resize(
            (max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BOX
        )
