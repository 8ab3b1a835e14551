"""Quicklook maps: the true-colour scene (masks, zones, targets, licences) and the score map.

Outlines (zones, targets, licences, structures) are drawn as one line collection per layer,
clipped to the map with a spatial-index query, so a licence layer of tens of thousands of
licences costs one artist, not one per licence. Licence labels: every licence in view when
at most :data:`MAX_LICENCE_LABELS` are; otherwise those holding or touching a target (or,
when even those are too many, the licences the targets are assigned to). Text from the
layers is drawn as it is, never as mathtext (:func:`geo._text.mpl_text`).

Labels (target ranks, licence ids) are placed when the figure is drawn, once its layout is
final: each, best rank first, takes the free position nearest its anchor that keeps clear
of the other labels, the occurrence stars, the other labelled targets, the scale bar and
the north arrow, and crosses the fewest pixels of the drawn lines (faults, licence edges,
target and zone outlines); a target label moved off its target gets a leader line, and a
licence label stays inside its licence (:func:`map_labels` gives the labels as drawn).
The axes are labelled in the standard UTM zone a GPS shows
(:func:`standard_utm_formatter`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import matplotlib.patheffects as pe
import numpy as np
import shapely
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

from geo._text import mpl_text
from geo.errors import InvalidParameterError
from geo.export._common import draw_lines, is_missing, licence_relevance

if TYPE_CHECKING:  # (the field exports draw without xarray: its import is left to the run)
    import xarray as xr

__all__ = [
    "MAX_LICENCE_LABELS",
    "UTMAxes",
    "decimated_rgb",
    "map_labels",
    "render_quicklook",
    "render_score_map",
    "standard_utm_formatter",
    "true_colour",
]

#: Licences labelled on a quicklook when that many or fewer are in view (see the module doc).
MAX_LICENCE_LABELS = 60

# the maps are 10 in wide at 110 dpi (1100 px, the axes less): a picture with more pixels is
# only resampled down by matplotlib, which costs ~60 bytes a pixel while it draws
_MAX_PIXELS = 1100
_FAMILY_COLOURS = {"iron oxide": "#ff7f0e", "clay / hydroxyl": "#17becf", "other": "#e377c2"}


def _family(kind: str) -> str:
    """Group zone kinds (ratio, Crosta, SAM, classifier layers) into evidence families."""
    if any(k in kind for k in ("iron", "ferric", "gossan", "hematite", "jarosite")):
        return "iron oxide"
    if any(k in kind for k in ("clay", "hydroxyl", "aloh", "argillic", "phyllic", "kaolinite")):
        return "clay / hydroxyl"
    return "other"


_HALO = [pe.withStroke(linewidth=3, foreground="black")]
_THIN_HALO = [pe.withStroke(linewidth=2.6, foreground="black")]
_STAR_SIZE = 90.0  # occurrence star, marker area in points squared


def _figure(width: float, height: float):
    """Return a figure and axes outside pyplot's registry (nothing retained once dropped)."""
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _stretch(rgb: np.ndarray) -> np.ndarray:
    """2–98 % linear stretch per band over finite pixels; NaN stays NaN."""
    out = np.empty_like(rgb, dtype="float32")
    for i in range(rgb.shape[0]):
        band = rgb[i]
        finite = band[np.isfinite(band)]
        lo, hi = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
        out[i] = np.clip((band - lo) / max(hi - lo, 1e-6), 0, 1)
    return out


def _step(shape: tuple[int, ...]) -> int:
    """Decimation step that brings the long side of a grid to at most ``_MAX_PIXELS``."""
    return max(1, int(np.ceil(max(shape[-2:]) / _MAX_PIXELS)))


def _outlines(frame: gpd.GeoDataFrame, tolerance: float) -> gpd.GeoSeries:
    """Boundaries simplified to the map's drawing resolution (half a decimated pixel).

    A zone traced from pixels has a vertex at every pixel corner; drawn on a picture with a
    few scene pixels to each of its own, they only cost memory and time (thousands of zones
    on a large scene), not detail.
    """
    return frame.geometry.boundary.simplify(tolerance, preserve_topology=False)


def decimated_rgb(
    reflectance: xr.DataArray,
    *,
    preview: Callable[[list[str], int], np.ndarray | None] | None = None,
) -> np.ndarray:
    """Red, green and blue of a scene, every n-th pixel (at most ~1100 px on the long side).

    One read of the three bands, shared by :func:`true_colour` (its stretch) and
    :func:`render_quicklook` (its picture) so a run decodes them once for both. A
    scene's :meth:`~geo.io.scene.Scene.preview`, given as ``preview``, reads them through
    the files' overviews; without one (or when it returns None) every n-th pixel of
    ``reflectance`` is taken, which decodes the three bands in full.

    Returns
    -------
    numpy.ndarray
        float32 ``(3, ny, nx)``; NaN where the scene has no data.
    """
    step = _step(reflectance.shape)
    if preview is not None:
        rgb = preview(["red", "green", "blue"], step)
        if rgb is not None:
            return rgb
    subset = reflectance.sel(band=["red", "green", "blue"])[:, ::step, ::step]
    return np.asarray(subset.values, dtype="float32")


