"""QGIS styles for a run folder: vector layers and rasters that open styled.

Two mechanisms, both read by QGIS 3 without any plugin:

- vector layers: the styles are stored in the GeoPackage itself, in the ``layer_styles``
  table QGIS writes when you choose *Save Style… → In Database (GeoPackage)*. QGIS applies
  the row flagged ``useAsDefault`` when the layer is loaded;
- rasters: a ``.qml`` file beside each GeoTIFF with the same stem. QGIS loads a same-named
  ``.qml`` as the layer's default style.

The QML builders return the XML as text (QGIS 3.28 layout, symbol-layer properties as
``<Option type="Map">``), so they can also be saved by hand and loaded through
*Layer Properties → Style → Load Style*.

Category values and labels come from the data (zone kinds, raster names): ElementTree
escapes markup in them, and characters XML 1.0 cannot hold (NUL and other control
characters) are replaced with U+FFFD before a style is returned, so QGIS always parses it.
"""

from __future__ import annotations

import math
import sqlite3
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np

from geo._text import xml_chars
from geo.errors import InputNotFoundError, InvalidParameterError, VectorError
from geo.export._common import atomic_path, open_decimated

__all__ = [
    "QGIS_VERSION",
    "licence_style_qml",
    "occurrence_style_qml",
    "raster_style_qml",
    "structure_style_qml",
    "style_run_geopackage",
    "target_style_qml",
    "write_layer_styles",
    "write_raster_styles",
    "zone_colour",
    "zone_style_qml",
]

#: Version written in the QML header; QGIS reads styles of older versions without complaint.
QGIS_VERSION = "3.28.0-Firenze"
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
_UNIT_SCALE = "3x:0,0,0,0,0,0"

#: Rank classes of the target style: (lowest rank, highest rank or None for open, RGB, label).
RANK_CLASSES: tuple[tuple[int, int | None, tuple[int, int, int]], ...] = (
    (1, 3, (215, 25, 28)),  # red
    (4, 10, (253, 141, 60)),  # orange
    (11, None, (255, 221, 51)),  # yellow
)
_FILL_ALPHA = 90  # semi-transparent fill: the scene stays visible under the targets

_IRON_WORDS = ("iron", "ferric", "ferrous", "gossan", "hematite", "goethite", "jarosite", "oxide")
_CLAY_WORDS = ("clay", "hydroxyl", "aloh", "mgoh", "argillic", "phyllic", "kaolin", "sericite")
_IRON_RGB = (255, 127, 14)  # the quicklook's iron-oxide orange
_CLAY_RGB = (23, 190, 207)  # the quicklook's clay / hydroxyl cyan
#: Other zone kinds (SAM, classes, Crosta…): distinct colours, neither orange nor cyan.
_OTHER_RGB = (
    (227, 119, 194),
    (148, 103, 189),
    (44, 160, 44),
    (214, 39, 40),
    (140, 86, 75),
    (188, 189, 34),
    (31, 119, 180),
    (127, 127, 127),
)

#: Layers of ``targets.gpkg`` that :func:`style_run_geopackage` styles, in that order.
RUN_LAYERS = ("targets", "zones", "licences", "occurrences", "structures")

#: Largest side, in pixels, of the decimated read used for raster statistics.
_STATS_PIXELS = 1024
#: Percentiles giving the colour-ramp limits of continuous rasters (like QGIS's cumulative cut).
_CUT = (2.0, 98.0)
_CLASS_RASTERS = ("classes", "sam_group", "kmeans_clusters")


# --------------------------------------------------------------------------- XML helpers


def _layer_flags(root: ET.Element) -> None:
    """Add the layer flags every QGIS style carries (identifiable, removable, searchable)."""
    flags = ET.SubElement(root, "flags")
    for flag, value in (("Identifiable", 1), ("Removable", 1), ("Searchable", 1), ("Private", 0)):
        ET.SubElement(flags, flag).text = str(value)


def _rgba(rgb: Sequence[int], alpha: int = 255) -> str:
    return f"{int(rgb[0])},{int(rgb[1])},{int(rgb[2])},{int(alpha)}"


def _hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb[:3]))


def _option_map(parent: ET.Element, options: Mapping[str, object], name: str | None = None):
    """Append ``<Option type="Map">`` holding one QString ``<Option>`` per key."""
    node = ET.SubElement(parent, "Option", {"type": "Map"} | ({"name": name} if name else {}))
    for key, value in options.items():
        ET.SubElement(node, "Option", {"name": key, "value": str(value), "type": "QString"})
    return node


def _data_defined(parent: ET.Element, tag: str = "data_defined_properties") -> None:
    """Append the empty data-defined property collection QGIS writes everywhere."""
    node = ET.SubElement(ET.SubElement(parent, tag), "Option", {"type": "Map"})
    ET.SubElement(node, "Option", {"name": "name", "value": "", "type": "QString"})
    ET.SubElement(node, "Option", {"name": "properties"})
    ET.SubElement(node, "Option", {"name": "type", "value": "collection", "type": "QString"})


def _symbol(parent: ET.Element, kind: str, name: str, layer_class: str, options: dict) -> None:
    """Append a one-layer ``<symbol>`` (kind ``fill``, ``line`` or ``marker``)."""
    symbol = ET.SubElement(
        parent,
        "symbol",
        {
            "type": kind,
            "name": name,
            "alpha": "1",
            "clip_to_extent": "1",
            "force_rhr": "0",
            "is_animated": "0",
            "frame_rate": "10",
        },
    )
    _data_defined(symbol)
    layer = ET.SubElement(
        symbol, "layer", {"class": layer_class, "enabled": "1", "locked": "0", "pass": "0"}
    )
    _option_map(layer, options)
    _data_defined(layer)


