r"""A run's field report: one offline HTML page (interactive map, sortable table) and a PDF.

The HTML is self-contained: every picture is a base64 data URI, CSS and JavaScript are
inline, and nothing is fetched from the network, so the field team's laptop can open it
without internet. The PDF (A4 portrait) holds a summary page and one map sheet per target.

Sized for the field whatever the scene: given ``field_top`` (a run's ``field.top``), the
page's table, interactive map and sheets, and the PDF's pages, hold the field set only (the
best ``field_top`` targets, at most ``per_licence`` a licence:
:func:`~geo.export._common.select_field_targets`); the summary and the table's heading say
how many targets the run has and where the full table is (``targets.csv``,
``exports/targets_field.csv``, ``targets.gpkg``). No per-target work is done for the
others, except drawing them as neighbours on the map sheets. The page stays under
``max_bytes`` (:data:`REPORT_MAX_BYTES`): its pictures are PNG while the page fits, and
otherwise the largest become JPEG, then smaller JPEG, until it does.

Text from the run (licence ids, holders, statuses, occurrence and fault names, pipeline
name, warnings) is untrusted. The page is rendered by Jinja2 with autoescaping on and no
``|safe``: every value is HTML-escaped in text and in attributes (the inline SVG map
included). The only markup inserted as it is: the CSS and JavaScript shipped with geo,
and the page's data as JSON in a ``<script type="application/json">`` element with
``<``, ``>`` and ``&`` written as ``\u003c``, ``\u003e``, ``\u0026`` (no
``</script>`` or ``<!--`` can occur). Characters XML cannot hold are replaced with U+FFFD.
Text drawn by matplotlib (map sheets, PDF pages) has its ``$`` escaped, so it is never
read as mathtext (:func:`geo._text.mpl_text`).

A licence layer can hold tens of thousands of licences (a national cadastre), most of them
far from the targets. The report draws one by one (outline, label, tooltip) only the
licences that matter (:func:`~geo.export._common.licence_relevance`):

- licences that neither hold a target nor meet the scene are not drawn; the summary
  counts them;
- on the interactive map, when more than :data:`MAX_MAP_LICENCES` licences meet the
  scene, only those holding or touching a target are drawn one by one (or, when even
  those are more, the licences the targets are assigned to); the others are drawn
  together as one picture of their outlines at the basemap's resolution (so the page
  size does not grow with the number of licences), and the summary says so;
- on a map sheet, licence boundaries in view are drawn, and labelled when at most
  :data:`MAX_SHEET_LABELS` are in view; otherwise only the licences holding or touching
  the target are labelled, or the target's own licence when even those are too many
  (the caption says so).
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import importlib.resources
import io
import json
import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib.patheffects as pe
import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from geo._memory import release_memory
from geo._text import mpl_text, xml_chars
from geo._vectorfile import dates_as_text
from geo.errors import InputNotFoundError, InvalidParameterError, ProductError, VectorError
from geo.export._common import (
    atomic_path,
    draw_lines,
    field_coordinates,
    is_missing,
    licence_relevance,
    open_decimated,
    select_field_targets,
)
from geo.export.quicklook import draw_scale_and_north
from geo.progress import reporter

__all__ = [
    "MAX_MAP_LICENCES",
    "MAX_SHEET_LABELS",
    "REPORT_MAX_BYTES",
    "render_map_sheet",
    "write_report",
]

#: Licences drawn one by one on the interactive map; beyond, only those holding a target are.
MAX_MAP_LICENCES = 300
#: Licences labelled on a map sheet; beyond, only those holding or touching the target are.
MAX_SHEET_LABELS = 25

#: Largest ``report.html``, in bytes: beyond it the pictures are embedded as JPEG.
REPORT_MAX_BYTES = 5_000_000
#: JPEG (quality, scale) steps tried, largest pictures first, until the page fits.
_JPEG_STEPS = ((85, 1.0), (75, 1.0), (70, 0.85), (65, 0.7), (60, 0.55), (50, 0.4))
#: Long side, in pixels, of the basemap read for one map sheet (larger windows are decimated).
_SHEET_MAX_PX = 1000
#: Long side, in pixels, of the basemap picture in the interactive map.
_MAP_MAX_PX = 1600
_HALO = [pe.withStroke(linewidth=3, foreground="black")]
_RANK_CLASSES = (  # (last rank in class, colour, label)
    (3, "#ff2d2d", "rank 1–3"),
    (10, "#ff9f1a", "rank 4–10"),
    (math.inf, "#ffe45c", "rank > 10"),
)
_FALLBACK_COMPONENTS = ("iron_intensity", "clay_intensity", "coincidence", "area")


# --------------------------------------------------------------------------- helpers


def _figure(width: float, height: float, dpi: float = 100) -> Figure:
    """Return a figure outside pyplot's registry (nothing retained once dropped)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _text(value: Any, default: str = "—") -> str:
    """Printable text of a cell: empty, None and NaN become ``default``.

    Characters XML cannot hold are replaced with U+FFFD; escaping is the template's job
    (HTML) or :func:`geo._text.mpl_text`'s (matplotlib).
    """
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return default
    return xml_chars(value)


def _num(value: Any, fmt: str = ".3f", default: str = "—") -> str:
    if is_missing(value):
        return default
    try:
        return format(float(value), fmt)
    except (TypeError, ValueError):
        return str(value)


def _nice_interval(span_m: float, lines: int = 4) -> float:
    """Grid interval: the largest 1, 2, 2.5 or 5 × 10ⁿ m giving at least ``lines`` lines.

    Examples
    --------
    >>> _nice_interval(1800), _nice_interval(3000), _nice_interval(12_000)
    (250.0, 500.0, 2500.0)
    """
    target = max(span_m / lines, 1e-9)
    base = 10 ** math.floor(math.log10(target))
    return float(max(m * base for m in (1, 2, 2.5, 5) if m * base <= target))


def _scale_length(span_m: float) -> float:
    target = span_m / 5
    base = 10 ** math.floor(math.log10(target))
    return float(max(m * base for m in (1, 2, 5) if m * base <= target))


def _rank_colour(rank: Any) -> tuple[str, str]:
    r = math.inf if is_missing(rank) else float(rank)
    for last, colour, label in _RANK_CLASSES:
        if r <= last:
            return colour, label
    return _RANK_CLASSES[-1][1], _RANK_CLASSES[-1][2]


def _evidence(row: pd.Series, components: tuple[str, ...] = _FALLBACK_COMPONENTS) -> list:
    """Return what raised a target's score: ``[(name, value)]``, largest first.

    ``contrib_<layer>`` columns from a prospectivity score; otherwise the zone-based score
    components (iron and clay intensity, coincidence, area).
    """
    items = [
        (str(k).removeprefix("contrib_"), float(v))
        for k, v in row.items()
        if str(k).startswith("contrib_") and not is_missing(v)
    ]
    if not items:
        items = [
            (k, float(row[k])) for k in components if k in row.index and not is_missing(row[k])
        ]
    return sorted(items, key=lambda kv: -kv[1])


def _png_data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _drawn_png(fig: Figure) -> bytes:
    """PNG of a figure drawn once: the bytes of ``savefig(format="png")``, one draw fewer."""
    fig.canvas.draw()
    canvas: Any = fig.canvas  # a FigureCanvasAgg (see _figure)
    return _png_bytes(np.asarray(canvas.buffer_rgba()))


def _png_bytes(pixels: np.ndarray, *, fast: bool = False) -> bytes:
    """PNG of an RGB(A) uint8 array; ``fast``: zlib level 1 (a picture kept a moment)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buf, format="PNG", compress_level=1 if fast else 6
    )
    return buf.getvalue()


class _Picture:
    """A picture of the page: a PNG, or a JPEG when the page must be smaller.

    Made from a PNG's bytes (a run's picture), or drafted from a figure's pixels
    (``pixels``, the map sheets): those are kept zlib-compressed (level 1: several times
    faster to write and to read back than a PNG through PIL) until the page decides
    between a JPEG (:meth:`shrink`) and the final PNG (:meth:`settle`). Renders as its data
    URI in the template (``{{ picture }}``; base64 needs no escaping).
    """

    def __init__(
        self,
        png: bytes | None = None,
        background: tuple[int, int, int] = (255, 255, 255),
        *,
        pixels: np.ndarray | None = None,
    ) -> None:
        self.background = background  # what shows through transparent pixels
        self.blank = False  # rendered empty (the page's text measured alone)
        self.png = png
        self._raw: bytes | None = None
        self._shape: tuple[int, ...] = ()
        if pixels is not None:
            if pixels.shape[-1] == 4 and bool((pixels[..., 3] == 255).all()):
                pixels = pixels[..., :3]  # opaque: no alpha to keep
            pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
            self._raw, self._shape = zlib.compress(pixels.data, 1), pixels.shape
            self.uri = ""
            # its size until the page decides: the compressed pixels as a data URI (a
            # PNG of them at full compression is smaller)
            self.size = len("data:image/png;base64,") + 4 * math.ceil(len(self._raw) / 3)
        elif png is not None:
            self.uri = _png_data_uri(png)
            self.size = len(self.uri)
        else:
            raise ValueError("_Picture: give a PNG or pixels")

    @property
    def draft(self) -> bool:
        """Whether the picture is still the figure's pixels (neither JPEG nor final PNG)."""
        return self._raw is not None and not self.uri

    def _pixels(self) -> np.ndarray:
        if self._raw is not None:
            return np.frombuffer(zlib.decompress(self._raw), np.uint8).reshape(self._shape)
        from PIL import Image

        with Image.open(io.BytesIO(self.png or b"")) as image:
            return np.asarray(image.convert("RGBA"))

    def write_png(self) -> None:
        """Embed a draft as its PNG at full compression (its pixels kept, to shrink still)."""
        if self.draft:
            self.uri = _png_data_uri(_png_bytes(self._pixels()))
            self.size = len(self.uri)

    def settle(self) -> None:
        """Embed a draft as its PNG (see :meth:`write_png`); drop the pixels."""
        self.write_png()
        self._raw = None

    def __str__(self) -> str:
        return "" if self.blank else self.uri

    def __html__(self) -> str:
        return str(self)

    def shrink(self, quality: int, scale: float) -> int:
        """Embed as a JPEG of ``quality`` at ``scale`` if smaller; return the bytes saved."""
        from PIL import Image

        # decoded again at each step (rarely more than one): kept, the pixels of a full
        # report's 50 sheets would hold ~150 MB until the page is written
        pixels = self._pixels()
        if pixels.shape[-1] == 4:  # transparent pixels show the background
            rgba = Image.fromarray(pixels)
            image = Image.new("RGB", rgba.size, self.background)
            image.paste(rgba, mask=rgba.getchannel("A"))
            del rgba
        else:
            image = Image.fromarray(pixels)
        del pixels
        if scale < 1:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=quality, optimize=True)
        uri = _png_data_uri(buf.getvalue(), "image/jpeg")
        saved = self.size - len(uri)
        if saved <= 0:
            return 0
        self.uri, self.size = uri, len(uri)
        return saved