def true_colour(reflectance: xr.DataArray, *, sample: np.ndarray | None = None) -> xr.DataArray:
    """8-bit true-colour picture of a scene (lazy): the field team's basemap and the overlays.

    Each of red, green and blue is stretched linearly between its 2nd and 98th percentile,
    estimated on a decimated copy (at most ~1100 px on the long side, so the cost does not
    grow with the scene), to 1–255; 0 is nodata (fill: any band NaN). Clouds and other
    masked pixels stay visible: this is a picture, not an analysis layer. Pass the
    :func:`decimated_rgb` of the scene as ``sample`` when it is already at hand.

    Returns
    -------
    xarray.DataArray
        uint8 ``(band, y, x)`` with ``band`` = red, green, blue; CRS and transform kept.
    """
    rgb = reflectance.sel(band=["red", "green", "blue"])
    if sample is None:
        sample = decimated_rgb(reflectance)
    scaled = []
    for i in range(3):
        finite = sample[i][np.isfinite(sample[i])]
        lo, hi = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
        band = rgb.isel(band=i)
        scaled.append(1 + 254 * ((band - lo) / max(float(hi - lo), 1e-6)).clip(0, 1))
    import xarray as xr

    out = xr.concat(scaled, dim="band").assign_coords(band=["red", "green", "blue"])
    out = out.where(rgb.notnull().all("band"), 0).round().astype("uint8")
    out = out.rio.write_crs(reflectance.rio.crs).rio.write_transform(reflectance.rio.transform())
    out.attrs = {"stretch": "2-98 % per band", "nodata": 0}
    return out.rio.write_nodata(0)


def draw_scale_and_north(
    ax, bounds, *, bar: float | None = None, linewidth: float = 4, fontsize: float = 10, zorder=None
) -> None:
    """Draw a scale bar (lower left) and a north arrow (upper right) on a map in metres.

    The arrow points up the map: right for north-up projected grids such as UTM.
    """
    left, bottom, right, top = bounds
    bar = _nice_length(right - left) if bar is None else bar
    x0, y0 = left + 0.05 * (right - left), bottom + 0.05 * (top - bottom)
    extra = {} if zorder is None else {"zorder": zorder}
    ax.plot(
        [x0, x0 + bar],
        [y0, y0],
        color="white",
        linewidth=linewidth,
        solid_capstyle="butt",
        path_effects=_HALO,
        **extra,
    )
    ax.annotate(
        f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m",
        (x0 + bar / 2, y0),
        xytext=(0, 6),
        textcoords="offset points",
        color="white",
        ha="center",
        fontsize=fontsize,
        path_effects=_HALO,
        **extra,
    )
    ax.annotate(
        "N",
        xy=(0.95, 0.95),
        xytext=(0.95, 0.86),
        xycoords="axes fraction",
        color="white",
        ha="center",
        fontsize=14,
        fontweight="bold",
        path_effects=_HALO,
        arrowprops={"arrowstyle": "-|>", "color": "white", "lw": 2},
        **extra,
    )


def _nice_length(span_m: float) -> float:
    target = span_m / 5
    base = 10 ** np.floor(np.log10(target))
    return float(max(m * base for m in (1, 2, 5) if m * base <= target))


# --------------------------------------------------------------------------- map grid

#: False northing of the southern UTM zones (m): a point at the equator has northing 0 in zone
#: zzN and 10 000 000 in zone zzS.
UTM_FALSE_NORTHING_SOUTH = 10_000_000.0


@dataclass(frozen=True)
class UTMAxes:
    """How a map in a projected CRS labels its axes: the standard UTM zone a GPS shows.

    Made by :func:`standard_utm_formatter`; :meth:`apply` sets the tick formatters and
    the axis labels of a matplotlib axes drawn in the scene CRS.

    Attributes
    ----------
    zone : str or None
        Standard UTM zone of the map, e.g. ``"35S"``; None when the CRS is not UTM.
    northing_offset : float
        Metres added to a northing of the scene CRS to give the zone's northing
        (+10 000 000 for a southern map in a north zone, -10 000 000 for a northern map in
        a south zone, else 0).
    unit : {"m", "km"}
        Unit of the tick labels.
    xlabel, ylabel : str
        Axis labels, naming the zone (and the offset from the scene grid, when there is one).
    """

    zone: str | None
    northing_offset: float
    unit: str
    xlabel: str
    ylabel: str

    def easting(self, value: float, _pos: Any = None) -> str:
        """Tick label of an easting of the scene CRS."""
        return self._format(value)

    def northing(self, value: float, _pos: Any = None) -> str:
        """Tick label of a northing of the scene CRS, in the standard zone."""
        return self._format(value + self.northing_offset)

    def _format(self, value: float) -> str:
        if not math.isfinite(value):
            return ""
        if self.unit == "km":
            return f"{value / 1000:,.3f}".rstrip("0").rstrip(".").replace("-0", "0") or "0"
        return f"{round(value) + 0:,}"

    def apply(self, ax, *, fontsize: float | None = None) -> None:
        """Set the tick formatters and axis labels of ``ax`` (drawn in the scene CRS)."""
        ax.xaxis.set_major_formatter(FuncFormatter(self.easting))
        ax.yaxis.set_major_formatter(FuncFormatter(self.northing))
        extra = {} if fontsize is None else {"fontsize": fontsize}
        ax.set_xlabel(self.xlabel, **extra)
        ax.set_ylabel(self.ylabel, **extra)


