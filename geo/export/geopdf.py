"""A georeferenced PDF map of the licence block with the best targets, for offline map apps.

Avenza Maps and similar phone apps show a GeoPDF as a map and put the phone's GPS position
on it, with no network. :func:`write_geopdf` draws one page: the true-colour basemap of the
block holding the best targets (their extent and the licences they lie in, with a margin),
the licence boundaries with their ids, and the targets outlined and labelled with their ids
(the same ``T001`` as every other field file). GDAL's PDF driver (in the rasterio wheel)
writes the page with ISO 32000 georeferencing (the OGC "GeoPDF" best practice Avenza reads).
(The PDF driver's vector layers, ``OGR_DATASOURCE``, are not written by the GDAL in the
rasterio wheel, so the targets are drawn into the picture, not attached as features.)

Everything drawn is text from the run, escaped for matplotlib (:func:`geo._text.mpl_text`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.shutil
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from rasterio.windows import from_bounds as window_from_bounds

from geo._text import mpl_text
from geo.errors import InvalidParameterError
from geo.export._common import atomic_path, draw_lines

__all__ = ["geopdf_extent", "write_geopdf"]

#: Pixels along the long side of the page's map (at :data:`DPI`, about 33 cm).
MAP_PX = 2000
#: Resolution the page is made at.
DPI = 150
_TARGET = (255, 221, 0)
_LICENCE = (255, 255, 255)


def geopdf_extent(
    targets: gpd.GeoDataFrame, licences: gpd.GeoDataFrame | None = None, *, margin: float = 0.15
) -> tuple[float, float, float, float]:
    """Return the map's extent: the targets and the licences holding them, plus ``margin``.

    At least 1 km on a side (a single small target still shows its surroundings).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> t = gpd.GeoDataFrame({"licence_id": [None]}, geometry=[box(0, 0, 100, 100)], crs=32635)
    >>> [round(v) for v in geopdf_extent(t)]
    [-450, -450, 550, 550]
    """
    shapes = list(targets.geometry.values)
    if licences is not None and len(licences) and "licence_id" in targets.columns:
        ids = set(targets["licence_id"].dropna().astype(str))
        holding = licences[licences["licence_id"].astype(str).isin(ids)]
        shapes += list(holding.geometry.values)
    minx, miny, maxx, maxy = gpd.GeoSeries(shapes, crs=targets.crs).total_bounds
    pad_x, pad_y = (maxx - minx) * margin, (maxy - miny) * margin
    minx, maxx, miny, maxy = minx - pad_x, maxx + pad_x, miny - pad_y, maxy + pad_y
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half_w, half_h = max(maxx - minx, 1000.0) / 2, max(maxy - miny, 1000.0) / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _basemap(path: Path | None, bounds, shape) -> np.ndarray:
    """Return the page's background, ``(height, width, 3)`` uint8 RGB.

    The true-colour basemap read at the page's pixel grid, white where it has no data; a
    plain grey page without one.
    """
    if path is None or not Path(path).is_file():
        return np.full((*shape, 3), 217, dtype=np.uint8)  # (0.85 grey)
    with rasterio.open(path) as src:
        window = window_from_bounds(*bounds, transform=src.transform)
        rgb = src.read(
            [1, 2, 3], window=window, out_shape=(3, *shape), boundless=True, fill_value=0
        )
    picture = np.moveaxis(rgb, 0, -1).copy()
    picture[~rgb.any(axis=0)] = 255  # nodata: the white page
    return picture


def _draw(ax, targets: gpd.GeoDataFrame, licences: gpd.GeoDataFrame | None, bounds) -> None:
    from shapely.geometry import box

    view = box(*bounds)
    if licences is not None and len(licences):
        shown = licences[licences.geometry.intersects(view)]
        draw_lines(ax, list(shown.geometry.boundary.values), color=np.array(_LICENCE) / 255, lw=1.2)
        for lic_id, geom in zip(shown["licence_id"], shown.geometry, strict=True):
            spot = geom.intersection(view).representative_point()
            ax.text(
                spot.x, spot.y, mpl_text(lic_id), color="white", fontsize=9, ha="center",
                va="center", alpha=0.9, zorder=3,
            )  # fmt: skip
    draw_lines(ax, list(targets.geometry.boundary.values), color=np.array(_TARGET) / 255, lw=1.8)
    for tid, x, y in zip(
        targets["target_id"], targets["easting"], targets["northing"], strict=True
    ):
        ax.plot([x], [y], marker="o", ms=5, color=np.array(_TARGET) / 255, mec="black", zorder=4)
        ax.annotate(
            mpl_text(tid), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=10,
            fontweight="bold", color="black", zorder=5,
            bbox={"boxstyle": "round,pad=0.15", "fc": "#ffdd00", "ec": "none", "alpha": 0.9},
        )  # fmt: skip


def _picture(targets, licences, basemap, bounds) -> tuple[np.ndarray, tuple[int, int]]:
    """Draw the map at the page's pixel grid; return its RGB array and ``(height, width)``.

    The vectors are drawn on a transparent canvas and laid over the basemap here, pixel for
    pixel: matplotlib would resample a picture of the page's size through float32 copies
    (about 250 MB for a 2000-pixel page) only to put each pixel where it already is.
    """
    minx, miny, maxx, maxy = bounds
    scale = MAP_PX / max(maxx - minx, maxy - miny)
    width, height = max(1, round((maxx - minx) * scale)), max(1, round((maxy - miny) * scale))
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    fig.patch.set_alpha(0.0)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    _draw(ax, targets, licences, bounds)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    canvas.draw()
    over = np.asarray(canvas.buffer_rgba())  # straight (not premultiplied) alpha
    height, width = over.shape[:2]  # (the canvas's whole pixels: the basemap follows them)
    page = _basemap(basemap, bounds, (height, width))
    for top in range(0, height, 256):  # "over" compositing, a band of rows at a time
        rows = slice(top, top + 256)
        alpha = over[rows, :, 3:4].astype(np.uint16)
        mixed = over[rows, :, :3] * alpha + page[rows] * (255 - alpha) + 127
        page[rows] = mixed // 255
    return np.moveaxis(page, -1, 0).copy(), (height, width)


def write_geopdf(
    path: str | Path,
    targets: gpd.GeoDataFrame,
    *,
    licences: gpd.GeoDataFrame | None = None,
    basemap: str | Path | None = None,
    title: str = "geo targets",
) -> Path:
    """Write a one-page georeferenced PDF of ``targets`` (the best N of a run) and their block.

    Parameters
    ----------
    path : str or Path
        The ``.pdf`` to write (atomically).
    targets : geopandas.GeoDataFrame
        The targets to show (``target_id``, ``rank``, ``score``, ``licence_id``,
        ``easting``, ``northing``), in a projected CRS.
    licences : geopandas.GeoDataFrame, optional
        Licence polygons in the same CRS (boundaries and ids are drawn).
    basemap : str or Path, optional
        The run's ``rasters/true_colour.tif``.
    title : str
        The PDF's title.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidParameterError
        No targets, or targets without a projected CRS.
    """
    path = Path(path)
    if targets.empty:
        raise InvalidParameterError(f"{path}: no targets to map.")
    if targets.crs is None or not targets.crs.is_projected:
        raise InvalidParameterError(
            f"{path}: the targets need a projected CRS (metres) for the map; got {targets.crs}."
        )
    bounds = geopdf_extent(targets, licences)
    rgb, (height, width) = _picture(targets, licences, basemap, bounds)
    transform = from_bounds(*bounds, width, height)
    profile: dict[str, Any] = dict(
        driver="GTiff", width=width, height=height, count=3, dtype="uint8",
        crs=targets.crs, transform=transform,
    )  # fmt: skip
    with MemoryFile() as memory, memory.open(**profile) as picture:
        picture.write(rgb)
        with atomic_path(path) as tmp:
            rasterio.shutil.copy(
                picture, tmp, driver="PDF", GEO_ENCODING="ISO32000", DPI=DPI,
                TITLE=title, CREATOR="geo",
            )  # fmt: skip
    return path