def _fit_pictures(
    template, context: dict, sheets: list[_Picture], overviews: list[_Picture], max_bytes: int
) -> int:
    """Shrink the page's pictures until the page is at most ``max_bytes``; return its size.

    The text is measured once (pictures blanked). A page that fits keeps every picture as
    PNG. Otherwise, largest first, every picture becomes a JPEG of the first step of
    :data:`_JPEG_STEPS`; then the map sheets (the many pictures) step by step; the overview
    pictures (quicklook, basemap...) take the further steps only if the sheets at their
    smallest are not enough. The drafts' sizes are estimates: when the page fits by them,
    the pictures left as PNG are written and the page measured again (and shrunk further
    if their PNGs came out larger).
    """
    pictures = sheets + overviews
    for p in pictures:
        p.blank = True
    text = len(template.render(**context).encode("utf-8"))
    for p in pictures:
        p.blank = False
    passes = [(_JPEG_STEPS[0], pictures)]
    passes += [(step, sheets) for step in _JPEG_STEPS[1:]]
    passes += [(step, overviews) for step in _JPEG_STEPS[1:]]

    def shrink(total: int) -> int:
        for (quality, scale), group in passes:
            for p in sorted(group, key=lambda p: -p.size):
                if total <= max_bytes:
                    return total
                total -= p.shrink(quality, scale)
        return total

    try:
        total = shrink(text + sum(p.size for p in pictures))
        if total <= max_bytes and any(p.draft for p in pictures):
            for p in pictures:
                p.write_png()
            total = shrink(text + sum(p.size for p in pictures))
        return total
    finally:
        for p in pictures:
            p.settle()


def _read_window(path: Path, bounds: tuple[float, float, float, float], max_px: int):
    """Read the RGB basemap inside ``bounds`` (windowed, decimated to ``max_px``).

    Returns ``(rgba uint8 array, (left, right, bottom, top))`` or ``None`` when the
    bounds miss the raster.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import WindowError
    from rasterio.windows import Window, from_bounds

    with rasterio.open(path) as full:
        extent_px = max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / abs(full.transform.a)
    with open_decimated(path, extent_px=extent_px, max_px=max_px) as src:
        if src.count < 3:
            raise ProductError(
                f"{path}: the true-colour basemap must have 3 bands (red, green, blue); found {src.count}."
            )
        window = from_bounds(*bounds, transform=src.transform)
        full = Window(0, 0, src.width, src.height)
        try:
            window = window.intersection(full)
        except WindowError:  # the bounds miss the raster
            return None
        window = window.round_offsets().round_lengths()
        if window.width < 1 or window.height < 1:
            return None
        step = max(1.0, max(window.width, window.height) / max_px)
        shape = (3, max(1, round(window.height / step)), max(1, round(window.width / step)))
        rgb = src.read(
            [1, 2, 3], window=window, out_shape=shape, resampling=Resampling.average
        ).astype("uint8")
        t = src.transform  # north-up basemap (no rotation)
        left = t.c + window.col_off * t.a
        right = left + window.width * t.a
        top = t.f + window.row_off * t.e
        bottom = top + window.height * t.e
        if bottom > top:
            bottom, top = top, bottom
    alpha = np.where((rgb == 0).all(axis=0), 0, 255).astype("uint8")
    return np.dstack([*rgb, alpha]), (left, right, bottom, top)


def _licence_label_spot(poly, view: tuple[float, float, float, float]):
    """Where to label a licence on a map sheet: on its boundary, away from the target.

    Returns ``((x, y), "edge")`` in map units, ``((x, y), "corner")`` in axes fraction
    when the licence covers the whole view, or ``None`` when it is not in view.
    """
    from shapely.geometry import LineString, box

    if poly is None or poly.is_empty:
        return None
    left, bottom, right, top = view
    w, h = right - left, top - bottom
    inner = box(left + 0.12 * w, bottom + 0.12 * h, right - 0.08 * w, top - 0.15 * h)
    edge = poly.boundary.intersection(inner)
    lines = [g for g in getattr(edge, "geoms", [edge]) if isinstance(g, LineString) and g.length]
    if lines:
        longest = max(lines, key=lambda g: g.length)
        p = longest.interpolate(0.5, normalized=True)
        return (p.x, p.y), "edge"
    if poly.contains(box(left, bottom, right, top).centroid):
        return (0.03, 0.97), "corner"
    return None


def _top_label_spot(poly) -> tuple[float, float]:
    """Return a point inside a polygon near its top (licence labels clear of targets)."""
    from shapely.geometry import LineString

    x0, y0, x1, y1 = poly.bounds
    y = y1 - 0.1 * (y1 - y0)
    cut = poly.intersection(LineString([(x0 - 1, y), (x1 + 1, y)]))
    parts = [g for g in getattr(cut, "geoms", [cut]) if isinstance(g, LineString) and g.length]
    if parts:
        p = max(parts, key=lambda g: g.length).interpolate(0.5, normalized=True)
        return p.x, p.y
    p = poly.representative_point()
    return p.x, p.y


def _read_layer(gpkg: Path, layer: str) -> gpd.GeoDataFrame | None:
    import pyogrio

    if not gpkg.exists():
        return None
    names = {str(n) for n, _ in pyogrio.list_layers(gpkg)}
    if layer not in names:
        return None
    return dates_as_text(gpd.read_file(gpkg, layer=layer))  # printed as the run wrote them


def _scene_crs_name(epsg: Any) -> str:
    from pyproj import CRS

    try:
        return CRS.from_epsg(int(epsg)).name
    except Exception:
        return f"EPSG:{epsg}"


def _utm_grid(epsg: Any, northing: float) -> tuple[str, float] | None:
    """Return the UTM zone a GPS shows a scene-CRS point in, and the northing offset to it.

    A UTM scene CRS (EPSG:326zz or 327zz) keeps its zone ``zz``; the hemisphere follows the
    point: south of the equator the northing carries the 10 000 km false northing (Landsat
    delivers southern scenes in north zones, EPSG:326zz, with negative northings, which no
    GPS displays), north of it none. Returns ``(zone label, offset)`` with
    ``shown northing = scene northing + offset``, or ``None`` for a CRS that is not UTM on
    WGS 84.

    Examples
    --------
    >>> _utm_grid(32635, -2_287_500.0)
    ('35S', 10000000.0)
    >>> _utm_grid(32735, 7_712_500.0), _utm_grid(32633, 4_500_000.0)
    (('35S', 0.0), ('33N', 0.0))
    """
    if is_missing(epsg):
        return None
    try:
        code = int(epsg)
    except (TypeError, ValueError):
        return None
    if 32601 <= code <= 32660:
        zone, base = code - 32600, 0.0
    elif 32701 <= code <= 32760:
        zone, base = code - 32700, -10_000_000.0
    else:
        return None
    north = float(northing) + base  # the northing in the north zone: negative in the south
    if north < 0:
        return f"{zone}S", 10_000_000.0 + base
    return f"{zone}N", base


def _utm_params(epsg: Any) -> dict | None:
    """Return what the page's script needs to show scene points in UTM (:func:`_utm_grid`)."""
    if _utm_grid(epsg, 0.0) is None:
        return None
    code = int(epsg)
    return {"zone": code % 100, "base": 0.0 if code < 32700 else -10_000_000.0}


# --------------------------------------------------------------------------- map sheet