def standard_utm_formatter(crs: Any, bounds: Sequence[float], *, unit: str = "m") -> UTMAxes:
    """Axis labels of a map in the standard UTM zone: the coordinates a handheld GPS shows.

    Landsat delivers its southern scenes in north zones (EPSG:326zz) with negative
    northings, which no GPS displays; a GPS south of the equator shows zone zzS, whose
    northings are the same plus the 10 000 000 m false northing. Which hemisphere a map
    is in is read from the centre of ``bounds``: a map centred south of the equator in a
    north zone is labelled in zone zzS (northing + 10 000 000), one centred north of it in
    a south zone in zzN (northing - 10 000 000); otherwise the zone is the CRS's own. A
    UTM zone on another datum (NAD83, ETRS89...) is handled the same way and named with
    its datum. A CRS that is not UTM keeps its own coordinates, named by the CRS.

    Parameters
    ----------
    crs : pyproj.CRS, rasterio CRS, str or int
        The map's CRS (anything :meth:`pyproj.CRS.from_user_input` reads); None for an
        unknown CRS (plain coordinates).
    bounds : sequence of 4 float
        ``(left, bottom, right, top)`` of the map in ``crs``.
    unit : {"m", "km"}
        Unit of the tick labels.

    Returns
    -------
    UTMAxes

    Raises
    ------
    InvalidParameterError
        ``crs`` is not a CRS, ``bounds`` is not four finite numbers with left < right and
        bottom < top, or ``unit`` is neither "m" nor "km".

    Examples
    --------
    >>> grid = standard_utm_formatter("EPSG:32635", (540000, -2390000, 560000, -2370000))
    >>> grid.zone, grid.northing(-2287500), grid.easting(554850)
    ('35S', '7,712,500', '554,850')
    >>> grid.ylabel
    'Northing (m), UTM 35S (scene grid EPSG:32635 + 10,000,000 m)'
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if unit not in ("m", "km"):
        raise InvalidParameterError(
            f"The 'unit' parameter of standard_utm_formatter must be 'm' or 'km'. Got {unit!r}."
        )
    try:
        left, bottom, right, top = (float(v) for v in bounds)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            "The 'bounds' parameter of standard_utm_formatter must be (left, bottom, right, "
            f"top) in the map's CRS. Got {bounds!r} instead."
        ) from exc
    if not (all(map(math.isfinite, (left, bottom, right, top))) and left < right and bottom < top):
        raise InvalidParameterError(
            "The 'bounds' parameter of standard_utm_formatter must be four finite numbers "
            f"with left < right and bottom < top. Got {tuple(bounds)!r} instead."
        )
    if crs is None:
        return UTMAxes(None, 0.0, unit, f"Easting ({unit})", f"Northing ({unit})")
    try:
        parsed = CRS.from_user_input(crs)
    except (CRSError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            "The 'crs' parameter of standard_utm_formatter must be a CRS (e.g. "
            f"'EPSG:32635'). Got {mpl_text(str(crs)[:80])!r} instead."
        ) from exc
    code = parsed.to_epsg()
    scene = f"EPSG:{code}" if code else parsed.name
    utm = parsed.utm_zone
    if not utm:
        return UTMAxes(None, 0.0, unit, f"Easting ({unit}), {scene}", f"Northing ({unit})")
    number, hemisphere = int(utm[:-1]), utm[-1]
    centre = (bottom + top) / 2
    offset = 0.0
    if hemisphere == "N" and centre < 0:
        hemisphere, offset = "S", UTM_FALSE_NORTHING_SOUTH
    elif hemisphere == "S" and centre >= UTM_FALSE_NORTHING_SOUTH:
        hemisphere, offset = "N", -UTM_FALSE_NORTHING_SOUTH
    zone = f"{number}{hemisphere}"
    datum = parsed.geodetic_crs.name if parsed.geodetic_crs is not None else ""
    xlabel = f"Easting ({unit}), UTM {zone}" + (f", {datum}" if datum else "")
    ylabel = f"Northing ({unit}), UTM {zone}"
    if offset:
        ylabel += f" (scene grid {scene} {'+' if offset > 0 else '-'} {abs(offset):,.0f} m)"
    return UTMAxes(zone, offset, unit, xlabel, ylabel)


# --------------------------------------------------------------------------- label placement

# gaps (points) between a label and its anchor tried in turn, and the directions around it
_RINGS_PT = (1.5, 4.0, 8.0, 13.0, 19.0, 27.0, 37.0, 50.0, 66.0, 86.0, 110.0)
_ANGLES = np.deg2rad(np.arange(0, 360, 22.5))
_LEADER_PT = 3.0  # a target label further than this from its target gets a leader line
_FOOTPRINT_PT = 45.0  # a target larger than this is labelled round its anchor, not its box
_DISTANCE_COST = 0.25  # cost of a pixel of distance, against a pixel of line under a label
_HALO_PAD_PT = 2.0  # the halo's stroke around a label, kept clear of other labels
_LABEL_CHARS = 40  # longer licence ids are cut (with an ellipsis) on the maps


@dataclass
class _Label:
    """A label of a map: its text artist, its anchor (data) and where it may go."""

    text: Text
    anchor: tuple[float, float]
    kind: str  # "target" (point label, leader line when moved) or "licence" (area label)
    area: Any = None  # shapely geometry (data) the label's centre must stay in
    #: (minx, miny, maxx, maxy) of what is labelled (data): the rings go round it
    footprint: tuple[float, float, float, float] | None = None


class _LabelLayer(Artist):
    """Invisible artist that places the labels of its axes each time the figure is drawn.

    Its very low ``zorder`` makes the axes draw it first, once the layout (tight layout,
    colour bar, aspect) is final; it then moves the label texts, which are drawn after it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_zorder(-1e6)
        self.set_in_layout(False)
        self.labels: list[_Label] = []
        #: drawn lines a label should not cross, with the cost of a pixel of each
        self.lines: list[tuple[LineCollection, float]] = []
        #: points a label must not cover: ``(xy (n, 2) in data units, radius in points)``
        self.points: list[tuple[np.ndarray, float]] = []
        #: leader lines of the moved target labels, set at each draw
        self.leaders: LineCollection | None = None
        self._placed_for: tuple | None = None
        #: :func:`_polylines` of each line collection, read once
        self.polylines: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def draw(self, renderer) -> None:
        ax = self.axes
        if self.get_visible() and self.labels and ax is not None:
            # the same map in pixels (savefig's bbox_inches="tight" draws twice, shifted):
            # the labels, kept in data units, are where they were
            x0, y0, x1, y1 = ax.viewLim.extents
            key = (
                renderer.points_to_pixels(1.0),
                tuple(ax.bbox.size),
                tuple((ax.transData.transform([(x1, y1)]) - ax.transData.transform([(x0, y0)]))[0]),
                len(self.labels),
            )
            if key != self._placed_for:
                _place_labels(ax, renderer, self)
                self._placed_for = key
        self.stale = False