def _fill(
    fill: Sequence[int] | None,
    outline: Sequence[int],
    *,
    fill_alpha: int = _FILL_ALPHA,
    width: float = 0.8,
    dashed: bool = False,
) -> dict[str, str]:
    """Properties of a ``SimpleFill`` symbol layer (``fill=None``: outline only)."""
    return {
        "border_width_map_unit_scale": _UNIT_SCALE,
        "color": _rgba(
            fill if fill is not None else outline, fill_alpha if fill is not None else 0
        ),
        "joinstyle": "bevel",
        "offset": "0,0",
        "offset_map_unit_scale": _UNIT_SCALE,
        "offset_unit": "MM",
        "outline_color": _rgba(outline),
        "outline_style": "dash" if dashed else "solid",
        "outline_width": f"{width:g}",
        "outline_width_unit": "MM",
        "style": "solid" if fill is not None else "no",
    }


def _line(rgb: Sequence[int], *, width: float = 0.6) -> dict[str, str]:
    """Properties of a ``SimpleLine`` symbol layer."""
    return {
        "align_dash_pattern": "0",
        "capstyle": "round",
        "customdash": "5;2",
        "customdash_map_unit_scale": _UNIT_SCALE,
        "customdash_unit": "MM",
        "dash_pattern_offset": "0",
        "dash_pattern_offset_map_unit_scale": _UNIT_SCALE,
        "dash_pattern_offset_unit": "MM",
        "draw_inside_polygon": "0",
        "joinstyle": "round",
        "line_color": _rgba(rgb),
        "line_style": "solid",
        "line_width": f"{width:g}",
        "line_width_unit": "MM",
        "offset": "0",
        "offset_map_unit_scale": _UNIT_SCALE,
        "offset_unit": "MM",
        "ring_filter": "0",
        "trim_distance_end": "0",
        "trim_distance_end_map_unit_scale": _UNIT_SCALE,
        "trim_distance_end_unit": "MM",
        "trim_distance_start": "0",
        "trim_distance_start_map_unit_scale": _UNIT_SCALE,
        "trim_distance_start_unit": "MM",
        "tweak_dash_pattern_on_corners": "0",
        "use_custom_dash": "0",
        "width_map_unit_scale": _UNIT_SCALE,
    }


def _marker(shape: str, fill: Sequence[int], outline: Sequence[int], *, size: float) -> dict:
    """Properties of a ``SimpleMarker`` symbol layer (``shape``: star, circle, …)."""
    return {
        "angle": "0",
        "cap_style": "square",
        "color": _rgba(fill),
        "horizontal_anchor_point": "1",
        "joinstyle": "bevel",
        "name": shape,
        "offset": "0,0",
        "offset_map_unit_scale": _UNIT_SCALE,
        "offset_unit": "MM",
        "outline_color": _rgba(outline),
        "outline_style": "solid",
        "outline_width": "0.3",
        "outline_width_map_unit_scale": _UNIT_SCALE,
        "outline_width_unit": "MM",
        "scale_method": "diameter",
        "size": f"{size:g}",
        "size_map_unit_scale": _UNIT_SCALE,
        "size_unit": "MM",
        "vertical_anchor_point": "1",
    }


def _vector_root(*, labels: bool) -> ET.Element:
    root = ET.Element(
        "qgis",
        {
            "version": QGIS_VERSION,
            "styleCategories": "AllStyleCategories",
            "labelsEnabled": "1" if labels else "0",
            "hasScaleBasedVisibilityFlag": "0",
            "minScale": "100000000",
            "maxScale": "0",
            "readOnly": "0",
            "simplifyAlgorithm": "0",
            "simplifyDrawingHints": "1",
            "simplifyDrawingTol": "1",
            "simplifyLocal": "1",
            "simplifyMaxScale": "1",
            "symbologyReferenceScale": "-1",
        },
    )
    _layer_flags(root)
    return root


def _renderer(root: ET.Element, kind: str, **attrs: str) -> ET.Element:
    return ET.SubElement(
        root,
        "renderer-v2",
        {
            "type": kind,
            "forceraster": "0",
            "symbollevels": "0",
            "enableorderby": "0",
            "referencescale": "-1",
        }
        | attrs,
    )