def _draw_map_sheet(
    ax,
    target: pd.Series,
    *,
    true_colour: str | Path | None,
    targets: gpd.GeoDataFrame | None,
    licences: gpd.GeoDataFrame | None,
    occurrences: gpd.GeoDataFrame | None,
    structures: gpd.GeoDataFrame | None,
    margin_m: float,
    max_px: int = _SHEET_MAX_PX,
) -> dict:
    """Draw one target's field map on ``ax``; return ``{"title", "caption", "extent"}``."""
    if margin_m < 0 or not math.isfinite(margin_m):
        raise InvalidParameterError(
            f"The 'margin_m' parameter of render_map_sheet must be a finite number >= 0; found {margin_m!r}."
        )
    for col in ("target_id", "easting", "northing"):
        if col not in target.index:
            raise VectorError(
                f"render_map_sheet: the target row has no '{col}' column; expected a row of "
                f"targets.gpkg's 'targets' layer (columns target_id, rank, score, easting, northing, epsg)."
            )
    geom = target.get("geometry")
    if geom is not None and not getattr(geom, "is_empty", True):
        x0, y0, x1, y1 = geom.bounds
    else:
        x0 = x1 = float(target["easting"])
        y0 = y1 = float(target["northing"])
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) / 2 + margin_m
    half = max(half, 150.0)
    left, right, bottom, top = cx - half, cx + half, cy - half, cy + half

    ax.set_facecolor("#1e1e1e")
    # a run that did not write its basemap (``outputs``) still gets its sheets, on grey
    read = (
        _read_window(Path(true_colour), (left, bottom, right, top), max_px)
        if true_colour is not None
        else None
    )
    if read is not None:
        image, extent = read
        ax.imshow(image, extent=extent, interpolation="nearest", zorder=0)

    if structures is not None and len(structures):
        near = structures.cx[left:right, bottom:top]
        if len(near):
            draw_lines(ax, near.geometry.values, colors="#ff3b3b", linewidths=1.3, zorder=2)
    licence_note = ""
    if licences is not None and len(licences):
        near, labelled, licence_note = _sheet_licences(
            licences, target, geom, (left, bottom, right, top)
        )
        if len(near):
            draw_lines(
                ax,
                near.geometry.values,
                colors="white",
                linewidths=1.5,
                linestyles="--",
                zorder=3,
            )
            ids = labelled["licence_id"] if "licence_id" in labelled else [None] * len(labelled)
            for lic_id, poly in zip(ids, labelled.geometry, strict=True):
                spot = _licence_label_spot(poly, (left, bottom, right, top))
                if spot is None:
                    continue
                (px, py), where = spot
                ax.annotate(
                    mpl_text(
                        _text(lic_id) if where == "edge" else f"inside licence {_text(lic_id)}"
                    ),
                    (px, py),
                    xycoords="data" if where == "edge" else "axes fraction",
                    color="white",
                    fontsize=8,
                    fontstyle="italic",
                    ha="center" if where == "edge" else "left",
                    va="center" if where == "edge" else "top",
                    path_effects=_HALO,
                    zorder=6,
                    annotation_clip=True,
                )
    tid = _text(target["target_id"])
    if targets is not None and len(targets):
        others = targets[targets["target_id"].astype(str) != tid].cx[left:right, bottom:top]
        if len(others):
            draw_lines(ax, others.geometry.values, colors="#ffd400", linewidths=0.9, zorder=4)
            for row in others.itertuples():
                ax.annotate(
                    mpl_text(_text(row.target_id)),
                    (row.easting, row.northing),
                    color="#ffd400",
                    fontsize=8,
                    ha="center",
                    va="center",
                    path_effects=_HALO,
                    zorder=6,
                    annotation_clip=True,
                )
    if geom is not None and not getattr(geom, "is_empty", True):
        draw_lines(ax, [geom], colors="black", linewidths=4.2, zorder=5)
        draw_lines(ax, [geom], colors="#00e5ff", linewidths=2.4, zorder=5)
    ax.plot(
        [target["easting"]],
        [target["northing"]],
        marker="+",
        markersize=16,
        markeredgewidth=2.6,
        color="#00e5ff",
        path_effects=_HALO,
        zorder=7,
    )
    ax.annotate(
        mpl_text(tid),
        (target["easting"], target["northing"]),
        xytext=(9, 9),
        textcoords="offset points",
        color="#00e5ff",
        fontsize=11,
        fontweight="bold",
        path_effects=_HALO,
        zorder=8,
    )
    if occurrences is not None and len(occurrences):
        near = occurrences.cx[left:right, bottom:top]
        if len(near):
            ax.scatter(
                near.geometry.x,
                near.geometry.y,
                marker="*",
                s=150,
                color="white",
                edgecolors="black",
                linewidths=0.9,
                zorder=7,
            )
            if "name" in near:
                for name, pt in zip(near["name"], near.geometry, strict=True):
                    ax.annotate(
                        mpl_text(_text(name, "")),
                        (pt.x, pt.y),
                        xytext=(7, -10),
                        textcoords="offset points",
                        color="white",
                        fontsize=7,
                        path_effects=_HALO,
                        zorder=7,
                        annotation_clip=True,
                    )

    # grid in the scene CRS, labelled in metres
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal")
    step = _nice_interval(2 * half)
    epsg = target.get("epsg")
    # the grid is labelled as a GPS shows it: the scene's UTM zone with positive northings
    # (every round step divides the 10 000 km false northing, so the labels stay round)
    grid = _utm_grid(epsg, cy)
    offset = grid[1] if grid is not None else 0.0
    for axis, shift in ((ax.xaxis, 0.0), (ax.yaxis, offset)):
        axis.set_major_locator(MultipleLocator(step))
        axis.set_major_formatter(FuncFormatter(lambda v, _pos, d=shift: f"{v + d:.0f}"))
    ax.tick_params(labelsize=7)
    ax.tick_params(axis="y", labelrotation=90)
    for label in ax.get_yticklabels():
        label.set_va("center")
    ax.grid(True, color="white", alpha=0.35, linewidth=0.6)
    crs_name = _scene_crs_name(epsg) if not is_missing(epsg) else "scene CRS"
    grid_name = f"UTM {grid[0]} (WGS 84)" if grid is not None else crs_name
    ax.set_xlabel(f"Easting (m), {grid_name}, grid every {step:g} m", fontsize=8)
    ax.set_ylabel(f"Northing (m), {grid_name}", fontsize=8)

    draw_scale_and_north(
        ax,
        (left, bottom, right, top),
        bar=_scale_length(2 * half),
        linewidth=5,
        fontsize=9,
        zorder=9,
    )

    coords = field_coordinates(pd.DataFrame([target[["easting", "northing", "epsg"]]]))
    c = coords.iloc[0]
    licence = _text(target.get("licence_id"), "outside licences")
    title = (
        f"{tid} — rank {_text(target.get('rank'))}, score {_num(target.get('score'))} — "
        f"licence {licence}"
    )
    if grid is None:
        grid_text = f"Grid: {crs_name} (EPSG:{_text(epsg)}), the scene CRS. "
    else:
        grid_text = (
            f"Grid: UTM zone {grid[0]}, WGS 84, as a GPS set to zone {grid[0]} shows it "
            f"(scene CRS EPSG:{_text(epsg)}"
            + (f", northing + {offset:,.0f} m" if offset else "")
            + "). "
        )
        if grid[0] != c["utm_zone"]:
            grid_text += f"The point's standard zone is {c['utm_zone']}. "
    caption = (
        grid_text + f"Target point: UTM {c['utm_zone']} {c['utm_easting']:.0f} E "
        f"{c['utm_northing']:.0f} N ({c['lat_dms']} {c['lon_dms']})." + licence_note
    )
    ax.set_title(mpl_text(title), fontsize=11, fontweight="bold")
    return {"title": title, "caption": caption, "extent": (left, right, bottom, top)}


def _sheet_licences(licences, target: pd.Series, geom, view: tuple[float, float, float, float]):
    """Return the licences in a sheet's view, those to label, and a caption note.

    One spatial-index query finds the licences in view. All are labelled when at most
    :data:`MAX_SHEET_LABELS` are; otherwise the licences holding or touching the target
    (its ``licence_id``, or its polygon meets the target's), or when even those are too
    many, the target's own ``licence_id`` only.
    """
    from shapely.geometry import box

    near = licences.iloc[np.sort(licences.sindex.query(box(*view), predicate="intersects"))]
    if len(near) <= MAX_SHEET_LABELS:
        return near, near, ""
    own = np.zeros(len(near), dtype=bool)
    if "licence_id" in near.columns and not is_missing(target.get("licence_id")):
        own = (near["licence_id"].astype(str) == str(target.get("licence_id"))).to_numpy()
    touching = own.copy()
    if geom is not None and not getattr(geom, "is_empty", True):
        touching |= near.geometry.intersects(geom).to_numpy()
    if touching.sum() <= MAX_SHEET_LABELS:
        labelled, which = near[touching], "holding or touching the target"
    else:
        labelled, which = near[own], "the target's licence"
    return near, labelled, f" {len(near)} licences in view; labelled: {which}."


def render_map_sheet(
    target: pd.Series,
    *,
    true_colour: str | Path,
    targets: gpd.GeoDataFrame | None = None,
    licences: gpd.GeoDataFrame | None = None,
    occurrences: gpd.GeoDataFrame | None = None,
    structures: gpd.GeoDataFrame | None = None,
    margin_m: float = 600,
) -> Figure:
    """Field map sheet of one target on the true-colour basemap (the caller saves it).

    Only the window around the target (its bounds plus ``margin_m``, squared) is read
    from the basemap, decimated to at most ~1000 pixels on its long side.

    Parameters
    ----------
    target : pandas.Series
        One row of the ``targets`` layer (``target_id``, ``rank``, ``score``, ``licence_id``,
        ``easting``, ``northing``, ``epsg``, ``geometry``), in the basemap's CRS.
    true_colour : path
        The run's ``rasters/true_colour.tif`` (uint8 RGB, nodata 0).
    targets, licences, occurrences, structures : geopandas.GeoDataFrame, optional
        Layers in the scene CRS: neighbouring targets (thin, labelled with their ids),
        licence boundaries (dashed, labelled), known occurrences (stars), faults (red).
    margin_m : float
        Ground distance shown around the target, in metres.

    Returns
    -------
    matplotlib.figure.Figure
        Title with the target id, rank, score and licence; UTM grid labelled in metres
        (scene CRS), scale bar, north arrow and a caption with the CRS and standard UTM zone.
    """
    path = Path(true_colour)
    if not path.exists():
        raise InputNotFoundError(
            f"render_map_sheet: true-colour basemap {path} does not exist (expected "
            "rasters/true_colour.tif of a run)."
        )
    return _sheet_figure(
        target,
        true_colour=true_colour,
        targets=targets,
        licences=licences,
        occurrences=occurrences,
        structures=structures,
        margin_m=margin_m,
    )


def _sheet_legend(fig: Figure, *, ncol: int, fontsize: float, **where) -> None:
    """Draw the legend of a map sheet's symbols on ``fig`` (dark, like the map)."""
    from matplotlib.lines import Line2D

    target = Line2D([], [], color="#00e5ff", linewidth=2.4, label="this target (outline, + point)")
    target.set_path_effects([pe.withStroke(linewidth=4.2, foreground="black")])
    handles = [
        target,
        Line2D([], [], color="#ffd400", linewidth=1.2, label="other targets"),
        Line2D([], [], color="white", linewidth=1.5, linestyle="--", label="licence boundary"),
        Line2D(
            [],
            [],
            linestyle="none",
            marker="*",
            markersize=10,
            markerfacecolor="white",
            markeredgecolor="black",
            label="known occurrence",
        ),
        Line2D([], [], color="#ff3b3b", linewidth=1.5, label="fault"),
    ]
    fig.legend(
        handles=handles,
        ncol=ncol,
        fontsize=fontsize,
        facecolor="#1e1e1e",
        edgecolor="#666666",
        labelcolor="white",
        framealpha=1,
        handlelength=2.2,
        **where,
    )


def _wrap_lines(text: str, width_pt: float, fontsize: float) -> str:
    """``text`` broken into lines that fit ``width_pt`` points at ``fontsize`` (DejaVu Sans).

    Wrapped here by character count and each line measured once (narrower if one is too
    wide): matplotlib's ``wrap=True`` measures the text word by word at every draw, which
    was a tenth of the report's time. A line is measured as the sum of its characters'
    widths (each measured once, :func:`_char_width`): matplotlib 3.11 shapes every string
    it measures (about 2 ms for a caption line). The widest line is then measured whole,
    kerning included, and the lines are wrapped again by whole measures if it does not fit.
    """
    if not text.strip():
        return text
    font = _caption_font(fontsize)

    def measured(line: str) -> float:
        font.set_text(line, 0.0)
        return font.get_width_height()[0] / 64  # 26.6 fixed point -> points

    def summed(line: str) -> float:
        return sum(_char_width(c, fontsize) for c in line)

    def wrap(width) -> tuple[list[str], float]:
        chars = max(8, int(width_pt / max(width(text), 1e-9) * len(text)))  # by the mean advance
        for _ in range(8):
            lines = _wrap(text, chars)
            widest = max(lines, key=width)
            if width(widest) <= width_pt or chars == 8:
                break
            chars = max(8, min(chars - 1, int(chars * width_pt / width(widest))))
        return lines, measured(widest)

    lines, widest = wrap(summed)
    if widest > width_pt:  # kerning made the widest line wider than its characters
        lines, _ = wrap(measured)
    return "\n".join(lines)


def _caption_font(fontsize: float):
    """Return matplotlib's DejaVu Sans font object, set to ``fontsize`` points (72 dpi)."""
    from matplotlib.font_manager import FontProperties, findfont, get_font

    font = get_font(findfont(FontProperties(family="DejaVu Sans")))
    font.set_size(fontsize, 72)
    return font


@functools.lru_cache(maxsize=8192)
def _char_width(char: str, fontsize: float) -> float:
    """Advance width in points of one character of DejaVu Sans at ``fontsize``."""
    font = _caption_font(fontsize)
    font.set_text(char, 0.0)
    return font.get_width_height()[0] / 64


def _sheet_figure(target: pd.Series, **kwargs) -> Figure:
    """One target's map sheet as a figure (``true_colour`` None: no basemap)."""
    return _sheet_figure_info(target, **kwargs)[0]