def _label_layer(ax) -> _LabelLayer:
    """Return the label layer of ``ax``, added on first use."""
    for artist in ax.artists:
        if isinstance(artist, _LabelLayer):
            return artist
    layer = _LabelLayer()
    ax.add_artist(layer)
    return layer


def map_labels(fig: Figure) -> list[Text]:
    """Return the labels (target ranks, licence ids) of a map from this module, as drawn.

    The labels are placed when the figure is drawn (``fig.canvas.draw()`` or
    ``fig.savefig``); a label that found no free place is hidden and left out.

    Returns
    -------
    list of matplotlib.text.Text
        Target labels by rank, then licence labels; ``get_window_extent(renderer)`` gives
        each one's box.
    """
    out = []
    for ax in fig.axes:
        for artist in ax.artists:
            if isinstance(artist, _LabelLayer):
                out += [lab.text for lab in artist.labels if lab.text.get_visible()]
    return out


def _integral(grid: np.ndarray) -> np.ndarray:
    """Summed-area table: ``out[i, j]`` is the sum of ``grid[:i, :j]``.

    float32 is exact here: the grids hold counts and multiples of 1/4 below 2**22.
    """
    out = np.zeros((grid.shape[0] + 1, grid.shape[1] + 1), dtype="float32")
    np.cumsum(np.cumsum(grid, axis=0, dtype="float32"), axis=1, out=out[1:, 1:])
    return out


def _box_sums(table: np.ndarray, x0, y0, x1, y1) -> np.ndarray:
    """Sum the grid behind ``table`` over pixel boxes (every pixel each one touches)."""
    h, w = table.shape[0] - 1, table.shape[1] - 1
    i0 = np.clip(np.floor(y0).astype(int), 0, h)
    i1 = np.clip(np.ceil(y1).astype(int), 0, h)
    j0 = np.clip(np.floor(x0).astype(int), 0, w)
    j1 = np.clip(np.ceil(x1).astype(int), 0, w)
    return table[i1, j1] - table[i0, j1] - table[i1, j0] + table[i0, j0]