def _labeling(
    root: ET.Element,
    field: str,
    *,
    layer_type: str,
    placement: int,
    size: float = 9,
    bold: bool = False,
    italic: bool = False,
    colour: Sequence[int] = (0, 0, 0),
    display_all: bool = False,
    priority: int = 5,
    dist: float = 0,
    z_index: int = 0,
) -> None:
    """Append simple labeling on ``field`` with a white halo (text buffer).

    ``placement`` is QGIS's ``Qgis::LabelPlacement``: 0 around point, 1 over point
    (polygon: offset from centroid), 2 parallel to line, 4 horizontal (polygon).
    """
    labeling = ET.SubElement(root, "labeling", {"type": "simple"})
    settings = ET.SubElement(labeling, "settings", {"calloutType": "simple"})
    style = ET.SubElement(
        settings,
        "text-style",
        {
            "fieldName": field,
            "isExpression": "0",
            "fontFamily": "Arial",
            "namedStyle": ("Bold " if bold else "") + ("Italic" if italic else "") or "Regular",
            "fontSize": f"{size:g}",
            "fontSizeUnit": "Point",
            "fontSizeMapUnitScale": _UNIT_SCALE,
            "fontWeight": "75" if bold else "50",
            "fontItalic": "1" if italic else "0",
            "fontUnderline": "0",
            "fontStrikeout": "0",
            "fontKerning": "1",
            "fontLetterSpacing": "0",
            "fontWordSpacing": "0",
            "textColor": _rgba(colour),
            "textOpacity": "1",
            "textOrientation": "horizontal",
            "blendMode": "0",
            "multilineHeight": "1",
            "previewBkgrdColor": "255,255,255,255",
            "capitalization": "0",
            "allowHtml": "0",
            "useSubstitutions": "0",
            "legendString": "Aa",
        },
    )
    ET.SubElement(
        style,
        "text-buffer",
        {
            "bufferDraw": "1",
            "bufferSize": "1",
            "bufferSizeUnits": "MM",
            "bufferSizeMapUnitScale": _UNIT_SCALE,
            "bufferColor": "255,255,255,255",
            "bufferOpacity": "0.85",
            "bufferNoFill": "1",
            "bufferJoinStyle": "128",
            "bufferBlendMode": "0",
        },
    )
    ET.SubElement(
        style,
        "text-mask",
        {
            "maskEnabled": "0",
            "maskType": "0",
            "maskSize": "0",
            "maskSizeUnits": "MM",
            "maskSizeMapUnitScale": _UNIT_SCALE,
            "maskOpacity": "1",
            "maskJoinStyle": "128",
            "maskedSymbolLayers": "",
        },
    )
    ET.SubElement(style, "background", {"shapeDraw": "0", "shapeType": "0"})
    ET.SubElement(style, "shadow", {"shadowDraw": "0"})
    _data_defined(style, "dd_properties")
    ET.SubElement(style, "substitutions")
    ET.SubElement(
        settings,
        "text-format",
        {
            "wrapChar": "",
            "autoWrapLength": "0",
            "useMaxLineLengthForAutoWrap": "1",
            "multilineAlign": "3",
            "formatNumbers": "0",
            "decimals": "3",
            "plussign": "0",
            "addDirectionSymbol": "0",
            "leftDirectionSymbol": "<",
            "rightDirectionSymbol": ">",
            "reverseDirectionSymbol": "0",
            "placeDirectionSymbol": "0",
        },
    )
    ET.SubElement(
        settings,
        "placement",
        {
            "placement": str(placement),
            "layerType": layer_type,
            "placementFlags": "10",
            "polygonPlacementFlags": "2",
            "centroidInside": "1",
            "centroidWhole": "0",
            "fitInPolygonOnly": "0",
            "dist": f"{dist:g}",
            "distUnits": "MM",
            "distMapUnitScale": _UNIT_SCALE,
            "quadOffset": "4",
            "xOffset": "0",
            "yOffset": "0",
            "offsetType": "0",
            "offsetUnits": "MM",
            "labelOffsetMapUnitScale": _UNIT_SCALE,
            "rotationAngle": "0",
            "preserveRotation": "1",
            "priority": str(priority),
            "maxCurvedCharAngleIn": "25",
            "maxCurvedCharAngleOut": "-25",
            "repeatDistance": "0",
            "repeatDistanceUnits": "MM",
            "repeatDistanceMapUnitScale": _UNIT_SCALE,
            "overrunDistance": "0",
            "overrunDistanceUnit": "MM",
            "overrunDistanceMapUnitScale": _UNIT_SCALE,
            "lineAnchorPercent": "0.5",
            "lineAnchorType": "0",
            "predefinedPositionOrder": "TR,TL,BR,BL,R,L,TSR,BSR",
            "geometryGenerator": "",
            "geometryGeneratorEnabled": "0",
            "geometryGeneratorType": "PointGeometry",
        },
    )
    ET.SubElement(
        settings,
        "rendering",
        {
            "drawLabels": "1",
            "displayAll": "1" if display_all else "0",
            "obstacle": "1",
            "obstacleFactor": "1",
            "obstacleType": "0",
            "scaleVisibility": "0",
            "scaleMin": "0",
            "scaleMax": "0",
            "fontLimitPixelSize": "0",
            "fontMinPixelSize": "3",
            "fontMaxPixelSize": "10000",
            "labelPerPart": "0",
            "mergeLines": "0",
            "limitNumLabels": "0",
            "maxNumLabels": "2000",
            "minFeatureSize": "0",
            "upsidedownLabels": "0",
            "unplacedVisibility": "0",
            "zIndex": str(z_index),
        },
    )
    _data_defined(settings, "dd_properties")
    callout = ET.SubElement(settings, "callout", {"type": "simple"})
    _option_map(callout, {"enabled": "0"})


def _finish(root: ET.Element, *, geometry: int | None = None, preview: str | None = None) -> str:
    """Append the layer-level trailer and serialise with the QGIS doctype."""
    ET.SubElement(root, "blendMode").text = "0"
    if geometry is not None:  # vector layer
        ET.SubElement(root, "featureBlendMode").text = "0"
        ET.SubElement(root, "layerOpacity").text = "1"
        ET.SubElement(root, "legend", {"type": "default-vector", "showLabelLegend": "0"})
        if preview:
            ET.SubElement(root, "previewExpression").text = f'"{preview}"'
        ET.SubElement(root, "layerGeometryType").text = str(geometry)
    ET.indent(root, space="  ")
    # ElementTree writes control characters as they are; no markup contains one
    return _DOCTYPE + "\n" + xml_chars(ET.tostring(root, encoding="unicode")) + "\n"