def _sheet_figure_info(target: pd.Series, **kwargs) -> tuple[Figure, dict]:
    """:func:`_sheet_figure` and what :func:`_draw_map_sheet` returned (caption, extent)."""
    fig = _figure(7.5, 8.2)
    ax = fig.add_axes((0.1, 0.185, 0.8, 0.765))
    info = _draw_map_sheet(ax, target, **kwargs)
    _sheet_legend(fig, ncol=3, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 0.05))
    caption = _wrap_lines(mpl_text(info["caption"]), 0.92 * fig.get_figwidth() * 72, 7)
    fig.text(0.5, 0.008, caption, ha="center", va="bottom", fontsize=7)
    return fig, info


# --------------------------------------------------------------------------- run folder


class _Run:
    """What the report needs from a run folder."""

    def __init__(
        self,
        run_dir: Path,
        layers: Mapping[str, gpd.GeoDataFrame] | None = None,
        *,
        field_top: int | None = None,
        per_licence: int | None = None,
    ) -> None:
        self.dir = run_dir
        self._given = layers  # the run's layers already read by the caller (export_run)
        #: the HTML sheets' maps kept for the PDF's sheets: {target index: (PNG, info)}
        self.maps: dict[int, tuple[bytes, dict]] = {}
        self.keep_maps = False
        if not run_dir.is_dir():
            raise InputNotFoundError(
                f"write_report: run folder {run_dir} does not exist (expected the --out folder of `geo run`)."
            )
        manifest = run_dir / "manifest.json"
        if not manifest.exists():
            raise InputNotFoundError(
                f"write_report: {manifest} does not exist; expected a run folder written by `geo run`."
            )
        try:
            self.manifest: dict = json.loads(manifest.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ProductError(f"write_report: {manifest} is not valid JSON ({exc}).") from exc
        gpkg = run_dir / "targets.gpkg"
        targets = self._layer(gpkg, "targets")
        if targets is None:
            raise InputNotFoundError(
                f"write_report: {gpkg} has no 'targets' layer (or does not exist); expected the targets of a run."
            )
        for col in ("target_id", "rank", "score", "easting", "northing", "epsg"):
            if col not in targets.columns:
                raise VectorError(
                    f"write_report: layer 'targets' of {gpkg} has no '{col}' column; found {list(targets.columns)}."
                )
        # every target (the neighbours on a map sheet), and the field set the report is about
        self.all_targets = targets.sort_values("rank", kind="stable").reset_index(drop=True)
        self.n_total = len(self.all_targets)
        self.per_licence = per_licence or None
        self.field_top = field_top
        if field_top is None and not per_licence:
            self.targets = self.all_targets
        else:
            field = select_field_targets(self.all_targets, field_top, per_licence=per_licence)
            self.targets = field.reset_index(drop=True)
        self.true_colour = run_dir / "rasters" / "true_colour.tif"
        self.licences, self.licence_holds, self.licence_counts = self._licences(gpkg)
        self.occurrences = self._layer(gpkg, "occurrences")
        self.structures = self._layer(gpkg, "structures")
        self.coords = field_coordinates(self.targets)
        comps = (self.manifest.get("targets") or {}).get("score_components")
        self.components = tuple(comps) if comps else _FALLBACK_COMPONENTS

    @property
    def partial(self) -> bool:
        """Whether the report holds a part of the targets (the field set), not all."""
        return len(self.targets) < self.n_total

    def field_note(self) -> str:
        """Where the targets the report leaves out are (empty when it holds them all)."""
        if not self.partial:
            return ""
        cap = f", at most {self.per_licence} a licence" if self.per_licence else ""
        return (
            f"This report holds the best {len(self.targets):,} of the run's {self.n_total:,} "
            f"targets (the field set{cap}: the GPS and Google Earth files carry the same). "
            "Every target is in targets.csv, exports/targets_field.csv (field coordinates) "
            "and targets.gpkg (QGIS)."
        )

    def _layer(self, gpkg: Path, name: str) -> gpd.GeoDataFrame | None:
        if self._given is not None:
            return self._given.get(name)
        return _read_layer(gpkg, name)

    def _licences(self, gpkg: Path):
        """Return the licences the report draws, whether each holds a target, and the counts.

        Licences that neither hold or touch a target nor meet the scene (the run's
        ``imaged_pct``, else the basemap's bounds) are dropped here, in one spatial-index
        query (see :func:`~geo.export._common.licence_relevance`).
        """
        licences = self._layer(gpkg, "licences")
        if licences is None:
            return None, np.zeros(0, dtype=bool), None
        footprint = None
        if "imaged_pct" not in licences.columns and self.true_colour.exists():
            import rasterio
            from shapely.geometry import box

            with rasterio.open(self.true_colour) as src:
                footprint = box(*src.bounds)
        relevance = licence_relevance(licences, self.targets, footprint=footprint)
        keep = relevance.in_play
        drawn = licences[keep].reset_index(drop=True)
        return drawn, relevance.holds[keep], relevance.counts()

    def png(self, name: str) -> bytes | None:
        p = self.dir / name
        return p.read_bytes() if p.exists() else None

    def sheet(self, row: pd.Series, ax=None):
        kwargs = self._sheet_kwargs()
        if ax is None:
            return _sheet_figure(row, **kwargs)
        return _draw_map_sheet(ax, row, **kwargs)

    def sheet_pixels(self, i: int) -> np.ndarray:
        """Pixels (RGBA) of target ``i``'s sheet figure for the HTML page (a copy).

        When the PDF is written too (``keep_maps``), the map of the same drawing (its axes
        with the grid labels, cropped from the picture) is kept for the PDF's sheet, so each
        map is drawn once for both (the maps are most of the report's time).
        """
        fig, info = _sheet_figure_info(self.targets.iloc[i], **self._sheet_kwargs())
        fig.canvas.draw()
        canvas: Any = fig.canvas  # a FigureCanvasAgg (see _figure)
        rgba = np.asarray(canvas.buffer_rgba())
        if self.keep_maps:
            # the map with its title, grid labels and axis labels: the figure above the
            # x-axis label (below it: the legend and caption the PDF page draws itself).
            # Extents of the drawn texts only: a tight bounding box would lay it all out again
            ax = fig.axes[0]
            renderer = canvas.get_renderer()
            bottom = ax.xaxis.label.get_window_extent(renderer).y0 - 2
            height = rgba.shape[0]
            self.maps[i] = (
                _png_bytes(rgba[: height - max(int(bottom), 0), :, :3], fast=True),
                info,
            )
        return rgba.copy()  # the canvas's buffer goes with the figure

    def _sheet_kwargs(self) -> dict:
        return {
            "true_colour": self.true_colour if self.true_colour.exists() else None,
            "targets": self.all_targets,
            "licences": self.licences,
            "occurrences": self.occurrences,
            "structures": self.structures,
            "margin_m": 600,
        }


def _masked(masks: dict) -> str:
    """Return the mask rules that removed most pixels, largest first (``vegetation 96.5 %``)."""
    found = masks.get("rules")
    rules = found if isinstance(found, dict) else {}
    shares = [
        (str(rule), float(v["fraction"]))
        for rule, v in rules.items()
        if isinstance(v, dict) and isinstance(v.get("fraction"), int | float) and v["fraction"] > 0
    ]
    shares.sort(key=lambda kv: -kv[1])
    return ", ".join(f"{_text(rule)} {f:.1%}" for rule, f in shares[:4]) or "—"


def _summary(run: _Run) -> dict:
    """Run summary as ``[(label, value)]`` rows plus evaluation rows and warnings."""
    m = run.manifest
    scene = m.get("scene") or {}
    pipeline = m.get("pipeline") or {}
    masks = m.get("masks") or {}
    tgt = m.get("targets") or {}
    valid = masks.get("valid_fraction")
    method = (m.get("prospectivity") or {}).get("method") or tgt.get("source") or "zones"
    if tgt.get("rule"):
        method = f"{method}; targets by {tgt['rule']}" + (
            f" (cutoff {tgt['cutoff']:.3g})" if isinstance(tgt.get("cutoff"), int | float) else ""
        )
    rows = [
        ("Scene", _text(scene.get("scene_id"))),
        ("Date acquired", _text(scene.get("date_acquired"))),
        ("Sensor", _text(scene.get("sensor") or scene.get("spacecraft"))),
        ("Pipeline", _text(pipeline.get("name") or (pipeline.get("spec") or {}).get("name"))),
        ("geo version", _text(m.get("geo_version"))),
        ("Run at (UTC)", _text(m.get("created_utc"))),
        ("Run time", _run_time(m)),
        ("Valid pixels", f"{valid:.1%}" if isinstance(valid, int | float) else "—"),
        ("Masked", _masked(masks)),
        ("Targets", _target_count(run)),
        ("Full table", _full_table(run)),
        (
            "Targets outside licences",
            _text(
                tgt.get("outside_licences")
                if tgt.get("outside_licences") is not None
                else (
                    int(run.targets["licence_id"].isna().sum())
                    if "licence_id" in run.targets
                    else None
                )
            ),
        ),
        ("Method", _text(method)),
    ]
    if run.licence_counts is not None:
        rows.append(("Licences", _licence_summary(run)))
        rows.append(("Targets in each licence", _targets_by_licence(run)))
    ev = m.get("evaluation") or {}
    evaluation = []
    if ev:
        if ev.get("occurrences_scored") is not None:
            evaluation.append(("Occurrences scored", str(ev["occurrences_scored"])))
        for key, label in (
            ("prediction_rate", "Prediction rate"),
            ("success_rate", "Success rate"),
        ):
            if isinstance(ev.get(key), dict):
                r = ev[key]
                evaluation.append((f"{label} AUC", _num(r.get("auc"))))
                cap = r.get("area_capture") or {}
                if cap:
                    evaluation.append(
                        (
                            f"{label}: occurrences captured",
                            ", ".join(
                                f"top {_pct_key(k)} % → {_num(v, '.0%')}" for k, v in cap.items()
                            ),
                        )
                    )
        if ev.get("roc_auc") is not None:
            evaluation.append(("ROC-AUC", _num(ev["roc_auc"])))
        for scheme, res in (ev.get("holdout") or {}).items():
            if not isinstance(res, dict):
                continue
            name = scheme.replace("_", "-")
            if res.get("block_size_m"):
                name += f", {res['block_size_m']:g} m blocks"
            cap = res.get("area_capture") or {}
            evaluation.append(
                (
                    f"Hold-out ({name}, {_text(res.get('folds'))} folds)",
                    f"AUC {_num(res.get('auc'))}"
                    + (
                        "; "
                        + ", ".join(
                            f"top {_pct_key(k)} % → {_num(v, '.0%')}" for k, v in cap.items()
                        )
                        if cap
                        else ""
                    ),
                )
            )
        t = ev.get("targets")
        if isinstance(t, dict) and t:
            evaluation.append(
                (
                    "Occurrences in targets",
                    f"{_text(t.get('occurrences_in_targets'))} of {_text(t.get('occurrences'))} "
                    f"on {_num(t.get('area_fraction'), '.1%')} of the area",
                )
            )
    warnings = [xml_chars(w) for w in (m.get("warnings") or [])]
    return {"rows": rows, "evaluation": evaluation, "warnings": warnings, "note": run.field_note()}


def _target_count(run: _Run) -> str:
    """How many targets the run has, and how many the field set (this report) holds."""
    n = len(run.targets)
    if not run.partial:
        return f"{n:,} (every target of the run is in this report)"
    cap = f", at most {run.per_licence} a licence" if run.per_licence else ""
    top = f"field.top {run.field_top}" if run.field_top else "the field set"
    return (
        f"{run.n_total:,} in the run; the field set ({top}{cap}) holds the best {n:,}: "
        "this report's table and sheets"
    )


def _full_table(run: _Run) -> str:
    """Where every target is (the files of the run folder that hold them)."""
    files = ["targets.csv", "targets.gpkg (QGIS)"]
    if (run.dir / "exports" / "targets_field.csv").exists():
        files.append("exports/targets_field.csv (GPS coordinates)")
    return ", ".join(files) + " in the run folder"


#: Licences named one by one in the summary's per-licence count; the others are counted.
_MAX_LISTED_LICENCES = 30


def _targets_by_licence(run: _Run) -> str:
    """How many targets each licence holds: ``PL 012/2021 3 (5 in the run), ...``.

    The licences holding a target of the report, most targets first (then by id); at most
    :data:`_MAX_LISTED_LICENCES` named, the rest counted; the targets outside every
    licence last. ``licences.csv`` has the full table.
    """
    if "licence_id" not in run.targets.columns:
        return "—"
    field = run.targets["licence_id"]
    everyone = run.all_targets["licence_id"]
    in_field = field.dropna().astype(str).value_counts()
    in_run = everyone.dropna().astype(str).value_counts()
    order = sorted(in_field.index, key=lambda k: (-int(in_field[k]), k))
    items = []
    for lic in order[:_MAX_LISTED_LICENCES]:
        text = f"{_text(lic)} {int(in_field[lic])}"
        if run.partial:
            text += f" ({int(in_run.get(lic, 0))} in the run)"
        items.append(text)
    if len(order) > _MAX_LISTED_LICENCES:
        items.append(f"{len(order) - _MAX_LISTED_LICENCES:,} more licences")
    outside = int(field.isna().sum())
    if outside or (run.partial and everyone.isna().any()):
        text = f"outside every licence {outside}"
        if run.partial:
            text += f" ({int(everyone.isna().sum())} in the run)"
        items.append(text)
    listed = "; ".join(items) if items else "no target"
    if (run.dir / "licences.csv").exists():
        listed += " (every licence: licences.csv)"
    return listed


def _run_time(manifest: dict) -> str:
    """Return the run's time: its recorded wall time, else the sum of its ``timings_s``.

    While ``geo run`` writes its field exports (this report among them), the manifest
    holds the stages before them only; the text says so.
    """
    wall = manifest.get("wall_time_s")
    timings = manifest.get("timings_s")
    stages = {
        str(k): float(v)
        for k, v in (timings.items() if isinstance(timings, dict) else ())
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    if isinstance(wall, int | float) and not isinstance(wall, bool) and math.isfinite(wall):
        return f"{wall:.1f} s (wall time)"
    if not stages:
        return "—"
    parts = ", ".join(f"{_text(k)} {v:.1f}" for k, v in stages.items())
    text = f"{sum(stages.values()):.1f} s in all ({parts} s)"
    if "field_exports" not in stages and "export" in stages:
        text += "; the field exports that write this report come on top"
    return text


def _licence_summary(run: _Run) -> str:
    """One line on the licence layer: how many, which are drawn and how."""
    c = run.licence_counts
    which = "one of the targets in this report" if run.partial else "a target"
    text = (
        f"{c['licences']:,} in the licence layer: {c['hold_targets']:,} holding or touching "
        f"{which}, {c['meet_scene']:,} meeting the scene"
    )
    if c["left_out"]:
        text += f"; the other {c['left_out']:,} are not drawn"
    many = c["licences"] - c["left_out"]
    if many > MAX_MAP_LICENCES:
        text += (
            f"; more than {MAX_MAP_LICENCES}, so the interactive map draws one by one only "
            "the licences holding a target (or, when those are too many as well, those the "
            "targets are assigned to), the others as one picture of their outlines"
        )
    return text


def _pct_key(key: str) -> str:
    return str(key).removeprefix("top_").removesuffix("pct")


def _attributes(run: _Run, i: int) -> list[tuple[str, str]]:
    """Return the attribute table of one target (coordinates, licence, flags)."""
    row = run.targets.iloc[i]
    c = run.coords.iloc[i]
    g = row.get
    pct = g("licence_overlap_pct")
    return [
        ("Target", _text(g("target_id"))),
        ("Rank", _text(g("rank"))),
        ("Score", _num(g("score"))),
        ("Area", _num(g("area_ha"), ".1f") + " ha"),
        (
            "UTM (GPS)",
            f"zone {_text(c['utm_zone'])}  {_num(c['utm_easting'], '.0f')} E  {_num(c['utm_northing'], '.0f')} N",
        ),
        ("Lat / lon", f"{_num(c['lat'], '.6f')}, {_num(c['lon'], '.6f')}"),
        ("Lat / lon (DMS)", f"{_text(c['lat_dms'])} {_text(c['lon_dms'])}"),
        (
            "Scene CRS (GIS)",
            f"{_num(g('easting'), '.0f')} E  {_num(g('northing'), '.0f')} N  EPSG:{_text(g('epsg'))}",
        ),
        ("Licence", _text(g("licence_id"), "outside licences")),
        ("Holder", _text(g("holder"))),
        ("Status", _text(g("licence_status"))),
        ("Expiry", _text(g("licence_expiry"))),
        ("Licence flag", _text(g("licence_flag"))),
        ("Inside licence", _num(pct, ".0f") + " %" if not is_missing(pct) else "—"),
        ("Rank in licence", _num(g("rank_in_licence"), ".0f")),
        ("Flags", _text(g("flags"))),
        ("Split with", _text(g("split_with"))),
        ("Masked fraction", _num(g("masked_fraction"), ".0%")),
    ]


def _svg_path(geom, ndigits: int = 1) -> str:
    """SVG path data of a (multi)polygon in scene metres with y flipped (``y = -northing``)."""
    if geom is None or geom.is_empty:
        return ""
    polys = getattr(geom, "geoms", [geom])
    parts = []
    for poly in polys:
        if poly.geom_type != "Polygon":
            continue
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            pts = " ".join(f"{x:.{ndigits}f} {-y:.{ndigits}f}" for x, y in xy[:-1])
            parts.append(f"M{pts}Z")
    return "".join(parts)


def _svg_line(geom, ndigits: int = 1) -> str:
    if geom is None or geom.is_empty:
        return ""
    lines = getattr(geom, "geoms", [geom])
    parts = []
    for line in lines:
        xy = np.asarray(line.coords)[:, :2]
        parts.append("M" + " ".join(f"{x:.{ndigits}f} {-y:.{ndigits}f}" for x, y in xy))
    return "".join(parts)


def _map_data(run: _Run) -> dict:
    """Return the interactive map: basemap picture, view box and SVG shapes in scene metres."""
    import rasterio

    out: dict[str, Any] = {
        "image": None,
        "targets": [],
        "licences": [],
        "licence_picture": None,
        "occurrences": [],
        "faults": [],
    }
    bounds = None
    shape = None  # the basemap picture's (rows, columns)
    picture_px = 0.0  # its pixel size
    epsg = run.targets["epsg"].dropna().iloc[0] if run.targets["epsg"].notna().any() else None
    if run.true_colour.exists():
        with rasterio.open(run.true_colour) as src:
            b = src.bounds
            res = abs(src.transform.a)
            epsg = (src.crs.to_epsg() if src.crs is not None else None) or epsg
        read = _read_window(run.true_colour, (b.left, b.bottom, b.right, b.top), _MAP_MAX_PX)
        if read is not None:
            from PIL import Image

            image, (left, right, bottom, top) = read
            buf = io.BytesIO()
            Image.fromarray(image, "RGBA").save(buf, format="PNG", compress_level=6)  # see kml
            out["image"] = {
                "href": _Picture(buf.getvalue(), background=(0x1E, 0x1E, 0x1E)),
                "x": left,
                "y": -top,
                "w": right - left,
                "h": top - bottom,
            }
            bounds = (left, bottom, right, top)
            shape = image.shape[:2]
            picture_px = (right - left) / max(1, shape[1])
    else:
        res = 30.0
    layers = [g for g in (run.targets, run.licences) if g is not None and len(g)]
    if bounds is None and layers:
        bounds = tuple(pd.concat([g.geometry for g in layers]).total_bounds)
    if bounds is None:
        bounds = (0.0, -1000.0, 1000.0, 0.0)
    left, bottom, right, top = bounds
    out["view"] = [left, -top, right - left, top - bottom]
    # the cursor readout shows UTM as a GPS does (see _utm_grid); other CRSs as they are
    out["utm"] = _utm_params(epsg)
    out["crs"] = f"EPSG:{_text(epsg)}" if epsg is not None and not is_missing(epsg) else "scene CRS"
    tol, digits = res / 4, 1
    if picture_px > 1.01 * res:
        # a decimated picture (a large scene): outlines finer than its pixels, or
        # coordinates finer than a metre, only add bytes (a full scene's best 50 targets
        # hold ~130,000 vertices at 30 m)
        tol, digits = picture_px / 2, 0
    for _, row in run.targets.iterrows():
        colour, cls = _rank_colour(row["rank"])
        geom = row.geometry
        x0, y0, x1, y1 = (
            geom.bounds
            if geom is not None and not geom.is_empty
            else (row["easting"], row["northing"], row["easting"], row["northing"])
        )
        out["targets"].append(
            {
                "id": _text(row["target_id"]),
                "d": _svg_path(geom.simplify(tol) if geom is not None else None, digits),
                "colour": colour,
                "cls": cls,
                "x": float(row["easting"]),
                "y": -float(row["northing"]),
                "bbox": [x0, -y1, x1 - x0, y1 - y0],
                "rank": _text(row["rank"]),
            }
        )
    if run.licences is not None and len(run.licences):
        from shapely.geometry import box

        licences = run.licences
        seen = np.sort(licences.sindex.query(box(*bounds), predicate="intersects"))
        one_by_one = seen
        if len(seen) > MAX_MAP_LICENCES:  # a fine cadastre: see the module docstring
            chosen = run.licence_holds[seen]
            if chosen.sum() > MAX_MAP_LICENCES and "licence_id" in licences:
                # licences smaller than the targets: the ones the targets are assigned to
                assigned = set(run.targets["licence_id"].dropna().astype(str))
                chosen = licences["licence_id"].iloc[seen].astype(str).isin(assigned).to_numpy()
            one_by_one, rest = seen[chosen], seen[~chosen]
            if shape is None:
                scale = _MAP_MAX_PX / max(right - left, top - bottom)
                shape = (
                    max(1, round((top - bottom) * scale)),
                    max(1, round((right - left) * scale)),
                )
            out["licence_picture"] = _outline_picture(
                licences.geometry.values[rest], bounds, shape, count=len(rest)
            )
        ids = (
            licences["licence_id"]
            if "licence_id" in licences
            else pd.Series(None, index=licences.index)
        )
        status = (
            licences["status"] if "status" in licences else pd.Series(None, index=licences.index)
        )
        for i in one_by_one:
            geom = licences.geometry.iloc[i]
            if geom is None or geom.is_empty:
                continue
            px, py = _top_label_spot(geom)
            out["licences"].append(
                {
                    "id": _text(ids.iloc[i]),
                    "status": _text(status.iloc[i]),
                    "d": _svg_path(geom.simplify(tol), digits),
                    "x": px,
                    "y": -py,
                }
            )
    if run.occurrences is not None:
        for _, row in run.occurrences.iterrows():
            geom = row.geometry
            if geom is None or geom.is_empty or geom.geom_type != "Point":
                continue
            out["occurrences"].append(
                {
                    "name": _text(row.get("name"), ""),
                    "commodity": _text(row.get("commodity"), ""),
                    "x": geom.x,
                    "y": -geom.y,
                }
            )
    if run.structures is not None:
        for _, row in run.structures.iterrows():
            d = _svg_line(row.geometry)
            if d:
                out["faults"].append({"d": d, "name": _text(row.get("name"), "")})
    return out


def _outline_picture(geoms, bounds, shape, *, count: int) -> dict:
    """Return the outlines of many licences as one transparent PNG over the map (``<image>``).

    Rasterised at the basemap's resolution in one call (no per-licence SVG), so the page's
    size does not grow with the number of licences.
    """
    import shapely
    from PIL import Image
    from rasterio.features import rasterize
    from rasterio.transform import from_bounds

    left, bottom, right, top = bounds
    rows, cols = shape
    lines = shapely.boundary(np.asarray(geoms, dtype=object))
    lines = lines[~(shapely.is_missing(lines) | shapely.is_empty(lines))]
    burnt = np.zeros((rows, cols), dtype="uint8")
    if len(lines):
        burnt = rasterize(
            ((g, 1) for g in lines),
            out_shape=(rows, cols),
            transform=from_bounds(left, bottom, right, top, cols, rows),
            fill=0,
            all_touched=True,
            dtype="uint8",
        )
    rgba = np.zeros((rows, cols, 4), dtype="uint8")
    rgba[..., :3] = 255
    rgba[..., 3] = burnt * 150
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
    return {
        "href": _png_data_uri(buf.getvalue()),
        "x": left,
        "y": -top,
        "w": right - left,
        "h": top - bottom,
        "count": count,
    }


def _info(run: _Run, i: int) -> dict:
    """Return what the map's info panel shows for target ``i`` (JSON-ready)."""
    row = run.targets.iloc[i]
    c = run.coords.iloc[i]
    return {
        "id": _text(row["target_id"]),
        "rank": _text(row["rank"]),
        "score": _num(row["score"]),
        "licence": _text(row.get("licence_id"), "outside licences"),
        "holder": _text(row.get("holder")),
        "status": _text(row.get("licence_status")),
        "flag": _text(row.get("licence_flag"), ""),
        "scene": f"{_num(row['easting'], '.0f')} E {_num(row['northing'], '.0f')} N (EPSG:{_text(row['epsg'])})",
        "utm": f"{_text(c['utm_zone'])} {_num(c['utm_easting'], '.0f')} E {_num(c['utm_northing'], '.0f')} N",
        "dms": f"{_text(c['lat_dms'])} {_text(c['lon_dms'])}",
        "latlon": f"{_num(c['lat'], '.6f')}, {_num(c['lon'], '.6f')}",
        "evidence": _text(row.get("evidence"), "")
        or ", ".join(f"{k} {v:.2f}" for k, v in _evidence(row, run.components)),
    }


def _table(run: _Run) -> tuple[list[dict], list[dict]]:
    """Columns and rows of the sortable target table (display text + sort key per cell)."""
    cols = [
        ("rank", "Rank", "num"),
        ("target_id", "Target", "text"),
        ("score", "Score", "num"),
        ("licence_id", "Licence", "text"),
        ("licence_status", "Status", "text"),
        ("area_ha", "Area (ha)", "num"),
        ("utm", "UTM (GPS)", "text"),
        ("latlon", "Lat / lon", "text"),
        ("evidence", "Evidence", "text"),
        ("flags", "Flags", "text"),
    ]
    rows = []
    for i, row in run.targets.iterrows():
        c = run.coords.iloc[i]
        ev = _text(row.get("evidence"), "") or ", ".join(
            f"{k} {v:.2f}" for k, v in _evidence(row, run.components)
        )
        flags = " ".join(
            t for t in (_text(row.get("licence_flag"), ""), _text(row.get("flags"), "")) if t
        )
        cells = {
            "rank": (_text(row["rank"]), _text(row["rank"], "")),
            "target_id": (_text(row["target_id"]), _text(row["target_id"], "")),
            "score": (_num(row["score"]), _num(row["score"], ".6f", "")),
            "licence_id": (_text(row.get("licence_id")), _text(row.get("licence_id"), "")),
            "licence_status": (
                _text(row.get("licence_status")),
                _text(row.get("licence_status"), ""),
            ),
            "area_ha": (_num(row.get("area_ha"), ".1f"), _num(row.get("area_ha"), ".4f", "")),
            "utm": (
                f"{c['utm_zone']} {c['utm_easting']:.0f} E {c['utm_northing']:.0f} N",
                f"{c['utm_easting']:.0f}",
            ),
            "latlon": (f"{c['lat_dms']} {c['lon_dms']}", f"{c['lat']:.8f}"),
            "evidence": (ev or "—", ev),
            "flags": (flags or "—", flags),
        }
        rows.append(
            {
                "id": _text(row["target_id"]),
                "cells": [{"text": cells[k][0], "key": cells[k][1], "col": k} for k, _, _ in cols],
            }
        )
    return [{"key": k, "label": lab, "type": t} for k, lab, t in cols], rows


def _bars(items: list[tuple[str, float]]) -> list[dict]:
    top = max((abs(v) for _, v in items), default=0.0) or 1.0
    return [
        {"name": k, "value": f"{v:+.3f}", "pct": round(100 * abs(v) / top, 1)} for k, v in items
    ]


def _template_text(name: str) -> str:
    return (importlib.resources.files("geo.export") / "templates" / name).read_text(
        encoding="utf-8"
    )


def _json_script(data: Any) -> Markup:
    """JSON safe inside a ``<script>`` element (no ``</script>`` or HTML comment can occur)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def render_html(
    run_dir: str | Path,
    *,
    top: int = 10,
    self_test: bool = False,
    field_top: int | None = None,
    per_licence: int | None = None,
    max_bytes: int | None = REPORT_MAX_BYTES,
) -> str:
    """Return the report page of a run as HTML text (see :func:`write_report`).

    Parameters
    ----------
    run_dir : path
        The run folder.
    top : int
        Number of best targets given their own section with a map sheet.
    self_test : bool
        Add a script that sorts the table by score (ascending) and writes the order into
        ``<pre id="self-test">`` (for the tests; off in a real report).
    field_top, per_licence, max_bytes
        As for :func:`write_report`.
    """
    _check_top(top)
    run = _Run(Path(run_dir), field_top=field_top, per_licence=per_licence)
    template, context = _html_template(run, top=top, self_test=self_test, max_bytes=max_bytes)
    return template.render(**context)


def _check_top(top: int) -> None:
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top < 0:
        raise InvalidParameterError(
            f"The 'top' parameter of write_report must be an int >= 0; found {top!r}."
        )


def _html_section(run: _Run, i: int) -> dict:
    """Return the report section of the ``i``-th target, with its map sheet."""
    row = run.targets.iloc[i]
    sheet = _Picture(pixels=run.sheet_pixels(i))
    ev = _evidence(row, run.components)
    return {
        "id": _text(row["target_id"]),
        "title": f"{_text(row['target_id'])} — rank {_text(row['rank'])}, score {_num(row['score'])}",
        "licence": _text(row.get("licence_id"), "outside licences"),
        "sheet": sheet,
        "attributes": _attributes(run, i),
        "bars": _bars(ev),
        "contrib": any(str(k).startswith("contrib_") for k in row.index),
        "evidence_text": _text(row.get("evidence"), ""),
    }


def _html_template(run: _Run, *, top: int, self_test: bool, max_bytes: int | None = None):
    """Return the report's template and its context (to render, or stream to a file).

    With ``max_bytes``, the pictures are shrunk until the page fits (:func:`_fit_pictures`).
    """
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(_template_text("report.html.j2"))
    summary = _summary(run)
    images: list[dict[str, Any]] = []
    for name, caption in (
        ("quicklook.png", "Quicklook: true colour, masks, alteration zones, targets and licences"),
        ("prospectivity.png", "Prospectivity score and target cutoff"),
        ("evaluation.png", "Evaluation: prediction-rate / success-rate curves"),
        ("minerals.png", "Minerals: SWIR (~2 µm) map, VNIR iron where SWIR names none"),
    ):
        png = run.png(name)
        if png is not None:
            images.append({"src": _Picture(png), "caption": caption, "name": name})
    columns, rows = _table(run)
    sections = []
    n_sheets = min(top, len(run.targets))
    with reporter().task("report: target sheets", total=n_sheets) as advance:
        for i in range(n_sheets):
            sections.append(_html_section(run, i))
            advance()
    with_sheet = {s["id"] for s in sections}
    for r in rows:
        r["sheet"] = r["id"] in with_sheet  # its id links to its sheet
    scene = (run.manifest.get("scene") or {}).get("scene_id") or run.dir.name
    map_data = _map_data(run)
    data = {
        # what report.js reads: the view and each target's box (the shapes and pictures are
        # in the SVG already; repeating them here doubled the page)
        "map": {
            "view": map_data["view"],
            "utm": map_data["utm"],
            "crs": map_data["crs"],
            "targets": [{"id": t["id"], "bbox": t["bbox"]} for t in map_data["targets"]],
        },
        "info": {
            _text(run.targets.iloc[i]["target_id"]): _info(run, i) for i in range(len(run.targets))
        },
        "selfTest": bool(self_test),
    }
    n = len(run.targets)
    context = dict(
        title=f"geo report — {scene}",
        summary=summary,
        images=images,
        columns=columns,
        rows=rows,
        sections=sections,
        top=top,
        n_targets=n,
        targets_heading=(
            f"Targets (the best {n:,} of {run.n_total:,})" if run.partial else f"Targets ({n})"
        ),
        map=map_data,
        rank_classes=[{"colour": c, "label": lab} for _, c, lab in _RANK_CLASSES],
        data_json=_json_script(data),
        css=Markup(_template_text("report.css")),
        js=Markup(_template_text("report.js")),
        self_test=self_test,
        generated=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    if max_bytes is not None:
        overviews: list[_Picture] = [im["src"] for im in images]
        if map_data["image"] is not None:
            overviews.append(map_data["image"]["href"])
        _fit_pictures(template, context, [s["sheet"] for s in sections], overviews, max_bytes)
    for s in sections:
        s["sheet"].settle()
    return template, context


# --------------------------------------------------------------------------- PDF

_A4 = (8.27, 11.69)
#: A4 in points (1/72 in): the PDF pages' coordinates.
_PAGE_W, _PAGE_H = _A4[0] * 72, _A4[1] * 72
_MARGIN = 34.0  # left/right margin, pt
_TOP = 36.0  # first baseline region from the top, pt
_BOTTOM = 40.0  # the footer's band, pt
_MONO = "DejaVu Sans Mono"
_MONO_ADVANCE = 0.602  # DejaVu Sans Mono's advance width, in em
#: The cover's target table: (key, heading, width in characters (0: the rest), alignment).
_TABLE_COLS = (
    ("rank", "Rank", 4, "right"),
    ("id", "Target", 9, "left"),
    ("score", "Score", 5, "right"),
    ("licence", "Licence", 14, "left"),
    ("status", "Status", 9, "left"),
    ("zone", "Zone", 4, "left"),
    ("easting", "Easting", 7, "right"),
    ("northing", "Northing", 8, "right"),
    ("lat", "Lat", 10, "right"),
    ("lon", "Lon", 11, "right"),
    ("evidence", "Main evidence", 0, "left"),
)
_TABLE_FONT = 6.8  # pt
_TABLE_ROW = 9.6  # pt
_TABLE_GAP = 1.5  # characters between columns
_SUMMARY_FONT = 7.5
_SUMMARY_LINE = 10.0
_SUMMARY_LABEL = 26  # characters of the label column
#: Longest text of one summary value or attribute on the PDF (a hostile layer can hold
#: megabyte strings); the HTML report and the tables carry the whole value.
_PDF_VALUE_CHARS = 400
_NOTE_LINE = 21.0  # pt between the ruled lines of the notes box (handwriting)


def _clip(text: str, chars: int) -> str:
    """``text`` on one line, cut to ``chars`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= chars else text[: max(chars - 1, 0)] + "…"


def _fy(y_pt: float) -> float:
    """Figure fraction of a height given in points from the page's top."""
    return 1 - y_pt / _PAGE_H


def _fx(x_pt: float) -> float:
    return x_pt / _PAGE_W


def _table_layout() -> list[tuple[str, str, float, float, int, str]]:
    """Columns of the cover table: ``(key, heading, left pt, right pt, chars, align)``."""
    char = _MONO_ADVANCE * _TABLE_FONT
    total = int((_PAGE_W - 2 * _MARGIN) / char)
    fixed = sum(w for _, _, w, _ in _TABLE_COLS) + _TABLE_GAP * (len(_TABLE_COLS) - 1)
    out = []
    x = _MARGIN
    for key, heading, width, align in _TABLE_COLS:
        chars = width or int(total - fixed)
        out.append((key, heading, x, x + chars * char, chars, align))
        x += (chars + _TABLE_GAP) * char
    return out


def _table_cells(run: _Run, i: int) -> dict[str, str]:
    """One row of the cover table, as text."""
    row = run.targets.iloc[i]
    c = run.coords.iloc[i]
    evidence = _text(row.get("evidence"), "") or ", ".join(
        f"{k} {v:.2f}" for k, v in _evidence(row, run.components)[:3]
    )
    return {
        "rank": _text(row["rank"]),
        "id": _text(row["target_id"]),
        "score": _num(row["score"]),
        "licence": _text(row.get("licence_id"), "outside"),
        "status": _text(row.get("licence_status")),
        "zone": _text(c["utm_zone"]),
        "easting": _num(c["utm_easting"], ".0f"),
        "northing": _num(c["utm_northing"], ".0f"),
        "lat": _num(c["lat"], ".6f"),
        "lon": _num(c["lon"], ".6f"),
        "evidence": evidence or "—",
    }


class _PdfPlan:
    """The pages of the PDF before any is drawn, so every footer can say "page N of M".

    ``pages`` lists the front pages: each a list of ``(kind, y, payload)`` items placed at
    ``y`` points from the top (kinds ``title``, ``line``, ``heading``, ``table_head``,
    ``row``, ``overview``); the target sheets follow, one page each.
    """

    def __init__(self, run: _Run, top: int) -> None:
        self.run = run
        self.pages: list[list[tuple[str, float, Any]]] = [[]]
        self.y = _TOP
        self.sheets = min(top, len(run.targets))
        s = _summary(run)
        scene = (run.manifest.get("scene") or {}).get("scene_id") or run.dir.name
        self._put("title", 22.0, "geo field report")
        meta = run.manifest.get("scene") or {}
        pipeline = run.manifest.get("pipeline") or {}
        subtitle = " · ".join(
            _text(v)
            for v in (pipeline.get("name"), scene, meta.get("date_acquired"))
            if not is_missing(v) and str(v).strip()
        )
        self._put("subtitle", 16.0, _clip(subtitle, 100))
        self.y += 4
        rows = list(s["rows"]) + list(s["evaluation"])
        for label, value in rows:
            self._summary_line(label, value)
        if s["note"]:
            self._summary_line("Field set", s["note"])
        for w in s["warnings"]:
            self._summary_line("Warning", w)
        self.y += 6
        if len(run.targets):
            self._table()
        else:
            self._put(
                "heading", 16.0, "No targets: this run found no area above the target cutoff."
            )
        if run.png("quicklook.png") is not None:
            if _PAGE_H - _BOTTOM - self.y < 300:
                self._new_page()
            self.pages[-1].append(("overview", self.y, None))

    @property
    def total(self) -> int:
        return len(self.pages) + self.sheets

    def _new_page(self) -> None:
        self.pages.append([])
        self.y = _TOP

    def _put(self, kind: str, height: float, payload: Any) -> None:
        if self.y + height > _PAGE_H - _BOTTOM:
            self._new_page()
        self.pages[-1].append((kind, self.y, payload))
        self.y += height

    def _summary_line(self, label: str, value: str) -> None:
        import textwrap

        width = int((_PAGE_W - 2 * _MARGIN) / (_MONO_ADVANCE * _SUMMARY_FONT)) - _SUMMARY_LABEL
        text = _clip(_text(value), _PDF_VALUE_CHARS)
        lines = textwrap.wrap(text, width, break_long_words=True) or [""]
        for k, line in enumerate(lines):
            self._put(
                "line", _SUMMARY_LINE, (_clip(label, _SUMMARY_LABEL - 1) if k == 0 else "", line)
            )

    def _table(self) -> None:
        heading = (
            f"Targets of the field set ({len(self.run.targets):,} of {self.run.n_total:,}), best first"
            if self.run.partial
            else f"Targets ({len(self.run.targets):,}), best first"
        )
        note = (
            "Zone / Easting / Northing: standard UTM (WGS 84), as a GPS shows it. "
            "Lat / Lon: WGS 84 decimal degrees."
        )
        # the heading, the column heads and a row stay together
        if self.y + 28 + 2 * _TABLE_ROW > _PAGE_H - _BOTTOM:
            self._new_page()
        self._put("heading", 16.0, heading)
        self._put("note", 12.0, note)
        self._put("table_head", _TABLE_ROW + 2, None)
        for i in range(len(self.run.targets)):
            if self.y + _TABLE_ROW > _PAGE_H - _BOTTOM:
                self._new_page()
                self._put("heading", 16.0, "Targets (continued)")
                self._put("table_head", _TABLE_ROW + 2, None)
            self._put("row", _TABLE_ROW, i)


def _pdf_footer(fig: Figure, page: int, total: int, scene: str, generated: str) -> None:
    y = _fy(_PAGE_H - 20)
    fig.add_artist(
        _line((_fx(_MARGIN), _fx(_PAGE_W - _MARGIN)), (_fy(_PAGE_H - 30), _fy(_PAGE_H - 30)))
    )
    fig.text(
        _fx(_MARGIN),
        y,
        mpl_text(_clip(f"geo field report · {scene}", 70)),
        fontsize=7,
        color="#444444",
    )
    fig.text(0.5, y, f"page {page} of {total}", fontsize=8, ha="center", fontweight="bold")
    fig.text(_fx(_PAGE_W - _MARGIN), y, generated, fontsize=7, ha="right", color="#444444")


def _line(xs, ys, **kwargs):
    from matplotlib.lines import Line2D

    kwargs.setdefault("color", "#888888")
    kwargs.setdefault("linewidth", 0.5)
    return Line2D(xs, ys, **kwargs)


def _pdf_front_page(fig: Figure, plan: _PdfPlan, items: list) -> None:
    """Draw one page of the cover and target table (see :class:`_PdfPlan`)."""
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import Bbox, TransformedBbox

    run = plan.run
    columns = _table_layout()
    char = _MONO_ADVANCE * _TABLE_FONT
    for kind, y, payload in items:
        if kind == "title":
            fig.text(_fx(_MARGIN), _fy(y), payload, fontsize=16, fontweight="bold", va="top")
        elif kind == "subtitle":
            fig.text(_fx(_MARGIN), _fy(y), mpl_text(payload), fontsize=10, va="top")
        elif kind == "line":
            label, value = payload
            fig.text(
                _fx(_MARGIN),
                _fy(y),
                mpl_text(label),
                fontsize=_SUMMARY_FONT,
                family=_MONO,
                va="top",
                fontweight="bold",
            )
            fig.text(
                _fx(_MARGIN + _SUMMARY_LABEL * _MONO_ADVANCE * _SUMMARY_FONT),
                _fy(y),
                mpl_text(value),
                fontsize=_SUMMARY_FONT,
                family=_MONO,
                va="top",
            )
        elif kind == "heading":
            fig.text(
                _fx(_MARGIN),
                _fy(y + 3),
                mpl_text(_clip(payload, 130)),
                fontsize=8.5,
                fontweight="bold",
                va="top",
            )
        elif kind == "note":
            fig.text(_fx(_MARGIN), _fy(y + 1), payload, fontsize=7, va="top", color="#333333")
        elif kind in ("table_head", "row"):
            colour: str | None
            if kind == "table_head":
                texts = {key: heading for key, heading, *_ in columns}
                weight, colour = "bold", "#dde5ea"
            else:
                texts = _table_cells(run, payload)
                weight, colour = "normal", "#f0f3f5" if payload % 2 else None
            if colour:
                fig.add_artist(
                    Rectangle(
                        (_fx(_MARGIN - 2), _fy(y + _TABLE_ROW - 1)),
                        _fx(_PAGE_W - 2 * _MARGIN + 4),
                        _TABLE_ROW / _PAGE_H,
                        transform=fig.transFigure,
                        facecolor=colour,
                        edgecolor="none",
                        zorder=0,
                    )
                )
            for key, _heading, left, right, chars, align in columns:
                text = _clip(texts[key], chars)
                t = fig.text(
                    _fx(right if align == "right" else left),
                    _fy(y + _TABLE_ROW - 3),
                    mpl_text(text),
                    fontsize=_TABLE_FONT,
                    family=_MONO,
                    fontweight=weight,
                    ha=align,
                    va="baseline",
                )
                # a glyph wider than the monospace cell (CJK, emoji) never spills over the next
                box = Bbox([[_fx(left - 1), 0.0], [_fx(right + 0.5 * char), 1.0]])
                t.set_clip_box(TransformedBbox(box, fig.transFigure))
        elif kind == "overview":
            from PIL import Image

            png = run.png("quicklook.png")
            if png is None:
                continue
            fig.text(
                _fx(_MARGIN), _fy(y + 4), "Overview map", fontsize=8.5, fontweight="bold", va="top"
            )
            image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            top = y + 18
            height = _PAGE_H - _BOTTOM - 6 - top
            ax = fig.add_axes(
                (_fx(_MARGIN), _fy(top + height), _fx(_PAGE_W - 2 * _MARGIN), height / _PAGE_H)
            )
            # embedded as it is (the viewer scales it): resampling it for the page first cost
            # matplotlib 4 float64 copies of the picture (+84 MB on a 1089 x 1130 quicklook)
            ax.imshow(image, interpolation="none")
            ax.set_axis_off()


def _pdf_target_page(fig: Figure, run: _Run, i: int) -> None:
    """Draw target ``i``'s sheet: map, legend, caption, attributes, evidence, notes box."""
    from matplotlib.patches import Rectangle

    row = run.targets.iloc[i]
    ax = fig.add_axes((0.085, 0.515, 0.6, 0.425))
    drawn = run.maps.pop(i, None)
    if drawn is not None:  # the HTML page's drawing of the same map
        from PIL import Image

        with Image.open(io.BytesIO(drawn[0])) as picture:
            ax.imshow(np.asarray(picture), interpolation="none")
        ax.set_axis_off()
        info = drawn[1]
    else:
        info = run.sheet(row, ax=ax)
    _sheet_legend(fig, ncol=1, fontsize=7, loc="upper left", bbox_to_anchor=(0.735, 0.94))
    c = run.coords.iloc[i]
    fig.text(0.735, 0.79, "Go to (GPS)", fontsize=8, fontweight="bold", va="top")
    goto = [
        f"UTM {_text(c['utm_zone'])}",
        f"{_num(c['utm_easting'], '.0f')} E",
        f"{_num(c['utm_northing'], '.0f')} N",
        "",
        _text(c["lat_dms"]),
        _text(c["lon_dms"]),
        f"{_num(c['lat'], '.6f')}, {_num(c['lon'], '.6f')}",
    ]
    fig.text(
        0.735,
        0.772,
        mpl_text("\n".join(goto)),
        fontsize=9,
        family=_MONO,
        va="top",
        linespacing=1.25,
    )
    caption = _wrap_lines(mpl_text(_clip(info["caption"], 600)), 0.88 * _PAGE_W, 6.5)
    fig.text(0.06, 0.474, caption, fontsize=6.5, va="top")
    attrs = _attributes(run, i)
    text = "\n".join(f"{k:<16} {_clip(v, 62)}" for k, v in attrs)
    fig.text(0.06, 0.445, mpl_text(text), fontsize=7, va="top", family=_MONO, linespacing=1.1)
    ev = _evidence(row, run.components)
    if ev:
        label = (
            "contribution to score"
            if any(str(k).startswith("contrib_") for k in row.index)
            else "score component"
        )
        _pdf_bars(fig, ev[:6], f"Evidence ({label})", (0.72, 0.345, 0.24, 0.09))
    text = _text(row.get("evidence"), "")
    if text:
        fig.text(
            0.6, 0.33, mpl_text("\n".join(_wrap(_clip(text, 150), 50))), fontsize=6.5, va="top"
        )
    # the notes box: ruled lines for the geologist's handwriting
    top, bottom = 0.262, 0.045
    fig.add_artist(
        Rectangle(
            (0.06, bottom),
            0.88,
            top - bottom,
            transform=fig.transFigure,
            facecolor="none",
            edgecolor="#333333",
            linewidth=0.8,
        )
    )
    fig.text(
        0.07,
        top - 0.006,
        f"Field notes — {mpl_text(_clip(_text(row['target_id']), 40))}",
        fontsize=8,
        fontweight="bold",
        va="top",
    )
    step = _NOTE_LINE / _PAGE_H
    labels = ["Date", "Observations", "", "", "", "Samples", ""]
    y = top - 0.022 - step
    for k, lab in enumerate(labels):
        if k == 0:
            fig.text(0.07, y + 0.003, "Date", fontsize=7.5, va="bottom")
            fig.add_artist(_line((0.12, 0.42), (y, y), color="#777777"))
            fig.text(0.45, y + 0.003, "Geologist", fontsize=7.5, va="bottom")
            fig.add_artist(_line((0.54, 0.93), (y, y), color="#777777"))
        else:
            if lab:
                fig.text(0.07, y + 0.003, lab, fontsize=7.5, va="bottom")
            start = 0.07 + (0.11 if lab == "Observations" else 0.075 if lab else 0.0)
            fig.add_artist(_line((start, 0.93), (y, y), color="#777777"))
        y -= step


def _pdf_bars(fig: Figure, items: list, title: str, box: tuple[float, float, float, float]):
    """Horizontal bars of ``items`` (name, value) in ``box`` (figure fraction), first on top.

    Drawn as rectangles and texts on the page (no Axes: its ticks and layout cost 50 ms a
    page). Each bar starts at zero (a grey line) and is labelled with its value; the span
    is the values' range and zero, with a quarter of it on each side.
    """
    from matplotlib.patches import Rectangle

    x0, y0, w, h = box
    values = [float(v) for _, v in items]
    lo, hi = min(0.0, *values), max(0.0, *values)
    pad = 0.25 * ((hi - lo) or 1.0)
    lo, hi = lo - pad, hi + pad

    def fx(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * w

    fig.add_artist(
        Rectangle(
            (x0, y0),
            w,
            h,
            transform=fig.transFigure,
            facecolor="none",
            edgecolor="#555555",
            linewidth=0.6,
        )
    )
    fig.text(x0 + w / 2, y0 + h + 0.004, title, fontsize=7.5, ha="center", va="bottom")
    fig.add_artist(_line((fx(0.0), fx(0.0)), (y0, y0 + h), color="#999999", linewidth=0.5))
    slot = h / len(items)
    for k, (name, v) in enumerate(zip((n for n, _ in items), values, strict=True)):
        yc = y0 + h - (k + 0.5) * slot
        left, right = sorted((fx(0.0), fx(v)))
        fig.add_artist(
            Rectangle(
                (left, yc - 0.4 * slot),
                right - left,
                0.8 * slot,
                transform=fig.transFigure,
                facecolor="#d9822b",
                edgecolor="none",
            )
        )
        fig.text(x0 - 0.006, yc, mpl_text(_clip(name, 22)), fontsize=6.5, ha="right", va="center")
        end, ha = (right + 0.003, "left") if v >= 0 else (left - 0.003, "right")
        fig.text(end, yc, f"{v:+.2f}", fontsize=6, ha=ha, va="center")


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def _write_pdf(run: _Run, pdf_path: Path, top: int) -> None:
    scene = (run.manifest.get("scene") or {}).get("scene_id") or run.dir.name
    plan = _PdfPlan(run, top)
    total = plan.total
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with atomic_path(pdf_path) as tmp:
        with PdfPages(tmp) as pdf:
            meta = pdf.infodict()
            meta["Title"] = f"geo field report — {scene}"
            meta["Author"] = "geo"
            count = (
                f"the best {len(run.targets)} of {run.n_total}"
                if run.partial
                else str(len(run.targets))
            )
            meta["Subject"] = (
                f"Ranked drill targets ({count}) of pipeline "
                f"{(run.manifest.get('pipeline') or {}).get('name', '?')} on scene {scene}"
            )
            meta["Creator"] = f"geo {run.manifest.get('geo_version', '')}".strip()
            page = 0
            for items in plan.pages:
                page += 1
                fig = _figure(*_A4)
                _pdf_front_page(fig, plan, items)
                _pdf_footer(fig, page, total, _text(scene), generated)
                pdf.savefig(fig)
            with reporter().task("report: PDF pages", total=plan.sheets) as advance:
                for i in range(plan.sheets):
                    page += 1
                    fig = _figure(*_A4)
                    _pdf_target_page(fig, run, i)
                    _pdf_footer(fig, page, total, _text(scene), generated)
                    pdf.savefig(fig)
                    advance()


def write_report(
    run_dir: str | Path,
    *,
    html_path: str | Path | bool | None = None,
    pdf_path: str | Path | bool | None = None,
    top: int = 10,
    layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    field_top: int | None = None,
    per_licence: int | None = None,
    max_bytes: int | None = REPORT_MAX_BYTES,
) -> dict[str, Path]:
    """Write a run's offline HTML report and its A4 PDF.

    Parameters
    ----------
    run_dir : path
        A folder written by ``geo run`` (``manifest.json``, ``targets.gpkg``,
        ``rasters/true_colour.tif``, the PNG maps).
    html_path, pdf_path : path or False, optional
        Where to write; default (``None``) ``report.html`` and ``report.pdf`` inside
        ``run_dir``; ``False`` skips that file. Each file is written atomically (a failed
        run leaves no half-written report).
    top : int
        Number of best-ranked targets (of the field set) with their own section / PDF page
        and map sheet.
    layers : mapping of str to GeoDataFrame, optional
        The run's ``targets.gpkg`` layers (``targets``, ``licences``, ``occurrences``,
        ``structures``) when the caller has read them already; otherwise they are read.
    field_top : int, optional
        The report is about the best ``field_top`` targets only (the run's ``field.top``):
        its table, interactive map, sheets and pages; the summary says how many the run
        has. ``None``: every target.
    per_licence : int, optional
        At most this many of those targets a licence (the run's ``field.per_licence``).
    max_bytes : int or None
        Largest ``report.html`` (see :data:`REPORT_MAX_BYTES`); ``None``: no limit.

    Returns
    -------
    dict
        ``{"html": Path, "pdf": Path}`` (without the key of a skipped file).

    Raises
    ------
    InputNotFoundError
        ``run_dir``, its ``manifest.json`` or the ``targets`` layer is missing.
    """
    _check_top(top)
    run = _Run(Path(run_dir), layers, field_top=field_top, per_licence=per_licence)
    run.keep_maps = html_path is not False and pdf_path is not False  # one drawing for both
    written: dict[str, Path] = {}
    if html_path is not False:
        html_file = (
            run.dir / "report.html" if html_path is None or html_path is True else Path(html_path)
        )
        template, context = _html_template(run, top=top, self_test=False, max_bytes=max_bytes)
        # streamed: the page (with its pictures, megabytes) is never one string
        with atomic_path(html_file) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            template.stream(**context).dump(fh)
        written["html"] = html_file
    if pdf_path is not False:
        release_memory()  # the HTML's temporaries are freed before the PDF's pages are drawn
        pdf_file = (
            run.dir / "report.pdf" if pdf_path is None or pdf_path is True else Path(pdf_path)
        )
        _write_pdf(run, pdf_file, top)
        written["pdf"] = pdf_file
    return written