def _polylines(collection: LineCollection) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (data units) of a line collection's polylines, and which follow one another.

    Read from the paths' vertex arrays (``get_segments`` walks them a vertex at a time).
    """
    parts = [np.asarray(p.vertices) for p in collection.get_paths()]
    parts = [v for v in parts if len(v) >= 2]
    if not parts:
        return np.empty((0, 2)), np.empty(0, dtype=bool)
    ends = np.cumsum([len(p) for p in parts])
    joins = np.ones(int(ends[-1]) - 1, dtype=bool)
    joins[ends[:-1] - 1] = False  # last point of a line to the first of the next
    return np.concatenate(parts).astype("float64"), joins


def _rasterize(lines: tuple[np.ndarray, np.ndarray], to_px: Callable, w: int, h: int) -> np.ndarray:
    """Boolean ``(h, w)`` grid of the pixels crossed by polylines (:func:`_polylines`).

    Each segment is clipped to the grid (Liang-Barsky) and sampled every pixel, so the cost
    is the drawn length, not the length outside the map.
    """
    grid = np.zeros((h, w), dtype=bool)
    vertices, joins = lines
    if not joins.any():
        return grid
    pts = to_px(vertices)
    p0, p1 = pts[:-1][joins], pts[1:][joins]
    ok = np.isfinite(p0).all(1) & np.isfinite(p1).all(1)
    p0, p1 = p0[ok], p1[ok]
    d = p1 - p0
    t0, t1 = np.zeros(len(d)), np.ones(len(d))
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in ((-d[:, 0], p0[:, 0]), (d[:, 0], w - p0[:, 0]), (-d[:, 1], p0[:, 1])):
            t0, t1 = _clip_step(p, q, t0, t1)
        t0, t1 = _clip_step(d[:, 1], h - p0[:, 1], t0, t1)
    keep = t0 <= t1
    a = p0[keep] + t0[keep, None] * d[keep]
    b = p0[keep] + t1[keep, None] * d[keep]
    n = np.ceil(np.abs(b - a).max(axis=1)).astype(int) + 1
    idx = np.repeat(np.arange(len(n)), n)
    t = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) / np.maximum(n - 1, 1)[idx]
    xy = a[idx] + t[:, None] * (b - a)[idx]
    grid[
        np.clip(xy[:, 1].astype(int), 0, h - 1),
        np.clip(xy[:, 0].astype(int), 0, w - 1),
    ] = True
    return grid


def _clip_step(p, q, t0, t1):
    """One edge of the Liang-Barsky clip: parameters where ``p * t <= q`` holds."""
    r = q / p
    t0 = np.where(p < 0, np.maximum(t0, r), t0)
    t1 = np.where(p > 0, np.minimum(t1, r), t1)
    outside = (p == 0) & (q < 0)
    return np.where(outside, 1.0, t0), np.where(outside, 0.0, t1)


def _place_labels(ax, renderer, layer: _LabelLayer) -> None:
    """Place the labels of ``layer`` (see the module doc); pixel space of the axes."""
    frame = ax.bbox
    w, h = max(1, math.ceil(frame.width)), max(1, math.ceil(frame.height))
    origin = np.array([frame.x0, frame.y0])

    def to_px(xy):
        return ax.transData.transform(np.asarray(xy, dtype="float64").reshape(-1, 2)) - origin

    scale = renderer.points_to_pixels(1.0)
    texts = {id(lab.text) for lab in layer.labels}

    # what a label should not cross: the drawn lines, a pixel of line costing its weight
    cost = np.zeros((h, w), dtype="float32")
    for collection, weight in layer.lines:
        if id(collection) not in layer.polylines:
            layer.polylines[id(collection)] = _polylines(collection)
        cost += weight * _rasterize(layer.polylines[id(collection)], to_px, w, h)
    line_table = _integral(cost)
    # what a label must not cover: occurrence stars (a box reaching within a star's radius
    # of its centre), the scale bar and the north arrow
    stars = []
    for xy, radius in layer.points:
        r = radius * scale
        px = to_px(xy)
        px = px[(px[:, 0] > -r) & (px[:, 0] < w + r) & (px[:, 1] > -r) & (px[:, 1] < h + r)]
        centres = np.zeros((h, w), dtype="float32")
        np.add.at(
            centres,
            (np.clip(px[:, 1].astype(int), 0, h - 1), np.clip(px[:, 0].astype(int), 0, w - 1)),
            1,
        )
        stars.append((_integral(centres), r))
    hard = np.zeros((h, w), dtype=bool)
    for artist in (*ax.texts, *ax.lines):
        if id(artist) in texts or not artist.get_visible():
            continue
        bb = artist.get_window_extent(renderer).translated(-origin[0], -origin[1])
        if bb.x1 > 0 and bb.y1 > 0 and bb.x0 < w and bb.y0 < h:
            rows = slice(max(0, int(bb.y0)), max(0, math.ceil(bb.y1)))
            hard[rows, max(0, int(bb.x0)) : max(0, math.ceil(bb.x1))] = True
    hard_table = _integral(hard)

    anchors = to_px([lab.anchor for lab in layer.labels])
    targets = np.array([lab.kind == "target" for lab in layer.labels])
    anchor_r = 2.0 * scale
    pad = _HALO_PAD_PT * scale
    rings = np.array(_RINGS_PT) * scale
    placed: list[tuple[float, float, float, float]] = []
    leaders = []
    for i, lab in enumerate(layer.labels):
        text = lab.text
        text.set_visible(True)
        extent = Text.get_window_extent(text, renderer)
        half_w, half_h = extent.width / 2 + pad, extent.height / 2 + pad
        ax_, ay = anchors[i]
        # candidates: centred on the anchor, then rings of growing gap around the labelled
        # feature (a small target's box; the anchor of a large one or of a licence)
        fx, fy, fw, fh = ax_, ay, 0.0, 0.0
        if lab.footprint is not None:
            (bx0, by0), (bx1, by1) = to_px(np.reshape(lab.footprint, (2, 2)))
            if max(abs(bx1 - bx0), abs(by1 - by0)) <= _FOOTPRINT_PT * scale:
                fx, fy = (bx0 + bx1) / 2, (by0 + by1) / 2
                fw, fh = abs(bx1 - bx0) / 2, abs(by1 - by0) / 2
        gap = np.concatenate([[0.0], np.repeat(rings, len(_ANGLES))])
        angle = np.concatenate([[0.0], np.tile(_ANGLES, len(rings))])
        ring = gap > 0
        cx = np.where(ring, fx + np.cos(angle) * (fw + half_w + gap), ax_)
        cy = np.where(ring, fy + np.sin(angle) * (fh + half_h + gap), ay)
        x0, x1, y0, y1 = cx - half_w, cx + half_w, cy - half_h, cy + half_h
        valid = (x0 >= 0) & (y0 >= 0) & (x1 <= w) & (y1 <= h)
        valid &= _box_sums(hard_table, x0, y0, x1, y1) == 0
        for table, r in stars:
            valid &= _box_sums(table, x0 - r, y0 - r, x1 + r, y1 + r) == 0
        if placed:
            p = np.array(placed)
            valid &= ~(
                (x0[:, None] < p[:, 2])
                & (x1[:, None] > p[:, 0])
                & (y0[:, None] < p[:, 3])
                & (y1[:, None] > p[:, 1])
            ).any(axis=1)
        # not over another labelled target's anchor (it would read as that target's label)
        other = targets.copy()
        other[i] = False
        if other.any():
            a = anchors[other]
            valid &= ~(
                (a[:, 0] > x0[:, None] - anchor_r)
                & (a[:, 0] < x1[:, None] + anchor_r)
                & (a[:, 1] > y0[:, None] - anchor_r)
                & (a[:, 1] < y1[:, None] + anchor_r)
            ).any(axis=1)
        data = ax.transData.inverted().transform(np.column_stack([cx, cy]) + origin)
        if lab.area is not None:
            valid &= shapely.contains_xy(lab.area, data[:, 0], data[:, 1])
        if not valid.any():
            text.set_visible(False)
            continue
        score = _box_sums(line_table, x0, y0, x1, y1) + _DISTANCE_COST * gap
        k = int(np.argmin(np.where(valid, score, np.inf)))
        text.set_position((float(data[k, 0]), float(data[k, 1])))
        placed.append((x0[k], y0[k], x1[k], y1[k]))  # with the halo: halos do not touch
        if lab.kind == "target" and gap[k] > _LEADER_PT * scale:
            # from the anchor to the nearest point of the label's box
            near = (np.clip(ax_, x0[k] + pad, x1[k] - pad), np.clip(ay, y0[k] + pad, y1[k] - pad))
            ends = np.array([(ax_, ay), near]) + origin
            leaders.append(ax.transData.inverted().transform(ends))
    if layer.leaders is not None:
        layer.leaders.set_segments(leaders)


def render_quicklook(
    reflectance: xr.DataArray,
    *,
    invalid: xr.DataArray | None = None,
    zones: gpd.GeoDataFrame | None = None,
    targets: gpd.GeoDataFrame | None = None,
    licences: gpd.GeoDataFrame | None = None,
    structures: gpd.GeoDataFrame | None = None,
    occurrences: gpd.GeoDataFrame | None = None,
    title: str = "",
    label_top: int = 15,
    rgb: np.ndarray | None = None,
) -> Figure:
    """Draw the quicklook map and return the figure (the caller saves it).

    The scene is decimated to at most ~1100 pixels on its long side (the figure's width)
    before it is read, so the cost does not grow with the scene.

    Parameters
    ----------
    reflectance : xarray.DataArray
        ``(band, y, x)`` with ``red``, ``green``, ``blue`` roles.
    invalid : xarray.DataArray of bool, optional
        Pixels removed by the masks, drawn as a grey veil.
    zones, targets, licences, structures, occurrences : geopandas.GeoDataFrame, optional
        Layers in the scene CRS (structures: lines; occurrences: points).
    title : str
        Figure title.
    label_top : int
        Label the best ``label_top`` targets with their rank.
    rgb : numpy.ndarray, optional
        The scene's :func:`decimated_rgb`, when already read.
    """
    step = _step(reflectance.shape)
    if rgb is None:
        rgb = decimated_rgb(reflectance)
    image = np.moveaxis(_stretch(rgb), 0, -1)
    left, bottom, right, top = reflectance.rio.bounds()
    extent = (left, right, bottom, top)
    tolerance = step * abs(reflectance.rio.resolution()[0]) / 2
    fig, ax = _figure(10, 10 * (top - bottom) / (right - left) + 1.2)
    ax.set_facecolor("#202020")
    picture = np.nan_to_num(image, nan=0.12)
    handles: list = []
    if invalid is not None:
        # the veil is blended here, so matplotlib resamples one picture instead of two
        # (~60 bytes a pixel each while it draws)
        veil = np.asarray(invalid[::step, ::step].values, dtype=bool)
        picture[veil] = 0.45 * picture[veil] + 0.55 * np.array([0.55, 0.55, 0.6])
    # 8-bit RGBA: matplotlib resamples an image as float RGBA and adds a missing alpha
    # channel in float64, so RGB input costs ~100 MB while it draws; opaque RGBA ~50 MB
    # (same PNG, pixel for pixel)
    picture = np.round(picture * 255).astype("uint8")
    picture = np.dstack([picture, np.full(picture.shape[:2], 255, "uint8")])
    ax.imshow(picture, extent=extent, interpolation="nearest")
    if invalid is not None:
        handles.append(
            Patch(
                facecolor=(0.55, 0.55, 0.6, 0.55),
                label="masked (cloud, shadow, water, vegetation, fill)",
            )
        )
    if zones is not None and len(zones):
        family = zones["kind"].map(_family)
        for name, group in zones.groupby(family):
            colour = _FAMILY_COLOURS[name]
            lines = draw_lines(
                ax, _outlines(group, tolerance).values, colors=colour, linewidths=0.9
            )
            if lines is not None:
                _label_layer(ax).lines.append((lines, 0.25))
            n = group["kind"].nunique()
            label = f"{name} zones ({n} layer{'s' if n > 1 else ''})"
            handles.append(Line2D([], [], color=colour, label=label))
    _overlay(
        ax,
        handles,
        targets,
        licences,
        structures,
        occurrences,
        label_top,
        tolerance,
        bounds=(left, bottom, right, top),
    )
    _decorate(ax, fig, handles, reflectance.rio.bounds(), reflectance.rio.crs, title)
    return fig


def render_score_map(
    score: xr.DataArray,
    *,
    cutoff: float | None = None,
    targets: gpd.GeoDataFrame | None = None,
    licences: gpd.GeoDataFrame | None = None,
    structures: gpd.GeoDataFrame | None = None,
    occurrences: gpd.GeoDataFrame | None = None,
    title: str = "",
    label: str = "prospectivity score",
    label_top: int = 15,
) -> Figure:
    """Map a prospectivity score (decimated like the quicklook) with the target cutoff.

    Parameters
    ----------
    score : xarray.DataArray
        ``(y, x)`` score with CRS; NaN is drawn dark grey.
    cutoff : float, optional
        Target cutoff, drawn as a contour and marked on the colour bar.
    targets, licences, structures, occurrences : geopandas.GeoDataFrame, optional
        Layers in the score's CRS.
    """
    ny, nx = score.shape
    step = max(1, int(np.ceil(max(ny, nx) / _MAX_PIXELS)))
    values = np.asarray(score[::step, ::step].values, dtype="float32")
    left, bottom, right, top = score.rio.bounds()
    extent = (left, right, bottom, top)
    fig, ax = _figure(10, 10 * (top - bottom) / (right - left) + 1.2)
    ax.set_facecolor("#303030")
    finite = values[np.isfinite(values)]
    vmin, vmax = np.percentile(finite, [1, 99.9]) if finite.size else (0.0, 1.0)
    image = ax.imshow(
        np.ma.masked_invalid(values),
        extent=extent,
        cmap="magma",
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    bar = fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02)
    bar.set_label(label)
    handles: list = []
    if cutoff is not None and finite.size:
        ys = top + (bottom - top) * (np.arange(values.shape[0]) + 0.5) / values.shape[0]
        xs = left + (right - left) * (np.arange(values.shape[1]) + 0.5) / values.shape[1]
        ax.contour(
            xs, ys, np.nan_to_num(values, nan=vmin), levels=[cutoff], colors="cyan", linewidths=0.8
        )
        bar.ax.axhline(cutoff, color="cyan", linewidth=2)
        handles.append(Line2D([], [], color="cyan", label=f"target cutoff ({cutoff:.3g})"))
    tolerance = step * abs(score.rio.resolution()[0]) / 2
    _overlay(
        ax,
        handles,
        targets,
        licences,
        structures,
        occurrences,
        label_top,
        tolerance,
        bounds=(left, bottom, right, top),
    )
    _decorate(ax, fig, handles, (left, bottom, right, top), score.rio.crs, title)
    return fig


def render_mineral_map(
    swir: xr.DataArray,
    legend: Mapping[int, str],
    *,
    vnir: xr.DataArray | None = None,
    vnir_legend: Mapping[int, str] | None = None,
    targets: gpd.GeoDataFrame | None = None,
    licences: gpd.GeoDataFrame | None = None,
    title: str = "",
    label_top: int = 15,
) -> Figure:
    """Map the minerals of an imaging-spectrometer scene, with a legend of those present.

    The SWIR (~2 µm) mineral of each pixel in its colour (:data:`geo.export.qgis.
    MINERAL_COLOURS`); where the SWIR map names nothing, the VNIR (~1 µm) iron mineral;
    masked pixels dark grey, "none" light grey. Targets and licences on top.

    Parameters
    ----------
    swir, vnir : xarray.DataArray
        ``(y, x)`` uint8 mineral codes (0 none, 255 masked) with CRS.
    legend, vnir_legend : mapping of int to str
        Code -> mineral name of each map.
    targets, licences : geopandas.GeoDataFrame, optional
        Layers in the maps' CRS.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from geo.export.qgis import MINERAL_COLOURS

    ny, nx = swir.shape
    step = max(1, int(np.ceil(max(ny, nx) / _MAX_PIXELS)))
    codes = np.asarray(swir[::step, ::step].values, dtype="int16")
    named: dict[str, int] = {}  # mineral -> display index
    display = np.full(codes.shape, -1, dtype="int16")  # -1 none, -2 masked
    display[codes == 255] = -2

    def paint(layer: np.ndarray, names: Mapping[int, str], where: np.ndarray) -> None:
        for code, mineral in names.items():
            if code in (0, 255):
                continue
            hit = where & (layer == code)
            if hit.any():
                display[hit] = named.setdefault(mineral, len(named))

    paint(codes, legend, np.ones(codes.shape, dtype=bool))
    if vnir is not None and vnir_legend:
        iron = np.asarray(vnir[::step, ::step].values, dtype="int16")
        paint(iron, vnir_legend, codes == 0)  # iron where the SWIR names nothing
    colours = ["#d9d9d9", "#404040"] + [
        "#{:02x}{:02x}{:02x}".format(*MINERAL_COLOURS.get(m, (128, 128, 128))) for m in named
    ]
    left, bottom, right, top = swir.rio.bounds()
    fig, ax = _figure(10, 10 * (top - bottom) / (right - left) + 1.2)
    ax.imshow(
        np.where(display == -2, 1, np.where(display == -1, 0, display + 2)),
        extent=(left, right, bottom, top),
        cmap=ListedColormap(colours),
        vmin=-0.5,
        vmax=len(colours) - 0.5,
        interpolation="nearest",
    )
    handles: list = [
        Patch(facecolor=colours[i + 2], edgecolor="none", label=m.replace("_", " "))
        for m, i in named.items()
    ]
    handles += [
        Patch(facecolor="#d9d9d9", edgecolor="none", label="no mineral named"),
        Patch(facecolor="#404040", edgecolor="#bdbdbd", label="masked"),
    ]
    tolerance = step * abs(swir.rio.resolution()[0]) / 2
    _overlay(
        ax, handles, targets, licences, None, None, label_top, tolerance,
        bounds=(left, bottom, right, top),
    )  # fmt: skip
    _decorate(ax, fig, handles, (left, bottom, right, top), swir.rio.crs, title)
    return fig


def _licence_labels(licences: gpd.GeoDataFrame, targets, seen: np.ndarray) -> np.ndarray:
    """Positions (in ``licences``) of the licences to label among those in view (``seen``)."""
    if len(seen) <= MAX_LICENCE_LABELS:
        return seen
    holds = licence_relevance(licences.iloc[seen], targets).holds
    if holds.sum() <= MAX_LICENCE_LABELS:
        return seen[holds]
    if targets is None or "licence_id" not in licences or "licence_id" not in targets:
        return seen[:0]
    ids = set(targets["licence_id"].dropna().astype(str))
    return seen[licences["licence_id"].iloc[seen].astype(str).isin(ids).to_numpy()]


def _overlay(
    ax,
    handles,
    targets,
    licences,
    structures,
    occurrences,
    label_top,
    tolerance=0.0,
    *,
    bounds=None,
) -> None:
    """Draw licences, structures, occurrences and targets (labelled by rank).

    Target outlines are simplified by ``tolerance`` (CRS units), see :func:`_outlines`.
    With ``bounds`` (left, bottom, right, top), only the licences in view are drawn. The
    labels are placed when the figure is drawn (see the module doc).
    """
    layer = _label_layer(ax)
    view = None
    if bounds is not None:
        from shapely.geometry import box

        view = box(*bounds)
    if structures is not None and len(structures):
        lines = draw_lines(ax, structures.geometry.values, colors="#d62728", linewidths=1.1)
        if lines is not None:
            layer.lines.append((lines, 1.0))
        handles.append(Line2D([], [], color="#d62728", label="faults / structures"))
    if occurrences is not None and len(occurrences):
        ax.scatter(
            occurrences.geometry.x,
            occurrences.geometry.y,
            marker="*",
            s=_STAR_SIZE,
            color="white",
            edgecolors="black",
            linewidths=0.8,
            zorder=5,
        )
        xy = np.column_stack([occurrences.geometry.x, occurrences.geometry.y])
        layer.points.append((xy[np.isfinite(xy).all(axis=1)], math.sqrt(_STAR_SIZE) / 2 + 0.4))
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                color="white",
                markeredgecolor="black",
                linestyle="",
                markersize=10,
                label="known occurrence",
            )
        )
    area_labels: list[_Label] = []  # placed after the targets' labels
    if licences is not None and len(licences):
        if view is not None:
            seen = np.sort(licences.sindex.query(view, predicate="intersects"))
        else:
            seen = np.arange(len(licences))
        lines = draw_lines(
            ax, licences.geometry.values[seen], colors="white", linewidths=1.4, linestyles="--"
        )
        if lines is not None:
            layer.lines.append((lines, 1.0))
        labelled = licences.iloc[_licence_labels(licences, targets, seen)]
        ids = labelled["licence_id"] if "licence_id" in labelled else [None] * len(labelled)
        areas = labelled.geometry.values
        if view is not None:
            areas = shapely.intersection(areas, view)
        for lic_id, area in zip(ids, areas, strict=True):
            if area is None or area.is_empty:
                continue
            point = area.representative_point()
            shapely.prepare(area)
            text = ax.text(
                point.x,
                point.y,
                _short("" if is_missing(lic_id) else str(lic_id)),
                color="white",
                fontsize=9,
                ha="center",
                va="center",
                path_effects=_HALO,
                zorder=7,
            )
            area_labels.append(_Label(text, (point.x, point.y), "licence", area))
        handles.append(Line2D([], [], color="white", linestyle="--", label="licence"))
    if targets is not None and len(targets):
        lines = draw_lines(
            ax, _outlines(targets, tolerance).values, colors="yellow", linewidths=2.0
        )
        if lines is not None:
            layer.lines.append((lines, 0.5))
        handles.append(Line2D([], [], color="yellow", linewidth=2, label="target (label = rank)"))
        if layer.leaders is None:
            layer.leaders = LineCollection(
                [], colors="yellow", linewidths=1.0, zorder=6, path_effects=_THIN_HALO
            )
            ax.add_collection(layer.leaders, autolim=False)
        best = targets.sort_values("rank").head(label_top)
        best = best.assign(bounds=list(best.geometry.bounds.itertuples(index=False, name=None)))
        for row in best.itertuples():
            if not (np.isfinite(row.easting) and np.isfinite(row.northing)):
                continue
            text = ax.text(
                row.easting,
                row.northing,
                str(row.rank),
                color="yellow",
                fontsize=11,
                fontweight="bold",
                ha="center",
                va="center",
                path_effects=_HALO,
                zorder=7,
            )
            layer.labels.append(
                _Label(text, (row.easting, row.northing), "target", footprint=row.bounds)
            )
    layer.labels += area_labels


def _short(text: str) -> str:
    """Make a licence id a map label: cut to :data:`_LABEL_CHARS` characters, drawn as text."""
    if len(text) > _LABEL_CHARS:
        text = text[: _LABEL_CHARS - 1] + "\u2026"
    return mpl_text(text)


def _decorate(ax, fig, handles, bounds, crs, title) -> None:
    """Axes, scale bar, north arrow, legend below the map, title."""
    left, bottom, right, top = bounds
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    standard_utm_formatter(crs, (left, bottom, right, top)).apply(ax)
    ax.tick_params(labelsize=8)
    draw_scale_and_north(ax, (left, bottom, right, top))
    if handles:  # below the map, so it never hides a target
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.07),
            ncol=3,
            fontsize=8,
            facecolor="#404040",
            labelcolor="white",
            framealpha=1.0,
        )
    ax.set_title(mpl_text(title), fontsize=11)  # holds the pipeline's name: user text
    fig.tight_layout()