def _uuid(text: str) -> str:
    """Return a stable ``{uuid}`` for a range or category (same style, same file)."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "geo-qgis:" + text)) + "}"


# --------------------------------------------------------------------------- vector styles


def _rank_classes(max_rank: int) -> list[tuple[int, int, tuple[int, int, int], str]]:
    """Rank classes present up to ``max_rank``: (lower, upper, RGB, label)."""
    top = max(int(max_rank), 1)
    classes = []
    for lower, upper, rgb in RANK_CLASSES:
        if lower > top:
            break
        high = upper if upper is not None else max(top, lower)
        label = f"Rank {lower}–{high}" if high > lower else f"Rank {lower}"
        classes.append((lower, high, rgb, label))
    return classes


def target_style_qml(max_rank: int) -> str:
    """QML of the ``targets`` layer: graduated by ``rank``, labelled with ``target_id``.

    Ranks 1–3 are red, 4–10 orange, 11 and beyond yellow; fills are semi-transparent with a
    strong outline in the same hue, and every label is drawn (the id is what the field
    team writes down). Only the classes up to ``max_rank`` are listed, so the legend shows
    no empty class; the last class ends at ``max_rank`` (write the style again after
    re-ranking, as :func:`style_run_geopackage` does).

    Range bounds are contiguous (1–3, 3–10, 10–``max_rank``) like the ranges QGIS builds
    itself; integer ranks fall in the right class whether the lower bound is inclusive.

    Examples
    --------
    >>> root = ET.fromstring(target_style_qml(12))
    >>> renderer = root.find("renderer-v2")
    >>> renderer.get("type"), renderer.get("attr"), len(renderer.find("ranges"))
    ('graduatedSymbol', 'rank', 3)
    >>> root.find("labeling/settings/text-style").get("fieldName")
    'target_id'
    """
    if isinstance(max_rank, bool) or not isinstance(max_rank, int | np.integer):
        raise InvalidParameterError(
            f"target_style_qml: max_rank must be an integer (the largest target rank). "
            f"Got {max_rank!r} instead."
        )
    root = _vector_root(labels=True)
    renderer = _renderer(root, "graduatedSymbol", attr="rank", graduatedMethod="GraduatedColor")
    ranges = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    previous = None
    for i, (lower, upper, rgb, label) in enumerate(_rank_classes(max_rank)):
        low = lower if previous is None else previous
        ET.SubElement(
            ranges,
            "range",
            {
                "lower": f"{low:.15f}",
                "upper": f"{upper:.15f}",
                "symbol": str(i),
                "label": label,
                "render": "true",
                "uuid": _uuid(f"rank-{lower}"),
            },
        )
        previous = upper
        dark = tuple(int(c * 0.7) for c in rgb)
        _symbol(symbols, "fill", str(i), "SimpleFill", _fill(rgb, dark, width=0.9))
    ET.SubElement(renderer, "classificationMethod", {"id": "Manual"})
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    _labeling(
        root,
        "target_id",
        layer_type="PolygonGeometry",
        placement=1,
        size=10,
        bold=True,
        display_all=True,
        priority=10,
        z_index=2,
    )
    return _finish(root, geometry=2, preview="target_id")


def zone_colour(kind: str, others: Sequence[str] = ()) -> tuple[int, int, int]:
    """Colour of a zone kind: orange for iron-oxide-like, cyan for clay/hydroxyl-like.

    Other kinds take distinct colours in the order they appear in ``others``.

    Examples
    --------
    >>> zone_colour("iron_oxide"), zone_colour("sam_kaolinite")
    ((255, 127, 14), (23, 190, 207))
    """
    lower = kind.lower()
    if any(word in lower for word in _IRON_WORDS):
        return _IRON_RGB
    if any(word in lower for word in _CLAY_WORDS):
        return _CLAY_RGB
    index = list(others).index(kind) if kind in others else len(others)
    return _OTHER_RGB[index % len(_OTHER_RGB)]


def zone_style_qml(kinds: Sequence[str]) -> str:
    """QML of the ``zones`` layer: categorised by ``kind``, light fill and coloured outline.

    Iron-oxide-like kinds (iron, ferric, gossan, …) are orange, clay/hydroxyl-like kinds
    cyan (the quicklook's colours); other kinds (SAM, classes, Crosta) get distinct colours.

    Examples
    --------
    >>> root = ET.fromstring(zone_style_qml(["iron_oxide", "clay_hydroxyl"]))
    >>> [c.get("value") for c in root.find("renderer-v2/categories")]
    ['iron_oxide', 'clay_hydroxyl']
    """
    # a kind XML cannot hold (a control character) could not match its data anyway
    kinds = list(dict.fromkeys(xml_chars(k) for k in kinds))
    others = [k for k in kinds if zone_colour(k, ()) not in (_IRON_RGB, _CLAY_RGB)]
    root = _vector_root(labels=False)
    renderer = _renderer(root, "categorizedSymbol", attr="kind")
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, kind in enumerate(kinds):
        ET.SubElement(
            categories,
            "category",
            {
                "value": kind,
                "symbol": str(i),
                "label": kind.replace("_", " "),
                "render": "true",
                "type": "string",
                "uuid": _uuid(f"zone-{kind}"),
            },
        )
        rgb = zone_colour(kind, others)
        _symbol(symbols, "fill", str(i), "SimpleFill", _fill(rgb, rgb, fill_alpha=45, width=0.5))
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    return _finish(root, geometry=2, preview="zone_id")


def licence_style_qml() -> str:
    """QML of the ``licences`` layer: no fill, dashed purple outline, labelled ``licence_id``.

    Examples
    --------
    >>> root = ET.fromstring(licence_style_qml())
    >>> root.find("renderer-v2").get("type"), root.find("labeling/settings/text-style").get("fieldName")
    ('singleSymbol', 'licence_id')
    """
    root = _vector_root(labels=True)
    renderer = _renderer(root, "singleSymbol")
    symbols = ET.SubElement(renderer, "symbols")
    _symbol(symbols, "fill", "0", "SimpleFill", _fill(None, (106, 61, 154), width=0.7, dashed=True))
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    _labeling(
        root,
        "licence_id",
        layer_type="PolygonGeometry",
        placement=4,
        size=8,
        italic=True,
        colour=(106, 61, 154),
        priority=3,
    )
    return _finish(root, geometry=2, preview="licence_id")


def occurrence_style_qml() -> str:
    """QML of the ``occurrences`` layer: magenta star markers labelled with ``name``."""
    root = _vector_root(labels=True)
    renderer = _renderer(root, "singleSymbol")
    symbols = ET.SubElement(renderer, "symbols")
    _symbol(
        symbols, "marker", "0", "SimpleMarker", _marker("star", (230, 0, 200), (40, 0, 40), size=5)
    )
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    _labeling(root, "name", layer_type="PointGeometry", placement=0, size=8, dist=1.5, priority=4)
    return _finish(root, geometry=0, preview="name")


def structure_style_qml() -> str:
    """QML of the ``structures`` layer: red lines (faults, lineaments)."""
    root = _vector_root(labels=False)
    renderer = _renderer(root, "singleSymbol")
    symbols = ET.SubElement(renderer, "symbols")
    _symbol(symbols, "line", "0", "SimpleLine", _line((220, 20, 30), width=0.6))
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    return _finish(root, geometry=1, preview="name")


# --------------------------------------------------------------------------- GeoPackage

_LAYER_STYLES_SQL = """CREATE TABLE "layer_styles" (
"id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
"f_table_catalog" TEXT(256),
"f_table_schema" TEXT(256),
"f_table_name" TEXT(256),
"f_geometry_column" TEXT(256),
"styleName" TEXT(30),
"styleQML" TEXT,
"styleSLD" TEXT,
"useAsDefault" BOOLEAN,
"description" TEXT,
"owner" TEXT(30),
"ui" TEXT(30),
"update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _ensure_layer_styles(con: sqlite3.Connection) -> None:
    """Create ``layer_styles`` as GDAL does when QGIS saves a style into a GeoPackage."""
    tables = _tables(con)
    if "layer_styles" not in tables:
        con.execute(_LAYER_STYLES_SQL)
    registered = con.execute(
        "SELECT 1 FROM gpkg_contents WHERE lower(table_name) = 'layer_styles'"
    ).fetchone()
    if not registered:
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            f"last_change, srs_id) VALUES ('layer_styles', 'attributes', 'layer_styles', '', "
            f"{_NOW}, 0)"
        )
    if "gpkg_ogr_contents" in tables:
        has_row = con.execute(
            "SELECT 1 FROM gpkg_ogr_contents WHERE lower(table_name) = 'layer_styles'"
        ).fetchone()
        if not has_row:
            (count,) = con.execute("SELECT COUNT(*) FROM layer_styles").fetchone()
            con.execute(
                "INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, ?)",
                ("layer_styles", count),
            )
        for event, sign in (("insert", "+"), ("delete", "-")):
            con.execute(
                f'CREATE TRIGGER IF NOT EXISTS "trigger_{event}_feature_count_layer_styles" '
                f'AFTER {event.upper()} ON "layer_styles" BEGIN UPDATE gpkg_ogr_contents SET '
                f"feature_count = feature_count {sign} 1 WHERE lower(table_name) = "
                "lower('layer_styles'); END"
            )


def _geometry_columns(con: sqlite3.Connection, path: Path) -> dict[str, str]:
    if "gpkg_geometry_columns" not in _tables(con):
        raise VectorError(
            f"{path}: not a GeoPackage (no gpkg_geometry_columns table); give the "
            "targets.gpkg of a run."
        )
    return dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))


def write_layer_styles(
    gpkg_path: str | Path, styles: Mapping[str, str], *, default: bool = True
) -> None:
    """Store QML styles in a GeoPackage's ``layer_styles`` table, as QGIS does.

    The table has QGIS's columns (``id``, ``f_table_catalog``, ``f_table_schema``,
    ``f_table_name``, ``f_geometry_column``, ``styleName``, ``styleQML``, ``styleSLD``,
    ``useAsDefault``, ``description``, ``owner``, ``ui``, ``update_time``) and is registered
    in ``gpkg_contents`` as ``attributes`` (with GDAL's feature-count bookkeeping), so GDAL
    lists it as a non-spatial table and QGIS finds it. ``f_geometry_column`` comes from
    ``gpkg_geometry_columns``; catalog and schema are empty strings, as QGIS writes them.

    Parameters
    ----------
    gpkg_path
        An existing GeoPackage.
    styles
        ``{layer name: QML text}``.
    default
        Flag the styles ``useAsDefault`` (QGIS applies them when the layer is loaded);
        other styles of the same layers lose the flag.

    A style of the same name (``geo <layer>``) written earlier for the same layer is
    replaced; styles saved under other names (e.g. by a user in QGIS) are kept.

    Raises
    ------
    InputNotFoundError
        The file does not exist.
    VectorError
        The file is not a GeoPackage, or a layer is not in it.
    """
    path = Path(gpkg_path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: GeoPackage not found; give the targets.gpkg of a run.")
    with closing(sqlite3.connect(path)) as con:
        geometry = _geometry_columns(con, path)
        missing = [name for name in styles if name not in geometry]
        if missing:
            raise VectorError(
                f"{path}: no spatial layer {', '.join(map(repr, missing))} to style; the "
                f"GeoPackage has {', '.join(sorted(geometry)) or 'no spatial layers'}."
            )
        with con:  # one transaction: all styles or none
            _ensure_layer_styles(con)
            for layer, qml in styles.items():
                name = f"geo {layer}"[:30]
                con.execute(
                    "DELETE FROM layer_styles WHERE f_table_name = ? AND styleName = ?",
                    (layer, name),
                )
                if default:
                    con.execute(
                        "UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_name = ?",
                        (layer,),
                    )
                con.execute(
                    "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                    "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, "
                    f"description, owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', ?, "
                    f"?, '', '', {_NOW})",
                    (
                        layer,
                        geometry[layer],
                        name,
                        qml,
                        1 if default else 0,
                        f"Style of the {layer} layer written by geo",
                    ),
                )
            con.execute(
                f"UPDATE gpkg_contents SET last_change = {_NOW} WHERE table_name = 'layer_styles'"
            )


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f'PRAGMA table_info("{table}")')}


def style_run_geopackage(gpkg_path: str | Path) -> list[str]:
    """Style every known layer of a run's ``targets.gpkg``; return the styled layer names.

    Styles ``targets`` (rank classes up to the largest rank in the file), ``zones`` (the
    kinds present), ``licences``, ``occurrences`` and ``structures`` when present, as the
    default QGIS style of each layer (see :func:`write_layer_styles`).
    """
    path = Path(gpkg_path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: GeoPackage not found; give the targets.gpkg of a run.")
    with closing(sqlite3.connect(path)) as con:
        present = _geometry_columns(con, path)
        styles: dict[str, str] = {}
        for layer in RUN_LAYERS:
            if layer not in present:
                continue
            columns = _columns(con, layer)
            if layer == "targets":
                top = 1
                if "rank" in columns:
                    (value,) = con.execute('SELECT MAX("rank") FROM "targets"').fetchone()
                    top = int(value) if value is not None else 1
                styles[layer] = target_style_qml(top)
            elif layer == "zones":
                kinds: list[str] = []
                if "kind" in columns:
                    kinds = [
                        str(r[0])
                        for r in con.execute(
                            'SELECT DISTINCT "kind" FROM "zones" WHERE "kind" IS NOT NULL '
                            'ORDER BY "kind"'
                        )
                    ]
                styles[layer] = zone_style_qml(kinds)
            elif layer == "licences":
                styles[layer] = licence_style_qml()
            elif layer == "occurrences":
                styles[layer] = occurrence_style_qml()
            else:
                styles[layer] = structure_style_qml()
    write_layer_styles(path, styles)
    return list(styles)


# --------------------------------------------------------------------------- raster styles


def _ramp(name: str, n: int = 9) -> list[tuple[int, int, int]]:
    """``n`` evenly spaced colours of a matplotlib colour map."""
    from matplotlib import colormaps

    cmap = colormaps[name]
    colours = []
    for i in range(n):
        r, g, b, _ = cmap(i / (n - 1))
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours


#: Map colours (r, g, b) of the minerals and alteration assemblages of the imaging-
#: spectrometer maps: clays blue, alunite magenta, micas cyan, propylitic greens, carbonates
#: yellow-green, iron reds and oranges, vegetation greens and browns.
MINERAL_COLOURS: dict[str, tuple[int, int, int]] = {
    "kaolinite": (33, 102, 172),
    "alunite": (197, 27, 125),
    "pyrophyllite": (118, 42, 131),
    "white_mica": (0, 188, 212),
    "montmorillonite": (116, 169, 207),
    "jarosite": (254, 196, 79),
    "chlorite": (35, 139, 69),
    "epidote": (120, 198, 121),
    "calcite": (217, 240, 163),
    "dolomite": (173, 221, 142),
    "hematite": (215, 48, 31),
    "goethite": (236, 112, 20),
    "green_vegetation": (0, 90, 50),
    "dry_vegetation": (140, 110, 60),
    "advanced_argillic": (197, 27, 125),
    "argillic": (33, 102, 172),
    "phyllic": (0, 188, 212),
    "propylitic": (35, 139, 69),
    "carbonate": (217, 240, 163),
    "ferric_iron": (215, 48, 31),
}


def _raster_kind(name: str) -> tuple[str, str | None]:
    """Return ``(renderer kind, colour map)`` for a raster named ``name`` (file stem)."""
    lower = name.lower()
    if lower in ("mineral_vnir", "mineral_swir"):
        return "minerals", None
    if lower.startswith("class_probability"):
        return "none", None
    if lower == "true_colour":
        return "rgb", None
    if lower.endswith("_anomaly"):
        return "anomaly", None
    if lower == "mask_reasons":
        return "mask", None
    if lower in _CLASS_RASTERS:
        return "classes", None
    if lower.startswith("prospectivity"):
        return "continuous", "magma"
    if lower.startswith("membership_"):
        return "membership", "viridis"
    if lower.endswith("_z"):
        return "diverging", "RdBu_r"
    if lower.startswith("evidence_"):
        return "continuous", "PuBu_r"  # near (small distance, dark) is prospective
    if "ndvi" in lower:
        return "continuous", "Greens"
    if "ndwi" in lower:
        return "continuous", "Blues"
    return "continuous", "YlOrBr"


def _raster_root() -> ET.Element:
    root = ET.Element(
        "qgis",
        {
            "version": QGIS_VERSION,
            "styleCategories": "AllStyleCategories",
            "hasScaleBasedVisibilityFlag": "0",
            "minScale": "1e+08",
            "maxScale": "0",
        },
    )
    _layer_flags(root)
    custom = ET.SubElement(root, "customproperties")
    _option_map(custom, {"identify/format": "Value"})
    _data_defined(root, "pipe-data-defined-properties")
    return root


def _min_max_origin(parent: ET.Element) -> None:
    origin = ET.SubElement(parent, "minMaxOrigin")
    for tag, text in (
        ("limits", "None"),  # user-defined: the values written here are kept
        ("extent", "WholeRaster"),
        ("statAccuracy", "Estimated"),
        ("cumulativeCutLower", f"{_CUT[0] / 100:g}"),
        ("cumulativeCutUpper", f"{_CUT[1] / 100:g}"),
        ("stdDevFactor", "2"),
    ):
        ET.SubElement(origin, tag).text = text


def _pipe(root: ET.Element, renderer_attrs: dict[str, str]) -> tuple[ET.Element, ET.Element]:
    pipe = ET.SubElement(root, "pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(
        provider,
        "resampling",
        {
            "enabled": "false",
            "maxOversampling": "2",
            "zoomedInResamplingMethod": "nearestNeighbour",
            "zoomedOutResamplingMethod": "nearestNeighbour",
        },
    )
    renderer = ET.SubElement(
        pipe,
        "rasterrenderer",
        {"opacity": "1", "alphaBand": "-1", "nodataColor": ""} | renderer_attrs,
    )
    ET.SubElement(renderer, "rasterTransparency")
    _min_max_origin(renderer)
    return pipe, renderer


def _pipe_trailer(root: ET.Element, pipe: ET.Element) -> str:
    ET.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0", "gamma": "1"})
    ET.SubElement(
        pipe,
        "huesaturation",
        {
            "saturation": "0",
            "grayscaleMode": "0",
            "invertColors": "0",
            "colorizeOn": "0",
            "colorizeRed": "255",
            "colorizeGreen": "128",
            "colorizeBlue": "128",
            "colorizeStrength": "100",
        },
    )
    ET.SubElement(pipe, "rasterresampler", {"maxOversampling": "2"})
    ET.SubElement(pipe, "resamplingStage").text = "resamplingFilter"
    return _finish(root)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _pseudocolour(name: str, cmap: str, minimum: float, maximum: float) -> str:
    root = _raster_root()
    pipe, renderer = _pipe(
        root,
        {
            "type": "singlebandpseudocolor",
            "band": "1",
            "classificationMin": repr(float(minimum)),
            "classificationMax": repr(float(maximum)),
        },
    )
    shader = ET.SubElement(
        ET.SubElement(renderer, "rastershader"),
        "colorrampshader",
        {
            "colorRampType": "INTERPOLATED",
            "classificationMode": "1",  # continuous
            "clip": "0",
            "minimumValue": repr(float(minimum)),
            "maximumValue": repr(float(maximum)),
            "labelPrecision": "4",
        },
    )
    colours = _ramp(cmap)
    n = len(colours)
    ramp = ET.SubElement(shader, "colorramp", {"name": "[source]", "type": "gradient"})
    _option_map(
        ramp,
        {
            "color1": _rgba(colours[0]),
            "color2": _rgba(colours[-1]),
            "direction": "ccw",
            "discrete": "0",
            "rampType": "gradient",
            "spec": "rgb",
            "stops": ":".join(
                f"{i / (n - 1):.4g};{_rgba(c)}" for i, c in enumerate(colours[1:-1], 1)
            ),
        },
    )
    for i, colour in enumerate(colours):
        value = minimum + (maximum - minimum) * i / (n - 1)
        ET.SubElement(
            shader,
            "item",
            {
                "value": repr(float(value)),
                "color": _hex(colour),
                "alpha": "255",
                "label": _fmt(value),
            },
        )
    ET.SubElement(
        shader,
        "rampLegendSettings",
        {
            "minimumLabel": "",
            "maximumLabel": "",
            "prefix": "",
            "suffix": "",
            "direction": "0",
            "orientation": "2",
            "useContinuousLegend": "1",
        },
    )
    return _pipe_trailer(root, pipe)


def _paletted(entries: Iterable[tuple[int, Sequence[int], int, str]]) -> str:
    root = _raster_root()
    pipe, renderer = _pipe(root, {"type": "paletted", "band": "1"})
    palette = ET.SubElement(renderer, "colorPalette")
    for value, rgb, alpha, label in entries:
        ET.SubElement(
            palette,
            "paletteEntry",
            {
                "value": str(int(value)),
                "color": _hex(rgb),
                "alpha": str(int(alpha)),
                "label": label,
            },
        )
    return _pipe_trailer(root, pipe)


def _multiband() -> str:
    root = _raster_root()
    pipe, renderer = _pipe(
        root, {"type": "multibandcolor", "redBand": "1", "greenBand": "2", "blueBand": "3"}
    )
    for colour in ("red", "green", "blue"):
        enhancement = ET.SubElement(renderer, f"{colour}ContrastEnhancement")
        ET.SubElement(enhancement, "minValue").text = "0"
        ET.SubElement(enhancement, "maxValue").text = "255"
        ET.SubElement(enhancement, "algorithm").text = "NoEnhancement"
    return _pipe_trailer(root, pipe)


def _mask_label(code: int) -> str:
    from geo.spectral.masks import MASK_RULES

    reasons = [rule for bit, rule in enumerate(MASK_RULES) if code & (1 << bit)]
    unknown = code >> len(MASK_RULES)
    if unknown:
        reasons.append(f"bits {unknown << len(MASK_RULES)}")
    return " + ".join(reasons) or "valid"


def raster_style_qml(
    name: str,
    *,
    minimum: float = 0.0,
    maximum: float = 1.0,
    classes: Sequence[int] | None = None,
) -> str | None:
    """QML of a run raster chosen by its name (file stem); ``None`` for rasters left unstyled.

    ==========================================  =========================================
    name                                        style
    ==========================================  =========================================
    ``prospectivity*``                          pseudo-colour, magma, ``minimum``–``maximum``
    ``membership_*``                            pseudo-colour, viridis, fixed 0–1
    ``*_z``                                     pseudo-colour blue–white–red, symmetric: ±max(|min|, |max|)
    ``*_anomaly``                               paletted: 0 transparent, 1 red
    ``true_colour``                             RGB bands 1/2/3, no stretch
    ``mask_reasons``                            paletted: 0 transparent, each reason code grey
    ``classes``, ``sam_group``, ``kmeans_clusters``  paletted: a distinct colour per code in ``classes``
    ``mineral_vnir``, ``mineral_swir``          paletted: each mineral in its colour, named (assemblage)
    ``class_probability*``                      ``None`` (multi-band; QGIS's default)
    ``evidence_*``, indices, anything else      pseudo-colour, ``minimum``–``maximum``
    ==========================================  =========================================

    ``minimum``/``maximum`` are the ramp limits of continuous layers (use the 2nd/98th
    percentiles, as :func:`write_raster_styles` does); ``classes`` lists the codes present
    in a paletted layer (without its nodata value).

    Examples
    --------
    >>> qml = raster_style_qml("iron_oxide_z", minimum=-2.0, maximum=5.0)
    >>> shader = ET.fromstring(qml).find(".//colorrampshader")
    >>> shader.get("minimumValue"), shader.get("maximumValue")
    ('-5.0', '5.0')
    """
    kind, cmap = _raster_kind(name)
    if kind == "none":
        return None
    if kind == "rgb":
        return _multiband()
    if kind == "anomaly":
        return _paletted([(0, (0, 0, 0), 0, "not anomalous"), (1, (230, 20, 20), 255, "anomalous")])
    if kind == "minerals":
        from geo.spectral.minerals import mineral_legend

        legend = mineral_legend(name.lower().removeprefix("mineral_"))
        return _paletted(
            (0, (0, 0, 0), 0, "none")
            if code == 0
            else (code, MINERAL_COLOURS.get(mineral, (128, 128, 128)), 255, f"{mineral} ({group})")
            for code, mineral, group in legend[["code", "mineral", "group"]].itertuples(index=False)
            if code != 255
        )
    if kind in ("mask", "classes"):
        codes = sorted({int(c) for c in (classes if classes is not None else ())})
        if kind == "mask":
            codes = sorted({0, *codes})
            greys = np.linspace(90, 190, max(len(codes) - 1, 1)).astype(int)
            entries = [(0, (0, 0, 0), 0, "valid")] + [
                (code, (g, g, g), 200, _mask_label(code))
                for code, g in zip(codes[1:], greys, strict=False)
            ]
            return _paletted(entries)
        palette = _ramp("tab20", 20)
        palette = palette[0::2] + palette[1::2]  # the strong colours first
        return _paletted(
            (code, palette[i % len(palette)], 255, f"{name} {code}") for i, code in enumerate(codes)
        )
    lo, hi = float(minimum), float(maximum)
    if kind == "membership":
        lo, hi = 0.0, 1.0
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidParameterError(
            f"raster_style_qml({name!r}): minimum and maximum must be finite numbers. "
            f"Got {minimum!r} and {maximum!r} instead."
        )
    if kind == "diverging":
        half = max(abs(lo), abs(hi)) or 1.0
        lo, hi = -half, half
    if lo > hi:
        lo, hi = hi, lo
    if hi - lo <= 0:  # a constant layer still needs a ramp
        pad = abs(lo) * 0.01 or 0.5
        lo, hi = lo - pad, hi + pad
    return _pseudocolour(name, cmap or "viridis", lo, hi)


def _sample(path: Path) -> tuple[np.ndarray, int, float | None]:
    """Read band 1 decimated (overviews when present); return ``(values, band count, nodata)``."""
    import rasterio

    with rasterio.open(path) as full:
        long_side = max(full.height, full.width)
    with open_decimated(path, extent_px=long_side, max_px=_STATS_PIXELS) as src:
        # the overview as it is, thinned by an integer step: a resampled (out_shape) or
        # masked read of a float32 COG with NaN nodata decodes the full resolution instead
        step = max(1, int(max(src.height, src.width) // _STATS_PIXELS))
        data = src.read(1)[::step, ::step]
        nodata = src.nodata
        count = src.count
    values = data.ravel()
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        values = values[values != nodata]
    if values.dtype.kind == "f":
        values = values[np.isfinite(values)]
    return values, count, nodata


def write_raster_styles(rasters_dir: str | Path) -> list[Path]:
    """Write a ``.qml`` beside every ``*.tif`` of ``rasters_dir``; return the written paths.

    Statistics come from a decimated read (an overview when the COG has one, at most
    ~1024 pixels on the long side), never the full raster: the 2nd and 98th percentiles
    of valid pixels give the ramp of continuous layers, the codes present the palette of
    class layers. Rasters :func:`raster_style_qml` leaves unstyled get no file. Each QML
    is written atomically.

    Raises
    ------
    InputNotFoundError
        ``rasters_dir`` is not a folder.
    """
    folder = Path(rasters_dir)
    if not folder.is_dir():
        raise InputNotFoundError(f"{folder}: raster folder not found; give the rasters/ of a run.")
    written = []
    for tif in sorted(folder.glob("*.tif")):
        name = tif.stem
        kind, _ = _raster_kind(name)
        if kind in ("none", "rgb", "anomaly", "minerals"):
            qml = raster_style_qml(name)
        else:
            values, count, nodata = _sample(tif)
            if count > 1:  # a multi-band stack other than the true colour: leave QGIS's default
                continue
            if kind in ("mask", "classes"):
                codes = np.unique(values)
                if nodata is not None and math.isfinite(nodata):
                    codes = codes[codes != nodata]
                qml = raster_style_qml(name, classes=[int(c) for c in codes])
            elif values.size:
                low, high = np.percentile(values.astype("float64"), _CUT)
                qml = raster_style_qml(name, minimum=float(low), maximum=float(high))
            else:
                qml = raster_style_qml(name, minimum=0.0, maximum=1.0)
        if qml is None:
            continue
        target = tif.with_suffix(".qml")
        with atomic_path(target) as tmp:
            tmp.write_text(qml, encoding="utf-8")
        written.append(target)
    return written
